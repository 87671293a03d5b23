"""A job's report: its numbers, plots and sample pairs -> OUT/report.html + OUT/report/*.png."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import jinja2

from vlforge.atomic import write_atomic
from vlforge.report import collect, plots, samples

SHOWN_PAIRS = 24
SCRIPT_SAMPLE = 500
ASSETS = "report"  # the folder beside report.html that holds its images


def write_report(out: str | Path, shown: int = SHOWN_PAIRS) -> Path:
    """Writes OUT/report.html (and its images under OUT/report/); returns the page's path."""
    output = collect.load_output(out)
    assets = output.root / ASSETS
    shutil.rmtree(assets, ignore_errors=True)  # images of an earlier report
    assets.mkdir(parents=True)
    context = {
        "stats": output.stats,
        "job": output.job,
        "accounting": collect.accounting(output),
        "rejects": collect.rejects_by_reason(output.rejects),
        "sources": collect.per_source(output),
        "plots": _plots(output, assets),
        "pairs": _pairs(output, assets, shown),
        "tasks": output.tasks,
        "summary": output.stats.get("summary"),
    }
    page = output.root / "report.html"
    write_atomic(page, _template().render(**context).encode("utf-8"))
    return page


def _template() -> jinja2.Template:
    source = resources.files("vlforge.report").joinpath("report.html.j2").read_text(encoding="utf-8")
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True)
    return environment.from_string(source)


def _plots(output: collect.JobOutput, assets: Path) -> list[dict]:
    """The histograms that have data, each written as a PNG beside the page."""
    index = output.index
    drawn = []
    wanted = [
        ("text_chars", [r["text_chars"] for r in index], "Text length", "characters"),
        ("image_width", [r["width"] for r in index if r["width"]], "Image width", "pixels"),
        ("image_height", [r["height"] for r in index if r["height"]], "Image height", "pixels"),
    ]
    for name, values, title, unit in wanted:
        if values:
            drawn.append(_save(assets, name, plots.histogram(values, title, unit), title))
    if index:
        mix, checked = samples.script_mix(output, SCRIPT_SAMPLE)
        title = f"Script of the text ({checked} samples)"
        drawn.append(_save(assets, "scripts", plots.bars(mix, title), title) | {"counts": mix})
    return drawn


def _save(assets: Path, name: str, png: bytes, title: str) -> dict:
    write_atomic(assets / f"{name}.png", png)
    return {"name": name, "title": title, "src": f"{ASSETS}/{name}.png"}


def _pairs(output: collect.JobOutput, assets: Path, n: int) -> list[dict]:
    shown = []
    for row in samples.pick(output, n):
        pair = samples.shown_pair(output, row)
        src = None
        if pair.thumbnail is not None:
            write_atomic(assets / f"{pair.key}.png", pair.thumbnail)
            src = f"{ASSETS}/{pair.key}.png"
        shown.append({"pair": pair, "src": src})
    return shown
