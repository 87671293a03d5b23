"""The shipped model, made from the data and a seed (`make taxonomy-model`).

    1. rows        shared/corpora/prompts_labelled (labelled.load_labelled), CharXiv's
                   chart questions (real, unlabelled: evaluate.charxiv_rows) and, as
                   augmentation, our generated prompt set (data/prompts.jsonl) and the
                   written prompts (data/augment.yaml)
    2. LOSO        evaluate.loso_predictions: every real prompt predicted by models that never
                   saw its source
    3. calibrate   temperature (on the labelled predictions) and default threshold (on all
                   of them, CharXiv's included, so that real prompts unlike the labelled
                   ones are no more often unassigned than the target)
    4. train       main + secondary models on all licence-allowed labelled rows + the
                   augmentation, quantised, with the calibration in model.json
    5. report      the LOSO report (evaluate.report) written next to the models as
                   evaluation.json, the figures the README quotes

Every step is deterministic (fixed seeds, one thread), so the same data and TrainConfig give
byte-identical main.ftz, secondary.ftz, model.json and evaluation.json.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from vlforge.taxonomy.evaluate import calibration_of, loso_predictions, report
from vlforge.taxonomy.labelled import TRAINING_SOURCES, augmentation, trainable
from vlforge.taxonomy.model import TrainConfig, train_models

REPORT_FILE = "evaluation.json"


def build(labelled: list[dict], promptset: list[dict], output_dir: str | Path, config: TrainConfig,
          progress: Callable[[str], None] = lambda _: None, unlabelled: list[dict] = ()) -> dict:
    """Steps 2-5 of the module notes on loaded rows (`unlabelled`: real prompts with no
    category, CharXiv's, that join the calibration pool); returns the LOSO report."""
    added = augmentation(promptset)
    predictions = loso_predictions(labelled + list(unlabelled), added, config, progress)
    calibration = calibration_of(predictions)
    result = report(predictions, calibration)
    train = trainable(labelled) + added
    used = Counter(r["source"] for r in train)
    progress(f"shipped model: {len(train)} training rows, calibration {calibration}")
    train_models(train, output_dir, config, calibration, provenance={
        "rows_per_source": dict(sorted(used.items())),
        "licences": {s: TRAINING_SOURCES[s] for s in sorted(used) if s in TRAINING_SOURCES}})
    Path(output_dir, REPORT_FILE).write_text(json.dumps(result, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
    return result
