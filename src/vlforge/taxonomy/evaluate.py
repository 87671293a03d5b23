"""How good the tagger is on real prompts: leave-one-source-out, calibration, CharXiv.

    loso          leave-one-source-out over shared/corpora/prompts_labelled: for each source
                  with labelled rows, a model trained on the labelled rows of every other
                  source plus the augmentation (labelled.augmentation) predicts that source;
                  real prompts with no labels (Vibe-Eval's, and CharXiv's chart questions
                  when given: `charxiv_rows`) are predicted by a model of the shipped
                  recipe (licence-allowed rows + augmentation), which never saw them: they
                  say how often the shipped model abstains on real prompts unlike its
                  training data. Folds of labelled sources learn from the evaluation-only sources too:
                  their licences bar shipping a model trained on them, not measuring a
                  recipe, and without them a held-out category (Safety, Evaluation) would be
                  measured against a model that saw none of its real prompts. Every score
                  says how the recipe does on a kind of prompt it has never seen; the shipped
                  model (build.py) learns from the licence-allowed sources only. Fold models
                  are not quantised (the shipped ones are; the difference is in the third
                  decimal).
    calibration   the temperature that minimises the negative log-likelihood of the gold
                  main category over the LOSO predictions, and the default threshold: the
                  highest (in steps of 0.01) that leaves at most TARGET_UNASSIGNED of all
                  real prompts (labelled or not, CharXiv's included) unassigned under LOSO
    report        accuracy of the best main category per source, language and category,
                  macro (mean over sources) and micro (over rows), the abstention rate at
                  the threshold, secondary accuracy, and the confusion matrix
    charxiv       where CharXiv's chart questions land (princeton-nlp/CharXiv, CC BY-SA 4.0):
                  its human-written reasoning questions and its templated descriptive
                  questions (19 templates, counted as often as the figures ask them)

`evaluate_model` scores one fixed model (the shipped one, say) the same way, without folds.
"""

from __future__ import annotations

import ast
import json
import math
import tempfile
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from vlforge.errors import VlforgeError
from vlforge.taxonomy.labelled import TRAINING_SOURCES, trainable
from vlforge.taxonomy.model import Calibration, TrainConfig, calibrate, load_models, train_models
from vlforge.taxonomy.prompt_tagger import Tagger
from vlforge.taxonomy.tree import UNASSIGNED, load_taxonomy

TARGET_UNASSIGNED = 0.08  # under LOSO; the shipped model is surer on sources it learnt from
TEMPERATURES = [round(0.25 + 0.05 * i, 2) for i in range(76)]  # 0.25 .. 4.0


def fold_plan(rows: list[dict]) -> list[tuple[str | None, list[str]]]:
    """(source left out of training, or None for the shipped recipe, sources predicted), in a
    fixed order: each labelled source by its fold, the unlabelled ones by the shipped recipe."""
    labelled = sorted({r["source"] for r in rows if r["main"]})
    rest = sorted({r["source"] for r in rows} - set(labelled))
    return [(s, [s]) for s in labelled] + ([(None, rest)] if rest else [])


def fold_training(rows: list[dict], held_out: str | None) -> list[dict]:
    """The labelled rows a fold learns from (module notes): every source but the held-out one,
    or, for the unlabelled prompts (held_out None), what the shipped model learns from."""
    if held_out is None:
        return trainable(rows)
    return [r for r in rows if r["main"] and r["source"] != held_out]


def _fold_tagger(train: list[dict], config: TrainConfig, directory: Path) -> Tagger:
    train_models(train, directory, config, quantize=False)
    # Thresholds 0: the fold reports the best label and its raw probabilities.
    return Tagger(load_models(directory), main_threshold=0.0, secondary_threshold=0.0)


def predict_row(row: dict, probabilities: dict | None, tag: dict) -> dict:
    return {"id": row["id"], "source": row["source"], "lang": row["lang"], "main": row["main"],
            "secondary": row["secondary"], "probabilities": probabilities,
            "predicted_secondary": tag["secondary"] if tag["reason"] is None else None}


def predict_rows(tagger: Tagger, rows: list[dict]) -> list[dict]:
    texts = [r["text"] for r in rows]
    return [predict_row(r, p, t) for r, p, t in
            zip(rows, tagger.main_probabilities(texts), tagger.tag_texts(texts), strict=True)]


def loso_predictions(rows: list[dict], augmentation: list[dict], config: TrainConfig,
                     progress: Callable[[str], None] = lambda _: None) -> list[dict]:
    """One prediction per row of `rows`, each by a model that never saw the row's source.
    Unlabelled rows (CharXiv's, say: charxiv_rows) may be among them."""
    predictions = []
    for held_out, sources in fold_plan(rows):
        train = fold_training(rows, held_out) + augmentation
        progress(f"fold {held_out or 'unlabelled prompts, shipped recipe'}: {len(train)} training rows")
        with tempfile.TemporaryDirectory() as tmp:
            tagger = _fold_tagger(train, config, Path(tmp))
            predictions += predict_rows(tagger, [r for r in rows if r["source"] in sources])
    return predictions


