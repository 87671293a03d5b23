"""The batch tag path's exact parts: rounding as Python rounds, ties to the smaller label, and
a main whose children the secondary model never learnt; on real fastText models trained here."""

import math
import random

import numpy as np
import pytest

from vlforge.taxonomy.labelled import generated_rows
from vlforge.taxonomy.model import Calibration, TrainConfig, load_models, train_models
from vlforge.taxonomy.prompt_tagger import Tagger, round4
from vlforge.taxonomy.promptset import load_promptset
from vlforge.taxonomy.text import lines_and_scripts, tokenize


def test_round4_is_pythons_round_for_every_value():
    rng = random.Random(3)
    # exact halves of the 4th decimal, where rint(v * 1e4) / 1e4 goes the other way 4 times in 10
    values = [(k + 0.5) / 1e4 for k in range(10_000)] + [rng.random() for _ in range(10_000)]
    values += [0.0, 1.0, 1e-12, 0.99995, 123456789.00005, math.inf]
    assert round4(np.array(values)).tolist() == [round(v, 4) for v in values]
    assert math.isnan(round4(np.array([math.nan]))[0])


def flat_models(directory, analysis_children: bool) -> str:
    """Models trained with a learning rate of 1e-10: every label of a model gets the same
    probability, so every rank is a tie. Without analysis_children, the Analysis rows (the
    smallest main id) have no secondary, so the secondary model knows none of its children."""
    rows = [r if analysis_children or r["main"] != "analysis" else dict(r, secondary=None)
            for r in generated_rows(load_promptset()[::6])]
    train_models(rows, directory, TrainConfig(lr=1e-10, epoch=1), Calibration(), quantize=False)
    return str(directory)


@pytest.mark.parametrize(("analysis_children", "secondary_score"), [
    (True, 0.25),  # Analysis has 4 children, all tied: the smallest id, a quarter of their probability
    (False, 0.0),  # none learnt: the first child, with no share
])
def test_ties_go_to_the_smaller_label(tmp_path, analysis_children, secondary_score):
    tagger = Tagger.load(flat_models(tmp_path, analysis_children), main_threshold=0.0, secondary_threshold=0.0)
    tags = tagger.tag_texts(["What is in this picture?", "这张图里有什么？"])
    for tag, lang in zip(tags, ["en", "zh"], strict=True):
        assert tag == {"main": "Analysis", "main_score": 0.125, "best": "Analysis",
                       "top": [["Analysis", 0.125], ["Commonsense Reasoning", 0.125], ["Conversion", 0.125]],
                       "secondary": "Data Chart Analysis", "secondary_score": secondary_score, "lang": lang,
                       "reason": None}


def test_the_tagger_lines_predict_as_the_tokenized_lines(tagger_models):
    """The tagger feeds fastText lines whose tokens may be separated by runs of spaces;
    fastText splits on whitespace, so it predicts exactly what it does on tokenize's lines."""
    texts = [r["text"] for r in load_promptset()[:1500]] + ["Plot 1, 2 , 3 -- and 'x'  here", "  a  ", "b\n\tc"]
    loose = [line + "\n" for line, _ in lines_and_scripts(texts)]
    tight = [tokenize(t) + "\n" for t in texts]
    assert sum(a != b for a, b in zip(loose, tight, strict=True)) > 100  # the test means something
    for model in (tagger_models.main, tagger_models.secondary):
        loose_labels, loose_probs = model.f.multilinePredict(loose, -1, 0.0, "strict")
        tight_labels, tight_probs = model.f.multilinePredict(tight, -1, 0.0, "strict")
        assert loose_labels == tight_labels
        assert np.array_equal(np.array(loose_probs), np.array(tight_probs))


@pytest.fixture(scope="module")
def tagger_models():
    return load_models()
