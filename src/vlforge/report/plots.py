"""Histograms and a bar chart of a job's accepted samples, as SVG text put inside the page.

Drawn here rather than by a plotting library: four small charts need axes, ticks, labels
and bars, a few dozen lines of SVG, where matplotlib took ~0.3 s per report (layout and PNG
encoding) besides its import. Every number is written by `_num` and every element in a
fixed order, so the same data always give the same text.

Every quantity plotted is a whole number (characters, pixels, samples), so ticks and bin
widths are whole steps of 1, 2 or 5 times a power of ten.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 500, 300
FONT = 11  # px, ticks and labels; the title is 2 px larger
CHAR_WIDTH = 6.5  # px, a generous average for FONT: sizes the bar chart's label column
HISTOGRAM_COLOUR = "#4a7ab5"
BARS_COLOUR = "#b5754a"
GRID_COLOUR = "#e4e4e4"
MOST_TICKS = 6
BAR_THICKNESS = 28  # px at most: a chart of one or two scripts has thin bars still


@dataclass(frozen=True)
class Area:
    """The plotting area inside the figure, in SVG pixels (y grows downward)."""

    left: float
    top: float
    right: float
    bottom: float


def nice_step(span: float, most: int) -> int:
    """The smallest of 1, 2, 5 x 10^k that cuts `span` into at most `most` steps."""
    power = 1
    while True:
        for multiple in (1, 2, 5):
            if span <= most * multiple * power:
                return multiple * power
        power *= 10


def ticks(low: float, high: float, most: int = MOST_TICKS) -> list[int]:
    """The multiples of a nice step between low and high, both ends included."""
    step = nice_step(high - low, most)
    return list(range(math.ceil(low / step) * step, math.floor(high) + 1, step))


def axis_top(largest: int) -> int:
    """Where a count axis ends: the first tick at or above the largest count."""
    step = nice_step(largest, MOST_TICKS)
    return max(step, math.ceil(largest / step) * step)


def bins(values: list[int], most: int) -> tuple[int, int, list[int]]:
    """(first edge, bin width, count per bin): at most `most` bins of a nice width, edges
    on its multiples, bin i holding first + i * width <= value < first + (i + 1) * width."""
    low, high = min(values), max(values)
    width = nice_step(high - low + 1, most)
    first = math.floor(low / width) * width
    counts = Counter((value - first) // width for value in values)
    return first, width, [counts[i] for i in range((high - first) // width + 1)]


def histogram(values: list[int], title: str, xlabel: str, most_bins: int = 30) -> str:
    """An SVG histogram of whole-number values, titled with how many there are."""
    first, width, counts = bins(values, most_bins)
    # the axis runs a bin beyond the data on either side (not below 0: nothing counted is
    # negative): no bar hides the count axis, and a single bin stands apart from both ends
    low, high = max(0, first - width), first + width * (len(counts) + 1)
    area = Area(56, 30, WIDTH - 16, HEIGHT - 44)
    top = axis_top(max(counts))
    x_of = _scale(low, high, area.left, area.right)
    y_of = _scale(0, top, area.bottom, area.top)
    parts = [_x_axis(ticks(low, high), x_of, area, xlabel), _count_axis(top, y_of, area)]
    for i, count in enumerate(counts):
        if count:
            start = first + i * width
            label = f"{start:,} to {start + width - 1:,}: {count:,}" if width > 1 else f"{start:,}: {count:,}"
            parts.append(_bar(x_of(start), y_of(count), x_of(start + width) - x_of(start),
                              y_of(0) - y_of(count), HISTOGRAM_COLOUR, label))
    return _svg(f"{title} (n={len(values):,})", parts)


def bars(counts: dict[str, int], title: str) -> str:
    """An SVG horizontal bar chart of counts, one row per label in the order given, each
    bar's count written at its end."""
    labels = list(counts)
    label_width = CHAR_WIDTH * max(map(len, labels), default=0)
    area = Area(12 + label_width, 30, WIDTH - 48, HEIGHT - 44)
    top = axis_top(max(counts.values(), default=0))
    x_of = _scale(0, top, area.left, area.right)
    row = (area.bottom - area.top) / max(len(labels), 1)
    thickness = min(row * 0.7, BAR_THICKNESS)
    parts = [_x_axis(ticks(0, top), x_of, area, "samples", grid=True)]
    for i, label in enumerate(labels):
        y = area.top + i * row
        middle = _num(y + row / 2)
        count = counts[label]
        parts.append(_bar(area.left, y + (row - thickness) / 2, x_of(count) - area.left, thickness,
                          BARS_COLOUR, f"{label}: {count:,}"))
        parts.append(f'<text x="{_num(area.left - 6)}" y="{middle}" text-anchor="end" '
                     f'dominant-baseline="middle">{escape(label)}</text>')
        parts.append(f'<text class="count" x="{_num(x_of(count) + 4)}" y="{middle}" '
                     f'dominant-baseline="middle">{count:,}</text>')
    parts.append(_line(area.left, area.top, area.left, area.bottom))
    return _svg(title, parts)


