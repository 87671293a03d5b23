"""EPUB 2 and 3 containers: check, unpack safely, read the package document's spine.

    open_epub(path, workdir)  -> Book      or Rejected(reason, detail) for the whole book

What refuses a whole book (Rejected reasons):
    corrupt_container     not a zip, or a truncated one (no central directory)
    not_epub              a `mimetype` entry naming something else
    invalid_container     no META-INF/container.xml, or no package document named in it
    encrypted             META-INF/rights.xml or sinf.xml (Adobe ADEPT, Apple FairPlay), or
                          encryption.xml encrypting anything with a real cipher. Font
                          obfuscation (IDPF, Adobe) is not encryption: those fonts are
                          restored (EPUB OCF 3, "Font obfuscation"), and the book is read.
    container_too_large   more than `max_unpacked_bytes` once unpacked (zip bombs)
    invalid_package       the package document (OPF) is not XML, or has no spine
    empty_spine           a spine without items

What is wrong with one spine item (SpineItem.problem, a Rejected: the chapter is refused alone):
    missing_spine_item    an idref not in the manifest, or a file not in the container
    corrupt_entry         the file's compressed data is damaged (CRC or inflate error)
    unsupported_media_type  not XHTML/HTML (an SVG or image spine item, say)

Entries never unpacked: names escaping the container (`../x`, absolute), damaged entries,
and images over `max_image_pixels` (their <img> then shows nothing; Book.dropped says
which). Unpacked resources (CSS, images, fonts) are what the chapters load from disk.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import warnings
import xml.etree.ElementTree as ET
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from vlforge.errors import Rejected
from vlforge.schemas import checksum

CONTENT_TYPES = {"application/xhtml+xml": "xhtml", "text/html": "html", "text/x-oeb1-document": "html"}
FONT_OBFUSCATION = {
    "http://www.idpf.org/2008/embedding": 1040,  # XOR with SHA-1 of the unique identifier
    "http://ns.adobe.com/pdf/enc#RC": 1024,  # XOR with the 16 bytes of the urn:uuid identifier
}
DRM_FILES = ("META-INF/rights.xml", "META-INF/sinf.xml")
_RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".avif")


@dataclass(frozen=True)
class Limits:
    max_unpacked_bytes: int = 1 << 30
    max_image_pixels: int = 50_000_000


@dataclass
class SpineItem:
    index: int  # position in the spine (keys use it)
    href: str  # path inside the container
    media_type: str
    linear: bool
    properties: str = ""  # the itemref's properties (rendition:layout-pre-paginated...)
    path: Path | None = None  # unpacked file, when there is no problem
    problem: Rejected | None = None  # why the chapter is refused
    pre_paginated: bool = False  # a fixed-layout page (rendition:layout), one page as designed


@dataclass
class Book:
    source: str
    checksum: str  # "sha256:..." of the .epub file
    title: str
    language: str
    identifier: str
    version: str  # the package's version attribute: "2.0", "3.0"...
    root: Path  # where the container was unpacked
    spine: list[SpineItem]
    dropped: dict[str, str] = field(default_factory=dict)  # entry -> why it was not unpacked
    # The package's rendition:viewport ("width=W, height=H", an EPUB 3.0 fallback for fixed-
    # layout pages whose own <meta name="viewport"> is missing), and page-progression-direction.
    viewport: tuple[int, int] | None = None
    progression: str = ""  # "ltr", "rtl" or "" (default)


def open_epub(path: str, workdir: Path, limits: Limits = Limits()) -> Book:
    data = Path(path).read_bytes()
    archive = _open_zip(data)
    with archive:
        names = set(archive.namelist())
        _check_mimetype(archive, names)
        _check_drm(archive, names)
        opf_path = _package_path(archive, names)
        package = _parse_xml(archive, opf_path, "invalid_package")
        metadata = _metadata(package)
        _check_size(archive, limits)
        root = workdir / "book"
        fonts = _obfuscated_fonts(archive, names, metadata)
        dropped = _unpack(archive, root, limits, fonts)
        spine = _spine(package, posixpath.dirname(opf_path), names, dropped, root)
    rendition = _rendition(package)
    for item in spine:
        item.pre_paginated = _pre_paginated(rendition["layout"], item.properties)
    return Book(path, checksum(data), metadata["title"], metadata["language"], metadata["identifier"],
                package.get("version", ""), root, spine, dropped,
                _viewport(rendition["viewport"]), rendition["progression"])


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError) as exc:
        raise Rejected("corrupt_container", f"not a readable zip ({exc})") from None


def _read(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
        raise Rejected("corrupt_container", f"{name}: {exc}") from None


def _check_mimetype(archive: zipfile.ZipFile, names: set[str]) -> None:
    # Many real files get the mimetype entry wrong in small ways (missing, not first,
    # compressed); only a different type refuses the book.
    if "mimetype" in names:
        declared = _read(archive, "mimetype").strip().decode("ascii", "replace")
        if declared != "application/epub+zip":
            raise Rejected("not_epub", f"mimetype says {declared[:60]!r}")


def _check_drm(archive: zipfile.ZipFile, names: set[str]) -> None:
    for name in DRM_FILES:
        if name in names:
            raise Rejected("encrypted", f"{name} present (DRM licence)")
    if "META-INF/encryption.xml" not in names:
        return
    for uri, algorithm in _encrypted_entries(archive):
        if algorithm not in FONT_OBFUSCATION:
            raise Rejected("encrypted", f"{uri} is encrypted with {algorithm}")


def _encrypted_entries(archive: zipfile.ZipFile) -> list[tuple[str, str]]:
    """(container path, algorithm) of every EncryptedData in META-INF/encryption.xml."""
    root = _parse_xml(archive, "META-INF/encryption.xml", "encrypted")
    entries = []
    for data in _children(root, "EncryptedData", deep=True):
        method = next(_children(data, "EncryptionMethod"), None)
        reference = next(_children(data, "CipherReference", deep=True), None)
        if method is not None and reference is not None:
            entries.append((unquote(reference.get("URI", "")), method.get("Algorithm", "")))
    return entries


def _package_path(archive: zipfile.ZipFile, names: set[str]) -> str:
    if "META-INF/container.xml" not in names:
        raise Rejected("invalid_container", "no META-INF/container.xml")
    container = _parse_xml(archive, "META-INF/container.xml", "invalid_container")
    for rootfile in _children(container, "rootfile", deep=True):
        media_type = rootfile.get("media-type", "application/oebps-package+xml")
        if media_type == "application/oebps-package+xml" and rootfile.get("full-path"):
            full_path = rootfile.get("full-path")
            if full_path not in names:
                raise Rejected("invalid_container", f"package document {full_path} is missing")
            return full_path
    raise Rejected("invalid_container", "container.xml names no package document")


def _parse_xml(archive: zipfile.ZipFile, name: str, reason: str) -> ET.Element:
    try:
        return ET.fromstring(_read(archive, name))
    except ET.ParseError as exc:
        raise Rejected(reason, f"{name} is not well-formed XML: {exc}") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(element: ET.Element, name: str, deep: bool = False):
    """Elements called `name` in any namespace: EPUB 2 files are loose about namespaces."""
    candidates = element.iter() if deep else iter(element)
    return (child for child in candidates if _local(child.tag) == name)


def _metadata(package: ET.Element) -> dict[str, str]:
    metadata = next(_children(package, "metadata"), None)
    found = {"title": "", "language": "", "identifier": "", "uuid": ""}
    if metadata is None:
        return found
    unique_id = package.get("unique-identifier")
    for element in metadata.iter():
        name, text = _local(element.tag), (element.text or "").strip()
        if name in ("title", "language") and not found[name]:
            found[name] = text
        elif name == "identifier" and (not found["identifier"] or element.get("id") == unique_id):
            found["identifier"] = text
        if name == "identifier" and text.lower().startswith("urn:uuid:") and not found["uuid"]:
            found["uuid"] = text  # Adobe's obfuscation key, whichever identifier is unique
    return found


def _rendition(package: ET.Element) -> dict[str, str]:
    """The package-wide rendition:layout and rendition:viewport, and the spine's direction."""
    found = {"layout": "", "viewport": "", "progression": ""}
    metadata = next(_children(package, "metadata"), None)
    for meta in _children(metadata, "meta") if metadata is not None else ():
        name = meta.get("property", "")
        if name in ("rendition:layout", "rendition:viewport") and not meta.get("refines"):
            found[name.split(":")[1]] = (meta.text or "").strip()
    spine = next(_children(package, "spine"), None)
    if spine is not None:
        found["progression"] = spine.get("page-progression-direction", "").strip().lower()
    return found


