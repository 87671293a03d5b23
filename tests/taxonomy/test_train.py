"""Training is reproducible, and the shipped models were trained only on licence-allowed sources."""

import json

from vlforge.schemas import file_checksum
from vlforge.taxonomy.labelled import (
    EVALUATION_ONLY,
    GENERATED,
    TRAINING_SOURCES,
    WRITTEN,
    generated_rows,
)
from vlforge.taxonomy.model import CARD_FILE, TrainConfig, packaged_model_dir, train_models
from vlforge.taxonomy.prompt_tagger import Tagger
from vlforge.taxonomy.promptset import load_promptset

# Small enough to train and quantise in seconds. (dim=16 with bucket=2000 makes this fastText
# build diverge to NaN on this subset whatever the learning rate, so dim stays 32.)
SMALL = TrainConfig(dim=32, epoch=10, bucket=2000)


def test_training_twice_gives_the_same_bytes_and_predictions(tmp_path):
    rows = generated_rows(load_promptset()[::6])
    first = train_models(rows, tmp_path / "a", SMALL)
    second = train_models(rows, tmp_path / "b", SMALL)
    assert first["files"] == second["files"]  # sha256 of main.ftz and secondary.ftz
    assert (tmp_path / "a" / CARD_FILE).read_bytes() == (tmp_path / "b" / CARD_FILE).read_bytes()
    prompts = [r["text"] for r in rows[:200]]
    assert Tagger.load(str(tmp_path / "a")).tag_texts(prompts) == Tagger.load(str(tmp_path / "b")).tag_texts(prompts)


def test_shipped_card_names_allowed_sources_only_and_its_files():
    card = json.loads((packaged_model_dir() / CARD_FILE).read_text())
    used = set(card["training_rows"]["rows_per_source"])
    ours = {GENERATED, WRITTEN}  # the augmentation
    assert ours <= used and used - ours <= set(TRAINING_SOURCES) and not used & set(EVALUATION_ONLY)
    assert set(card["training_rows"]["licences"]) == used - ours
    assert card["config"] == json.loads(json.dumps(TrainConfig().__dict__))  # defaults rebuild it
    assert 0 < card["calibration"]["main_threshold"] < 0.5
    assert card["files"] == {name: file_checksum(packaged_model_dir() / name) for name in card["files"]}
