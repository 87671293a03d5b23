"""Job options: defaults per corpus, a YAML file over them, then `--set key=value` overrides.

Options are one nested dict. Every key a user sets must already exist in the defaults, and
a value must have the default's type, so a typo fails at once with the list of known keys
instead of being silently ignored half-way through a long job.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from vlforge.errors import VlforgeError

# Options every job has, whatever its corpus.
COMMON_DEFAULTS: dict[str, Any] = {
    "tasks": {
        # A task is a deterministic slice of the inputs: files are packed into tasks in
        # sorted order until either limit is reached; a larger JSONL file is split into
        # byte ranges of target_bytes.
        "target_bytes": 32 * 1024 * 1024,
        "max_files": 64,
    },
    "shards": {"max_count": 10_000, "max_bytes": 1024 * 1024 * 1024},
    "engine": {
        "retries": 1,  # how often a task that raised is run again before it counts as failed
        # Ray: GPUs each long-lived actor asks for (corpora with a model stage, e.g. pdf's
        # Nougat). 0 runs the model on CPU; 1 gives each actor a GPU of its own.
        "actor_gpus": 0.0,
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
    options = merge_options(COMMON_DEFAULTS, {})
    options.update(copy.deepcopy(corpus_defaults))
    if config_file:
        options = merge_options(options, load_config_file(config_file))
    for assignment in assignments:
        options = merge_options(options, parse_set(assignment))
    return options
