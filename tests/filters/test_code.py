"""filters.code: the line-counting rules and the limits, on plain samples."""

from __future__ import annotations

import pytest

from vlforge.config import plain
from vlforge.contract import Task, TaskContext
from vlforge.filters.code import DEFAULTS, check_code, code_filter, line_counts
from vlforge.schemas import Provenance, Reject, Sample

CODE = """# load the data
import numpy as np

x = np.arange(10)   # not a comment line: code comes first
    # indented comment

plot(x)
"""


def sample(text: str) -> Sample:
    return Sample("k_1", "test", text, "code", Provenance("src.ipynb"))


def options(**overrides) -> dict:
    return {**plain(DEFAULTS), **overrides}


def test_line_counts_per_rule():
    assert line_counts(CODE) == {"all": 7, "nonblank": 5, "nonblank_noncomment": 3}
    assert line_counts("") == {"all": 0, "nonblank": 0, "nonblank_noncomment": 0}
    assert line_counts("a\n\nb\n") == {"all": 3, "nonblank": 2, "nonblank_noncomment": 2}
    assert line_counts("// c\nx;\n", ["//"])["nonblank_noncomment"] == 1
    assert line_counts("# c\n", [])["nonblank_noncomment"] == 1  # no prefixes: nothing is a comment


@pytest.mark.parametrize("rule, kept", [("all", True), ("nonblank", True), ("nonblank_noncomment", False)])
def test_min_lines_follows_the_counting_rule(rule, kept):
    outcome = check_code(sample(CODE), options(count=rule, min_lines=5))
    assert isinstance(outcome, Sample) is kept
    if not kept:
        assert outcome.reason == "too_few_code_lines" and "3 nonblank_noncomment lines" in outcome.detail


def test_counts_recorded_and_upper_limits():
    kept = check_code(sample(CODE), options(min_lines=3))
    assert isinstance(kept, Sample) and kept.metadata["code_lines"]["all"] == 7
    long = "x = 1\n" * 20
    assert check_code(sample(long), options(max_lines=10)).reason == "too_many_code_lines"
    assert check_code(sample(long), options(max_chars=100)).reason == "code_too_long"
    assert isinstance(check_code(sample(long), options(max_lines=0, max_chars=0)), Sample)


def test_unknown_rule_is_an_error():
    with pytest.raises(ValueError, match="count"):
        check_code(sample(CODE), options(count="lines"))


def test_stage_passes_rejects_and_reads_its_section():
    ctx = TaskContext("test", {"mine": {"code": options(min_lines=2)}}, Task(0, ()), "/tmp")
    earlier = Reject("s", "i", "read", "invalid_json")
    out = list(code_filter("mine.code")(iter([earlier, sample("a = 1\n"), sample("a = 1\nb = 2\n")]), ctx))
    assert out[0] is earlier
    assert isinstance(out[1], Reject) and out[1].stage == "code"
    assert isinstance(out[2], Sample)
