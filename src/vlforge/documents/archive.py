"""Safe extraction of arXiv-style LaTeX sources into a fresh directory of our own.

    extract_source(source, dest, limits) -> dest, holding only plain files and folders

`source` is one of what arXiv serves, or a folder:

    ID.tar.gz / ID.tgz / ID.tar    a tarball of the sources
    ID.gz                          gzip of either a tarball or a single .tex (arXiv gzips a
                                   one-file submission as is); told apart by whether the first
                                   512 decompressed bytes are a valid tar header
    ID.tex                         a single source file
    a directory                    copied file by file (pandoc may then read the copy only)

Nothing is written outside `dest`, and `dest` ends up holding only regular files and folders:
members are checked before a byte is written, and the whole source is refused, with a reason,
when any member is unsafe. Tarfile's own extractall is not used: its "data" filter exists only
in newer Pythons and still creates links.

    unsafe_path       an absolute name, a '..' component, an empty or NUL-bearing name
    unsafe_link       a symlink or hard link whose target is absolute or leaves the tree
                      (links inside the tree are materialised as copies of their target)
    special_file      a device, FIFO or other non-regular member
    source_too_large  more than max_bytes uncompressed in total (decompression bombs): counted
                      while decompressing, never from the headers' word alone
    too_many_files    more than max_files members
    broken_archive    truncated or corrupt gzip/tar data
    unsupported_source  none of the forms above
"""

from __future__ import annotations

import gzip
import posixpath
import shutil
import stat
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vlforge.errors import Rejected

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".gz")
_CHUNK = 1 << 20
_LINK_HOPS = 8  # symlink chains inside a tarball, followed at most this far


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 256 * 1024 * 1024  # uncompressed, all files together
    max_files: int = 5000


def source_suffix(path: Path) -> str | None:
    """The archive suffix of `path` (longest first: '.tar.gz' before '.gz'), or None."""
    name = path.name.lower()
    return next((s for s in ARCHIVE_SUFFIXES if name.endswith(s)), None)


def source_stem(path: Path) -> str:
    """`2101.00001v2.tar.gz` -> `2101.00001v2`: the id an arXiv source file is named after."""
    suffix = source_suffix(path) or path.suffix
    return path.name[: len(path.name) - len(suffix)] if suffix else path.name


def extract_source(source: Path, dest: Path, limits: Limits) -> Path:
    """`source` unpacked into the empty directory `dest`; Rejected (reason above) if it is unsafe."""
    if any(dest.iterdir()):
        raise ValueError(f"{dest} must be an empty directory")
    budget = _Budget(limits)
    if source.is_dir():
        _copy_tree(source, dest, budget)
    elif source_suffix(source) in (".tar.gz", ".tgz", ".tar"):
        _extract_tar_file(source, dest, budget)
    elif source_suffix(source) == ".gz":
        _extract_gz(source, dest, budget)
    elif source.suffix.lower() == ".tex" and source.is_file():
        _copy_file(source, dest / source.name, budget)
    else:
        raise Rejected("unsupported_source", f"{source.name}: not a .tar.gz, .tgz, .tar, .gz, .tex "
                                                   "or a directory")
    return dest


