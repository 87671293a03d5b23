"""The captions corpus: every input layout, every filter reason, near duplicates across tasks,
the VQ ids round trip, and the shards as webdataset and Hugging Face datasets read them."""

import importlib.util
import io
import json
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
import webdataset as wds
from PIL import Image

from vlforge.engines.runner import run_job
from vlforge.errors import VlforgeError
from vlforge.shards.reader import find_shards, iter_samples, sample_metadata
from vlforge.vq import generation_view, load_vq, save_tiny_vq

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("make_captions", REPO / "examples" / "make_captions.py")
make_captions = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_captions)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return make_captions.write_inputs(tmp_path_factory.mktemp("caption-inputs"), per_layout=3)


def run(inputs, out, *assignments, engine="local"):
    return run_job("captions", [str(p) for p in inputs], str(out), engine, 2, quiet=True, assignments=assignments)


def samples_of(out) -> list[dict]:
    return [s for shard in find_shards(Path(out) / "shards") for s in iter_samples(shard)]


def by_text(out) -> dict[str, dict]:
    return {s["txt"].decode(): {**sample_metadata(s), "metadata": json.loads(sample_metadata(s)["metadata"]),
                                "png": s["png"]} for s in samples_of(out)}


def test_each_layout_gives_its_pairs_with_the_images_their_captions_describe(inputs, tmp_path):
    stats = run([inputs / "folder", inputs / "llava/annotations.json", inputs / "coco/captions.json",
                 inputs / "img2dataset"], tmp_path)
    got = by_text(tmp_path)
    pairs = make_captions.scenes(15, 0)
    # 3 pairs a layout, and the folder's French caption: no language is required here
    assert stats["accepted"] == 16 and len(got) == 16
    layouts = {}
    for image, caption in pairs:
        sample = got[caption]
        layouts.setdefault(sample["metadata"]["layout"], 0)
        layouts[sample["metadata"]["layout"]] += 1
        stored = np.asarray(Image.open(io.BytesIO(sample["png"])), np.int16)
        assert np.abs(stored - np.asarray(image, np.int16)).mean() < 3  # the picture of that caption (JPEG: near)
        assert sample["metadata"]["kind"] == "caption" and sample["metadata"]["uses"] == ["understanding", "generation"]
        assert sample["metadata"]["first_sentence"] == caption.split(". ")[0] + "."
    assert layouts == {"caption_folder": 3, "llava": 3, "coco": 3, "webdataset": 3, "parquet": 3}
    llava = next(s for s in got.values() if s["metadata"]["layout"] == "llava")
    assert llava["metadata"]["question"] == "Describe the image in detail."
    coco = next(s for s in got.values() if s["metadata"]["layout"] == "coco")
    assert len(coco["metadata"]["captions"]) == 2
    assert next(s for s in got.values() if s["metadata"]["layout"] == "parquet")["metadata"]["url"].startswith("https://")


def test_class_folders_give_class_names_for_generation(inputs, tmp_path):
    classes = inputs / "classes"
    stats = run([classes], tmp_path, f"captions.classes={classes / 'class_index.json'}")
    samples = samples_of(tmp_path)
    assert stats["accepted"] == 9 and stats["rejected"] == 0  # the map is not an item
    names = sorted({s["txt"].decode() for s in samples})
    assert names == ["blue square", "green triangle", "red circle"]
    metadata = json.loads(sample_metadata(samples[0])["metadata"])
    assert metadata["kind"] == "class_name" and metadata["uses"] == ["generation"]
    assert metadata["class_id"] == "n00000001" and metadata["class_index"] == 0


def test_every_filter_reason_lands_in_the_ledger(inputs, tmp_path):
    stats = run([inputs / "folder"], tmp_path, "captions.languages=en")
    assert stats["rejected_by_reason"] == {
        "corrupt_image": 1, "blank_image": 1, "image_too_small": 1, "extreme_aspect_ratio": 1,
        "empty_caption": 1, "duplicate_image": 1, "near_duplicate_image": 1, "caption_language": 1}
    assert stats["accepted"] == 3


