"""Histograms of a job's accepted samples, drawn by matplotlib into PNG bytes.

PNG metadata is left out (no software version, no date), so the same data give the same
bytes on the same matplotlib.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend
from matplotlib.ticker import MaxNLocator  # noqa: E402

FIGSIZE = (5.0, 3.0)
DPI = 100


def histogram(values: list[float], title: str, xlabel: str, bins: int = 30) -> bytes:
    figure, axes = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    axes.hist(values, bins=bins, color="#4a7ab5", edgecolor="white")
    axes.set_title(f"{title} (n={len(values)})")
    axes.set_xlabel(xlabel)
    axes.set_ylabel("samples")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of samples
    figure.tight_layout()
    return _png(figure)


def bars(counts: dict[str, int], title: str) -> bytes:
    figure, axes = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    labels = list(counts)
    axes.barh(labels[::-1], [counts[label] for label in labels][::-1], color="#b5754a")
    axes.set_title(title)
    axes.set_xlabel("samples")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    return _png(figure)


def _png(figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    plt.close(figure)
    return out.getvalue()
