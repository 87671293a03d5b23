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
"""

from __future__ import annotations

import json
from pathlib import Path

from vlforge.errors import VlforgeError
from vlforge.schemas import checksum
from vlforge.taxonomy.tree import Taxonomy, load_taxonomy

PROMPTS_FILE = "prompts.jsonl"
GENERATED = "generated"  # the source key of our own generated prompt set (augmentation)

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
                rows.append({"id": raw["id"], "text": raw["text"], "lang": raw["lang"],
                             "source": source_key(raw["id"]),
                             "main": _category_id(taxonomy, raw["main"], "main"),
                             "secondary": _category_id(taxonomy, raw["secondary"], "secondary")})
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


def trainable(rows: list[dict]) -> list[dict]:
    """The rows a shipped model may learn from: labelled, and from a licence-allowed source."""
    return [r for r in rows if r["main"] and (r["source"] in TRAINING_SOURCES or r["source"] == GENERATED)]


def digest(rows: list[dict]) -> str:
    payload = "\n".join(json.dumps(r, ensure_ascii=False, sort_keys=True) for r in rows)
    return checksum(payload.encode())
