"""The contract between a corpus and the engines.

A corpus is a reader plus a list of stages:

    read(part, ctx)            -> Iterator[Sample | Reject]   one outcome per item read
    stage(outcomes, ctx)       -> Iterator[Sample | Reject]   passes Rejects through untouched

The executor counts what the reader yields as `read`, writes every Sample that comes out of
the last stage to a shard and every Reject to the ledger, and checks that the two add up.
`per_sample` turns a plain `fn(sample, ctx) -> Sample | Reject` into a stage, and turns an
exception inside fn into a reject row for that sample instead of a failed task.
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from vlforge.config import get_option
from vlforge.engines.planning import Part, Task
from vlforge.errors import VlforgeError
from vlforge.schemas import Reject, Sample

Outcome = Sample | Reject
Stage = Callable[[Iterator[Outcome], "TaskContext"], Iterator[Outcome]]
Reader = Callable[[Part, "TaskContext"], Iterator[Outcome]]


@dataclass
class TaskContext:
    corpus: str
    options: dict[str, Any]
    task: Task
    output_dir: str

    def option(self, dotted: str) -> Any:
        """`ctx.option("text.field")` -> options["text"]["field"]."""
        return get_option(self.options, dotted)


@dataclass(frozen=True)
class JobDedup:
    """Exact dedup across the whole job (engines.dedup), after every task has committed.

    `field`: the metadata field holding the content digest (the corpus's dedup stage records
    it); `reason`: the reject reason; `enabled_option`: the dotted option that switches it on.
    """

    field: str
    reason: str
    enabled_option: str


@dataclass(frozen=True)
class Corpus:
    name: str
    description: str
    read: Reader
    stages: tuple[Stage, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)  # this corpus's option section(s)
    # Suffixes a reader understands; any other file becomes an `unsupported_file_type` reject.
    suffixes: tuple[str, ...] = ()
    # Line-oriented suffixes whose large files may be split into byte ranges across tasks.
    splittable_suffixes: tuple[str, ...] = ()
    job_dedup: JobDedup | None = None
    # Stages hold a heavy per-process resource (a browser, a model): engines that can,
    # run such tasks in long-lived actors that keep it (Ray), with these resources each,
    # e.g. {"num_gpus": 1} for a model stage.
    actor_resources: dict[str, float] | None = None
    # Called once by the driver after every task committed, with the job's output directory;
    # what it returns lands in stats.json under "summary" (e.g. arxiv: per-paper records).
    summarize: Callable[[str], dict] | None = None
    # Checks the resolved options on the driver before the output directory is claimed, so
    # a job that cannot run (e.g. pdf without a model) fails at once with a VlforgeError.
    check_options: Callable[[dict], Any] | None = None


def exception_detail(exc: BaseException) -> str:
    """`ValueError: bad thing (at module.py:42)`: enough to find the bug, one line."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" (at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})" if frame else ""
    return f"{type(exc).__name__}: {exc}{where}"


def per_sample(fn: Callable[[Sample, TaskContext], Outcome], name: str | None = None) -> Stage:
    """A stage from a function of one sample. A raising fn rejects that sample only."""
    stage_name = name or fn.__name__

    def stage(outcomes: Iterator[Outcome], ctx: TaskContext) -> Iterator[Outcome]:
        for outcome in outcomes:
            if isinstance(outcome, Reject):
                yield outcome
                continue
            try:
                yield fn(outcome, ctx)
            except Exception as exc:  # one bad sample must not fail the task
                yield Reject(outcome.provenance.source, outcome.key, stage_name,
                             "stage_error", exception_detail(exc))

    stage.__name__ = stage_name
    return stage


# Corpus name -> module that defines `CORPUS`. Imported lazily so that `vlforge run text`
# does not pay for the browser or torch imports of other corpora.
_CORPUS_MODULES = {
    "text": "vlforge.pipelines.text",
    "notebooks": "vlforge.pipelines.notebooks",
    "ebooks": "vlforge.pipelines.ebooks",
    "html": "vlforge.pipelines.html",
    "sft": "vlforge.pipelines.sft",
    "arxiv": "vlforge.pipelines.arxiv",
    "pdf": "vlforge.pipelines.pdf",
}


def register_corpus_module(name: str, module: str) -> None:
    _CORPUS_MODULES[name] = module


def corpus_names() -> list[str]:
    return sorted(_CORPUS_MODULES)


def corpus_module(name: str) -> str:
    """The module defining corpus `name`; jobs carry it so workers need no registry."""
    if name not in _CORPUS_MODULES:
        raise VlforgeError(f"unknown corpus {name!r}; available: {', '.join(corpus_names())}")
    return _CORPUS_MODULES[name]


def load_corpus(module: str) -> Corpus:
    return importlib.import_module(module).CORPUS


def get_corpus(name: str) -> Corpus:
    return load_corpus(corpus_module(name))
