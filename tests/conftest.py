"""Shared helpers: run the real CLI in a subprocess, build small shards, read job outputs."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, check: bool = False, **kwargs) -> subprocess.CompletedProcess:
    """`vlforge ARGS` as a user runs it: a new process, output captured as text."""
    result = subprocess.run([sys.executable, "-m", "vlforge", *args], capture_output=True,
                            text=True, cwd=kwargs.pop("cwd", REPO), **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"vlforge {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


def output_digests(output_dir: Path) -> dict[str, str]:
    """sha256 of every file a job writes that must be reproducible (not stats/markers)."""
    files = sorted(output_dir.glob("shards/*")) + [output_dir / "rejects.parquet"]
    files += sorted(output_dir.glob("_tasks/*.rejects.parquet"))
    return {str(f.relative_to(output_dir)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def load_stats(output_dir: Path) -> dict:
    return json.loads((output_dir / "stats.json").read_text())


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(autouse=True)
def _single_thread_env(monkeypatch):
    # Tests share two cores: keep libraries from starting a thread pool each.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def write_jsonl(path: Path, records: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write((record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)) + "\n")
    return path





def png_bytes(width: int = 32, height: int = 24, seed: int = 0) -> bytes:
    """A small real PNG whose pixels depend on seed (so images differ)."""
    import io

    from PIL import Image

    image = Image.new("RGB", (width, height), (seed * 37 % 256, seed * 91 % 256, 200))
    for x in range(width):
        image.putpixel((x, (x + seed) % height), (0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def make_samples(n: int, with_images: bool = True, corpus: str = "demo") -> list:
    from vlforge.schemas import Provenance, Sample, make_key

    samples = []
    for i in range(n):
        source = f"/data/source-{i // 3}.jsonl"
        image = png_bytes(seed=i) if with_images and i % 4 != 3 else None
        samples.append(Sample(
            make_key(corpus, source, i), corpus, f"sample {i}: 图像和文字 " + "x" * i, "plain",
            Provenance(source, f"sha256:{i:064x}", "CC-BY-4.0"),
            image=image, image_format="png" if image else None,
            image_size=(32, 24) if image else None, metadata={"i": i}))
    return samples


def start_trap_server():
    """A local HTTP server recording every request path: hermetic renders must send none.

    Returns (server, base url, hits); the caller shuts the server down.
    """
    import http.server
    import threading

    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}", hits


def job_samples(output) -> list[dict]:
    """Every sample of a job's shards as a test reads it: key, text, image bytes (or None),
    image extension, and KEY.json with its JSON-string fields (metadata, tools) parsed."""
    from vlforge.shards.reader import find_shards, iter_samples, sample_image, sample_text

    found = []
    for shard in find_shards(Path(output) / "shards"):
        for raw in iter_samples(shard):
            meta = json.loads(raw["json"])
            meta["metadata"], meta["tools"] = json.loads(meta["metadata"]), json.loads(meta["tools"])
            image = sample_image(raw)
            found.append({"key": raw["__key__"], "text": sample_text(raw)[1], "meta": meta,
                          "image": image[1] if image else None, "image_ext": image[0] if image else None,
                          "members": sorted(k for k in raw if not k.startswith("__"))})
    return found
