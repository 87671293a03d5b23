"""The contract between a corpus and the engines: the bottom of the data side.

A task is a deterministic slice of the inputs (`Task` of `Part`s). A corpus is a reader plus
a list of named stages:

    read(part, ctx)            -> Iterator[Sample | Reject]   one outcome per item read
    stage(outcomes, ctx)       -> Iterator[Sample | Reject]   passes Rejects through untouched

The executor counts what the reader yields as `read`, writes every Sample that comes out of
the last stage to a shard and every Reject to the ledger, and checks that the two add up.
Every filter is a stage, so a corpus's `stages` tuple reads as its pipeline and every ledger
row names the stage that dropped it.

Stage helpers:
    per_sample(fn, name)        fn(sample, ctx) -> Sample | Reject; raising `Rejected` gives
                                a reject row with its reason, any other exception gives
                                `stage_error`: one bad sample never fails the task
    batched(fn, name, size)     fn(samples, ctx) -> one outcome per sample, for a model or a
                                tagger that works on many samples at once; order is kept

This module imports only schemas, config and errors: engines, pipelines, filters and
taxonomy import it, never each other upward.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vlforge.config import get_option
from vlforge.errors import Rejected, VlforgeError, exception_detail
from vlforge.schemas import Reject, Sample

Outcome = Sample | Reject
Stage = Callable[[Iterator[Outcome], "TaskContext"], Iterator[Outcome]]
Reader = Callable[["Part", "TaskContext"], Iterator[Outcome]]
T = TypeVar("T")


@dataclass(frozen=True)
class Part:
    """A whole file (start=0, end=None) or the lines starting in [start, end) of one."""

    path: str
    start: int = 0
    end: int | None = None

    @property
    def label(self) -> str:
        return self.path if self.end is None else f"{self.path}@{self.start}-{self.end}"


@dataclass(frozen=True)
class Task:
    index: int
    parts: tuple[Part, ...]


@dataclass
class TaskContext:
    corpus: str
    options: dict[str, Any]
    task: Task
    output_dir: str
    # Structured per-task records a stage keeps for the corpus's job summary (e.g. arxiv's
    # per-page scores): name -> list of JSON-able rows. The executor stores them in the task
    # marker and hands every task's facts to `Corpus.summarize` at the end of the job.
    facts: dict[str, list] = field(default_factory=dict)
    # Working state a corpus keeps for the length of one task (html: the documents it
    # rendered ahead of the reader). Never written anywhere; gone when the task ends.
    state: dict[str, Any] = field(default_factory=dict)

    def note(self, name: str, row: Any) -> None:
        """Appends one row to the task's facts under `name`."""
        self.facts.setdefault(name, []).append(row)

    def option(self, dotted: str) -> Any:
        """`ctx.option("text.field")` -> options["text"]["field"]."""
        return get_option(self.options, dotted)


@dataclass(frozen=True)
class JobDedup:
    """Exact dedup across the whole job (engines.dedup), after every task has committed.

    `field`: the metadata field holding the content digest (the corpus's dedup stage records
    it); `reason`: the reject reason; `enabled_option`: the dotted option that switches it on.
    `index`: for matching other than equal digests (near-duplicate images), a factory of an
    object whose `first(digest, key)` returns (first key, reason) for a repeat, else records
    the digest and returns None; None: equal digests, with `reason`.
    """

    field: str
    reason: str
    enabled_option: str
    index: Callable[[], Any] | None = None


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
    # The one image format of the corpus's samples (Sample.image_format): every sample with
    # an image has this one, so every shard has one image member name, which readers that
    # build their columns from the first samples need (Hugging Face `datasets`).
    image_format: str = "png"
    # Stages hold a heavy per-process resource (a browser, a model): engines that can,
    # run such tasks in long-lived actors that keep it (Ray), with these resources each,
    # e.g. {"num_gpus": 1} for a model stage.
    actor_resources: dict[str, float] | None = None
    # Called once by the driver after every task committed, with the job's output directory
    # and each committed task's facts (TaskContext.note) in task order; what it returns
    # lands in stats.json under "summary" (e.g. arxiv: per-paper records).
    summarize: Callable[[str, list[dict]], dict] | None = None
    # Checks the resolved options on the driver before the output directory is claimed, so
    # a job that cannot run (e.g. pdf without a model) fails at once with a VlforgeError.
    check_options: Callable[[dict], Any] | None = None


