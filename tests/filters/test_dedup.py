"""filters.dedup: exact duplicates in a task's stream, first occurrence kept."""

from __future__ import annotations

import hashlib

from vlforge.contract import Task, TaskContext
from vlforge.filters.dedup import image_dedup
from vlforge.schemas import Provenance, Reject, Sample


def sample(key: str, image: bytes | None) -> Sample:
    return Sample(key, "test", "code", "code", Provenance("src"), image, "png" if image else None)


def run(outcomes, enabled=True):
    ctx = TaskContext("test", {"filters": {"dedup": {"images": enabled}}}, Task(0, ()), "/tmp")
    return list(image_dedup()(iter(outcomes), ctx))


def test_first_occurrence_wins_and_every_item_comes_out():
    earlier = Reject("src", "x", "read", "invalid_json")
    stream = [sample("a", b"one"), earlier, sample("b", b"two"), sample("c", b"one"),
              sample("d", None), sample("e", b"one")]
    out = run(stream)
    assert len(out) == len(stream)
    assert [o.key if isinstance(o, Sample) else o.reason for o in out] == [
        "a", "invalid_json", "b", "duplicate_image", "d", "duplicate_image"]
    assert out[3].item == "c" and "as a" in out[3].detail and out[3].stage == "dedup"
    assert out[0].metadata["image_sha256"] == hashlib.sha256(b"one").hexdigest()


def test_disabled_keeps_duplicates_but_records_digests():
    out = run([sample("a", b"one"), sample("b", b"one")], enabled=False)
    assert all(isinstance(o, Sample) for o in out)
    assert out[0].metadata["image_sha256"] == out[1].metadata["image_sha256"]
