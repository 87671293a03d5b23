"""Writes examples/sft: a small SFT set whose answers are true of their images.

Bar charts and shape pictures are drawn with PIL from the same numbers the answers quote,
so a reader can check every pair by eye. Records use the LLaVA layout (image records) and
the ms-swift layout (text-only records), two of the layouts `vlforge run sft` reads. The
output is deterministic: running the script again rewrites the same bytes.

    python examples/make_sft.py [--out examples/sft]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image, ImageDraw

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]
CHARTS = {  # name -> monthly values the chart shows
    "rainfall": [31, 22, 48, 17, 26, 39],
    "visitors": [12, 19, 15, 27, 23, 8],
    "sales": [40, 35, 44, 52, 29, 33],
}
SHAPES = {  # name -> (shape, colour name, RGB)
    "red-circle": ("circle", "red", (220, 40, 40)),
    "blue-square": ("square", "blue", (40, 80, 220)),
    "green-triangle": ("triangle", "green", (40, 170, 70)),
}
TEXT_ONLY = [
    ("Give one reason to split a training corpus into shards.",
     "Shards let many workers read the data in parallel, and a failed shard can be rewritten "
     "without touching the rest."),
    ("What does a learning-rate warm-up do?",
     "It raises the learning rate gradually over the first steps, so large early updates do "
     "not destabilise the freshly initialised layers."),
    ("Translate to French: the tide is rising.", "La marée monte."),
]


def bar_chart(values: list[int]) -> Image.Image:
    image = Image.new("RGB", (192, 128), "white")
    draw = ImageDraw.Draw(image)
    draw.line([(16, 112), (184, 112)], fill="black")
    for i, value in enumerate(values):
        left = 22 + i * 27
        draw.rectangle([left, 112 - value * 2, left + 18, 112], fill=(70, 110, 180))
        draw.text((left + 1, 114), MONTHS[i][:2], fill="black")
    return image


def shape_picture(shape: str, rgb: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (96, 96), "white")
    draw = ImageDraw.Draw(image)
    if shape == "circle":
        draw.ellipse([18, 18, 78, 78], fill=rgb)
    elif shape == "square":
        draw.rectangle([20, 20, 76, 76], fill=rgb)
    else:
        draw.polygon([(48, 14), (82, 80), (14, 80)], fill=rgb)
    return image


def chart_records(name: str, values: list[int]) -> list[dict]:
    top = max(range(len(values)), key=values.__getitem__)
    low = min(range(len(values)), key=values.__getitem__)
    image = f"images/{name}.png"
    return [
        {"id": f"{name}-max", "image": image, "conversations": [
            {"from": "human", "value": "<image>\nWhich month has the tallest bar, and what is its value?"},
            {"from": "gpt", "value": f"{MONTHS[top]} has the tallest bar, at {values[top]}."}]},
        {"id": f"{name}-min", "image": image, "conversations": [
            {"from": "human", "value": "<image>\nWhich month is lowest in this chart?"},
            {"from": "gpt", "value": f"{MONTHS[low]}, with {values[low]}."}]},
    ]


def shape_record(name: str, shape: str, colour: str) -> dict:
    return {"id": name, "image": f"images/{name}.png", "conversations": [
        {"from": "human", "value": "<image>\nDescribe the shape in the picture."},
        {"from": "gpt", "value": f"A {colour} {shape} on a white background."}]}


def write(out: Path) -> list[Path]:
    (out / "images").mkdir(parents=True, exist_ok=True)
    records = []
    for name, values in CHARTS.items():
        bar_chart(values).save(out / "images" / f"{name}.png", optimize=False)
        records += chart_records(name, values)
    for name, (shape, colour, rgb) in SHAPES.items():
        shape_picture(shape, rgb).save(out / "images" / f"{name}.png", optimize=False)
        records.append(shape_record(name, shape, colour))
    records += [{"query": query, "response": response} for query, response in TEXT_ONLY]
    path = out / "conversations.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return [path, *sorted((out / "images").glob("*.png"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "sft"))
    for path in write(Path(parser.parse_args().out)):
        print(path)


if __name__ == "__main__":
    main()
