"""The real labelled prompts (shared/corpora/prompts_labelled) and which of them we may train on.

`prompts.jsonl` there holds 15,119 prompts from 16 public benchmarks with their upstream label
and, where the label determines it, a DeepSeek-VL main/secondary category (its MANIFEST.md,
section 6). Rows are read into the shape the tagger's training and evaluation use:

    {"id", "text", "lang", "source", "main", "secondary"}

with `source` the corpus's source key (the part of `id` before the colon) and `main` /
`secondary` taxonomy ids (None where the upstream label does not determine them).

The shipped model is trained only on sources whose licence allows training a model that an
Apache-2.0 package ships (TRAINING_SOURCES). The others are used only to measure the model
(EVALUATION_ONLY says why each is left out of training).

Augmentation (`augmentation`) is ours: the generated prompt set (promptset.py) and the
hand-written prompts of data/augment.yaml, which cover kinds of request that only one real
source shows (chart-to-code, harmful and injected requests, statements about an image pair,
authenticity checks, Chinese scene-text questions), so that a model that has not seen that
source still knows the kind. They were written for vlforge, not copied from any source; the
phrasings that echo a source's own template were left out, so its held-out score stays honest.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import yaml

from vlforge.errors import VlforgeError
from vlforge.schemas import checksum
from vlforge.taxonomy.tree import Taxonomy, load_taxonomy

PROMPTS_FILE = "prompts.jsonl"
GENERATED = "generated"  # the source key of our own generated prompt set (augmentation)
WRITTEN = "written"  # the source key of the hand-written prompts of data/augment.yaml
WRITTEN_FILE = "data/augment.yaml"
# Each written prompt is seen this many times in training: 160 prompts against thousands of
# real and generated ones would otherwise teach too little (measured: 4 beats 1 under LOSO).
WRITTEN_REPEAT = 4

TRAINING_SOURCES = {
    "mmbench_samples": "Apache-2.0 (open-compass/MMBench)",
    "visitbench": "CC BY 4.0 (VisIT-Bench)",
    "hallusionbench": "BSD-3-Clause (tianyi-lab/HallusionBench)",
    "mathv": "MIT (mathllm/MATH-V)",
    "ocrbench": "MIT (Yuliang-Liu/MultimodalOCR)",
    "chartmimic": "Apache-2.0 (ChartMimic)",
    "figstep": "MIT (ThuCCSLab/FigStep)",
    "marvl": "CC BY 4.0 texts (marvl-challenge/marvl-code)",
    "gaokao_mm": "Apache-2.0 (OpenMOSS/GAOKAO-MM)",
    "vibeeval": "Apache-2.0 (reka-ai/reka-vibe-eval); unlabelled, so it trains nothing",
}
EVALUATION_ONLY = {
    "mmsafetybench": "CC BY-NC 4.0, research only",
    "fakebench": "README says CC BY-NC and objects to training on the data",
    "bingo": "no licence stated",
    "estvqa_cn": "EST-VQA's own terms are not stated",
    "llava_qa90": "questions generated with GPT-4, subject to OpenAI's terms",
    "mathvista": "CC BY-SA 4.0 (share-alike would bind the shipped model)",
}


# Bingo's t2i rows are labelled Safety (Suggestive Questioning) because the question asserts
# a premise the image contradicts or supports. The suggestion is in the prompt only when the
# prompt asserts something: "I think ...", "..., right?", "..., is it?", a statement, "X. Why?".
# A plain question ("Are there five characters in the picture?", "Is the panda pink?") is
# suggestive only given the image: its label is not determined by the prompt (label_map.json's
# rule for a category), so it is kept unlabelled, neither learnt nor scored, like the rows
# whose upstream label does not determine a category. Learnt as Safety, such rows taught
# the model that plain counting questions are Safety.
_ASSERTS = re.compile(r"\bi thi?n?k\b|\bright\s*\?|\b(?:is|isn't|aren't|doesn't) (?:it|they)\s*\?|"
                      r"what do you think|\bwhy\s*\?|[^?？\s]\s*$", re.IGNORECASE)
PROMPT_SHOWS_LABEL = {"bingo": lambda text: bool(_ASSERTS.search(text))}


def label_visible(source: str, text: str) -> bool:
    """False for a row whose label the prompt does not show (PROMPT_SHOWS_LABEL)."""
    rule = PROMPT_SHOWS_LABEL.get(source)
    return rule is None or rule(text)


def source_key(row_id: str) -> str:
    return row_id.split(":", 1)[0]


def _category_id(taxonomy: Taxonomy, name: str | None, level: str) -> str | None:
    if name is None:
        return None
    return taxonomy.main(name).id if level == "main" else taxonomy.secondary(name).id


def load_labelled(directory: str | Path, taxonomy: Taxonomy | None = None) -> list[dict]:
    """Every row of prompts_labelled/prompts.jsonl, with taxonomy ids (module notes)."""
    path = Path(directory) / PROMPTS_FILE
    if not path.is_file():
        raise VlforgeError(f"{path} does not exist: point --labelled at shared/corpora/prompts_labelled")
    taxonomy = taxonomy or load_taxonomy()
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                raw = json.loads(line)
                source = source_key(raw["id"])
                visible = label_visible(source, raw["text"])
                rows.append({"id": raw["id"], "text": raw["text"], "lang": raw["lang"], "source": source,
                             "main": _category_id(taxonomy, raw["main"] if visible else None, "main"),
                             "secondary": _category_id(taxonomy, raw["secondary"] if visible else None,
                                                       "secondary")})
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise VlforgeError(f"{path}:{number}: not a labelled prompt row ({error})") from error
    unknown = {r["source"] for r in rows} - set(TRAINING_SOURCES) - set(EVALUATION_ONLY)
    if unknown:
        raise VlforgeError(f"{path}: sources with no licence decision: {sorted(unknown)}; "
                           "add them to TRAINING_SOURCES or EVALUATION_ONLY in vlforge.taxonomy.labelled")
    return rows


def generated_rows(promptset: list[dict]) -> list[dict]:
    """Our generated prompt set (all of it) in the labelled rows' shape, source `generated`."""
    return [{"id": r["id"], "text": r["text"], "lang": r["lang"], "source": GENERATED,
             "main": r["main"], "secondary": r["secondary"]} for r in promptset]


