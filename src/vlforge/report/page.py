"""A job's report: its numbers, plots (SVG, inside the page) and sample pairs -> OUT/report.html,
with the pairs' images in OUT/report/."""

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
        "plots": _plots(output),
        "pairs": _pairs(output, assets, shown),
        "tasks": output.tasks,
        "summary": output.stats.get("summary"),
    }
    page = output.root / "report.html"
    write_atomic(page, TEMPLATE.render(**context).encode("utf-8"))
    return page


def _template() -> jinja2.Template:
    source = resources.files("vlforge.report").joinpath("report.html.j2").read_text(encoding="utf-8")
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True)
    return environment.from_string(source)


# Compiled once, on import (~10 ms): a job imports this module on a thread while its workers
# run (engines.runner._import_report_meanwhile), so its report starts rendering at once.
TEMPLATE = _template()


def _plots(output: collect.JobOutput) -> list[dict]:
    """The histograms that have data, and the script mix, each an SVG for the page."""
    index = output.index
    drawn = []
    wanted = [
        ("text_chars", [r["text_chars"] for r in index], "Text length", "characters"),
        ("image_width", [r["width"] for r in index if r["width"]], "Image width", "pixels"),
        ("image_height", [r["height"] for r in index if r["height"]], "Image height", "pixels"),
    ]
    for name, values, title, unit in wanted:
        if values:
            drawn.append({"name": name, "svg": plots.histogram(values, title, unit)})
    if index:
        mix, checked = samples.script_mix(output, SCRIPT_SAMPLE)
        title = f"Script of the text ({checked} samples)"
        drawn.append({"name": "scripts", "svg": plots.bars(mix, title), "counts": mix})
    return drawn


def _pairs(output: collect.JobOutput, assets: Path, n: int) -> list[dict]:
    shown = []
    for row in samples.pick(output, n):
        pair = samples.shown_pair(output, row)
        src = None
        if pair.image is not None:
            name = f"{pair.key}.{pair.image.ext}"
            write_atomic(assets / name, pair.image.data)
            src = f"{ASSETS}/{name}"
        shown.append({"pair": pair, "src": src})
    return shown
