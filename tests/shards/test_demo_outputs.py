"""The demo jobs (`make demo`) end to end: their shards load whole with Hugging Face
`datasets`, `webdataset` and the trainer, and a second run writes the same bytes.

The jobs run as the Makefile's `demo` target runs them (`vlforge run CORPUS ... --workers 2`),
once into one directory, and notebooks, ebooks and arxiv once more into another.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import datasets
import numpy as np
import pytest
import webdataset as wds
from conftest import REPO, run_cli
from PIL import Image

from vlforge.shards.hf import features
from vlforge.trainer.data import ExampleEncoder, ShardSource
from vlforge.trainer.tokenizer import load_tokenizer

CORPORA = ("text", "notebooks", "ebooks", "html", "arxiv", "sft")
RERUN = ("notebooks", "ebooks", "arxiv")
IMAGE_COLUMNS = ("png", "jpg")  # the image members features() has columns for
# stats.json fields that say how long a run took or where it wrote, not what it wrote.
RUN_FIELDS = ("elapsed_s", "items_per_s", "output", "shards_dir", "rejects_file")
TIMING = re.compile(r'(<(\w+)\b[^>]*\bclass="[^"]*\btiming\b[^"]*"[^>]*>).*?(</\2>)', re.S)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}


def demo_inputs(root: Path) -> dict[str, Path]:
    """Each corpus's demo input; the paper is compiled by examples/make_paper.py into root."""
    papers = root / "papers"
    subprocess.run([sys.executable, str(REPO / "examples" / "make_paper.py"), "--out", str(papers)],
                   check=True, capture_output=True, env=ENV)
    inputs = {corpus: REPO / "examples" / corpus for corpus in ("text", "notebooks", "ebooks", "html")}
    return inputs | {"arxiv": papers, "sft": REPO / "examples" / "sft" / "conversations.jsonl"}


