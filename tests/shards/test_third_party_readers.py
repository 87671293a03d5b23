"""Our shards load unchanged with webdataset, Hugging Face datasets and plain tarfile."""

import json
import tarfile

import datasets
import webdataset as wds
from conftest import make_samples
from PIL import Image

from vlforge.shards import ShardWriter
from vlforge.shards.hf import features


def write_shards(directory, samples):
    with ShardWriter(directory, "demo-000000", max_count=4) as writer:
        for sample in samples:
            writer.write(sample)
    return [s.path for s in writer.shards]


def test_webdataset_reads_every_sample_with_decoded_members(tmp_path):
    samples = make_samples(9)
    paths = write_shards(tmp_path, samples)
    dataset = wds.WebDataset(paths, shardshuffle=False, empty_check=False).decode("pil")
    got = list(dataset)
    assert [g["__key__"] for g in got] == [s.key for s in samples]
    for g, s in zip(got, samples, strict=True):
        assert g["txt"] == s.text
        assert g["json"]["key"] == s.key
        if s.image is not None:
            assert isinstance(g["png"], Image.Image) and g["png"].size == (32, 24)
        else:
            assert "png" not in g


def test_huggingface_datasets_webdataset_builder_loads_the_shards(tmp_path):
    samples = make_samples(6, with_images=True)[:3]  # all with an image: the plain call
    paths = write_shards(tmp_path / "shards", samples)
    ds = datasets.load_dataset("webdataset", data_files={"train": paths}, split="train",
                               cache_dir=str(tmp_path / "hf-cache"))
    assert ds["txt"] == [s.text for s in samples]
    assert [image.size for image in ds["png"]] == [(32, 24)] * 3
    assert json.loads(ds[1]["json"]["metadata"]) == {"i": 1}


def test_huggingface_datasets_loads_any_mix_whole_with_our_features(tmp_path):
    """Text-only samples first, image samples after, in one shard and across shards: with
    `features()` nothing is dropped, whatever the order."""
    samples = make_samples(8)
    text_only = [s for s in samples if s.image is None]
    samples = text_only + [s for s in samples if s.image is not None]
    paths = write_shards(tmp_path / "shards", samples)
    ds = datasets.load_dataset("webdataset", data_files={"train": paths}, split="train",
                               cache_dir=str(tmp_path / "hf-cache"), features=features())
    assert ds.num_rows == len(samples)
    assert ds["__key__"] == [s.key for s in samples]
    assert ds["txt"] == [s.text for s in samples]
    assert ds[0]["json"]["licence"] == "CC-BY-4.0"
    assert [json.loads(m["metadata"]) for m in ds["json"]] == [s.metadata for s in samples]
    images = ds["png"]
    for sample, image in zip(samples, images, strict=True):
        assert (image is None) == (sample.image is None)
        assert image is None or image.size == (32, 24)


def test_plain_tarfile_loop_groups_members_by_key(tmp_path):
    samples = make_samples(5)
    paths = write_shards(tmp_path, samples)
    by_key: dict[str, dict] = {}
    for path in paths:
        with tarfile.open(path) as tar:
            for member in tar:
                key, ext = member.name.split(".", 1)
                by_key.setdefault(key, {})[ext] = tar.extractfile(member).read()
    assert list(by_key) == [s.key for s in samples]
    assert all(json.loads(m["json"])["text_chars"] == len(m["txt"].decode()) for m in by_key.values())
