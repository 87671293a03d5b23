"""The batch tag path's exact parts: rounding as Python rounds, ties to the smaller label, and
a main whose children the secondary model never learnt; on real fastText models trained here."""

import math
import random

import numpy as np
import pytest

from vlforge.taxonomy.labelled import generated_rows
from vlforge.taxonomy.model import Calibration, TrainConfig, train_models
from vlforge.taxonomy.prompt_tagger import Tagger, round4
from vlforge.taxonomy.promptset import load_promptset


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
