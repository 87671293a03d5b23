"""Shard writing throughput against a bare `tarfile` write of the same members.

The floor writes exactly the bytes our writer puts in its tars (same member names and
payloads, default headers) with nothing else; our writer adds metadata JSON, fixed headers,
rotation, the parquet index and the atomic rename. Printed: MB/s of each and the ratio
(aim: >= 0.8). Run: `make bench` or `python bench/shard_write.py [--samples N]`.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import tarfile
import tempfile
import time
from pathlib import Path

from common import result

from vlforge.schemas import Provenance, Sample, make_key
from vlforge.shards import ShardWriter
from vlforge.shards.writer import sample_members


def make_samples(n: int, image_bytes: int, seed: int = 0) -> list[Sample]:
    """Samples shaped like notebook pairs: an incompressible ~image_bytes image and some code."""
    rng = random.Random(seed)
    samples = []
    for i in range(n):
        source = f"/corpus/notebook-{i // 4}.ipynb"
        image = rng.randbytes(image_bytes)
        code = "\n".join(f"plt.plot(x, y{j})  # line {j}" for j in range(rng.randint(5, 40)))
        samples.append(Sample(make_key("bench", source, i), "bench", code, "code",
                              Provenance(source, f"sha256:{i:064x}", "MIT"), image=image,
                              image_format="png", image_size=(640, 480), metadata={"cell_index": i}))
    return samples


def bare_tarfile_write(directory: Path, members: list[list[tuple[str, bytes]]], per_shard: int) -> None:
    for start in range(0, len(members), per_shard):
        with tarfile.open(directory / f"bare-{start // per_shard:04d}.tar", "w") as tar:
            for sample_members_ in members[start:start + per_shard]:
                for name, payload in sample_members_:
                    info = tarfile.TarInfo(name)
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))


def our_write(directory: Path, samples: list[Sample], per_shard: int) -> None:
    with ShardWriter(directory, "bench-000000", max_count=per_shard) as writer:
        for sample in samples:
            writer.write(sample)


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
            started = time.perf_counter()
            fn(Path(tmp))
            times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--image-bytes", type=int, default=40_000)
    parser.add_argument("--per-shard", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    samples = make_samples(args.samples, args.image_bytes)
    # The floor gets the members precomputed: it does only the tar writing.
    members = [sample_members(s) for s in samples]
    total = sum(len(p) for m in members for _, p in m)
    floor = best_of(args.repeats, lambda d: bare_tarfile_write(d, members, args.per_shard))
    ours = best_of(args.repeats, lambda d: our_write(d, samples, args.per_shard))
    mb = total / 1e6
    print(f"shard write: {args.samples} samples, {mb:.1f} MB of payload, best of {args.repeats}")
    print(f"  bare tarfile (floor): {mb / floor:8.1f} MB/s  {args.samples / floor:10.0f} samples/s")
    print(f"  vlforge ShardWriter:  {mb / ours:8.1f} MB/s  {args.samples / ours:10.0f} samples/s")
    result("shard_write", "MB/s", mb / ours, mb / floor, "MB/s", aim=0.80)


if __name__ == "__main__":
    main()