ItemOf = Callable[[Sample], str]  # where in its source a sample is, for its ledger row


def sample_key(sample: Sample) -> str:
    return sample.key


def reject_sample(sample: Sample, stage: str, error: Rejected, item: ItemOf = sample_key) -> Reject:
    """The ledger row of a sample that `stage` dropped; its item is the sample key unless the
    corpus names its items otherwise (documents: "page=N")."""
    return error.reject(sample.provenance.source, item(sample), stage)


def per_sample(fn: Callable[[Sample, TaskContext], Outcome], name: str | None = None,
               item: ItemOf = sample_key) -> Stage:
    """A stage from a function of one sample. A raising fn rejects that sample only."""
    stage_name = name or fn.__name__

    def stage(outcomes: Iterator[Outcome], ctx: TaskContext) -> Iterator[Outcome]:
        for outcome in outcomes:
            if isinstance(outcome, Reject):
                yield outcome
                continue
            try:
                yield fn(outcome, ctx)
            except Rejected as error:
                yield reject_sample(outcome, stage_name, error, item)
            except Exception as exc:  # one bad sample must not fail the task
                yield reject_sample(outcome, stage_name, Rejected("stage_error", exception_detail(exc)), item)

    stage.__name__ = stage_name
    return stage


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of `size` items (the last one shorter)."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


BatchFn = Callable[[list[Sample], TaskContext], list[Outcome]]


def batched(fn: BatchFn, name: str, size: int | str) -> Stage:
    """A stage that hands `size` samples at a time to fn (an int, or a dotted option name).

    fn returns one outcome per sample it was given, in the same order. Rejects that arrive
    between samples are held back and come out where they came in, so the stream's order is
    the input order. A fn that raises rejects every sample of that batch with `stage_error`.
    """

    def stage(outcomes: Iterator[Outcome], ctx: TaskContext) -> Iterator[Outcome]:
        limit = size if isinstance(size, int) else int(ctx.option(size))
        held: list[Outcome] = []  # in arrival order; Samples are replaced by fn's outcomes
        waiting = 0
        for outcome in outcomes:
            held.append(outcome)
            waiting += isinstance(outcome, Sample)
            if waiting >= limit:
                yield from _run_batch(fn, name, held, ctx)
                held, waiting = [], 0
        yield from _run_batch(fn, name, held, ctx)

    stage.__name__ = name
    return stage


def _run_batch(fn: BatchFn, name: str, held: list[Outcome], ctx: TaskContext) -> Iterator[Outcome]:
    samples = [o for o in held if isinstance(o, Sample)]
    results: Iterator[Outcome] = iter(())
    if samples:
        try:
            produced = fn(samples, ctx)
        except Exception as exc:  # one bad batch must not fail the task
            error = Rejected("stage_error", exception_detail(exc))
            produced = [reject_sample(s, name, error) for s in samples]
        if len(produced) != len(samples):
            raise RuntimeError(f"stage {name} returned {len(produced)} outcomes for {len(samples)} samples")
        results = iter(produced)
    for outcome in held:
        yield next(results) if isinstance(outcome, Sample) else outcome


# Corpus name -> module that defines `CORPUS`. Imported lazily (by name, not by an import
# statement) so that `vlforge run text` does not pay for the browser or torch imports of
# other corpora, and so that engines never import the pipelines package.
_CORPUS_MODULES = {
    "text": "vlforge.pipelines.text",
    "notebooks": "vlforge.pipelines.notebooks",
    "ebooks": "vlforge.pipelines.ebooks",
    "html": "vlforge.pipelines.html",
    "sft": "vlforge.pipelines.sft",
    "arxiv": "vlforge.pipelines.arxiv",
    "pdf": "vlforge.pipelines.pdf",
    "captions": "vlforge.pipelines.captions",
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
