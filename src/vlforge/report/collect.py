"""The report's numbers, read from a job's output directory (never recomputed by guessing)."""

from __future__ import annotations

import functools
import json
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from vlforge.errors import VlforgeError

EXAMPLES_PER_REASON = 3
TOP_SOURCES = 20


@dataclass
class JobOutput:
    """What a finished (or partly finished) job left in OUT."""

    root: Path
    stats: dict
    job: dict
    index: list[dict]  # one row per accepted sample, from the shard parquet indexes
    rejects: list[dict]  # the reject ledger's rows
    tasks: list[dict] = field(default_factory=list)  # task markers (per-task stats)


def load_output(out: str | Path) -> JobOutput:
    root = Path(out)
    stats_file = root / "stats.json"
    if not stats_file.exists():
        raise VlforgeError(f"{root}: no stats.json; give the --output directory of a vlforge job")
    stats = json.loads(stats_file.read_text())
    job = json.loads((root / "job.json").read_text()) if (root / "job.json").exists() else {}
    index = [row for path in sorted((root / "shards").glob("*.parquet")) for row in _rows(path)]
    ledger = root / "rejects.parquet"
    rejects = _rows(ledger) if ledger.exists() else []
    markers = [json.loads(p.read_text()) for p in sorted((root / "_tasks").glob("*.json"))]
    tasks = [m for m in markers if "task" in m]  # not the job-level dedup record
    return JobOutput(root, stats, job, index, rejects, tasks)


def _rows(path: Path) -> list[dict]:
    # ParquetFile, not pq.read_table: the latter imports pyarrow.dataset (and pandas with it)
    return pq.ParquetFile(path).read().to_pylist()


def accounting(output: JobOutput) -> dict:
    """read = accepted + rejected, as stats.json says and as the files on disk say."""
    stats = output.stats
    return {
        "read": stats["read"], "accepted": stats["accepted"], "rejected": stats["rejected"],
        "balanced": stats["read"] == stats["accepted"] + stats["rejected"],
        "samples_in_shards": len(output.index), "ledger_rows": len(output.rejects),
        "shards": stats.get("shards", 0), "bytes": stats.get("bytes", 0),
        "tasks": stats.get("tasks", 0), "tasks_failed": stats.get("tasks_failed", 0),
        "failed": stats.get("failed", []),
    }


def rejects_by_reason(rejects: list[dict]) -> list[dict]:
    """(stage, reason) groups, largest first, each with its first few rows as examples."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rejects:
        groups.setdefault((row["stage"], row["reason"]), []).append(row)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return [{"stage": stage, "reason": reason, "count": len(rows),
             "examples": [{k: r[k] for k in ("source", "item", "detail")} for r in rows[:EXAMPLES_PER_REASON]]}
            for (stage, reason), rows in ordered]


def per_source(output: JobOutput) -> list[dict]:
    """Accepted and rejected counts per input source, the largest TOP_SOURCES of them."""
    accepted = Counter(row["source"] for row in output.index)
    rejected = Counter(row["source"] for row in output.rejects)
    sources = sorted(set(accepted) | set(rejected), key=lambda s: (-(accepted[s] + rejected[s]), s))
    return [{"source": s, "accepted": accepted[s], "rejected": rejected[s]} for s in sources[:TOP_SOURCES]]


# Scripts by Unicode character name prefix, and the language each one stands for here.
_SCRIPTS = {"CJK": "Han (Chinese)", "HIRAGANA": "Kana (Japanese)", "KATAKANA": "Kana (Japanese)",
            "HANGUL": "Hangul (Korean)", "ARABIC": "Arabic", "HEBREW": "Hebrew", "CYRILLIC": "Cyrillic",
            "GREEK": "Greek", "DEVANAGARI": "Devanagari", "THAI": "Thai", "LATIN": "Latin"}


def script_of(text: str) -> str:
    """The script most of a text's letters are written in ("none" without letters)."""
    counts = Counter(map(_char_script, text[:4000]))
    counts.pop(None, None)  # not a letter; the letters keep their first-seen order for ties
    return counts.most_common(1)[0][0] if counts else "none"


@functools.lru_cache(maxsize=4096)
def _char_script(char: str) -> str | None:
    """The script of one letter (None for anything else): texts repeat few distinct
    characters, so each character's Unicode name is looked up once."""
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    return next((v for k, v in _SCRIPTS.items() if name.startswith(k)), "other")
