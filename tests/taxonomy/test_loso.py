"""Leave-one-source-out evaluation and calibration on a small subset of the real labelled prompts."""

import pytest
from conftest import REPO

from vlforge.taxonomy.evaluate import (
    calibration_of,
    choose_threshold,
    fold_plan,
    fold_training,
    loso_predictions,
    report,
)
from vlforge.taxonomy.labelled import (
    EVALUATION_ONLY,
    GENERATED,
    WRITTEN,
    WRITTEN_REPEAT,
    generated_rows,
    label_visible,
    load_labelled,
    written_rows,
)
from vlforge.taxonomy.model import TrainConfig
from vlforge.taxonomy.promptset import load_promptset

LABELLED = REPO.parent / "shared/corpora/prompts_labelled"
FAST = TrainConfig(dim=32, epoch=5, bucket=2000, group_cap=60)


def _subset():
    rows = load_labelled(LABELLED)
    wanted = {"chartmimic": 40, "fakebench": 20, "marvl": 40, "mathv": 40, "vibeeval": 10}  # fold order
    subset = []
    for source, n in wanted.items():
        subset += [r for r in rows if r["source"] == source][:n]
    return subset


def test_every_prompt_is_predicted_by_a_model_that_never_saw_its_source():
    rows = _subset()
    plan = fold_plan(rows)
    # Every labelled source is a fold of its own, evaluation-only ones (fakebench) too;
    # vibeeval has no labels, so a model of the shipped recipe (licence-allowed rows) predicts it.
    assert plan == [("chartmimic", ["chartmimic"]), ("fakebench", ["fakebench"]), ("marvl", ["marvl"]),
                    ("mathv", ["mathv"]), (None, ["vibeeval"])]
    assert {r["source"] for r in fold_training(rows, None)} == {"chartmimic", "marvl", "mathv"}
    assert {r["source"] for r in fold_training(rows, "marvl")} == {"chartmimic", "fakebench", "mathv"}
    generated = generated_rows(load_promptset()[::20])
    predictions = loso_predictions(rows, generated, FAST)
    assert [p["id"] for p in predictions] == [r["id"] for r in rows]
    calibration = calibration_of(predictions)
    result = report(predictions, calibration)
    assert set(result["by_source"]) == {"chartmimic", "marvl", "mathv", "fakebench", "vibeeval"}
    assert result["by_source"]["vibeeval"]["labelled"] == 0 and result["by_language"]["zh"]["labelled"] > 0
    labelled = sum(v["labelled"] for v in result["by_source"].values())
    assert sum(sum(row.values()) for row in result["confusion"].values()) == labelled
    scored = [v["accuracy"] for v in result["by_source"].values() if v["labelled"]]
    assert result["macro_accuracy"] == pytest.approx(sum(scored) / len(scored), abs=1e-4)
    assert result["unassigned"] <= 0.10  # the threshold was chosen on these very predictions
    assert GENERATED not in result["by_source"] and "fakebench" in EVALUATION_ONLY


def test_threshold_leaves_at_most_the_target_unassigned():
    confidences = [i / 100 for i in range(100)]
    threshold = choose_threshold(confidences, 0.1)
    assert sum(c < threshold for c in confidences) <= 10 and threshold == 0.1
    assert choose_threshold([0.9] * 10, 0.1) == 0.9


def test_written_prompts_are_labelled_rows_of_known_categories():
    rows = written_rows()
    mains = {r["main"] for r in rows}
    assert {"conversion", "safety", "multi_graph", "evaluation"} <= mains
    assert {r["lang"] for r in rows} == {"en", "zh"} and {r["source"] for r in rows} == {WRITTEN}
    texts = [r["text"] for r in rows]
    assert len(texts) == WRITTEN_REPEAT * len(set(texts))  # each prompt repeated, none written twice
    # None of them is a real labelled prompt: they must not leak a held-out source's rows.
    assert not set(texts) & {r["text"] for r in load_labelled(LABELLED)}


def test_rows_whose_label_the_prompt_does_not_show_are_unlabelled():
    # Bingo labels suggestive questions Safety; a plain question is suggestive only given the image.
    assert not label_visible("bingo", "Are there five characters in the picture?")
    assert not label_visible("bingo", "Is the panda in the picture pink?")
    for shown in ("The panda in the picture is not pink, is it?", "There are eight people in the picture, right?",
                  "I think this is Indian food. What do you think of it?", "This is not a puma logo. Why?",
                  "These are three isosceles triangles."):
        assert label_visible("bingo", shown), shown
    assert label_visible("mathv", "How many triangles are there?")  # other sources: the label stands
    bingo = [r for r in load_labelled(LABELLED) if r["source"] == "bingo"]
    plain = [r for r in bingo if r["text"] == "Are there five characters in the picture?"]
    assert plain and all(r["main"] is None for r in plain)
    assert sum(r["main"] == "safety" for r in bingo) > 100
