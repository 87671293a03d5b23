"""Job options: defaults per corpus, a YAML file over them, then `--set key=value` overrides.

Options are one nested dict. Defaults are written as `opt(default, "one line of meaning")`
leaves, so `vlforge options CORPUS` can say what each one does; `plain()` turns such a tree
into the dict of values a job runs with. Every key a user sets must already exist in the defaults, and
a value must have the default's type, so a typo fails at once with the list of known keys
instead of being silently ignored half-way through a long job.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vlforge.errors import VlforgeError


@dataclass(frozen=True)
class Option:
    """A default value and one line that says what it does (for `vlforge options`)."""

    default: Any
    help: str


def opt(default: Any, help: str) -> Option:
    return Option(default, help)


def plain(tree: dict) -> dict:
    """The values of a defaults tree: every `opt(...)` leaf replaced by its default."""
    return {key: plain(value) if isinstance(value, dict)
            else copy.deepcopy(value.default if isinstance(value, Option) else value)
            for key, value in tree.items()}


def option_rows(tree: dict, path: str = "") -> list[tuple[str, Any, str | None]]:
    """(dotted name, default, help or None) for every leaf of a defaults tree, in order."""
    rows = []
    for key, value in tree.items():
        if isinstance(value, dict):
            rows += option_rows(value, f"{path}{key}.")
        elif isinstance(value, Option):
            rows.append((f"{path}{key}", value.default, value.help))
        else:
            rows.append((f"{path}{key}", value, None))
    return rows


def describe_options(corpus_defaults: dict) -> str:
    """Every option of a job (the common ones and the corpus's): name = default, meaning."""
    lines = []
    for dotted, default, help_text in option_rows({**COMMON_DEFAULTS, **corpus_defaults}):
        lines.append(f"{dotted} = {yaml.safe_dump(default, default_flow_style=True).strip().removesuffix('...').strip()}")
        lines.append(f"    {help_text or '(no description)'}")
    return "\n".join(lines)


# Options every job has, whatever its corpus.
COMMON_DEFAULTS: dict[str, Any] = {
    "tasks": {
        # A task is a deterministic slice of the inputs: files are packed into tasks in
        # sorted order until either limit is reached; a larger JSONL file is split.
        "target_bytes": opt(32 * 1024 * 1024, "input bytes per task; larger JSONL files are split into ranges of this size"),
        "max_files": opt(64, "input files per task at most"),
    },
    "shards": {
        "max_count": opt(10_000, "samples per shard before a new shard starts"),
        "max_bytes": opt(1024 * 1024 * 1024, "bytes per shard before a new shard starts"),
    },
    "engine": {
        "retries": opt(1, "extra attempts for a task that raised or whose worker died"),
        # Nougat's pdf corpus, for example: 0 runs the model on CPU.
        "actor_gpus": opt(0.0, "ray: GPUs each long-lived actor of a model corpus asks for"),
        "schedule_timeout_s": opt(60.0, "ray: seconds a job waits for its first worker to be scheduled before it fails"),
    },
}


def merge_options(defaults: dict, overrides: dict, path: str = "") -> dict:
    """A copy of `defaults` with `overrides` applied, refusing unknown keys and wrong types."""
    merged = copy.deepcopy(defaults)
    for key, value in overrides.items():
        dotted = f"{path}{key}"
        if key not in merged:
            known = ", ".join(sorted(f"{path}{k}" for k in merged))
            raise VlforgeError(f"unknown option {dotted!r}; known here: {known}")
        if isinstance(merged[key], dict):
            if not isinstance(value, dict):
                raise VlforgeError(f"option {dotted!r} is a section; set one of its keys, e.g. {dotted}.KEY=VALUE")
            merged[key] = merge_options(merged[key], value, dotted + ".")
        else:
            merged[key] = _checked_value(dotted, merged[key], value)
    return merged


def _checked_value(dotted: str, default: Any, value: Any) -> Any:
    if default is None or value is None:
        return value
    if isinstance(default, bool) != isinstance(value, bool):
        raise VlforgeError(f"option {dotted!r} expects {type(default).__name__}, got {value!r}")
    if isinstance(default, float) and isinstance(value, int):
        return float(value)
    if isinstance(default, list) and isinstance(value, str):
        return [v for v in value.split(",") if v]
    if not isinstance(value, type(default)):
        raise VlforgeError(f"option {dotted!r} expects {type(default).__name__}, got {value!r}")
    return value


def get_option(options: dict, dotted: str) -> Any:
    """`get_option(options, "text.field")` -> options["text"]["field"]."""
    node: Any = options
    for part in dotted.split("."):
        node = node[part]
    return node


def parse_set(assignment: str) -> dict:
    """`a.b.c=value` -> {"a": {"b": {"c": value}}}, the value read as YAML (numbers, bools)."""
    dotted, sep, raw = assignment.partition("=")
    if not sep or not dotted:
        raise VlforgeError(f"--set expects KEY=VALUE, got {assignment!r}")
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    if value is None and raw.strip() not in ("null", "~", "Null", "NULL"):
        value = raw  # YAML reads "#ffffff" as a comment; the user meant the text

    for part in reversed(dotted.split(".")):
        value = {part: value}
    return value


def load_config_file(path: str) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise VlforgeError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        loaded = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise VlforgeError(f"config {path} is not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise VlforgeError(f"config {path} must hold a mapping of options, not {type(loaded).__name__}")
    return loaded


def resolve_options(corpus_defaults: dict, config_file: str | None = None,
                    assignments: tuple[str, ...] = ()) -> dict:
    """Defaults (common + the corpus's), then the YAML file, then each --set in order."""
    options = plain(COMMON_DEFAULTS)
    options.update(plain(corpus_defaults))
    if config_file:
        options = merge_options(options, load_config_file(config_file))
    for assignment in assignments:
        options = merge_options(options, parse_set(assignment))
    return options