def _gold_probability(prediction: dict, temperature: float) -> float:
    probabilities = prediction["probabilities"]
    return calibrate(probabilities, temperature).get(prediction["main"], 0.0) if probabilities else 0.0


def fit_temperature(predictions: list[dict]) -> float:
    """The temperature with the lowest mean negative log-likelihood of the gold main category."""
    scored = [p for p in predictions if p["main"] and p["probabilities"]]
    if not scored:
        raise VlforgeError("no labelled predictions to calibrate on")

    def nll(t: float) -> float:
        return -sum(math.log(max(_gold_probability(p, t), 1e-12)) for p in scored) / len(scored)
    return min(TEMPERATURES, key=nll)


def confidence(prediction: dict, temperature: float) -> float:
    probabilities = prediction["probabilities"]
    return max(calibrate(probabilities, temperature).values()) if probabilities else 0.0


def best_main(prediction: dict) -> str | None:
    probabilities = prediction["probabilities"]
    return max(sorted(probabilities), key=probabilities.__getitem__) if probabilities else None


def choose_threshold(confidences: list[float], target: float = TARGET_UNASSIGNED) -> float:
    """The highest threshold (steps of 0.01) leaving at most `target` of the prompts below it."""
    allowed = int(target * len(confidences))
    ranked = sorted(confidences)
    if allowed >= len(ranked):
        return 1.0
    return math.floor(ranked[allowed] * 100) / 100  # ranked[allowed] and above stay assigned


def calibration_of(predictions: list[dict], secondary_threshold: float = 0.5) -> Calibration:
    temperature = fit_temperature(predictions)
    threshold = choose_threshold([confidence(p, temperature) for p in predictions])
    return Calibration(temperature, threshold, secondary_threshold)


def _accuracy(pairs: list[tuple[str, str | None]]) -> float:
    return round(sum(g == p for g, p in pairs) / len(pairs), 4) if pairs else 0.0