def run_demo(inputs: dict[str, Path], output: Path, corpora=CORPORA) -> dict[str, Path]:
    outputs = {}
    for corpus in corpora:
        outputs[corpus] = output / corpus
        run_cli("run", corpus, str(inputs[corpus]), "--output", str(outputs[corpus]), "--workers", "2",
                "-q", check=True, env=ENV)
    return outputs


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    return demo_inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def demo(inputs, tmp_path_factory) -> dict[str, Path]:
    return run_demo(inputs, tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def rerun(inputs, demo, tmp_path_factory) -> dict[str, Path]:
    return run_demo(inputs, tmp_path_factory.mktemp("rerun"), RERUN)


def shard_paths(output: Path) -> list[str]:
    return [str(p) for p in sorted((output / "shards").glob("*.tar"))]


def tar_samples(paths: list[str]) -> list[dict]:
    """The reference read: a plain tarfile loop, members grouped by the name before the first dot."""
    samples: list[dict] = []
    for path in paths:
        with tarfile.open(path) as tar:
            for member in tar:
                key, _, ext = member.name.partition(".")
                if not samples or samples[-1]["__key__"] != key:
                    samples.append({"__key__": key})
                samples[-1][ext] = tar.extractfile(member).read()
    return samples


def members(sample: dict) -> frozenset[str]:
    return frozenset(k for k in sample if not k.startswith("__"))


@pytest.fixture(scope="module")
def stored(demo) -> dict[str, list[dict]]:
    by_corpus = {corpus: tar_samples(shard_paths(out)) for corpus, out in demo.items()}
    assert all(by_corpus.values()), {c: len(s) for c, s in by_corpus.items()}
    return by_corpus


# --- a. Hugging Face datasets --------------------------------------------------------------

def load_hf(paths: list[str], cache: Path, **kwargs) -> datasets.Dataset:
    ds = datasets.load_dataset("webdataset", data_files={"train": paths}, split="train",
                               cache_dir=str(cache), **kwargs)
    # The stored bytes, not decoded images: so they compare with the tar's member exactly.
    for column in IMAGE_COLUMNS:
        if column in ds.column_names:
            ds = ds.cast_column(column, datasets.Image(decode=False))
    return ds


def assert_rows_match_the_tar(ds: datasets.Dataset, expected: list[dict]) -> None:
    assert ds.num_rows == len(expected)
    assert ds["__key__"] == [s["__key__"] for s in expected]
    for row, sample in zip(ds, expected, strict=True):
        key = sample["__key__"]
        assert set(members(sample)) <= {"json", "txt", *IMAGE_COLUMNS}, key
        assert row["txt"] is not None and row["txt"] == sample["txt"].decode("utf-8"), key
        assert row["json"] is not None and row["json"] == json.loads(sample["json"]), key
        for column in IMAGE_COLUMNS:
            value = row.get(column)
            assert (value is None) == (column not in sample), (key, column)
            if value is not None:
                assert value["bytes"] == sample[column], (key, column)


@pytest.mark.parametrize("corpus", CORPORA)
def test_each_corpus_loads_alone_in_datasets(corpus, demo, stored, tmp_path):
    expected = stored[corpus]
    uniform = len({members(s) for s in expected}) == 1
    if corpus == "sft":  # text-only records beside image ones: the case features() is for
        assert not uniform
    kwargs = {} if uniform else {"features": features()}
    ds = load_hf(shard_paths(demo[corpus]), tmp_path / "hf", **kwargs)
    assert_rows_match_the_tar(ds, expected)


def test_all_corpora_load_together_in_datasets(demo, stored, tmp_path):
    # text first: the first file's samples have no image, and nothing after may be dropped
    paths = [p for corpus in CORPORA for p in shard_paths(demo[corpus])]
    ds = load_hf(paths, tmp_path / "hf", features=features())
    assert_rows_match_the_tar(ds, [s for corpus in CORPORA for s in stored[corpus]])
    assert set(ds["json"][i]["corpus"] for i in range(ds.num_rows)) == set(CORPORA)


# --- b. webdataset -------------------------------------------------------------------------

def transparent(png: bytes) -> np.ndarray | None:
    """Mask of the fully transparent pixels of a stored image, or None when it has no alpha."""
    image = Image.open(io.BytesIO(png))
    if image.mode not in ("RGBA", "LA", "PA") and "transparency" not in image.info:
        return None
    return np.asarray(image.convert("RGBA"))[..., 3] == 0


@pytest.mark.parametrize("corpus", CORPORA)
def test_webdataset_decodes_every_sample_to_rgb(corpus, demo, stored):
    expected = stored[corpus]
    got = list(wds.WebDataset(shard_paths(demo[corpus]), shardshuffle=False, empty_check=False).decode("pil"))
    assert [g["__key__"] for g in got] == [s["__key__"] for s in expected]
    for sample, decoded in zip(expected, got, strict=True):
        key = sample["__key__"]
        assert decoded["txt"] == sample["txt"].decode("utf-8") and decoded["json"] == json.loads(sample["json"])
        assert ("png" in decoded) == ("png" in sample), key
        if "png" not in sample:
            continue
        image, record = decoded["png"], decoded["json"]
        assert image.mode == "RGB" and image.size == (record["image_width"], record["image_height"]), key
        mask = transparent(sample["png"])
        if mask is not None:  # what was see-through must not come out black
            assert not np.all(np.asarray(image)[mask] == 0, axis=-1).any(), key
        if corpus == "notebooks":  # see-through plots are flattened onto the page when written
            stored_image = Image.open(io.BytesIO(sample["png"])).convert("RGBA")
            assert np.asarray(stored_image)[..., 3].min() == 255, key


# --- c. the same job twice, the same bytes -------------------------------------------------

def comparable(path: Path, output: Path) -> bytes | dict:
    """What must be equal between two runs of a job: the file's bytes, less what a run
    may differ in (timings, and the output directory's own path)."""
    relative = path.relative_to(output)
    data = path.read_bytes()
    if relative == Path("stats.json"):
        return {k: v for k, v in json.loads(data).items() if k not in RUN_FIELDS}
    if relative.parts[0] == "_tasks" and path.suffix == ".json":
        return {k: v for k, v in json.loads(data).items() if k != "elapsed_s"}
    if relative in (Path("report.html"), Path("job.json")):
        text = data.decode("utf-8").replace(str(output), "OUT")
        return TIMING.sub(r"\1\3", text).encode("utf-8")
    return data


@pytest.mark.parametrize("corpus", RERUN)
def test_a_second_run_writes_the_same_output(corpus, demo, rerun):
    first, second = demo[corpus], rerun[corpus]
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert Path("report.html") in files and any(f.suffix == ".tar" for f in files)
    differ = [str(f) for f in files if comparable(first / f, first) != comparable(second / f, second)]
    assert differ == []
    assert TIMING.search((first / "report.html").read_text())  # the timings were there to drop


# --- d. the trainer ------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "corpora"), [
    ("language", ("text",)),
    ("multimodal", ("notebooks", "ebooks", "html", "arxiv")),
    ("sft", ("sft",)),
])
def test_the_trainer_reads_the_demo_shards(kind, corpora, demo, stored):
    expected = {s["__key__"]: s for corpus in corpora for s in stored[corpus]}
    encoder = ExampleEncoder(load_tokenizer(None), 1024, 16)
    source = ShardSource([demo[c] / "shards" for c in corpora], kind, encoder, shuffle=False)
    assert len(source) == len(expected)  # every record is usable for its kind
    seen = set()
    for _ in range(50 * len(expected)):  # one epoch, and then some: long texts give several
        example = next(source)
        key = example.key.split("#")[0]
        sample = expected[key]
        assert example.modality == ("multimodal" if "png" in sample else "language"), key
        # the image member first (an SFT record's extra images, if any, after it)
        assert example.images[:1] == ([sample["png"]] if "png" in sample else []), key
        assert kind == "sft" or len(example.images) == ("png" in sample), key
        assert any(label >= 0 for label in example.labels), key
        seen.add(key)
        if seen == set(expected):
            break
    assert seen == set(expected) and not source.skipped