def test_caption_length_limits_and_read_reasons(inputs, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in/orphan.txt").write_text("a caption without its image")
    (tmp_path / "in/bad.json").write_text("{not json")
    (tmp_path / "in/other.json").write_text('{"something": 1}')
    (tmp_path / "in/missing.jsonl").write_text(json.dumps({"image": "nowhere.jpg", "conversations": [
        {"from": "gpt", "value": "A caption."}]}) + "\n")
    lengths = sorted(len(caption) for _, caption in make_captions.scenes(6, 0)[3:])  # the LLaVA captions
    assert lengths[0] < lengths[1] < lengths[2]
    stats = run([inputs / "llava/annotations.json", tmp_path / "in"], tmp_path / "out",
                f"captions.min_chars={lengths[1]}", f"captions.max_chars={lengths[1]}")
    assert stats["rejected_by_reason"] == {"caption_too_short": 1, "caption_too_long": 1, "missing_image": 2,
                                           "invalid_json": 1, "unknown_layout": 1}
    assert stats["accepted"] == 1


def test_near_duplicates_across_tasks_are_dropped_by_the_job_pass(tmp_path):
    image, caption = make_captions.scenes(1, 5)[0]
    other, other_caption = make_captions.scenes(2, 6)[1]
    (tmp_path / "in").mkdir()
    for name, picture, text in (("a", image, caption), ("b", other, other_caption),
                                ("c", image.resize((224, 192)), caption)):
        picture.save(tmp_path / "in" / f"{name}.jpg", quality=80)
        (tmp_path / "in" / f"{name}.txt").write_text(text)
    stats = run([tmp_path / "in"], tmp_path / "out", "tasks.max_files=2")  # a.* | b.* | c.*: 3 tasks
    assert stats["tasks"] == 3 and stats["accepted"] == 2
    assert stats["rejected_by_reason"] == {"near_duplicate_image": 1}


@pytest.fixture(scope="module")
def tiny_vq(tmp_path_factory):
    return save_tiny_vq(tmp_path_factory.mktemp("vq") / "tiny-vq", seed=3)


def test_vq_ids_decode_to_what_the_encoder_output_decodes_to(inputs, tiny_vq, tmp_path):
    stats = run([inputs / "llava/annotations.json"], tmp_path, f"vq.model={tiny_vq}", "vq.batch_size=2")
    assert stats["accepted"] == 3
    tokenizer = load_vq(tiny_vq)
    for sample in samples_of(tmp_path):
        vq = json.loads(sample_metadata(sample)["metadata"])["vq"]
        assert vq["grid"] == [24, 24] and len(vq["ids"]) == 576 and vq["codebook_size"] == 1024
        image = Image.open(io.BytesIO(sample["png"]))
        direct = tokenizer.model.encode(tokenizer.pixels([image])).image_tokens.view(1, -1)
        assert vq["ids"] == direct[0].tolist()
        stored_decoded = tokenizer.decode([vq["ids"]])
        assert stored_decoded.shape == (1, 3, 384, 384)
        assert torch.equal(stored_decoded, tokenizer.model.decode(direct))


def test_generation_view_is_short_side_384_centre_crop():
    image = Image.new("RGB", (768, 480), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 60, 480))  # a white band at the far left: cropped away
    view = generation_view(image)
    assert view.size == (384, 384) and np.asarray(view).max() < 10


def test_a_vq_folder_that_is_not_a_vq_model_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(VlforgeError, match="llama"):
        run([tmp_path], tmp_path / "out", f"vq.model={tmp_path}")


def test_existing_shards_are_vq_tokenized_by_a_second_job_keeping_keys(inputs, tiny_vq, tmp_path):
    run([inputs / "coco/captions.json"], tmp_path / "plain")
    run([tmp_path / "plain/shards"], tmp_path / "vq", f"vq.model={tiny_vq}")
    before, after = samples_of(tmp_path / "plain"), samples_of(tmp_path / "vq")
    assert [s["__key__"] for s in before] == [s["__key__"] for s in after]
    assert [s["png"] for s in before] == [s["png"] for s in after]
    for old, new in zip(before, after, strict=True):
        new_meta = json.loads(sample_metadata(new)["metadata"])
        assert {k: v for k, v in new_meta.items() if k != "vq"} == json.loads(sample_metadata(old)["metadata"])
        assert len(new_meta["vq"]["ids"]) == 576


def test_webdataset_and_huggingface_datasets_read_the_ids(inputs, tiny_vq, tmp_path):
    run([inputs / "llava/annotations.json"], tmp_path / "out", f"vq.model={tiny_vq}")
    paths = [str(p) for p in find_shards(tmp_path / "out/shards")]
    via_wds = list(wds.WebDataset(paths, shardshuffle=False, empty_check=False).decode("pil"))
    hf = datasets.load_dataset("webdataset", data_files={"train": paths}, split="train",
                               cache_dir=str(tmp_path / "hf-cache"))
    assert hf.num_rows == len(via_wds) == 3
    for row, sample in zip(hf, via_wds, strict=True):
        ids = json.loads(row["json"]["metadata"])["vq"]["ids"]
        assert ids == json.loads(sample["json"]["metadata"])["vq"]["ids"] and len(ids) == 576
        assert row["png"].size == sample["png"].size and row["txt"] == sample["txt"]
