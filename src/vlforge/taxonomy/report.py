"""Coverage as a text table and as a horizontal bar chart PNG (drawn with Pillow).

Pillow is already a dependency; a plotting library would be a large one for two bar
charts. The PNG has one panel per level (main, then secondary), one bar per category with
its count and share written next to it, in the order `sampling.coverage` gives.
"""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

ROW_HEIGHT = 22
LABEL_WIDTH = 420
BAR_WIDTH = 460
MARGIN = 16
TITLE_HEIGHT = 30
COLOURS = {"main": (52, 101, 164), "secondary": (78, 154, 6), "unassigned": (160, 160, 160)}


def format_table(counts: dict[str, int], total: int, title: str) -> str:
    width = max([len(title), *map(len, counts)])
    lines = [f"{title:<{width}}  {'count':>8}  {'share':>7}", "-" * (width + 19)]
    for name, count in counts.items():
        share = 100.0 * count / total if total else 0.0
        lines.append(f"{name:<{width}}  {count:>8}  {share:>6.1f}%")
    return "\n".join(lines)


def format_coverage(cov: dict) -> str:
    return "\n\n".join([f"{cov['total']} records",
                        format_table(cov["main"], cov["total"], "main category"),
                        format_table(cov["secondary"], cov["total"], "main / secondary category")])


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # scalable when Pillow has FreeType
    except TypeError:  # Pillow without the size argument: the fixed bitmap font
        return ImageFont.load_default()


def _panel(draw: ImageDraw.ImageDraw, top: int, title: str, counts: dict[str, int], total: int,
           colour: tuple[int, int, int]) -> int:
    """Draws one panel from y=top; returns the y below it."""
    draw.text((MARGIN, top + 6), title, fill=(0, 0, 0), font=_font(16))
    peak = max(counts.values(), default=0) or 1
    y = top + TITLE_HEIGHT
    for name, count in counts.items():
        bar = int(BAR_WIDTH * count / peak)
        fill = COLOURS["unassigned"] if "unassigned" in name else colour
        draw.text((MARGIN, y + 4), name, fill=(0, 0, 0), font=_font(12))
        draw.rectangle([LABEL_WIDTH, y + 3, LABEL_WIDTH + max(bar, 1), y + ROW_HEIGHT - 3], fill=fill)
        share = 100.0 * count / total if total else 0.0
        draw.text((LABEL_WIDTH + bar + 6, y + 4), f"{count} ({share:.1f}%)", fill=(0, 0, 0), font=_font(12))
        y += ROW_HEIGHT
    return y + MARGIN


def draw_coverage(cov: dict, path: str) -> None:
    rows = len(cov["main"]) + len(cov["secondary"])
    height = 2 * (TITLE_HEIGHT + MARGIN) + rows * ROW_HEIGHT + MARGIN
    image = Image.new("RGB", (LABEL_WIDTH + BAR_WIDTH + 140, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    y = _panel(draw, MARGIN, f"main category ({cov['total']} records)", cov["main"], cov["total"],
               COLOURS["main"])
    _panel(draw, y, "main / secondary category", cov["secondary"], cov["total"], COLOURS["secondary"])
    image.save(path, format="PNG")
