"""Writes examples/ebooks/lighthouse.epub, a small EPUB 3 book written for vlforge.

    python examples/make_epub.py [OUT.epub]      (default: examples/ebooks/lighthouse.epub)

The book: an English chapter (heading, paragraphs with emphasis, a bulleted and a numbered
list, a figure with a PNG drawn here), a Chinese chapter (lang="zh-Hans", headings and
paragraphs), and a navigation document that is not in the spine. `vlforge run ebooks
examples/ebooks` turns it into a few pages of each language. The zip is written with fixed
timestamps, the `mimetype` entry first and stored, so the same script gives the same bytes.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

from PIL import Image, ImageDraw

STAMP = (2024, 1, 1, 0, 0, 0)
BOOK_ID = "urn:uuid:6f1d0c3e-2a4b-4c5d-8e9f-0a1b2c3d4e5f"

EN_PARAGRAPHS = [
    "The lighthouse on the northern point was built of grey stone that had been carried up "
    "the cliff path one block at a time. Nobody who lived in the village remembered the "
    "building of it, but everybody could tell you which family had carried which course of "
    "stones, and the stories did not always agree.",
    "Mara kept the light for eleven winters. Her work was *mostly* patience: trimming the "
    "wick, polishing the lens until it threw back the lamp without a smear, and writing in "
    "the log at every change of the watch. The log was the part she liked least and kept "
    "most carefully, because ships trusted the light only as far as they trusted its keeper.",
    "On clear nights the beam reached far past the reef, and the fishing boats used it to "
    "count their way home: three slow turns from the harbour mouth, five from the shoals, "
    "nine from the deep water where the mackerel ran in late summer.",
    "In fog the light was nearly useless, and then the horn did the work. It was an ugly, "
    "honest sound, and Mara said that a keeper should be judged by how well she slept "
    "through it, since sleeping through it meant she trusted the machine she had oiled.",
]

EN_LIST = ["a tin of lamp oil for every week of the winter",
           "two spare wicks, cut to length and kept dry",
           "soft cloths for the lens, never the rough ones",
           "the log book, a pencil and a spare pencil"]

EN_STEPS = ["Light the lamp an hour before sunset.",
            "Wind the clockwork that turns the lens.",
            "Write the time, the weather and the sea in the log.",
            "Check the wick at midnight and again before dawn."]

EN_CLOSING = [
    "When the new electric lamp came, the village expected Mara to be sad. She was not. She "
    "stayed one more winter to teach the engineer how the old tower behaved in a north-east "
    "gale, which windows whistled, and which stair was loose, and then she moved to a cottage "
    "from which she could still see the beam on the clouds.",
    "People asked her whether she missed the work. She said she missed the **quiet** of it, "
    "the long hours in which nothing happened because everything had been done right.",
]

ZH_PARAGRAPHS = [
    "北岬的灯塔是用灰色的石头砌成的。那些石头当年是一块一块沿着悬崖小路背上去的。村里已经没有人"
    "记得修建灯塔的日子，可是每个人都能说出哪一家背上去了哪一层石头，而且说法常常不一样。",
    "玛拉守了十一个冬天的灯。她的工作大多是耐心：修剪灯芯，把透镜擦得一尘不染，每次换班都在日志"
    "里写下时间、天气和海况。写日志是她最不喜欢、却做得最认真的事，因为船只信任灯光，正是因为信任"
    "守灯的人。",
    "晴朗的夜里，光束能照到暗礁以外很远的地方。渔船靠它数着回家的路：离港口三圈，离浅滩五圈，"
    "离夏末鲭鱼出没的深水区九圈。",
    "起雾的时候，灯光几乎没有用处，这时就靠雾笛。那是一种难听却老实的声音。玛拉说，评判一个守灯人，"
    "要看她能不能在雾笛声里安稳入睡，因为能睡着，说明她信得过自己上过油的机器。",
    "后来村里换上了电灯，大家以为玛拉会难过，其实她没有。她又留了一个冬天，教新来的工程师认识这座"
    "老塔在东北大风里的脾气：哪扇窗会呼啸，哪级台阶松动了。然后她搬进一间小屋，从窗口仍然能看见"
    "云层上扫过的光。",
    "有人问她想不想念那份工作。她说，她想念的是那份安静，是那些什么事都没有发生的漫长时刻，"
    "因为该做的事都已经做好了。",
]


def _inline(text: str) -> str:
    """The two bits of emphasis the English text uses, as XHTML."""
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    for marker, tag in (("**", "strong"), ("*", "em")):
        parts = text.split(marker)
        text = "".join(p if i % 2 == 0 else f"<{tag}>{p}</{tag}>" for i, p in enumerate(parts))
    return text


def _xhtml(title: str, lang: str, body: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
            f'<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" '
            f'lang="{lang}" xml:lang="{lang}">\n<head><title>{title}</title>'
            '<link rel="stylesheet" type="text/css" href="../css/book.css"/></head>\n'
            f"<body>\n{body}\n</body>\n</html>\n")


def english_chapter() -> str:
    paragraphs = "\n".join(f"<p>{_inline(p)}</p>" for p in EN_PARAGRAPHS)
    supplies = "".join(f"<li>{item}</li>" for item in EN_LIST)
    steps = "".join(f"<li>{step}</li>" for step in EN_STEPS)
    closing = "\n".join(f"<p>{_inline(p)}</p>" for p in EN_CLOSING)
    body = (f'<section epub:type="chapter">\n<h1>The Keeper of the Northern Light</h1>\n{paragraphs}\n'
            '<figure><img src="../images/lighthouse.png" alt="A lighthouse on a cliff"/>'
            "<figcaption>The northern light, drawn from the harbour.</figcaption></figure>\n"
            f"<h2>What the keeper kept</h2>\n<ul>{supplies}</ul>\n"
            f"<h2>The evening routine</h2>\n<ol>{steps}</ol>\n{closing}\n</section>")
    return _xhtml("The Keeper of the Northern Light", "en", body)


def chinese_chapter() -> str:
    first, rest = ZH_PARAGRAPHS[:3], ZH_PARAGRAPHS[3:]
    body = ('<section epub:type="chapter">\n<h1>北方的灯</h1>\n'
            + "\n".join(f"<p>{p}</p>" for p in first)
            + "\n<h2>雾与电灯</h2>\n" + "\n".join(f"<p>{p}</p>" for p in rest) + "\n</section>")
    return _xhtml("北方的灯", "zh-Hans", body)


def navigation() -> str:
    return _xhtml("Contents", "en", '<nav epub:type="toc"><h1>Contents</h1><ol>'
                  '<li><a href="keeper.xhtml">The Keeper of the Northern Light</a></li>'
                  '<li><a href="beifang.xhtml">北方的灯</a></li></ol></nav>')


def lighthouse_png() -> bytes:
    """A small drawing: sea, cliff, tower and beam."""
    image = Image.new("RGB", (480, 320), (205, 225, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 230, 480, 320], fill=(40, 80, 130))
    draw.polygon([(250, 320), (300, 170), (480, 150), (480, 320)], fill=(110, 100, 80))
    draw.polygon([(350, 165), (390, 165), (382, 60), (358, 60)], fill=(240, 240, 235), outline=(60, 60, 60))
    draw.rectangle([354, 40, 386, 60], fill=(250, 220, 90), outline=(60, 60, 60))
    draw.polygon([(356, 48), (40, 10), (40, 90)], fill=(255, 245, 170))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


BOOK_CSS = """body { margin: 0; }
h1 { text-align: center; margin: 2em 0 1em; }
h2 { margin: 1.5em 0 0.5em; }
p { margin: 0; text-indent: 1.5em; }
figure { margin: 1em 0; text-align: center; }
figure img { width: 80%; }
figcaption { font-style: italic; font-size: 0.9em; }
:lang(zh) p { text-indent: 2em; }
"""


def package_document() -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="uid" xml:lang="en">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="uid">{BOOK_ID}</dc:identifier>
    <dc:title>The Northern Light / 北方的灯</dc:title>
    <dc:language>en</dc:language>
    <dc:language>zh-Hans</dc:language>
    <dc:creator>vlforge developers</dc:creator>
    <dc:rights>Apache-2.0</dc:rights>
    <meta property="dcterms:modified">2024-01-01T00:00:00Z</meta>
  </metadata>
  <manifest>
    <item id="nav" href="text/nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    <item id="keeper" href="text/keeper.xhtml" media-type="application/xhtml+xml"/>
    <item id="beifang" href="text/beifang.xhtml" media-type="application/xhtml+xml"/>
    <item id="css" href="css/book.css" media-type="text/css"/>
    <item id="lighthouse" href="images/lighthouse.png" media-type="image/png"/>
  </manifest>
  <spine>
    <itemref idref="keeper"/>
    <itemref idref="beifang"/>
  </spine>
</package>
"""


CONTAINER = """<?xml version="1.0" encoding="utf-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>
"""


def book_entries() -> list[tuple[str, bytes]]:
    """(container path, content) in the order they are written."""
    return [
        ("META-INF/container.xml", CONTAINER.encode()),
        ("OEBPS/content.opf", package_document().encode()),
        ("OEBPS/text/nav.xhtml", navigation().encode()),
        ("OEBPS/text/keeper.xhtml", english_chapter().encode()),
        ("OEBPS/text/beifang.xhtml", chinese_chapter().encode()),
        ("OEBPS/css/book.css", BOOK_CSS.encode()),
        ("OEBPS/images/lighthouse.png", lighthouse_png()),
    ]


def write_epub(path: Path, entries: list[tuple[str, bytes]]) -> None:
    """An EPUB container: `mimetype` first and stored, fixed timestamps (same bytes each run)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype", STAMP), b"application/epub+zip", zipfile.ZIP_STORED)
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name, STAMP), data, zipfile.ZIP_DEFLATED)


def main(argv: list[str]) -> None:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("ebooks") / "lighthouse.epub"
    write_epub(out, book_entries())
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv)