def _scale(low: float, high: float, start: float, end: float):
    """The map from data values low..high to SVG pixels start..end."""
    factor = (end - start) / (high - low)
    return lambda value: start + (value - low) * factor


def _x_axis(values: list[int], x_of, area: Area, label: str, grid: bool = False) -> str:
    """The bottom axis line, its ticks (with grid lines up the area when `grid`), its label."""
    parts = []
    for value in values:
        x = x_of(value)
        if grid:
            parts.append(_line(x, area.top, x, area.bottom, GRID_COLOUR))
        parts.append(_line(x, area.bottom, x, area.bottom + 4))
        parts.append(f'<text class="tick" x="{_num(x)}" y="{_num(area.bottom + 16)}" '
                     f'text-anchor="middle">{value:,}</text>')
    parts.append(_line(area.left, area.bottom, area.right, area.bottom))
    middle = (area.left + area.right) / 2
    parts.append(f'<text x="{_num(middle)}" y="{_num(area.bottom + 34)}" text-anchor="middle">{escape(label)}</text>')
    return "".join(parts)


def _count_axis(top: int, y_of, area: Area) -> str:
    """The left axis of a histogram: sample counts 0..top, with grid lines across the area."""
    parts = []
    for value in ticks(0, top):
        y = y_of(value)
        parts.append(_line(area.left, y, area.right, y, GRID_COLOUR))
        parts.append(_line(area.left - 4, y, area.left, y))
        parts.append(f'<text class="tick" x="{_num(area.left - 7)}" y="{_num(y)}" text-anchor="end" '
                     f'dominant-baseline="middle">{value:,}</text>')
    parts.append(_line(area.left, area.top, area.left, area.bottom))
    middle = (area.top + area.bottom) / 2
    parts.append(f'<text x="14" y="{_num(middle)}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {_num(middle)})">samples</text>')
    return "".join(parts)


def _bar(x: float, y: float, width: float, height: float, colour: str, tooltip: str) -> str:
    """A bar, edged in white so that neighbours stay apart; its tooltip (an SVG <title>)
    says what it counts."""
    return (f'<rect class="bar" x="{_num(x)}" y="{_num(y)}" width="{_num(width)}" '
            f'height="{_num(height)}" fill="{colour}" stroke="#fff" stroke-width="0.5">'
            f'<title>{escape(tooltip)}</title></rect>')


def _line(x1: float, y1: float, x2: float, y2: float, colour: str = "#333") -> str:
    return f'<line x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" y2="{_num(y2)}" stroke="{colour}"/>'


def _svg(title: str, parts: list[str]) -> str:
    title = escape(title)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}" '
            f'font-family="sans-serif" font-size="{FONT}" fill="#222">'
            f'<title>{title}</title>'
            f'<text x="{WIDTH / 2:g}" y="18" text-anchor="middle" font-size="{FONT + 2}">{title}</text>'
            + "".join(parts) + "</svg>")


def _num(value: float) -> str:
    """A coordinate as written in the SVG: one decimal at most, no trailing zero."""
    return f"{round(value, 1):g}"
