"""Rerunning a training run gives the same losses: on the same shards, and on the same data
written by a job run in another folder.

A job's sample keys hold a digest of the absolute path of the input each sample came from
(`schemas.make_key`), so `make demo` with another OUT, or in another checkout, writes the
same records under other keys. What the trainer draws per record (DeepSeek-VL's captioning
instruction, Janus's first-sentence and unconditional prompts) must not follow the keys, or
the losses change with the folder (two demo runs, /tmp/demo-final and /tmp/demo-review,
differed so: Janus stage III 6.4447 -> 5.6670 against 6.4515 -> 5.6367).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import png_bytes

from vlforge.schemas import Provenance, Sample, make_key
from vlforge.shards.reader import iter_samples, sample_image, sample_text
from vlforge.shards.writer import ShardWriter
from vlforge.trainer.config import build_train_config, resolve_train_options
from vlforge.trainer.data import ExampleEncoder
from vlforge.trainer.evaluation import make_mc_set
from vlforge.trainer.tokenizer import load_tokenizer
from vlforge.trainer.train import train

PAGE_KINDS = ("plain", "markdown", "code")  # each with its own captioning instructions


def write_shards(folder: Path, corpus: str, records: list[tuple[str, str, dict]]) -> Path:
    """(text, text kind, metadata) records with images, as a job run in `folder` writes them:
    keys and provenance name the input file by its absolute path there."""
    source = str(folder / "inputs" / f"{corpus}.jsonl")
    writer = ShardWriter(folder / corpus, corpus, max_count=4)
    for i, (text, kind, metadata) in enumerate(records):
        writer.write(Sample(make_key(corpus, source, i), corpus, text, kind, Provenance(source),
                            image=png_bytes(40, 30, seed=i), image_format="png", image_size=(40, 30),
                            metadata=metadata))
    writer.close()
    return folder / corpus


def captions(count: int = 8) -> list[tuple[str, str, dict]]:
    """Captions-corpus records: two sentences each (the first-sentence draw shows) and 576 VQ ids."""
    def caption(i: int) -> str:
        return f"A red square number {i}. It sits on a white ground."

    return [(caption(i), "plain", {"kind": "caption", "uses": ["understanding", "generation"],
                                   "first_sentence": caption(i).split(". ")[0] + ".",
                                   "vq": {"ids": random.Random(i).choices(range(1024), k=576), "grid": [24, 24]}})
            for i in range(count)]


def pages(count: int = 6) -> list[tuple[str, str, dict]]:
    return [(f"Page {i}: the words on it, line by line.", PAGE_KINDS[i % 3], {}) for i in range(count)]


def keys(shards: Path) -> list[str]:
    return [sample["__key__"] for shard in sorted(shards.glob("*.tar")) for sample in iter_samples(shard)]


def run(stage: int, output_dir: Path, *settings: str) -> list[float]:
    options = resolve_train_options(None, (*settings, "steps=3", "batch.global=2", "batch.micro=1",
                                           "checkpoint.every=0", "checkpoint.init_from=", "export=false",
                                           f"output_dir={output_dir}"), stage)
    return train(build_train_config(options))["losses"]


def janus_losses(folder: Path, output_dir: Path) -> list[float]:
    """Stage III of tiny-janus (chat-format understanding and generation) on the captions in folder."""
    shards = folder / "captions" if (folder / "captions").is_dir() else write_shards(folder, "captions", captions())
    return run(3, output_dir, "model.preset=tiny-janus", f"data.captions=[{shards}]",
               "data.janus_ratio=1,0,1", "data.first_sentence_share=0.5", "data.uncond_share=0.5")


def deepseek_vl_losses(folder: Path, output_dir: Path) -> list[float]:
    """Stage 1 of the tiny DeepSeek-VL preset on the image + text pages in folder."""
    shards = folder / "pages" if (folder / "pages").is_dir() else write_shards(folder, "pages", pages())
    return run(1, output_dir, "model.preset=tiny", f"data.multimodal=[{shards}]")


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("first")
    return {"folder": folder, "janus": janus_losses(folder, folder / "run-janus"),
            "deepseek-vl": deepseek_vl_losses(folder, folder / "run-deepseek-vl")}


@pytest.mark.parametrize("trainer, losses_of", [("janus", janus_losses), ("deepseek-vl", deepseek_vl_losses)])
def test_a_rerun_on_the_same_shards_gives_the_same_losses(first, tmp_path, trainer, losses_of):
    assert losses_of(first["folder"], tmp_path / "rerun") == first[trainer]


@pytest.mark.parametrize("trainer, losses_of, corpus",
                         [("janus", janus_losses, "captions"), ("deepseek-vl", deepseek_vl_losses, "pages")])
def test_the_same_data_written_in_another_folder_gives_the_same_losses(first, tmp_path, trainer, losses_of, corpus):
    losses = losses_of(tmp_path, tmp_path / "run")
    assert not set(keys(tmp_path / corpus)) & set(keys(first["folder"] / corpus))  # other keys, same records
    assert len(losses) == 3 and losses == first[trainer]


def test_the_mc_set_asks_what_training_asks_wherever_the_pages_were_written(tmp_path):
    encoder = ExampleEncoder(load_tokenizer(None), 512, 16)

    def questions(folder: Path) -> list[tuple]:
        shards = write_shards(folder, "pages", pages())
        rows = [json.loads(line) for line in
                make_mc_set(shards, folder / "mc" / "mc.jsonl", items=4, options=3).read_text().splitlines()]
        samples = {s["__key__"]: s for shard in sorted(shards.glob("*.tar")) for s in iter_samples(shard)}
        for row in rows:  # the question is the instruction the trainer gives this page
            (kind, text), (_, image) = sample_text(samples[row["id"]]), sample_image(samples[row["id"]])
            [example] = encoder.pair(row["id"], image, text, kind)
            assert row["question"].split("\n", 1)[1] in encoder.tokenizer.decode(example.input_ids)
        return [(row["question"], row["options"], row["answer"]) for row in rows]

    assert questions(tmp_path / "here") == questions(tmp_path / "there")
