"""Prompt text -> taxonomy tags.

For each prompt (the user turns of a record, joined):

    tokens      text.analyze; no word (numbers do not count) -> unassigned, `empty_prompt`
    language    text.script_of: Japanese, Korean and other scripts -> `unsupported_language`
                (the models learnt English and Chinese only)
    best        the main model's best label and its calibrated confidence: the softmax
                probabilities sharpened or flattened by the temperature fitted on
                leave-one-source-out predictions (model.Calibration), so a confidence of
                0.7 is right about 70% of the time on kinds of prompt the model never saw
    main        `best` when its confidence >= main_threshold, else `unassigned` with reason
                `low_confidence`; the default threshold is the one that leaves at most 10%
                of the real labelled prompts unassigned (evaluate.choose_threshold)
    secondary   the best secondary label among the chosen main's children, scored by its
                share of the children's probabilities (its confidence given the main);
                below secondary_threshold -> `unassigned`; null for Evaluation and Safety,
                which have no secondary level
    top         the top_k main labels with their calibrated confidences

The tag: {"main", "main_score", "best", "secondary", "secondary_score", "top", "lang",
"reason"}, names as in Table 3 ("Recognition", "OCR and Transcription"); reason is null
when the main category was assigned. Prompts are predicted in batches through fastText's
multi-line predict, which is what makes tagging fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlforge.taxonomy.model import LABEL_PREFIX, LoadedModels, calibrate, check_labels, load_models
from vlforge.taxonomy.text import analyze
from vlforge.taxonomy.tree import UNASSIGNED, Taxonomy, load_taxonomy

TOP_K = 3
UNSUPPORTED_SCRIPTS = {"ja", "ko", "other"}


@dataclass
class _Prepared:
    line: str  # what fastText sees
    lang: str
    reason: str | None  # set when the prompt is refused before prediction


class Tagger:
    def __init__(self, models: LoadedModels, taxonomy: Taxonomy | None = None, top_k: int = TOP_K,
                 main_threshold: float | None = None, secondary_threshold: float | None = None):
        self.taxonomy = taxonomy or load_taxonomy()
        check_labels(models, self.taxonomy)
        self.models = models
        self.top_k = top_k
        calibration = models.calibration
        self.temperature = calibration.temperature
        self.main_threshold = calibration.main_threshold if main_threshold is None else main_threshold
        self.secondary_threshold = (calibration.secondary_threshold if secondary_threshold is None
                                    else secondary_threshold)
        self._children = {m.id: {s.id for s in m.secondaries} for m in self.taxonomy.mains}

    @classmethod
    def load(cls, model_dir: str | None = None, **kwargs) -> Tagger:
        return cls(load_models(model_dir), **kwargs)

    def prepare(self, text: str) -> _Prepared:
        analyzed = analyze(text)
        words, script = analyzed.tokens, analyzed.script
        if script == "none":  # no words, or only numbers: nothing says what is asked
            return _Prepared("", "none", "empty_prompt")
        if script in UNSUPPORTED_SCRIPTS:
            return _Prepared("", script, "unsupported_language")
        return _Prepared(" ".join(words), "zh" if script == "zh" else "en", None)

    def tag_texts(self, texts: list[str]) -> list[dict]:
        """One tag per text, in order."""
        prepared = [self.prepare(t) for t in texts]
        lines = [p.line for p in prepared if p.reason is None]
        main_scores = self._predict(self.models.main, lines)
        secondary_scores = self._predict(self.models.secondary, lines)
        tags, j = [], 0
        for p in prepared:
            if p.reason is not None:
                tags.append(unassigned_tag(p.lang, p.reason))
                continue
            tags.append(self._tag(main_scores[j], secondary_scores[j], p.lang))
            j += 1
        return tags

    def main_probabilities(self, texts: list[str]) -> list[dict[str, float] | None]:
        """The main model's uncalibrated probabilities per text (label ids); None for a text
        refused before prediction (no words, another script)."""
        prepared = [self.prepare(t) for t in texts]
        scores = iter(self._predict(self.models.main, [p.line for p in prepared if p.reason is None]))
        return [None if p.reason is not None else next(scores) for p in prepared]

    def tag_text(self, text: str) -> dict:
        return self.tag_texts([text])[0]

    @staticmethod
    def _predict(model, lines: list[str]) -> list[dict[str, float]]:
        if not lines:
            return []
        # multilinePredict is fastText's batch predict without the per-line numpy wrapping.
        all_labels, all_probs = model.f.multilinePredict([line + "\n" for line in lines], -1, 0.0, "strict")
        cut = len(LABEL_PREFIX)
        return [{label[cut:]: float(p) for label, p in zip(labels, probs, strict=True)}
                for labels, probs in zip(all_labels, all_probs, strict=True)]

    def _tag(self, main_scores: dict[str, float], secondary_scores: dict[str, float], lang: str) -> dict:
        ranked = sorted(calibrate(main_scores, self.temperature).items(), key=lambda kv: (-kv[1], kv[0]))
        top = [[self.taxonomy.name_of(label), round(score, 4)] for label, score in ranked[:self.top_k]]
        best, best_score = ranked[0]
        known = {"main_score": round(best_score, 4), "best": self.taxonomy.name_of(best), "top": top}
        if best_score < self.main_threshold:
            return {**unassigned_tag(lang, "low_confidence"), **known}
        secondary, secondary_score = self._secondary(best, secondary_scores)
        return {"main": known["best"], **known, "secondary": secondary, "secondary_score": secondary_score,
                "lang": lang, "reason": None}

    def _secondary(self, main_id: str, scores: dict[str, float]) -> tuple[str | None, float | None]:
        children = self._children[main_id]
        if not children:  # Evaluation, Safety: no secondary level
            return None, None
        child_scores = {s: scores.get(s, 0.0) for s in sorted(children)}
        label = max(child_scores, key=child_scores.__getitem__)
        share = child_scores[label] / (sum(child_scores.values()) or 1.0)
        name = self.taxonomy.name_of(label) if share >= self.secondary_threshold else UNASSIGNED
        return name, round(share, 4)


def unassigned_tag(lang: str, reason: str) -> dict:
    return {"main": UNASSIGNED, "main_score": None, "best": None, "secondary": UNASSIGNED,
            "secondary_score": None, "top": [], "lang": lang, "reason": reason}
