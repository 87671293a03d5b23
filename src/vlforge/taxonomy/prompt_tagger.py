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

from collections import defaultdict
from dataclasses import dataclass
from itertools import chain

import numpy as np

from vlforge.taxonomy.model import LABEL_PREFIX, LoadedModels, check_labels, load_models
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
        # fastText's labels (with their prefix) -> taxonomy id, name, and the main of a secondary
        known = {*self._children, *(c for children in self._children.values() for c in children)}
        self._ids = {LABEL_PREFIX + i: i for i in known}
        self._names = {LABEL_PREFIX + i: self.taxonomy.name_of(i) for i in known}
        self._parent = {LABEL_PREFIX + c: m for m, children in self._children.items() for c in children}
        # the same as numbers, for comparing a whole batch's labels at once (-1: no main)
        self._main_code = {LABEL_PREFIX + m: code for code, m in enumerate(self._children)}
        self._parent_code = defaultdict(lambda: -1, {label: self._main_code[LABEL_PREFIX + m]
                                                     for label, m in self._parent.items()})

    @classmethod
    def load(cls, model_dir: str | None = None, **kwargs) -> Tagger:
        return cls(load_models(model_dir), **kwargs)

    def prepare(self, text: str) -> _Prepared:
        analyzed = analyze(text)
        script = analyzed.script
        if script == "none":  # no words, or only numbers: nothing says what is asked
            return _Prepared("", "none", "empty_prompt")
        if script in UNSUPPORTED_SCRIPTS:
            return _Prepared("", script, "unsupported_language")
        return _Prepared(analyzed.line, "zh" if script == "zh" else "en", None)

    def tag_texts(self, texts: list[str]) -> list[dict]:
        """One tag per text, in order."""
        prepared = [self.prepare(t) for t in texts]
        asked = [p for p in prepared if p.reason is None]
        tags = iter(self._tags([p.line for p in asked], [p.lang for p in asked]))
        return [unassigned_tag(p.lang, p.reason) if p.reason is not None else next(tags) for p in prepared]

    def main_probabilities(self, texts: list[str]) -> list[dict[str, float] | None]:
        """The main model's uncalibrated probabilities per text (label ids); None for a text
        refused before prediction (no words, another script)."""
        prepared = [self.prepare(t) for t in texts]
        labels, probs = self._raw_predict(self.models.main, [p.line for p in prepared if p.reason is None])
        scores = iter({self._ids[a]: b for a, b in zip(ls, ps, strict=True)}
                      for ls, ps in zip(labels, probs.tolist(), strict=True))
        return [None if p.reason is not None else next(scores) for p in prepared]

    def tag_text(self, text: str) -> dict:
        return self.tag_texts([text])[0]

    @staticmethod
    def _raw_predict(model, lines: list[str]) -> tuple[list[list[str]], np.ndarray]:
        """Every label (with its __label__ prefix) per line, best first, and their
        probabilities as one float64 matrix (a row per line)."""
        if not lines:
            return [], np.zeros((0, 0))
        # multilinePredict is fastText's batch predict without the per-line numpy wrapping; its
        # float32 rows become one float64 matrix in one call (the values a per-row tolist gives).
        labels, probs = model.f.multilinePredict([line + "\n" for line in lines], -1, 0.0, "strict")
        return labels, np.array(probs, dtype=np.float64)

    def _tags(self, lines: list[str], langs: list[str]) -> list[dict]:
        """The tags of predicted lines. The secondary model runs only on the lines whose main
        label is assigned and has children: the others never read its output."""
        ranked = self._ranked_main(lines)
        wanted = [i for i, (labels, confidences) in enumerate(ranked)
                  if confidences[0] >= self.main_threshold and self._children[self._ids[labels[0]]]]
        found = self._secondaries([ranked[i][0][0] for i in wanted], [lines[i] for i in wanted])
        secondaries = dict(zip(wanted, found, strict=True))
        return [self._tag(labels, confidences, secondaries.get(i, (None, None)), langs[i])
                for i, (labels, confidences) in enumerate(ranked)]

    def _ranked_main(self, lines: list[str]) -> list[tuple[list[str], list[float]]]:
        """Per line: the top_k (at least 1) main labels and their calibrated confidences, best
        first, ties broken by label id (as model.calibrate + a sort would), computed for the
        whole batch at once: the per-prompt Python work is what limits the tagging speed."""
        labels, probs = self._raw_predict(self.models.main, lines)
        if not lines:
            return []
        powered = np.maximum(probs, 1e-12) ** (1.0 / self.temperature)
        confidences = (powered / powered.sum(axis=1, keepdims=True)).tolist()
        k = max(1, min(self.top_k, powered.shape[1]))
        tied = np.any(powered[:, :k] == powered[:, 1:k + 1], axis=1) if powered.shape[1] > k else [False] * len(lines)
        ranked = []
        for row_labels, row_confidences, tie in zip(labels, confidences, tied, strict=True):
            if tie:  # fastText's order among equal probabilities is not ours
                pairs = sorted(zip(row_labels, row_confidences, strict=True), key=lambda kv: (-kv[1], kv[0]))
                row_labels, row_confidences = [a for a, _ in pairs], [c for _, c in pairs]
            ranked.append((row_labels[:k], row_confidences[:k]))
        return ranked

    def _tag(self, labels: list[str], confidences: list[float], secondary: tuple[str | None, float | None],
             lang: str) -> dict:
        best, best_score = self._names[labels[0]], confidences[0]
        top = [[self._names[a], round(c, 4)] for a, c in zip(labels, confidences, strict=True)]
        if best_score < self.main_threshold:
            return {"main": UNASSIGNED, "main_score": round(best_score, 4), "best": best, "secondary": UNASSIGNED,
                    "secondary_score": None, "top": top, "lang": lang, "reason": "low_confidence"}
        return {"main": best, "main_score": round(best_score, 4), "best": best, "top": top,
                "secondary": secondary[0], "secondary_score": secondary[1], "lang": lang, "reason": None}

    def _secondaries(self, mains: list[str], lines: list[str]) -> list[tuple[str, float]]:
        """Per line, for its main label (one with children): the best child by the secondary
        model, ties to the smaller label, and its share of the children's probabilities, for
        the whole batch at once."""
        labels, probs = self._raw_predict(self.models.secondary, lines)
        if not lines:
            return []
        parents = np.fromiter(map(self._parent_code.__getitem__, chain.from_iterable(labels)), np.int64,
                              count=probs.size).reshape(probs.shape)
        children = parents == np.array([self._main_code[m] for m in mains])[:, None]
        child_probs = np.where(children, probs, 0.0)
        # summed in fastText's order, as a running total would (adding the 0.0s changes nothing)
        totals = np.cumsum(child_probs, axis=1)[:, -1]
        best_p = np.where(children, probs, -1.0).max(axis=1)
        at_best = children & (probs == best_p[:, None])
        shares = (np.maximum(best_p, 0.0) / np.where(totals == 0.0, 1.0, totals)).tolist()
        firsts, counts = at_best.argmax(axis=1).tolist(), at_best.sum(axis=1).tolist()
        best = [row_labels[first] if count == 1 else self._tied_child(main, row_labels, row_at_best)
                for main, row_labels, first, count, row_at_best in zip(mains, labels, firsts, counts, at_best,
                                                                        strict=True)]
        return [(self._names[b] if share >= self.secondary_threshold else UNASSIGNED, round(share, 4))
                for b, share in zip(best, shares, strict=True)]

    def _tied_child(self, main: str, labels: list[str], at_best: np.ndarray) -> str:
        """The smallest of the children sharing the best probability; with no child in the
        secondary model's labels (all at 0), the main's first child id."""
        return min((labels[j] for j in np.flatnonzero(at_best)),
                   default=LABEL_PREFIX + min(self._children[self._ids[main]]))


def unassigned_tag(lang: str, reason: str) -> dict:
    return {"main": UNASSIGNED, "main_score": None, "best": None, "secondary": UNASSIGNED,
            "secondary_score": None, "top": [], "lang": lang, "reason": reason}