def _grouped(predictions: list[dict], key: Callable[[dict], str]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for p in predictions:
        groups[key(p)].append(p)
    return dict(sorted(groups.items()))


def _scores(group: list[dict], calibration: Calibration) -> dict:
    labelled = [p for p in group if p["main"]]
    unassigned = sum(confidence(p, calibration.temperature) < calibration.main_threshold for p in group)
    return {"prompts": len(group), "labelled": len(labelled),
            "accuracy": _accuracy([(p["main"], best_main(p)) for p in labelled]),
            "unassigned": round(unassigned / len(group), 4) if group else 0.0}


def report(predictions: list[dict], calibration: Calibration) -> dict:
    """Scores of LOSO (or fixed-model) predictions; see the module notes."""
    names = load_taxonomy().name_of
    labelled = [p for p in predictions if p["main"]]
    by_source = {s: _scores(g, calibration) for s, g in _grouped(predictions, lambda p: p["source"]).items()}
    scored_sources = {s: v for s, v in by_source.items() if v["labelled"]}
    confusion: dict[str, Counter] = defaultdict(Counter)
    for p in labelled:
        confusion[names(p["main"])][names(best_main(p)) if best_main(p) else UNASSIGNED] += 1
    with_secondary = [p for p in labelled if p["secondary"]]
    return {
        "calibration": vars(calibration),
        "macro_accuracy": round(sum(v["accuracy"] for v in scored_sources.values()) / len(scored_sources), 4),
        "micro_accuracy": _accuracy([(p["main"], best_main(p)) for p in labelled]),
        "macro_accuracy_training_sources": _macro(scored_sources, set(TRAINING_SOURCES)),
        "unassigned": _scores(predictions, calibration)["unassigned"],
        "secondary_accuracy": _accuracy([(names(p["secondary"]), p["predicted_secondary"]) for p in with_secondary]),
        "by_source": by_source,
        "by_language": {k: _scores(g, calibration) for k, g in _grouped(predictions, lambda p: p["lang"]).items()},
        "by_main": {names(k): _scores(g, calibration)
                    for k, g in _grouped(labelled, lambda p: p["main"]).items()},
        "confusion": {gold: dict(row.most_common()) for gold, row in sorted(confusion.items())},
    }


def _macro(by_source: dict[str, dict], sources: set[str]) -> float:
    values = [v["accuracy"] for s, v in by_source.items() if s in sources]
    return round(sum(values) / len(values), 4) if values else 0.0


def evaluate_model(rows: list[dict], model_dir: str | None = None) -> dict:
    """One fixed model (no folds) scored like LOSO, at its own calibration."""
    tagger = Tagger(load_models(model_dir), main_threshold=0.0, secondary_threshold=0.0)
    return report(predict_rows(tagger, rows), tagger.models.calibration)


def _qmap(constants: Path) -> dict[int, str]:
    """DESCRIPTIVE_GRADING_QMAP from CharXiv's src/constants.py, read without running it."""
    with warnings.catch_warnings():  # its prompt strings hold LaTeX-ish escapes like "\l"
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        tree = ast.parse(constants.read_text("utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "DESCRIPTIVE_GRADING_QMAP"
                                                for t in node.targets):
            return ast.literal_eval(node.value)
    raise VlforgeError(f"{constants} has no DESCRIPTIVE_GRADING_QMAP")


def charxiv_questions(root: str | Path) -> dict[str, list[str]]:
    """{"reasoning": [...], "descriptive": [...]} from a CharXiv checkout (data/, src/)."""
    root = Path(root)
    if not (root / "data").is_dir():
        raise VlforgeError(f"{root} is not a CharXiv checkout (no data/ directory)")
    reasoning = [q["query"] for f in sorted(root.glob("data/reasoning_*.json"))
                 for q in json.loads(f.read_text("utf-8")).values()]
    qmap = _qmap(root / "src" / "constants.py")
    descriptive = [qmap[qid] for f in sorted(root.glob("data/descriptive_*.json"))
                   for figure in json.loads(f.read_text("utf-8")).values() for qid in figure["qids"]]
    return {"reasoning": reasoning, "descriptive": descriptive}


def charxiv_rows(root: str | Path) -> list[dict]:
    """CharXiv's questions as unlabelled real rows (sources charxiv_reasoning and
    charxiv_descriptive) for the LOSO pool that the default threshold is chosen on."""
    return [{"id": f"charxiv:{kind}:{i}", "text": text, "lang": "en", "source": f"charxiv_{kind}",
             "main": None, "secondary": None}
            for kind, questions in charxiv_questions(root).items() for i, text in enumerate(questions)]


def landing(questions: list[str], tagger: Tagger) -> dict:
    """Counts per main and per secondary category, and why questions were unassigned."""
    tags = tagger.tag_texts(questions)
    return {
        "questions": len(questions),
        "main": dict(Counter(t["main"] for t in tags).most_common()),
        "secondary": dict(Counter(f"{t['main']} / {t['secondary'] or '-'}" for t in tags).most_common()),
        "unassigned_by_reason": dict(Counter(t["reason"] for t in tags if t["reason"]).most_common()),
    }


def charxiv_landing(root: str | Path, model_dir: str | None = None) -> dict:
    tagger = Tagger.load(model_dir)
    return {kind: landing(qs, tagger) for kind, qs in charxiv_questions(root).items()}


def format_report(result: dict) -> str:
    """The report as text: tables per source, language and category, the confusion matrix,
    and where CharXiv's questions land (whichever of these the result holds)."""
    lines = _format_labelled(result) if "by_source" in result else []
    for kind, land in result.get("charxiv", {}).items():
        unassigned = land["main"].get(UNASSIGNED, 0) / land["questions"]
        lines.append(f"CharXiv {kind} questions ({land['questions']}, {unassigned:.1%} unassigned): " +
                     ", ".join(f"{name} {n}" for name, n in land["main"].items()))
    return "\n".join(lines)


def _format_labelled(result: dict) -> list[str]:
    cal = result["calibration"]
    lines = [f"main-category accuracy: macro over sources {result['macro_accuracy']:.3f} "
             f"(training sources {result['macro_accuracy_training_sources']:.3f}), "
             f"micro {result['micro_accuracy']:.3f}; secondary {result['secondary_accuracy']:.3f}",
             f"unassigned at threshold {cal['main_threshold']:.2f} (temperature {cal['temperature']:.2f}): "
             f"{result['unassigned']:.1%} of {sum(v['prompts'] for v in result['by_source'].values())} prompts"]
    for title, table in (("source", result["by_source"]), ("language", result["by_language"]),
                         ("main category", result["by_main"])):
        lines += ["", f"{title:<24} {'prompts':>7} {'labelled':>8} {'accuracy':>8} {'unassigned':>10}"]
        lines += [f"{name:<24} {v['prompts']:>7} {v['labelled']:>8} {v['accuracy']:>8.3f} {v['unassigned']:>10.1%}"
                  for name, v in table.items()]
    columns = [m.name for m in load_taxonomy().mains] + [UNASSIGNED]
    lines += ["", "confusion (rows: gold, columns: predicted, in the order " + ", ".join(columns) + ")"]
    lines += [f"{gold:<24} " + " ".join(f"{row.get(c, 0):>6}" for c in columns)
              for gold, row in result["confusion"].items()]
    return lines
