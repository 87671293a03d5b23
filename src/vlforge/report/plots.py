"""Histograms of a job's accepted samples, drawn by matplotlib into PNG bytes.

PNG metadata is left out (no software version, no date), so the same data give the same
bytes on the same matplotlib. Figures are drawn on an Agg canvas of their own, without
pyplot: no display, no global figure registry to close, and pyplot's import is skipped.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

FIGSIZE = (5.0, 3.0)
DPI = 100


def histogram(values: list[float], title: str, xlabel: str, bins: int = 30) -> bytes:
    figure, axes = _figure()
    axes.hist(values, bins=bins, color="#4a7ab5", edgecolor="white")
    axes.set_title(f"{title} (n={len(values)})")
    axes.set_xlabel(xlabel)
    axes.set_ylabel("samples")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of samples
    figure.tight_layout()
    return _png(figure)


def bars(counts: dict[str, int], title: str) -> bytes:
    figure, axes = _figure()
    labels = list(counts)
    axes.barh(labels[::-1], [counts[label] for label in labels][::-1], color="#b5754a")
    axes.set_title(title)
    axes.set_xlabel("samples")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    return _png(figure)


def _figure():
    figure = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(figure)  # attaches itself to the figure: savefig renders with Agg
    return figure, figure.subplots()


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()
