"""Writes caption-corpus inputs in every layout the captions corpus reads, drawn from the words
of their captions (so each pair is right): `python examples/make_captions.py OUT_DIR`.

    OUT/folder/       images with same-named .txt captions, plus one of each bad case
    OUT/llava/        annotations.json (LLaVA/ShareGPT4V records) + images/*.jpg
    OUT/coco/         captions.json (COCO captions) + images/*.jpg
    OUT/img2dataset/  00000.tar (WebDataset) and 00001.parquet (image bytes)
    OUT/classes/      ImageNet-style class folders + class_index.json (Keras format); run it
                      as its own job with --set captions.classes=OUT/classes/class_index.json
"""

from __future__ import annotations

import io
import json
import random
import sys
import tarfile
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (235, 210, 40),
           "purple": (140, 60, 180), "orange": (240, 140, 30)}
BACKGROUNDS = {"white": (250, 250, 250), "grey": (150, 150, 150), "black": (15, 15, 15)}
SHAPES = ("circle", "square", "triangle")
CLASSES = [("n00000001", "red circle"), ("n00000002", "blue square"), ("n00000003", "green triangle")]


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: tuple[int, int, int, int], colour) -> None:
    x0, y0, x1, y1 = box
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    else:
        draw.polygon([((x0 + x1) // 2, y0), (x1, y1), (x0, y1)], fill=colour)


def draw_scene(words: dict, size=(448, 384)) -> Image.Image:
    """The picture a caption describes: words {"first": (colour, shape), "second": ...,
    "relation": "left of" | "above", "background": name}; shapes stay inside the centre square
    so Janus's generation view (centre crop) keeps them."""
    width, height = size
    image = Image.new("RGB", size, BACKGROUNDS[words["background"]])
    draw = ImageDraw.Draw(image)
    rng = random.Random(words.get("seed", 0))  # where exactly the shapes go: not in the words
    unit, cx, cy = min(size) // 4, width // 2, height // 2
    along = (1, 0) if words["relation"] == "left of" else (0, 1)
    for sign, (colour, shape) in ((-1, words["first"]), (1, words["second"])):
        side = rng.randrange(unit * 2 // 3, unit * 4 // 3)
        gap = rng.randrange(unit // 2, unit + unit // 4)
        across = rng.randrange(-unit // 2, unit // 2)
        x = cx + sign * gap * along[0] + across * along[1] - side // 2
        y = cy + sign * gap * along[1] + across * along[0] - side // 2
        _draw_shape(draw, shape, (x, y, x + side, y + side), COLOURS[colour])
    return image


def scene(rng: random.Random) -> tuple[dict, str]:
    first_colour, second_colour = rng.sample(sorted(COLOURS), 2)
    words = {"first": (first_colour, rng.choice(SHAPES)), "second": (second_colour, rng.choice(SHAPES)),
             "relation": rng.choice(["left of", "above"]), "background": rng.choice(sorted(BACKGROUNDS)),
             "seed": rng.randrange(1 << 30)}
    caption = (f"A {words['first'][0]} {words['first'][1]} {words['relation']} a {words['second'][0]} "
               f"{words['second'][1]}. The background is {words['background']}.")
    return words, caption


def scenes(count: int, seed: int) -> list[tuple[Image.Image, str]]:
    """`count` different (image, caption) pairs, the same for the same seed."""
    rng, pairs, seen = random.Random(seed), [], set()
    while len(pairs) < count:
        words, caption = scene(rng)
        if caption not in seen:
            seen.add(caption)
            pairs.append((draw_scene(words), caption))
    return pairs


def encoded(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def write_folder(root: Path, pairs) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i, (image, caption) in enumerate(pairs):
        (root / f"scene{i:03d}.png").write_bytes(encoded(image))
        (root / f"scene{i:03d}.txt").write_text(caption + "\n", encoding="utf-8")


def write_bad_cases(root: Path, original: Image.Image, caption: str) -> None:
    """One input for each filter reason of the corpus (see examples/README.md)."""
    cases = {
        "truncated": (encoded(original, "JPEG", quality=90)[:3000], "jpg", caption),
        "blank": (encoded(Image.new("RGB", (200, 200), (250, 250, 250))), "png", "A white square."),
        "tiny": (encoded(original.resize((24, 20))), "png", caption),
        "banner": (encoded(original.resize((900, 100))), "png", caption),
        "no_words": (encoded(draw_scene({"first": ("red", "square"), "second": ("blue", "circle"),
                                         "relation": "above", "background": "black"})), "png", "   "),
        "copy_exact": (encoded(original), "png", caption),
        "copy_resized": (encoded(original.resize((300, 257)), "JPEG", quality=70), "jpg", caption),
        "french": (encoded(draw_scene({"first": ("green", "circle"), "second": ("yellow", "square"),
                                       "relation": "left of", "background": "grey"})), "png",
                   "Un cercle vert à gauche d'un carré jaune. Le fond est gris."),
    }
    for name, (data, suffix, text) in cases.items():
        (root / f"zz_{name}.{suffix}").write_bytes(data)
        (root / f"zz_{name}.txt").write_text(text, encoding="utf-8")


def write_llava(root: Path, pairs) -> None:
    (root / "images").mkdir(parents=True, exist_ok=True)
    records = []
    for i, (image, caption) in enumerate(pairs):
        (root / "images" / f"{i:03d}.jpg").write_bytes(encoded(image, "JPEG", quality=92))
        records.append({"id": f"sharegpt4v-{i}", "image": f"images/{i:03d}.jpg", "conversations": [
            {"from": "human", "value": "<image>\nDescribe the image in detail."}, {"from": "gpt", "value": caption}]})
    (root / "annotations.json").write_text(json.dumps(records, indent=1), encoding="utf-8")


def write_coco(root: Path, pairs) -> None:
    (root / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i, (image, caption) in enumerate(pairs):
        name = f"{100 + i:012d}.jpg"
        (root / "images" / name).write_bytes(encoded(image, "JPEG", quality=92))
        images.append({"id": 100 + i, "file_name": f"images/{name}", "width": image.width, "height": image.height})
        annotations += [{"id": 2 * i, "image_id": 100 + i, "caption": caption},
                        {"id": 2 * i + 1, "image_id": 100 + i, "caption": caption.split(".")[0] + "."}]
    (root / "captions.json").write_text(json.dumps({"images": images, "annotations": annotations}), encoding="utf-8")


def write_img2dataset(root: Path, tar_pairs, parquet_pairs) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(root / "00000.tar", "w") as tar:
        for i, (image, caption) in enumerate(tar_pairs):
            key = f"0000{i:04d}"
            meta = {"url": f"https://example.org/{key}.jpg", "key": key, "caption": caption, "status": "success"}
            for name, payload in ((f"{key}.jpg", encoded(image, "JPEG", quality=92)),
                                  (f"{key}.txt", caption.encode()), (f"{key}.json", json.dumps(meta).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    rows = [{"key": f"0001{i:04d}", "url": f"https://example.org/0001{i:04d}.jpg", "txt": caption,
             "jpg": encoded(image, "JPEG", quality=92)} for i, (image, caption) in enumerate(parquet_pairs)]
    pq.write_table(pa.Table.from_pylist(rows), root / "00001.parquet")


def write_classes(root: Path, per_class: int, seed: int) -> None:
    rng = random.Random(seed)
    for index, (wnid, name) in enumerate(CLASSES):
        colour, shape = name.split()
        (root / wnid).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            other = rng.choice([c for c in sorted(COLOURS) if c != colour])
            words = {"first": (colour, shape), "second": (other, rng.choice(SHAPES)),
                     "relation": rng.choice(["left of", "above"]), "background": rng.choice(sorted(BACKGROUNDS)),
                     "seed": rng.randrange(1 << 30)}
            (root / wnid / f"{wnid}_{index}{i:03d}.jpg").write_bytes(encoded(draw_scene(words), "JPEG", quality=92))
    class_index = {str(i): [wnid, name.replace(" ", "_")] for i, (wnid, name) in enumerate(CLASSES)}
    (root / "class_index.json").write_text(json.dumps(class_index, indent=1), encoding="utf-8")


def write_inputs(out: Path, per_layout: int = 6, seed: int = 0) -> Path:
    pairs = scenes(5 * per_layout, seed)
    chunk = [pairs[i * per_layout:(i + 1) * per_layout] for i in range(5)]
    write_folder(out / "folder", chunk[0])
    write_bad_cases(out / "folder", *chunk[0][0])
    write_llava(out / "llava", chunk[1])
    write_coco(out / "coco", chunk[2])
    write_img2dataset(out / "img2dataset", chunk[3], chunk[4])
    write_classes(out / "classes", per_layout, seed)
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "out/demo/captions-inputs")
    print(f"caption inputs: {write_inputs(target)}")