class _Budget:
    """Counts files and decompressed bytes as they are written; refuses past the limits."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.bytes = 0
        self.files = 0

    def add_file(self, name: str) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise Rejected("too_many_files", f"more than {self.limits.max_files} files (at {name!r})")

    def add_bytes(self, count: int, name: str) -> None:
        self.bytes += count
        if self.bytes > self.limits.max_bytes:
            raise Rejected("source_too_large", f"more than {self.limits.max_bytes} bytes uncompressed "
                                                     f"(at {name!r})")


def _copy_stream(src: BinaryIO, target: Path, budget: _Budget, name: str) -> None:
    with open(target, "wb") as out:
        while chunk := src.read(_CHUNK):
            budget.add_bytes(len(chunk), name)
            out.write(chunk)


def _copy_file(src: Path, target: Path, budget: _Budget) -> None:
    budget.add_file(src.name)
    with open(src, "rb") as f:
        _copy_stream(f, target, budget, src.name)


# --------------------------------------------------------------------------------------
# Directories: regular files and folders only; a link must stay inside the folder
# --------------------------------------------------------------------------------------


def _copy_tree(root: Path, dest: Path, budget: _Budget) -> None:
    real_root = root.resolve()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(real_root):
                raise Rejected("unsafe_link", f"{relative} links outside the source folder")
        mode = path.stat().st_mode if path.exists() else 0
        if stat.S_ISDIR(mode):
            (dest / relative).mkdir(parents=True, exist_ok=True)
        elif stat.S_ISREG(mode):
            (dest / relative).parent.mkdir(parents=True, exist_ok=True)
            _copy_file(path, dest / relative, budget)
        else:
            raise Rejected("special_file", f"{relative} is not a regular file or folder")


# --------------------------------------------------------------------------------------
# Tarballs: every member checked, then written by us
# --------------------------------------------------------------------------------------


def _extract_tar_file(source: Path, dest: Path, budget: _Budget) -> None:
    try:
        with tarfile.open(source, "r:*") as tar:
            _extract_tar(tar, dest, budget)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise Rejected("broken_archive", f"{source.name}: {type(exc).__name__}: {exc}") from None


def _extract_tar(tar: tarfile.TarFile, dest: Path, budget: _Budget) -> None:
    """Streams the members in order; links are resolved once every file is written."""
    links: dict[str, str] = {}  # link name -> the member name it points at
    for member in tar:
        name = _safe_name(member.name)
        budget.add_file(name)
        if member.isdir():
            (dest / name).mkdir(parents=True, exist_ok=True)
        elif member.isreg():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            _copy_stream(tar.extractfile(member), dest / name, budget, name)
        elif member.issym() or member.islnk():
            links[name] = _link_target(member, name)
        else:
            raise Rejected("special_file", f"{member.name!r} is a device, FIFO or other special member")
    for name in sorted(links):
        _materialise_link(name, links, dest, budget)


def _safe_name(raw: str) -> str:
    """The member name as a relative POSIX path, or Rejected(unsafe_path)."""
    if not raw or "\x00" in raw:
        raise Rejected("unsafe_path", f"member name {raw!r} is empty or holds a NUL")
    if raw.startswith(("/", "\\")) or (len(raw) > 1 and raw[1] == ":"):
        raise Rejected("unsafe_path", f"member {raw!r} has an absolute path")
    parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise Rejected("unsafe_path", f"member {raw!r} climbs out with '..'")
    if not parts:
        raise Rejected("unsafe_path", f"member name {raw!r} names the top folder itself")
    return "/".join(parts)


def _link_target(member: tarfile.TarInfo, name: str) -> str:
    """The tree-relative member a link points at; unsafe_link when it leaves the tree."""
    target = member.linkname
    if not target or target.startswith("/"):
        raise Rejected("unsafe_link", f"{member.name!r} links to absolute {target!r}")
    # A symlink is relative to its own folder, a hard link to the archive root.
    joined = posixpath.join(posixpath.dirname(name), target) if member.issym() else target
    normal = posixpath.normpath(joined)
    if normal == ".." or normal.startswith("../") or normal == ".":
        raise Rejected("unsafe_link", f"{member.name!r} links outside the archive ({target!r})")
    return normal


def _materialise_link(name: str, links: dict[str, str], dest: Path, budget: _Budget) -> None:
    """A copy of the link's final target (a written file) in the link's place."""
    target = links[name]
    for _ in range(_LINK_HOPS):
        if target not in links:
            break
        target = links[target]
    source = dest / target
    if target in links or not source.is_file() or source.is_symlink():
        raise Rejected("unsafe_link", f"{name!r} points at {links[name]!r}, which is not a file "
                                            "of the archive")
    (dest / name).parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as f:
        _copy_stream(f, dest / name, budget, name)


# --------------------------------------------------------------------------------------
# Bare .gz: a gzipped tarball or a gzipped single .tex
# --------------------------------------------------------------------------------------


def _extract_gz(source: Path, dest: Path, budget: _Budget) -> None:
    try:
        with gzip.open(source, "rb") as stream:
            head = stream.read(tarfile.BLOCKSIZE)
        if _is_tar_header(head):
            _extract_tar_file(source, dest, budget)
            return
        budget.add_file(source.name)
        with gzip.open(source, "rb") as stream:
            _copy_stream(stream, dest / f"{source_stem(source)}.tex", budget, source.name)
    except (OSError, EOFError, zlib.error) as exc:
        raise Rejected("broken_archive", f"{source.name}: {type(exc).__name__}: {exc}") from None


def _is_tar_header(block: bytes) -> bool:
    if len(block) < tarfile.BLOCKSIZE:
        return False
    try:
        tarfile.TarInfo.frombuf(block, tarfile.ENCODING, "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def remove_tree(path: Path) -> None:
    """Removes a directory extract_source filled (it holds no links, so nothing else goes)."""
    shutil.rmtree(path, ignore_errors=True)
