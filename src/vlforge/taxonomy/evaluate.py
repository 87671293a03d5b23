"""How good the tagger is: held-out scores, unseen-phrasing scores, and real questions.

    held_out      the shipped models on the `test` split of the prompt set: per-class
                  precision/recall/F1 and macro-F1 for the main category (unassigned counts
                  as a miss), macro-F1 for the secondary, each per language too
    by_frame      five folds over sentence frames (promptset notes): a main model trained
                  without frame k mod 5 is scored on those frames, so every test prompt is
                  phrased in a way the model never saw; fold models are not quantised
    charxiv       where CharXiv's chart questions land (princeton-nlp/CharXiv, CC BY-SA 4.0):
                  its 2,323 human-written reasoning questions and its templated descriptive
                  questions (19 templates, counted as often as the figures ask them)
"""

from __future__ import annotations

import ast
import json
import tempfile
import warnings
from collections import Counter
from pathlib import Path

from vlforge.errors import VlforgeError
from vlforge.taxonomy.model import LoadedModels, TrainConfig, load_models, train_level
from vlforge.taxonomy.prompt_tagger import Tagger
from vlforge.taxonomy.tree import Taxonomy, load_taxonomy

FOLDS = 5


def class_scores(gold: list[str], predicted: list[str], labels: list[str]) -> dict[str, dict]:
    """Per label precision, recall, F1 and support (F1 of a label never predicted nor seen: 0)."""
    scores = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[label] = {"precision": round(precision, 4), "recall": round(recall, 4),
                         "f1": round(f1, 4), "support": tp + fn}
    return scores


def macro_f1(gold: list[str], predicted: list[str]) -> float:
    labels = sorted(set(gold))
    scores = class_scores(gold, predicted, labels)
    return round(sum(s["f1"] for s in scores.values()) / len(labels), 4) if labels else 0.0


def _gold_names(rows: list[dict], taxonomy: Taxonomy, level: str) -> list[str]:
    return [taxonomy.name_of(r[level]) if r[level] else "-" for r in rows]


def held_out(rows: list[dict], tagger: Tagger) -> dict:
    """Scores of `tagger` on the test split of a prompt set."""
    test = [r for r in rows if r["split"] == "test"]
    if not test:
        raise VlforgeError("the prompt set has no rows with split=test")
    tags = tagger.tag_texts([r["text"] for r in test])
    taxonomy = tagger.taxonomy
    gold_main, pred_main = _gold_names(test, taxonomy, "main"), [t["main"] for t in tags]
    with_secondary = [i for i, r in enumerate(test) if r["secondary"]]
    gold_secondary = [taxonomy.name_of(test[i]["secondary"]) for i in with_secondary]
    pred_secondary = [tags[i]["secondary"] for i in with_secondary]
    result = {
        "rows": len(test),
        "main_macro_f1": macro_f1(gold_main, pred_main),
        "secondary_macro_f1": macro_f1(gold_secondary, pred_secondary),
        "main_per_class": class_scores(gold_main, pred_main, [m.name for m in taxonomy.mains]),
        "unassigned": sum(t["main"] == "unassigned" for t in tags),
        "by_language": {},
    }
    for lang in sorted({r["lang"] for r in test}):
        idx = [i for i, r in enumerate(test) if r["lang"] == lang]
        result["by_language"][lang] = macro_f1([gold_main[i] for i in idx], [pred_main[i] for i in idx])
    return result


def by_frame(rows: list[dict], config: TrainConfig | None = None, folds: int = FOLDS) -> dict:
    """Main macro-F1 on sentence frames the model never saw (see the module notes)."""
    config = config or TrainConfig()
    taxonomy = load_taxonomy()
    gold: list[str] = []
    predicted: list[str] = []
    for fold in range(folds):
        train = [{**r, "split": "train"} for r in rows if r["frame"] % folds != fold]
        test = [r for r in rows if r["frame"] % folds == fold]
        tagger = _fold_tagger(train, config)
        gold += _gold_names(test, taxonomy, "main")
        predicted += [t["main"] for t in tagger.tag_texts([r["text"] for r in test])]
    return {"rows": len(gold), "folds": folds, "main_macro_f1": macro_f1(gold, predicted)}


def _fold_tagger(train: list[dict], config: TrainConfig) -> Tagger:
    import fasttext

    with tempfile.TemporaryDirectory() as tmp:
        train_level(train, "main", Path(tmp, "main.bin"), config, quantize=False)
        main = fasttext.load_model(str(Path(tmp, "main.bin")))
    # The fold needs no secondary model: the main one stands in, so that secondary scores
    # (which by_frame does not report) can be computed without a second training.
    return Tagger(LoadedModels(main, main, config, frozenset(main.get_words())))


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


def landing(questions: list[str], tagger: Tagger) -> dict:
    """Counts per main and per secondary category, and why questions were unassigned."""
    tags = tagger.tag_texts(questions)
    return {
        "questions": len(questions),
        "main": dict(Counter(t["main"] for t in tags).most_common()),
        "secondary": dict(Counter(f"{t['main']} / {t['secondary'] or '-'}" for t in tags).most_common()),
        "unassigned_by_reason": dict(Counter(t["reason"] for t in tags if t["reason"]).most_common()),
    }


def evaluate(rows: list[dict], model_dir: str | None = None, charxiv: str | None = None,
             frames: bool = False) -> dict:
    tagger = Tagger(load_models(model_dir))
    report = {"held_out": held_out(rows, tagger)}
    if frames:
        report["by_frame"] = by_frame(rows, tagger.models.config)
    if charxiv:
        report["charxiv"] = {kind: landing(qs, tagger) for kind, qs in charxiv_questions(charxiv).items()}
    return report


def format_report(report: dict) -> str:
    held = report["held_out"]
    lines = [f"held-out split: {held['rows']} prompts, main macro-F1 {held['main_macro_f1']:.4f} "
             f"(en {held['by_language'].get('en', 0):.4f}, zh {held['by_language'].get('zh', 0):.4f}), "
             f"secondary macro-F1 {held['secondary_macro_f1']:.4f}, unassigned {held['unassigned']}",
             f"{'main category':<24} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}"]
    for name, s in held["main_per_class"].items():
        lines.append(f"{name:<24} {s['precision']:>9.3f} {s['recall']:>7.3f} {s['f1']:>7.3f} {s['support']:>8}")
    if "by_frame" in report:
        frame = report["by_frame"]
        lines.append(f"unseen sentence frames ({frame['folds']} folds, {frame['rows']} prompts): "
                     f"main macro-F1 {frame['main_macro_f1']:.4f}")
    for kind, land in report.get("charxiv", {}).items():
        lines.append(f"CharXiv {kind} questions ({land['questions']}): " +
                     ", ".join(f"{name} {n}" for name, n in land["main"].items()))
        if land["unassigned_by_reason"]:
            lines.append("  unassigned because: " +
                         ", ".join(f"{r} {n}" for r, n in land["unassigned_by_reason"].items()))
    return "\n".join(lines)
