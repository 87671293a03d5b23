"""Prompt text -> taxonomy tags.

For each prompt (the user turns of a record, joined):

    tokens      text.lines_and_scripts, the batch at once; no word (numbers do not count)
                -> unassigned, `empty_prompt`
    language    the script of the tokens: Japanese, Korean and other scripts -> `unsupported_language`
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

from itertools import chain

import numpy as np

from vlforge.taxonomy.model import LABEL_PREFIX, LoadedModels, check_labels, load_models
from vlforge.taxonomy.text import lines_and_scripts
from vlforge.taxonomy.tree import UNASSIGNED, Taxonomy, load_taxonomy

TOP_K = 3
# the prompt's language by its script (text.script_from_tokens); the other scripts are refused
LANGUAGES = {"latin": "en", "zh": "zh"}
REFUSALS = {"none": "empty_prompt", "ja": "unsupported_language", "ko": "unsupported_language",
            "other": "unsupported_language"}


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
        known = {*self._children, *(c for children in self._children.values() for c in children)}
        self._ids = {LABEL_PREFIX + i: i for i in known}  # fastText's label -> taxonomy id
        self._index_labels(sorted(known))

    def _index_labels(self, ids: list[str]) -> None:
        """Every taxonomy id as a number, in id order (the smaller number is the smaller label,
        which breaks ties), and per number its name, its main's number (-1 for a main) and its
        first child's (-1 without children): what lets a whole batch be looked up in numpy."""
        self._code = {LABEL_PREFIX + i: code for code, i in enumerate(ids)}
        code_of = dict(zip(ids, range(len(ids)), strict=True))
        parent = {c: m for m, children in self._children.items() for c in children}
        self._name_of = np.array([self.taxonomy.name_of(i) for i in ids], dtype=object)
        self._parent_of = np.array([code_of.get(parent.get(i), -1) for i in ids])
        self._first_child_of = np.array([code_of[min(self._children[i])] if self._children.get(i) else -1
                                         for i in ids])

    @classmethod
    def load(cls, model_dir: str | None = None, **kwargs) -> Tagger:
        return cls(load_models(model_dir), **kwargs)

    @staticmethod
    def _prepare(texts: list[str]) -> tuple[list[str], list[str], list[tuple[str, str] | None]]:
        """The fastText lines and languages of the prompts to predict, and per prompt its
        (language, reason) when it is refused before prediction, else None."""
        lines, langs, refusals = [], [], []
        for line, script in lines_and_scripts(texts):
            lang = LANGUAGES.get(script)
            if lang is None:
                refusals.append((script, REFUSALS[script]))
            else:
                lines.append(line)
                langs.append(lang)
                refusals.append(None)
        return lines, langs, refusals

    def tag_texts(self, texts: list[str]) -> list[dict]:
        """One tag per text, in order."""
        lines, langs, refusals = self._prepare(texts)
        tags = iter(self._tags(lines, langs))
        return [next(tags) if refused is None else unassigned_tag(*refused) for refused in refusals]

    def main_probabilities(self, texts: list[str]) -> list[dict[str, float] | None]:
        """The main model's uncalibrated probabilities per text (label ids); None for a text
        refused before prediction (no words, another script)."""
        lines, _, refusals = self._prepare(texts)
        labels, probs = self._raw_predict(self.models.main, [line + "\n" for line in lines])
        scores = iter({self._ids[a]: b for a, b in zip(ls, ps, strict=True)}
                      for ls, ps in zip(labels, probs.tolist(), strict=True))
        return [next(scores) if refused is None else None for refused in refusals]

    def tag_text(self, text: str) -> dict:
        return self.tag_texts([text])[0]

    @staticmethod
    def _raw_predict(model, lines: list[str]) -> tuple[list[list[str]], np.ndarray]:
        """Every label (with its __label__ prefix) per line (each ending in its newline), best
        first, and their probabilities as one float64 matrix (a row per line)."""
        if not lines:
            return [], np.zeros((0, 0))
        # multilinePredict is fastText's batch predict without the per-line numpy wrapping; its
        # float32 rows become one float64 matrix in one call (the values a per-row tolist gives).
        labels, probs = model.f.multilinePredict(lines, -1, 0.0, "strict")
        return labels, np.array(probs, dtype=np.float64)

    def _codes(self, labels: list[list[str]], shape: tuple[int, int]) -> np.ndarray:
        return np.fromiter(map(self._code.__getitem__, chain.from_iterable(labels)), np.intp,
                           count=shape[0] * shape[1]).reshape(shape)

    def _tags(self, lines: list[str], langs: list[str]) -> list[dict]:
        """The tags of predicted lines, built column by column for the whole batch: the
        per-prompt Python work is what limits the tagging speed. The secondary model runs only
        on the lines whose main label is assigned and has children: the others never read its
        output."""
        if not lines:
            return []
        lines = [line + "\n" for line in lines]  # fastText reads a line up to its newline
        codes, confidences = self._ranked_main(lines)
        best = codes[:, 0]
        assigned = confidences[:, 0] >= self.main_threshold
        secondaries = np.full(len(lines), None, dtype=object)
        secondary_scores = np.full(len(lines), None, dtype=object)
        wanted = np.flatnonzero(assigned & (self._first_child_of[best] >= 0))
        if wanted.size:
            names, shares = self._secondaries(best[wanted], [lines[i] for i in wanted.tolist()])
            secondaries[wanted], secondary_scores[wanted] = names, shares
        scores = round4(confidences)
        top = np.empty((*codes.shape, 2), dtype=object)  # [[name, score], ...] per line
        top[..., 0], top[..., 1] = self._name_of[codes], scores
        # the two kinds of tag keep their key orders of before: tag files are written as they are
        return [{"main": b, "main_score": s, "best": b, "top": t, "secondary": n, "secondary_score": ns,
                 "lang": lang, "reason": None} if a else
                {"main": UNASSIGNED, "main_score": s, "best": b, "secondary": UNASSIGNED, "secondary_score": None,
                 "top": t, "lang": lang, "reason": "low_confidence"}
                for a, b, s, t, n, ns, lang in zip(assigned.tolist(), self._name_of[best].tolist(),
                                                   scores[:, 0].tolist(), top.tolist(), secondaries.tolist(),
                                                   secondary_scores.tolist(), langs, strict=True)]

    def _ranked_main(self, lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per line: the codes of the top_k (at least 1) main labels and their calibrated
        confidences, best first, ties broken by label id (as model.calibrate + a sort would)."""
        labels, probs = self._raw_predict(self.models.main, lines)
        powered = np.maximum(probs, 1e-12) ** (1.0 / self.temperature)
        confidences = powered / powered.sum(axis=1, keepdims=True)
        codes = self._codes(labels, probs.shape)
        k = max(1, min(self.top_k, powered.shape[1]))
        if powered.shape[1] > k:  # fastText's order among equal probabilities is not ours
            tied = np.flatnonzero(np.any(powered[:, :k] == powered[:, 1:k + 1], axis=1))
            order = np.lexsort((codes[tied], -confidences[tied]))
            codes[tied] = np.take_along_axis(codes[tied], order, axis=1)
            confidences[tied] = np.take_along_axis(confidences[tied], order, axis=1)
        return codes[:, :k], confidences[:, :k]

    def _secondaries(self, mains: np.ndarray, lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per line, for its main (a code, of a main with children): the best child by the
        secondary model, ties to the smaller label, and its share of the children's
        probabilities, rounded; the child's name, or unassigned where the share is below
        secondary_threshold."""
        labels, probs = self._raw_predict(self.models.secondary, lines)
        codes = self._codes(labels, probs.shape)
        children = self._parent_of[codes] == mains[:, None]
        # summed in fastText's order, as a running total would (adding the 0.0s changes nothing)
        totals = np.cumsum(np.where(children, probs, 0.0), axis=1)[:, -1]
        best_p = np.where(children, probs, -1.0).max(axis=1)
        at_best = children & (probs == best_p[:, None])
        # no child of the main among the model's labels: the main's first child
        best = np.where(at_best.any(axis=1), np.where(at_best, codes, len(self._name_of)).min(axis=1),
                        self._first_child_of[mains])
        shares = np.maximum(best_p, 0.0) / np.where(totals == 0.0, 1.0, totals)
        return np.where(shares >= self.secondary_threshold, self._name_of[best], UNASSIGNED), round4(shares)


def round4(values: np.ndarray) -> np.ndarray:
    """Python's round(v, 4) of every value, for the batch at once. rint(v * 1e4) / 1e4 is the
    same double wherever v * 1e4 is not within 1e-6 of a half (the product's rounding error is
    below 1e-11 there, so rint goes the same way, and the division is the nearest double to
    the 4-digit decimal, as round's is); the few near halves, and anything huge or not finite,
    take round itself."""
    scaled = values * 1e4
    rounded = np.rint(scaled) / 1e4
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, doubtful like the rest
        doubtful = ~(np.abs(scaled - np.floor(scaled) - 0.5) >= 1e-6) | ~(np.abs(scaled) < 1e8)
    if doubtful.any():
        rounded[doubtful] = [round(v, 4) for v in values[doubtful].tolist()]
    return rounded


def unassigned_tag(lang: str, reason: str) -> dict:
    return {"main": UNASSIGNED, "main_score": None, "best": None, "secondary": UNASSIGNED,
            "secondary_score": None, "top": [], "lang": lang, "reason": reason}
