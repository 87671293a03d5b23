"""The one result line every bench ends with, so `make bench` reads as a table:

    RESULT <bench> <what>: ratio 0.82 (aim >= 0.80) ours 3.81 pages/s, floor 4.78 pages/s

`ratio` is ours over the floor (both rates, higher is better) unless the bench gives its
own; `floor` is what the bench measured in the same run as ours (a bare loop, one worker,
one rank), or the rate an aim names when the aim is a rate (`floor_label` says which).
"""

from __future__ import annotations


def number(value: float) -> str:
    """Three significant figures or so, thousands separated: 0.312, 3.81, 47.9, 7,661."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def result(bench: str, what: str, ours: float, floor: float, unit: str, aim: float | None,
           ratio: float | None = None, ours_label: str = "ours", floor_label: str = "floor") -> str:
    """Prints (and returns) the RESULT line; aim None: the bench reports, no aim is set."""
    ratio = ours / floor if ratio is None else ratio
    aim_text = "no aim" if aim is None else f"aim >= {aim:.2f}"
    line = (f"RESULT {bench} {what}: ratio {ratio:.2f} ({aim_text}) {ours_label} {number(ours)} {unit}, "
            f"{floor_label} {number(floor)} {unit}")
    print(line, flush=True)
    return line
