"""Writes the example notebooks in examples/notebooks/ (stored outputs, never executed).

    python examples/make_notebooks.py [OUT_DIR]      (default: examples/notebooks)

The charts are drawn with PIL, so the notebooks carry outputs that look like matplotlib's
without matplotlib. What `vlforge run notebooks examples/notebooks` makes of them:

    plots.ipynb       PNG line chart, JPEG bar chart, SVG scatter plot, pandas-style HTML
                      table: four pairs; a one-line cell (too_few_code_lines) and a cell
                      with two figures (multiple_images, both outputs)
    duplicates.ipynb  the same PNG shown by two cells: the second is a duplicate_image
    legacy_v3.ipynb   an nbformat 3 notebook, upgraded on read: one pair

`synthetic_notebook(seed)` builds varied notebooks for bench/notebooks.py.
"""

from __future__ import annotations

import base64
import io
import math
import random
import sys
from pathlib import Path

import nbformat
from nbformat import v3, v4
from PIL import Image, ImageDraw

PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]
KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
          "language_info": {"name": "python", "version": "3.11.0"}}


# -- charts -----------------------------------------------------------------------------

def _axes(draw: ImageDraw.ImageDraw, width: int, height: int, m: int) -> None:
    draw.rectangle([m, m // 2, width - m // 2, height - m], outline=(0, 0, 0))
    for i in range(6):
        x = m + i * (width - 1.5 * m) / 5
        y = height - m - i * (height - 1.5 * m) / 5
        draw.line([x, height - m, x, height - m + 5], fill=(0, 0, 0))
        draw.text((x - 4, height - m + 8), str(i * 20), fill=(0, 0, 0))
        draw.line([m - 5, y, m, y], fill=(0, 0, 0))
        draw.text((m - 28, y - 6), f"{i / 5:.1f}", fill=(0, 0, 0))


def line_chart(seed: int, size: tuple[int, int] = (432, 288), series: int = 2) -> Image.Image:
    """A matplotlib-like line chart: axes, ticks and `series` noisy curves."""
    rng = random.Random(seed)
    width, height = size
    image = Image.new("RGBA", size, (255, 255, 255, 255))
    draw = ImageDraw.Draw(image)
    m = 48
    _axes(draw, width, height, m)
    for s in range(series):
        phase, freq = rng.uniform(0, 6), rng.uniform(1, 4)
        points = [(m + x, height - m - (height - 1.5 * m) * (0.5 + 0.4 * math.sin(phase + freq * x / 60)
                                                             + rng.uniform(-0.03, 0.03)))
                  for x in range(0, width - int(1.5 * m), 3)]
        draw.line(points, fill=PALETTE[s % len(PALETTE)], width=2)
    return image


def bar_chart(seed: int, size: tuple[int, int] = (400, 300), bars: int = 6) -> Image.Image:
    rng = random.Random(seed)
    width, height = size
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    m = 48
    _axes(draw, width, height, m)
    step = (width - 1.5 * m) / bars
    for i in range(bars):
        top = height - m - rng.uniform(0.15, 0.95) * (height - 1.5 * m)
        draw.rectangle([m + i * step + 6, top, m + (i + 1) * step - 6, height - m - 1],
                       fill=PALETTE[i % len(PALETTE)])
    return image


def scatter_svg(seed: int, points: int = 30) -> str:
    rng = random.Random(seed)
    dots = "".join(f'<circle cx="{rng.uniform(50, 390):.1f}" cy="{rng.uniform(20, 240):.1f}" r="4" '
                   f'fill="rgb{PALETTE[i % 3]}"/>' for i in range(points))
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="432" height="288" viewBox="0 0 432 288">'
            '<rect width="432" height="288" fill="white"/>'
            '<path d="M40 250 H420 M40 250 V10" stroke="black" fill="none"/>'
            f'<text x="200" y="280" font-size="12">x</text>{dots}</svg>')


def encode(image: Image.Image, fmt: str) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def table_html(seed: int, rows: int = 5) -> str:
    """A DataFrame as pandas' `_repr_html_` writes it."""
    rng = random.Random(seed)
    body = "".join(f"<tr><th>{i}</th><td>{2000 + i}</td><td>{rng.choice(['VA', 'MD', 'OH'])}</td>"
                   f"<td>{rng.uniform(1, 9):.2f}</td></tr>\n" for i in range(rows))
    return ('<div>\n<table border="1" class="dataframe">\n<thead>\n<tr style="text-align: right;">'
            "<th></th><th>year</th><th>state</th><th>pop</th></tr>\n</thead>\n<tbody>\n"
            f"{body}</tbody>\n</table>\n</div>")


# -- notebooks ----------------------------------------------------------------------------

def figure(data: dict, count: int | None = None) -> nbformat.NotebookNode:
    """A display_data output, or an execute_result when `count` is given."""
    if count is None:
        return v4.new_output("display_data", data=data)
    return v4.new_output("execute_result", data=data, execution_count=count)


def code(source: str, outputs: list, count: int) -> nbformat.NotebookNode:
    return v4.new_code_cell(source, outputs=outputs, execution_count=count)


PLOT_CODE = """import matplotlib.pyplot as plt
import numpy as np

x = np.linspace(0, 10, 200)
fig, ax = plt.subplots()
ax.plot(x, np.sin(x), label="sin")
ax.plot(x, np.cos(x), label="cos")
ax.legend()
plt.show()"""

BAR_CODE = """counts = df.groupby("state")["pop"].sum()
fig, ax = plt.subplots()
ax.bar(counts.index, counts.values)
ax.set_ylabel("population")
fig.savefig("bars.jpg")
display(Image("bars.jpg"))"""

SVG_CODE = """%config InlineBackend.figure_formats = ["svg"]
rng = np.random.default_rng(0)
xs, ys = rng.uniform(size=(2, 30))
fig, ax = plt.subplots()
ax.scatter(xs, ys)
ax.set_xlabel("x")
plt.show()"""

TABLE_CODE = """import pandas as pd

data = {"year": [2000, 2001, 2002, 2003, 2004],
        "state": ["VA", "MD", "OH", "VA", "MD"],
        "pop": [1.5, 2.5, 3.5, 4.5, 5.5]}
df = pd.DataFrame(data)
df"""

TWO_FIGURES_CODE = """for column in ["pop", "year"]:
    fig, ax = plt.subplots()
    ax.hist(df[column])
    ax.set_title(column)
    plt.show()"""


def plots_notebook() -> nbformat.NotebookNode:
    png = {"image/png": encode(line_chart(1), "PNG"), "text/plain": "<Figure size 432x288 with 1 Axes>"}
    cells = [
        v4.new_markdown_cell("# Plots\nEvery kind of output the notebook job pairs with code."),
        code(PLOT_CODE, [figure(png)], 1),
        code(TABLE_CODE, [figure({"text/html": table_html(2), "text/plain": "   year state  pop"}, 2)], 2),
        code(BAR_CODE, [figure({"image/jpeg": encode(bar_chart(3), "JPEG")})], 3),
        code(SVG_CODE, [figure({"image/svg+xml": scatter_svg(4), "text/plain": "<Figure>"})], 4),
        code("plt.plot(x, x ** 2)", [figure({"image/png": encode(line_chart(5, series=1), "PNG")})], 5),
        code(TWO_FIGURES_CODE, [figure({"image/png": encode(bar_chart(6), "PNG")}),
                                figure({"image/png": encode(bar_chart(7), "PNG")})], 6),
    ]
    return v4.new_notebook(cells=cells, metadata=KERNEL)


def duplicates_notebook() -> nbformat.NotebookNode:
    png = {"image/png": encode(line_chart(8), "PNG")}
    again = PLOT_CODE.replace("plt.show()", "fig.savefig('again.png')\nplt.show()")
    cells = [
        code(PLOT_CODE, [v4.new_output("stream", name="stdout", text="plotting\n"), figure(png)], 1),
        code(again, [figure(png)], 2),
    ]
    return v4.new_notebook(cells=cells, metadata=KERNEL)


def legacy_notebook() -> nbformat.NotebookNode:
    output = v3.new_output("display_data", output_png=encode(line_chart(9), "PNG"))
    cell = v3.new_code_cell(input=PLOT_CODE, outputs=[output], prompt_number=1, language="python")
    return v3.new_notebook(worksheets=[v3.new_worksheet(cells=[cell])])


def synthetic_notebook(seed: int, html: bool = False, figures: int = 3) -> nbformat.NotebookNode:
    """A notebook of markdown, code, text output and `figures` PNG plots (bench input)."""
    rng = random.Random(seed)
    cells = [v4.new_markdown_cell(f"# Analysis {seed}\n" + "Some prose about the data. " * 20)]
    for i in range(figures):
        kind = rng.choice([line_chart, bar_chart])
        image = kind(seed * 100 + i, size=(rng.choice([432, 576, 640]), rng.choice([288, 384, 480])))
        cells.append(code(f"data = load({i})\nprint(data.describe())", [v4.new_output(
            "stream", name="stdout", text="".join(f"{j} {rng.random():.6f}\n" for j in range(40)))], 2 * i + 1))
        cells.append(code(PLOT_CODE.replace("np.sin(x)", f"np.sin(x * {i + 1})"),
                          [figure({"image/png": encode(image, "PNG"), "text/plain": "<Figure>"})], 2 * i + 2))
    if html:
        cells.append(code(TABLE_CODE, [figure({"text/html": table_html(seed), "text/plain": "df"}, 99)], 99))
    return _stable_ids(v4.new_notebook(cells=cells, metadata=KERNEL))


def _stable_ids(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    # nbformat gives new cells random ids; fixed ones keep the written files reproducible.
    for index, cell in enumerate(notebook.get("cells", [])):
        cell["id"] = f"cell-{index}"
    return notebook


def write_examples(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, notebook, version in (("plots", _stable_ids(plots_notebook()), 4),
                                    ("duplicates", _stable_ids(duplicates_notebook()), 4),
                                    ("legacy_v3", legacy_notebook(), 3)):
        path = out_dir / f"{name}.ipynb"
        path.write_text(nbformat.writes(notebook, version=version) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "notebooks"
    for written_path in write_examples(target):
        print(written_path)
