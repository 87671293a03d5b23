"""Exact de-duplication inside one task's stream: the first occurrence wins.

    outcomes in stream order -> the first sample with a given digest goes on, every later
    one becomes a Reject (`duplicate_image` for images) naming the key it repeats

Scope: one task. Tasks run in separate processes, so a duplicate whose first occurrence
was read by another task passes here; every kept sample records its digest in metadata
`image_sha256`, and the job-level pass (engines.dedup, declared by the corpus's
`job_dedup`) drops those after all tasks commit. Put this stage after every other filter,
so that the occurrence that wins is one that is kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from vlforge.config import opt
from vlforge.contract import Outcome, Stage, TaskContext, reject_sample
from vlforge.errors import Rejected
from vlforge.schemas import Sample

DEFAULTS: dict[str, Any] = {
    "images": opt(True, "drop later samples whose image bytes equal an earlier one's in the same task"),
}


def image_digest(sample: Sample) -> str | None:
    """sha256 of the image bytes (hex), recorded in metadata `image_sha256`."""
    if sample.image is None:
        return None
    digest = hashlib.sha256(sample.image).hexdigest()
    sample.metadata["image_sha256"] = digest
    return digest


def exact_dedup(digest: Callable[[Sample], str | None], reason: str, enabled_option: str,
                name: str = "dedup") -> Stage:
    """A stage that rejects a sample whose digest an earlier sample of the task had.

    `digest` returns None for samples it does not apply to (they pass); `enabled_option` is
    the dotted option that switches the check on (the digest is recorded either way).
    """

    def stage(outcomes: Iterator[Outcome], ctx: TaskContext) -> Iterator[Outcome]:
        enabled = ctx.option(enabled_option)
        first_key: dict[str, str] = {}
        for outcome in outcomes:
            value = digest(outcome) if isinstance(outcome, Sample) else None
            if value is None:
                yield outcome
                continue
            first = first_key.setdefault(value, outcome.key)
            if enabled and first != outcome.key:
                yield reject_sample(outcome, name, Rejected(reason, f"same content as {first}"))
            else:
                yield outcome

    stage.__name__ = name
    return stage


def image_dedup(section: str = "filters.dedup", name: str = "dedup") -> Stage:
    """Exact duplicate images (byte-identical) within the task -> duplicate_image."""
    return exact_dedup(image_digest, "duplicate_image", f"{section}.images", name)
