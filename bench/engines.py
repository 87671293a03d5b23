"""Ray and Beam throughput against the local engine on the same job, in the same run.

Default job: the notebooks corpus on `--source` (default: the real notebooks beside the
repository, ../shared/corpora/notebooks, 96 files), copied `--copies` times under distinct
paths (384 notebooks). For each engine, with `--workers` workers:

    cold      a one-notebook job first: the engine's start-up, Ray's cluster and Beam's
              import included
    warm      the same job again: what every job pays before its first item (workers,
              browsers, planning, the report)
    job       the whole job into a fresh output directory

Printed: each engine's job items/s end to end and once started (job time less its warm
start-up), the start-ups apart, and a RESULT line per engine: its rate once started over
local's (aim >= 0.9).
Run: `make bench` or `python bench/engines.py [--copies N] [--workers N]`.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from common import result

from vlforge.engines.runner import run_job

REPO = Path(__file__).resolve().parents[1]
ENGINES = ("local", "ray", "beam")
AIM = 0.9


def replicate(source: Path, copies: int, into: Path) -> Path:
    for copy in range(copies):
        shutil.copytree(source, into / f"copy-{copy:02d}")
    return into


def timed_job(corpus: str, inputs: Path, out: Path, engine: str, workers: int) -> tuple[float, dict]:
    started = time.perf_counter()
    stats = run_job(corpus, [str(inputs)], str(out), engine, workers, quiet=True)
    return time.perf_counter() - started, stats


def measure(engine: str, corpus: str, one: Path, inputs: Path, workdir: Path, workers: int) -> dict:
    """Seconds of the cold and warm one-item jobs and of the whole job, and its stats."""
    cold, _ = timed_job(corpus, one, workdir / f"cold-{engine}", engine, workers)
    warm, _ = timed_job(corpus, one, workdir / f"warm-{engine}", engine, workers)
    seconds, stats = timed_job(corpus, inputs, workdir / engine, engine, workers)
    return {"cold": cold, "warm": warm, "seconds": seconds, "stats": stats,
            "started_rate": stats["read"] / max(seconds - warm, 1e-9)}


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
        one = min(inputs.rglob("*.ipynb"))
        runs = {engine: measure(engine, args.corpus, one, inputs, tmp, args.workers) for engine in ENGINES}
    local = runs["local"]
    print(f"engines: {args.corpus} job, {local['stats']['read']} items, {args.workers} workers")
    for engine, run in runs.items():
        stats = run["stats"]
        print(f"  {engine:<6} {stats['read'] / run['seconds']:8.1f} items/s end to end ({run['seconds']:6.1f} s, "
              f"accepted {stats['accepted']}, rejected {stats['rejected']}), {run['started_rate']:8.1f} once "
              f"started; start-up cold {run['cold']:.1f} s, warm {run['warm']:.1f} s")
    for engine in ENGINES[1:]:
        result("engines", f"{engine} against local, {args.corpus} once started", runs[engine]["started_rate"],
               local["started_rate"], "items/s", aim=AIM, floor_label="local")


if __name__ == "__main__":
    main()