def _pre_paginated(layout: str, properties: str) -> bool:
    """The itemref's own rendition:layout-* property overrides the package's layout."""
    own = [p for p in properties.split() if p.startswith("rendition:layout-")]
    return own[-1] == "rendition:layout-pre-paginated" if own else layout == "pre-paginated"


def _viewport(declared: str) -> tuple[int, int] | None:
    """(width, height) from "width=1444, height=2048", else None."""
    values = dict(part.split("=", 1) for part in declared.replace(" ", "").split(",") if "=" in part)
    try:
        width, height = int(float(values["width"])), int(float(values["height"]))
    except (KeyError, ValueError):
        return None
    return (width, height) if width > 0 and height > 0 else None


def _check_size(archive: zipfile.ZipFile, limits: Limits) -> None:
    total = sum(info.file_size for info in archive.infolist())
    if total > limits.max_unpacked_bytes:
        raise Rejected("container_too_large",
                        f"{total} bytes unpacked > max_unpacked_bytes={limits.max_unpacked_bytes}")


def _obfuscated_fonts(archive: zipfile.ZipFile, names: set[str],
                      metadata: dict[str, str]) -> dict[str, tuple[bytes, int]]:
    """Container path -> (key, number of leading bytes) that undo its font obfuscation."""
    if "META-INF/encryption.xml" not in names:
        return {}
    keys = {}
    for uri, algorithm in _encrypted_entries(archive):
        key = _obfuscation_key(algorithm, metadata)
        if key:
            keys[uri] = (key, FONT_OBFUSCATION[algorithm])
    return keys


