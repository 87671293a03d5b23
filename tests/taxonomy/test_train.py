"""Training is reproducible, and the shipped models were trained on the shipped prompt set."""

import json

from vlforge.taxonomy.model import CARD_FILE, TrainConfig, packaged_model_dir, train_models
from vlforge.taxonomy.prompt_tagger import Tagger
from vlforge.taxonomy.promptset import load_promptset

# Small enough to train and quantise in seconds. (dim=16 with bucket=2000 makes this fastText
# build diverge to NaN on this subset whatever the learning rate, so dim stays 32.)
SMALL = TrainConfig(dim=32, epoch=10, bucket=2000)


def _subset():
    rows = load_promptset()
    return [r for i, r in enumerate(rows) if i % 6 == 0]


def test_training_twice_gives_the_same_bytes_and_predictions(tmp_path):
    rows = _subset()
    first = train_models(rows, tmp_path / "a", SMALL)
    second = train_models(rows, tmp_path / "b", SMALL)
    assert first["files"] == second["files"]  # sha256 of main.ftz and secondary.ftz
    prompts = [r["text"] for r in rows[:200]]
    assert Tagger.load(str(tmp_path / "a")).tag_texts(prompts) == Tagger.load(str(tmp_path / "b")).tag_texts(prompts)


def test_shipped_card_names_the_shipped_prompt_set_and_files():
    card = json.loads((packaged_model_dir() / CARD_FILE).read_text())
    rows = load_promptset()
    assert card["prompt_set"]["rows"] == len(rows)
    assert card["prompt_set"]["train_rows"] == sum(r["split"] == "train" for r in rows)
    assert card["config"] == json.loads(json.dumps(TrainConfig().__dict__))  # defaults rebuild it
    from vlforge.schemas import file_checksum
    from vlforge.taxonomy.model import _digest
    assert card["prompt_set"]["digest"] == _digest(rows)
    assert card["files"] == {name: file_checksum(packaged_model_dir() / name) for name in card["files"]}
