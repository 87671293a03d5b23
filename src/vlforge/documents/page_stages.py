"""`per_page`: contract.per_sample for the document corpora, whose ledger rows name a page.

contract.per_sample keys the reject row of a sample by the sample's key; arxiv and pdf key
theirs by page ("page=N", 1-based, as in the sample's metadata), so that a reader of the
ledger can find the page in its PDF. `page_number` says where a corpus keeps the number.
"""

from __future__ import annotations

from collections.abc import Callable

from vlforge.contract import Outcome, Stage, TaskContext, per_sample, reject_sample
from vlforge.errors import Rejected
from vlforge.schemas import Reject, Sample

PageNumber = Callable[[Sample], int]


def page_item(number: int) -> str:
    return f"page={number}"


def page_reject(sample: Sample, page_number: PageNumber, stage: str, error: Rejected) -> Reject:
    """The ledger row of a page that `stage` dropped."""
    return reject_sample(sample, stage, error, item=lambda page: page_item(page_number(page)))


def per_page(fn: Callable[[Sample, TaskContext], Outcome], name: str, page_number: PageNumber) -> Stage:
    """per_sample for pages: raising rejects that page only, its ledger row keyed "page=N"."""
    return per_sample(fn, name, item=lambda page: page_item(page_number(page)))