def _obfuscation_key(algorithm: str, metadata: dict[str, str]) -> bytes | None:
    if algorithm == "http://www.idpf.org/2008/embedding":
        # SHA-1 of the unique identifier without the XML white space characters (OCF 3).
        identifier = metadata["identifier"].translate({0x20: None, 0x09: None, 0x0D: None, 0x0A: None})
        return hashlib.sha1(identifier.encode("utf-8")).digest()
    if algorithm == "http://ns.adobe.com/pdf/enc#RC":
        uuid = metadata["uuid"] or metadata["identifier"]
        hex_digits = "".join(c for c in uuid.lower().removeprefix("urn:uuid:") if c in "0123456789abcdef")
        return bytes.fromhex(hex_digits) if len(hex_digits) == 32 else None
    return None


def _deobfuscate(data: bytes, key: bytes, length: int) -> bytes:
    head = bytes(b ^ key[i % len(key)] for i, b in enumerate(data[:length]))
    return head + data[length:]


def _unpack(archive: zipfile.ZipFile, root: Path, limits: Limits,
            fonts: dict[str, tuple[bytes, int]]) -> dict[str, str]:
    """Write every safe, intact entry under root; returns entry -> why it was not written."""
    dropped: dict[str, str] = {}
    for info in archive.infolist():
        if info.is_dir():
            continue
        target = _safe_target(root, info.filename)
        if target is None:
            dropped[info.filename] = "unsafe_name"
            continue
        try:
            data = archive.read(info)
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
            dropped[info.filename] = f"corrupt_entry: {exc}"
            continue
        if info.filename in fonts:
            data = _deobfuscate(data, *fonts[info.filename])
        too_large = _too_many_pixels(info.filename, data, limits.max_image_pixels)
        if too_large:
            dropped[info.filename] = too_large
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return dropped


def _safe_target(root: Path, name: str) -> Path | None:
    """Where an entry goes, or None for names that would land outside the container."""
    normal = posixpath.normpath(name.replace("\\", "/"))
    if normal.startswith(("/", "../")) or normal in (".", "..") or ":" in normal.split("/")[0]:
        return None
    return root / normal


def _too_many_pixels(name: str, data: bytes, limit: int) -> str | None:
    """'image_too_large: ...' for a raster image over the pixel limit, read from its header
    only (a 20000x20000 PNG is a few kilobytes; decoding it would take 1.6 GB)."""
    if not name.lower().endswith(_RASTER_SUFFIXES):
        return None
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: we decide here
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Image.DecompressionBombError as exc:
        return f"image_too_large: {exc}"
    except Exception:
        return None  # not an image we can read: Chromium will not show it either
    if width * height > limit:
        return f"image_too_large: {width}x{height} > max_image_pixels={limit}"
    return None


def _spine(package: ET.Element, opf_dir: str, names: set[str], dropped: dict[str, str],
           root: Path) -> list[SpineItem]:
    manifest = _manifest(package, opf_dir)
    spine = next(_children(package, "spine"), None)
    if spine is None:
        raise Rejected("invalid_package", "the package document has no spine")
    items = [_spine_item(i, ref, manifest, names, dropped, root)
             for i, ref in enumerate(_children(spine, "itemref"))]
    if not items:
        raise Rejected("empty_spine", "the spine lists no items")
    return items


def _manifest(package: ET.Element, opf_dir: str) -> dict[str, tuple[str, str]]:
    """Manifest id -> (container path, media type)."""
    manifest = next(_children(package, "manifest"), None)
    entries = {}
    for item in _children(manifest, "item") if manifest is not None else ():
        href = unquote(item.get("href", "").split("#", 1)[0])
        path = posixpath.normpath(posixpath.join(opf_dir, href)) if href else ""
        entries[item.get("id", "")] = (path, item.get("media-type", ""))
    return entries


def _spine_item(index: int, ref: ET.Element, manifest: dict[str, tuple[str, str]],
                names: set[str], dropped: dict[str, str], root: Path) -> SpineItem:
    idref = ref.get("idref", "")
    linear = ref.get("linear", "yes") != "no"
    properties = ref.get("properties", "")
    if idref not in manifest:
        return SpineItem(index, idref, "", linear, properties,
                         problem=Rejected("missing_spine_item", f"idref {idref!r} is not in the manifest"))
    href, media_type = manifest[idref]
    item = SpineItem(index, href, media_type, linear, properties)
    if href not in names:
        item.problem = Rejected("missing_spine_item", f"{href} is not in the container")
    elif href in dropped:
        reason, _, detail = dropped[href].partition(": ")
        item.problem = Rejected(reason, detail or reason)
    elif media_type not in CONTENT_TYPES:
        item.problem = Rejected("unsupported_media_type", f"{href} is {media_type or 'untyped'}")
    else:
        item.path = root / href
    return item
