"""`per_page`: contract.per_sample for the document corpora, whose ledger rows name a page.

contract.per_sample keys the reject row of a sample by the sample's key; arxiv and pdf key
theirs by page ("page=N", 1-based, as in the sample's metadata), so that a reader of the
ledger can find the page in its PDF. `page_number` says where a corpus keeps the number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from vlforge.contract import Outcome, Stage, TaskContext
from vlforge.errors import Rejected, exception_detail
from vlforge.schemas import Reject, Sample

PageNumber = Callable[[Sample], int]


def page_item(number: int) -> str:
    return f"page={number}"


def page_reject(sample: Sample, page_number: PageNumber, stage: str, error: Rejected) -> Reject:
    """The ledger row of a page that `stage` dropped."""
    return error.reject(sample.provenance.source, page_item(page_number(sample)), stage)


def per_page(fn: Callable[[Sample, TaskContext], Outcome], name: str, page_number: PageNumber) -> Stage:
    """A stage from a function of one page; raising rejects that page only (a Rejected with
    its reason, anything else as stage_error), as per_sample does."""

    def stage(outcomes: Iterator[Outcome], ctx: TaskContext) -> Iterator[Outcome]:
        for outcome in outcomes:
            if isinstance(outcome, Reject):
                yield outcome
                continue
            try:
                yield fn(outcome, ctx)
            except Rejected as error:
                yield page_reject(outcome, page_number, name, error)
            except Exception as exc:  # one bad page must not fail the task
                yield page_reject(outcome, page_number, name, Rejected("stage_error", exception_detail(exc)))

    stage.__name__ = name
    return stage
