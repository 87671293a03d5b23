"""Code-size filters: how many lines a sample's code has, and limits on its size.

DeepSeek-VL keeps notebook pairs with "at least 5 lines of code" without saying how it
counted, so the counting rule is an option (`filters.code.count`):

    all                  every line, blank ones included; a final newline does not start
                         another line ("a\\n\\nb\\n" is 3 lines)
    nonblank             lines holding something other than whitespace
    nonblank_noncomment  (default) non-blank lines that do not start, after indentation, with
                         one of `comment_prefixes` ("#")

Nothing is parsed: a line inside a docstring counts as code, and so do IPython magics
(`%matplotlib inline`) and shell escapes (`!pip install ...`). All three counts are recorded
in the sample's metadata under `code_lines`, whichever rule the filter applies.

Use `code_filter()` as a stage, or `check_code(sample, options)` inside another stage.
"""

from __future__ import annotations

from typing import Any

from vlforge.config import opt
from vlforge.contract import Outcome, Stage, TaskContext, per_sample, reject_sample
from vlforge.errors import Rejected
from vlforge.schemas import Sample

COUNT_RULES = ("all", "nonblank", "nonblank_noncomment")

DEFAULTS: dict[str, Any] = {
    "count": opt("nonblank_noncomment",
                 "which lines count towards min_lines: all | nonblank | nonblank_noncomment"),
    "comment_prefixes": opt(["#"],
                            "line starts (after indentation) that make a line a comment for nonblank_noncomment"),
    "min_lines": opt(5, "fewer counted lines than this -> too_few_code_lines (the paper's rule: 5)"),
    "max_lines": opt(1000, "more lines than this, all counted -> too_many_code_lines (0: no limit)"),
    "max_chars": opt(50_000, "more characters than this -> code_too_long (0: no limit)"),
}


def line_counts(text: str, comment_prefixes: tuple[str, ...] | list[str] = ("#",)) -> dict[str, int]:
    """{"all": n, "nonblank": n, "nonblank_noncomment": n} for one piece of code."""
    lines = text.splitlines()
    stripped = [line.strip() for line in lines]
    nonblank = [line for line in stripped if line]
    prefixes = tuple(comment_prefixes)
    code = [line for line in nonblank if not (prefixes and line.startswith(prefixes))]
    return {"all": len(lines), "nonblank": len(nonblank), "nonblank_noncomment": len(code)}


def check_code(sample: Sample, options: dict[str, Any], stage: str = "code") -> Outcome:
    """The sample with `code_lines` in its metadata, or a Reject naming the limit it broke."""
    rule = options["count"]
    if rule not in COUNT_RULES:
        raise ValueError(f"filters.code.count={rule!r} is not one of {', '.join(COUNT_RULES)}")
    counts = line_counts(sample.text, options["comment_prefixes"])
    sample.metadata["code_lines"] = counts
    try:
        _check_limits(counts, rule, len(sample.text), options)
    except Rejected as error:
        return reject_sample(sample, stage, error)
    return sample


def _check_limits(counts: dict[str, int], rule: str, chars: int, options: dict[str, Any]) -> None:
    if counts[rule] < options["min_lines"]:
        raise Rejected("too_few_code_lines", f"{counts[rule]} {rule} lines < min_lines={options['min_lines']}")
    if options["max_lines"] and counts["all"] > options["max_lines"]:
        raise Rejected("too_many_code_lines", f"{counts['all']} lines > max_lines={options['max_lines']}")
    if options["max_chars"] and chars > options["max_chars"]:
        raise Rejected("code_too_long", f"{chars} characters > max_chars={options['max_chars']}")


def code_filter(section: str = "filters.code", name: str = "code") -> Stage:
    """A stage applying check_code with the options under `section`."""

    def check(sample: Sample, ctx: TaskContext) -> Outcome:
        return check_code(sample, ctx.option(section), name)

    return per_sample(check, name)