def written_rows(taxonomy: Taxonomy | None = None) -> list[dict]:
    """data/augment.yaml as rows (source `written`), each WRITTEN_REPEAT times.

    The file maps `main` or `main/secondary` (taxonomy ids) to {lang: [prompt, ...]}."""
    taxonomy = taxonomy or load_taxonomy()
    path = resources.files("vlforge.taxonomy").joinpath(WRITTEN_FILE)
    rows = []
    for key, by_lang in yaml.safe_load(path.read_text("utf-8")).items():
        main, _, secondary = key.partition("/")
        if main not in {m.id for m in taxonomy.mains} or (secondary and secondary not in
                                                          {s.id for s in taxonomy.main(main).secondaries}):
            raise VlforgeError(f"{WRITTEN_FILE}: {key!r} is not a taxonomy main or main/secondary id")
        for lang, texts in sorted(by_lang.items()):
            if lang not in ("en", "zh") or not all(isinstance(t, str) and t.strip() for t in texts):
                raise VlforgeError(f"{WRITTEN_FILE}: {key}/{lang} must be en or zh with a list of prompt strings")
            rows += [{"id": f"{WRITTEN}:{key}:{lang}:{i}:{copy}", "text": text, "lang": lang, "source": WRITTEN,
                      "main": main, "secondary": secondary or None}
                     for i, text in enumerate(texts) for copy in range(WRITTEN_REPEAT)]
    return rows


def augmentation(promptset: list[dict]) -> list[dict]:
    """Everything we add to the real rows: the generated prompt set and the written prompts."""
    return generated_rows(promptset) + written_rows()


def trainable(rows: list[dict]) -> list[dict]:
    """The rows a shipped model may learn from: labelled, and from a licence-allowed source."""
    return [r for r in rows if r["main"] and (r["source"] in TRAINING_SOURCES or r["source"] in (GENERATED, WRITTEN))]


def digest(rows: list[dict]) -> str:
    payload = "\n".join(json.dumps(r, ensure_ascii=False, sort_keys=True) for r in rows)
    return checksum(payload.encode())
