"""documents.archive: hostile arXiv sources are refused with a reason and write nothing outside."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from vlforge.documents.archive import Limits, extract_source, source_stem
from vlforge.errors import Rejected

TEX = b"\\documentclass{article}\\begin{document}Hello.\\end{document}\n"


def make_tar(path: Path, members: list[tuple], compress: bool = True) -> Path:
    """members: (name, bytes) for files, (name, 'sym'|'hard', target) for links,
    (name, 'chr') for a character device, (name, 'dir') for a folder."""
    with tarfile.open(path, "w:gz" if compress else "w") as tar:
        for name, *rest in members:
            info = tarfile.TarInfo(name)
            if isinstance(rest[0], bytes):
                info.size = len(rest[0])
                tar.addfile(info, io.BytesIO(rest[0]))
                continue
            info.type = {"sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE,
                         "dir": tarfile.DIRTYPE}[rest[0]]
            if rest[0] in ("sym", "hard"):
                info.linkname = rest[1]
            tar.addfile(info)
    return path


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def extract(workdir: Path, source: Path, limits: Limits | None = None) -> Path:
    """Unpacks into a fresh WORKDIR/dest."""
    dest = workdir / "dest"
    dest.mkdir(parents=True)
    return extract_source(source, dest, limits or Limits())


@pytest.mark.parametrize("members, reason", [
    ([("/abs/evil.tex", TEX)], "unsafe_path"),
    ([("../evil.tex", TEX)], "unsafe_path"),
    ([("paper/../../evil.tex", TEX)], "unsafe_path"),
    ([("main.tex", TEX), ("link.tex", "sym", "/etc/passwd")], "unsafe_link"),
    ([("main.tex", TEX), ("sub/link.tex", "sym", "../../outside.tex")], "unsafe_link"),
    ([("main.tex", TEX), ("hard.tex", "hard", "../outside.tex")], "unsafe_link"),
    ([("main.tex", TEX), ("dev", "chr")], "special_file"),
])
def test_unsafe_members_refuse_the_whole_source(tmp_path, members, reason):
    (tmp_path / "outside.tex").write_bytes(b"secret")
    before = tree(tmp_path)
    source = make_tar(tmp_path / "2401.00001.tar.gz", members)
    with pytest.raises(Rejected) as caught:
        extract(tmp_path, source)
    assert caught.value.reason == reason
    # Nothing appeared anywhere but in dest, and dest holds no links.
    after = [p for p in tree(tmp_path) if not p.startswith("dest")]
    assert after == sorted([*before, "2401.00001.tar.gz"])
    assert not any(p.is_symlink() for p in (tmp_path / "dest").rglob("*"))
    assert not Path("/abs/evil.tex").exists() and not (tmp_path.parent / "evil.tex").exists()


def test_links_inside_the_tree_become_plain_copies(tmp_path):
    source = make_tar(tmp_path / "paper.tar", [("sec", "dir"), ("sec/intro.tex", b"Intro."),
                                               ("main.tex", TEX), ("alias.tex", "sym", "sec/intro.tex"),
                                               ("sec/again.tex", "hard", "sec/intro.tex"),
                                               ("chain.tex", "sym", "alias.tex")], compress=False)
    dest = extract(tmp_path, source)
    assert tree(dest) == ["alias.tex", "chain.tex", "main.tex", "sec", "sec/again.tex", "sec/intro.tex"]
    for name in ("alias.tex", "chain.tex", "sec/again.tex"):
        assert not (dest / name).is_symlink() and (dest / name).read_bytes() == b"Intro."


def test_decompression_bomb_and_member_count_limits(tmp_path):
    bomb = make_tar(tmp_path / "bomb.tar.gz", [("main.tex", TEX), ("zeros.bin", b"\0" * (4 << 20))])
    assert bomb.stat().st_size < 64 * 1024  # a few KB that unpack to 4 MB
    with pytest.raises(Rejected) as caught:
        extract(tmp_path, bomb, Limits(max_bytes=1 << 20))
    assert caught.value.reason == "source_too_large"
    # The copy stopped at the limit: never more than max_bytes + one chunk on disk.
    assert sum(p.stat().st_size for p in (tmp_path / "dest").rglob("*") if p.is_file()) <= (2 << 20)
    many = make_tar(tmp_path / "many.tar.gz", [(f"f{i}.tex", b"x") for i in range(20)])
    with pytest.raises(Rejected) as caught:
        extract(tmp_path / "second", many, Limits(max_files=10))
    assert caught.value.reason == "too_many_files"


def test_bare_gz_is_a_single_tex_or_a_tarball(tmp_path):
    single = tmp_path / "2401.00002.gz"
    single.write_bytes(gzip.compress(TEX))
    assert source_stem(single) == "2401.00002"
    dest = extract(tmp_path / "a", single)
    assert tree(dest) == ["2401.00002.tex"] and (dest / "2401.00002.tex").read_bytes() == TEX
    tar_bytes = make_tar(tmp_path / "inner.tar", [("main.tex", TEX), ("fig/plot.png", b"png")], compress=False)
    packed = tmp_path / "2401.00003.gz"
    packed.write_bytes(gzip.compress(tar_bytes.read_bytes()))
    dest = extract(tmp_path / "b", packed)
    assert tree(dest) == ["fig", "fig/plot.png", "main.tex"]


def test_corrupt_and_unsupported_sources(tmp_path):
    good = make_tar(tmp_path / "good.tar.gz", [("main.tex", TEX * 2000)]).read_bytes()
    cases = [("cut.tar.gz", good[: len(good) // 2], "broken_archive"),
             ("noise.tar.gz", bytes(range(256)) * 4, "broken_archive"),
             ("noise.gz", b"\x1f\x8b" + bytes(range(256)), "broken_archive"),
             ("paper.zip", b"PK\x03\x04", "unsupported_source")]
    for index, (name, data, reason) in enumerate(cases):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(Rejected) as caught:
            extract(tmp_path / f"w{index}", tmp_path / name)
        assert caught.value.reason == reason, name


def test_folder_sources_copy_plain_files_and_refuse_links_out(tmp_path):
    paper = tmp_path / "paper"
    (paper / "sections").mkdir(parents=True)
    (paper / "main.tex").write_bytes(TEX)
    (paper / "sections" / "intro.tex").write_bytes(b"Intro.")
    (paper / "inside.tex").symlink_to(paper / "sections" / "intro.tex")
    dest = extract(tmp_path, paper)
    assert tree(dest) == ["inside.tex", "main.tex", "sections", "sections/intro.tex"]
    assert not (dest / "inside.tex").is_symlink() and (dest / "inside.tex").read_bytes() == b"Intro."
    (tmp_path / "secret.txt").write_bytes(b"secret")
    (paper / "leak.tex").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(Rejected) as caught:
        extract(tmp_path / "again", paper)
    assert caught.value.reason == "unsafe_link"
