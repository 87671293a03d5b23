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
# The shard index columns the report reads; each sample's metadata JSON, the largest, is not.
INDEX_COLUMNS = ("key", "shard", "offset", "source", "text_kind", "text_chars", "width", "height", "members")


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
    index = [row for path in sorted((root / "shards").glob("*.parquet")) for row in _rows(path, INDEX_COLUMNS)]
    ledger = root / "rejects.parquet"
    rejects = _rows(ledger) if ledger.exists() else []
    markers = [json.loads(p.read_text()) for p in sorted((root / "_tasks").glob("*.json"))]
    tasks = [m for m in markers if "task" in m]  # not the job-level dedup record
    return JobOutput(root, stats, job, index, rejects, tasks)


def _rows(path: Path, columns: tuple[str, ...] | None = None) -> list[dict]:
    """A parquet file's rows (of `columns`, those of them it has: older indexes lack some).
    ParquetFile, not pq.read_table: the latter imports pyarrow.dataset (and pandas with it).
    One thread: a job's many small files read in half the time without a pool's hand-offs."""
    file = pq.ParquetFile(path)
    names = file.schema_arrow.names
    wanted = [c for c in columns if c in names] if columns is not None else None
    return file.read(columns=wanted, use_threads=False).to_pylist()


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
    letters: Counter = Counter()
    # Each distinct character once (counted in C first); scripts keep their first-seen
    # order, which decides ties
    for char, count in Counter(text[:4000]).items():
        script = _char_script(char)
        if script is not None:
            letters[script] += count
    return letters.most_common(1)[0][0] if letters else "none"


@functools.lru_cache(maxsize=4096)
def _char_script(char: str) -> str | None:
    """The script of one letter (None for anything else): texts repeat few distinct
    characters, so each character's Unicode name is looked up once."""
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    return next((v for k, v in _SCRIPTS.items() if name.startswith(k)), "other")
