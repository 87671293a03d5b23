"""Compiles the demo papers in examples/papers with pdflatex (from the OS's TeX Live).

    python examples/make_paper.py                 main.pdf beside each examples/papers/*/main.tex
    python examples/make_paper.py --out DIR       the same folders (main.tex + main.pdf) in DIR
    python examples/make_paper.py --arxiv DIR     arXiv layout in DIR: NAME.tar.gz + NAME.pdf

The LaTeX is committed; the PDFs are built (they are outputs of a TeX engine, not sources).
`vlforge run arxiv examples/papers` then pairs every PDF page with its markdown. Each paper
is compiled twice in a temporary folder (the second pass resolves \\ref), with
SOURCE_DATE_EPOCH and FORCE_SOURCE_DATE set so the same TeX Live gives the same PDF bytes;
only the PDF comes back, no .aux or .log. The tarballs are written with fixed metadata too.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PAPERS = Path(__file__).resolve().parent / "papers"
EPOCH = 1709251200  # 2024-03-01, the papers' date


def compile_pdf(tex_dir: Path, target: Path) -> Path:
    """pdflatex main.tex twice in a scratch copy of tex_dir; the PDF is copied to target."""
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        raise SystemExit("pdflatex not found: install TeX Live (apt-get install texlive-latex-base "
                         "texlive-latex-recommended)")
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH), "FORCE_SOURCE_DATE": "1"}
    with tempfile.TemporaryDirectory(prefix="vlforge-paper-") as scratch:
        work = Path(scratch) / "src"
        shutil.copytree(tex_dir, work, ignore=shutil.ignore_patterns("*.pdf"))
        for _ in range(2):
            done = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "main.tex"],
                                  cwd=work, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"pdflatex failed on {tex_dir / 'main.tex'}:\n{done.stdout[-2000:]}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(work / "main.pdf", target)
    return target


def write_tarball(tex_dir: Path, target: Path) -> Path:
    """The folder's sources (no PDFs) as a gzipped tarball with fixed names, times, owners."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in tex_dir.rglob("*") if p.is_file() and p.suffix != ".pdf"):
            info = tarfile.TarInfo(path.relative_to(tex_dir).as_posix())
            data = path.read_bytes()
            info.size, info.mtime, info.mode = len(data), EPOCH, 0o644
            tar.addfile(info, io.BytesIO(data))
    with open(target, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=EPOCH, filename="") as gz:
        gz.write(buffer.getvalue())
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write NAME/main.tex + NAME/main.pdf here instead")
    parser.add_argument("--arxiv", type=Path, help="write NAME.tar.gz + NAME.pdf here (arXiv layout)")
    args = parser.parse_args(argv)
    for tex_dir in sorted(p.parent for p in PAPERS.glob("*/main.tex")):
        if args.arxiv:
            args.arxiv.mkdir(parents=True, exist_ok=True)
            write_tarball(tex_dir, args.arxiv / f"{tex_dir.name}.tar.gz")
            written = compile_pdf(tex_dir, args.arxiv / f"{tex_dir.name}.pdf")
        elif args.out:
            shutil.copytree(tex_dir, args.out / tex_dir.name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.pdf"))
            written = compile_pdf(tex_dir, args.out / tex_dir.name / "main.pdf")
        else:
            written = compile_pdf(tex_dir, tex_dir / "main.pdf")
        print(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
