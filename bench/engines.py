"""Ray and Beam throughput against the local engine on the same job, in the same run.

Default job: the notebooks corpus on `--source` (default: the real notebooks beside the
repository, ../shared/corpora/notebooks), copied `--copies` times under distinct paths so
the job has at least 1,000 items. Each engine runs the job into a fresh output directory;
printed: items/s per engine, the ratio to local (aim: >= 0.7 on one machine), and each
engine's start-up time (a one-item text job, end to end).
Run: `make bench` or `python bench/engines.py [--copies N] [--workers N]`.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from vlforge.engines.runner import run_job

REPO = Path(__file__).resolve().parents[1]
ENGINES = ("local", "ray", "beam")


def replicate(source: Path, copies: int, into: Path) -> Path:
    for copy in range(copies):
        shutil.copytree(source, into / f"copy-{copy:02d}")
    return into


def timed_job(corpus: str, inputs: Path, out: Path, engine: str, workers: int) -> tuple[float, dict]:
    started = time.perf_counter()
    stats = run_job(corpus, [str(inputs)], str(out), engine, workers, quiet=True)
    return time.perf_counter() - started, stats


def startup_time(engine: str, workdir: Path) -> float:
    """A one-item job end to end: what an engine costs before any work is done."""
    (workdir / "one.txt").write_text("one item")
    seconds, _ = timed_job("text", workdir / "one.txt", workdir / f"startup-{engine}", engine, 1)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="notebooks")
    parser.add_argument("--source", type=Path, default=REPO.parent / "shared/corpora/notebooks")
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inputs = replicate(args.source, args.copies, tmp / "inputs")
        startups = {engine: startup_time(engine, tmp) for engine in ENGINES}
        results = {engine: timed_job(args.corpus, inputs, tmp / engine, engine, args.workers) for engine in ENGINES}
    local_rate = results["local"][1]["read"] / results["local"][0]
    print(f"engines: {args.corpus} job, {results['local'][1]['read']} items, {args.workers} workers")
    for engine in ENGINES:
        seconds, stats = results[engine]
        rate = stats["read"] / seconds
        print(f"  {engine:<6} {rate:8.1f} items/s  ({seconds:6.1f} s, accepted {stats['accepted']}, "
              f"rejected {stats['rejected']})  ratio to local {rate / local_rate:.2f}  "
              f"start-up {startups[engine]:.1f} s")
    print("  aim: ratio >= 0.70 on one machine")


if __name__ == "__main__":
    main()
