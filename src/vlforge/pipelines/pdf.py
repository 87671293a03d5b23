"""PDFs -> page images paired with the markdown a Nougat model reads off them (issue 5, path 2).

For PDFs without LaTeX source: each page is rasterised with pypdfium2 and transcribed by a
Nougat checkpoint through transformers (documents.nougat), loaded from a local directory:

    vlforge run pdf PDFS... -o OUT --set nougat.model=/models/nougat-base

What counts as an item (read = accepted + rejected): a page. A PDF that cannot be opened
is one item of its own (item "document"), rejected with documents.pdf's reason
(encrypted_pdf, broken_pdf, zero_pages, pdf_too_large, too_many_pages, not_a_file).

The stream:
    read             open_pdf checks the file; each page becomes a Sample of its image (PNG,
                     fitted into pdf.size, or at pdf.dpi when pdf.size is empty) and the PDF's
                     text layer as plain text, or a Reject (page_load_failed, page_too_large,
                     page_render_failed, page_text_failed).
    blank_pages      blank_page: ink under nougat.min_ink.
    non_latin_pages  non_latin_script in the text layer: rejected, or with nougat.non_latin=
                     route kept with its text layer as its text (metadata text_source
                     "pdf_text_layer"; missing_page_marker if that holds one).
    transcribe       one Nougat model per worker process, nougat.batch_size pages a batch
                     (across the PDFs of a task; routed pages pass). Rejects what the model
                     failed on: nougat_repetition, nougat_truncated, nougat_empty_output,
                     missing_page_marker, garbage_output, non_latin_script (in the output:
                     rejected whatever nougat.non_latin says, as the text layer was not
                     non-Latin and is no text to route to), model_error (generate raised on
                     the page's batch). Accepted pages carry the markdown (text_kind
                     markdown, text_source "nougat").

Keys: make_key("pdf", path, page number), page numbers 1-based, as in metadata and in the
reject ledger's item ("page=N").
"""

from __future__ import annotations

import functools
import importlib.metadata
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from PIL import Image

from vlforge.config import opt
from vlforge.contract import Corpus, Outcome, Part, TaskContext, batched
from vlforge.documents.nougat import (
    LoopRule,
    NougatModel,
    PageOutput,
    checkpoint_problem,
    ink_share,
    judge_output,
    load_nougat,
    missing_page_marker,
    script_of,
)
from vlforge.documents.page_stages import page_item, page_reject, per_page
from vlforge.documents.pdf import PdfDocument, open_pdf
from vlforge.documents.pdf import tool_versions as pdf_tool_versions
from vlforge.errors import Rejected, VlforgeError, exception_detail
from vlforge.schemas import Provenance, Reject, Sample, file_checksum, make_key

DEFAULTS: dict[str, Any] = {
    # A task is a batch source for the model: a few PDFs of tens of pages each.
    "tasks": {
        "target_bytes": opt(64 * 1024 * 1024, "input bytes per task"),
        "max_files": opt(16, "input files per task at most"),
    },
    "pdf": {
        # Nougat's input is 896x672 (height x width). Empty ([], or --set pdf.size=) renders
        # at `dpi` instead.
        "size": opt([672, 896], "(width, height) box each page is fitted into; empty: render at dpi"),
        "dpi": opt(96.0, "rasterisation resolution when size is empty (Nougat's default)"),
        "max_bytes": opt(256 * 1024 * 1024, "bytes of a PDF beyond which it is pdf_too_large"),
        "max_pages": opt(2000, "pages of a PDF beyond which it is too_many_pages"),
        "max_page_pixels": opt(40_000_000, "pixels of a rendered page beyond which it is page_too_large"),
        # Permissions-only encryption: the PDF opens without a password, but its owner
        # restricted use; off, such files are encrypted_pdf like the rest.
        "allow_encrypted": opt(False, "keep permissions-only encrypted PDFs (else encrypted_pdf)"),
    },
    "nougat": {
        "model": opt("", "a local checkpoint directory (facebook/nougat-base layout): required"),
        "device": opt("", "torch device; empty: cuda when there is one, else cpu"),
        "dtype": opt("", "torch dtype; empty: bfloat16 on cuda, float32 on cpu"),
        "batch_size": opt(8, "pages run through the model together"),
        "max_new_tokens": opt(4096, "tokens generated per page (Nougat's); a page still going is nougat_truncated"),
        "non_latin": opt("reject", "non-Latin pages: reject, or route (keep with the PDF text layer as text)"),
        "non_latin_share": opt(0.3, "share of non-Latin letters above which a page is non_latin_script"),
        "min_ink": opt(0.001, "share of dark pixels under which a page is blank_page"),
        "loop_threshold": opt(0.045, "variance of the max logits under which generation is flat: a loop (Nougat's; logit units)"),
        "loop_min_tokens": opt(200, "length in tokens of a flat max-logit tail that makes a repetition loop"),
    },
}

_NON_LATIN = ("reject", "route")
_MODEL_HINT = ("add --set nougat.model=PATH, a local Nougat checkpoint directory such as a "
               "download of facebook/nougat-base (config.json, model.safetensors, tokenizer.json, "
               "preprocessor_config.json)")


# --------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NougatOptions:
    """The nougat options of a job, checked."""

    model: str
    device: str
    dtype: str
    batch_size: int
    max_new_tokens: int
    non_latin: str
    non_latin_share: float
    min_ink: float
    loop: LoopRule


def check_options(options: dict) -> NougatOptions:
    """The job's Nougat options, or a VlforgeError that says how to fix them."""
    opts = options["nougat"]
    if not opts["model"]:
        raise VlforgeError(f"the pdf corpus needs a Nougat model: {_MODEL_HINT}")
    problem = checkpoint_problem(opts["model"])
    if problem:
        raise VlforgeError(f"nougat.model: {problem}; {_MODEL_HINT}")
    if opts["non_latin"] not in _NON_LATIN:
        raise VlforgeError(f"nougat.non_latin must be one of {', '.join(_NON_LATIN)}, not {opts['non_latin']!r}")
    if opts["batch_size"] < 1 or opts["max_new_tokens"] < 1:
        raise VlforgeError("nougat.batch_size and nougat.max_new_tokens must be at least 1")
    _page_box(options["pdf"])
    return NougatOptions(opts["model"], opts["device"], opts["dtype"], opts["batch_size"],
                         opts["max_new_tokens"], opts["non_latin"], opts["non_latin_share"],
                         opts["min_ink"], LoopRule(threshold=opts["loop_threshold"],
                                                   min_loop_tokens=opts["loop_min_tokens"]))


def _page_box(opts: dict) -> tuple[int, int] | None:
    """pdf.size as (width, height), or None to render at pdf.dpi."""
    size = opts["size"]
    if not size:
        return None
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        width = height = 0
    if width < 1 or height < 1:
        raise VlforgeError(f"pdf.size must be [WIDTH, HEIGHT] in pixels (e.g. [672, 896]) or empty, not {size!r}")
    return width, height


# --------------------------------------------------------------------------------------
# Reading: PDF -> one Sample (page image + text layer) or Reject per page
# --------------------------------------------------------------------------------------


def read(part: Part, ctx: TaskContext) -> Iterator[Outcome]:
    opts = ctx.option("pdf")
    box = _page_box(opts)
    try:
        document = open_pdf(part.path, max_bytes=opts["max_bytes"], max_pages=opts["max_pages"],
                            allow_encrypted=opts["allow_encrypted"],
                            max_page_pixels=opts["max_page_pixels"])
    except Rejected as error:
        yield error.reject(part.path, "document", "read")
        return
    with document:  # also closed when the executor stops reading half-way
        provenance = Provenance(part.path, file_checksum(part.path), tools=dict(pdf_tool_versions()))
        for index in range(document.page_count):
            yield page_outcome(document, index, provenance, box, opts["dpi"])


def page_outcome(document: PdfDocument, index: int, provenance: Provenance,
                 box: tuple[int, int] | None, dpi: float) -> Outcome:
    """Page `index` as a Sample of its image and text layer, or why it cannot be one."""
    number = index + 1
    try:
        image = document.render_page(index, size=box) if box else document.render_page(index, dpi=dpi)
        text = document.page_text(index)
        width_pt, _ = document.page_size_points(index)
    except Rejected as error:
        return error.reject(provenance.source, page_item(number), "read")
    page = {"number": number, "count": document.page_count,
            "dpi": round(image.width * 72.0 / width_pt, 3),  # what fitting into the box gave
            "width": image.width, "height": image.height}
    return Sample(make_key("pdf", provenance.source, number), "pdf", clean_text_layer(text), "plain",
                  Provenance(provenance.source, provenance.checksum, tools=dict(provenance.tools)),
                  image=_png(image), image_format="png", image_size=image.size,
                  metadata={"page": page})


def clean_text_layer(text: str) -> str:
    """The text layer without control characters PDFs put in it (hyphenation marks, NULs)."""
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cs", "Co", "Cn")).strip()


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------------------
# The stages: page filters, then the model in batches
# --------------------------------------------------------------------------------------


def _page_number(sample: Sample) -> int:
    return sample.metadata["page"]["number"]


def _blank_pages(sample: Sample, ctx: TaskContext) -> Sample:
    """Drops a page with next to no ink; keeps the decoded image of the others for the model."""
    image = Image.open(io.BytesIO(sample.image)).convert("RGB")
    ink, min_ink = ink_share(image), ctx.option("nougat.min_ink")
    if ink < min_ink:
        raise Rejected("blank_page", f"ink covers {ink:.4%} of the page (nougat.min_ink {min_ink})")
    sample.scratch["image"] = image
    return sample


def _non_latin_pages(sample: Sample, ctx: TaskContext) -> Sample:
    """A page whose text layer is mostly in a script Nougat cannot read: rejected, or routed
    (nougat.non_latin=route): kept with its text layer as its text, and the model skips it."""
    script = script_of(sample.text, threshold=ctx.option("nougat.non_latin_share"))
    if not script:
        return sample
    name, share = script
    detail = f"{share:.0%} of the letters in the PDF text layer are {name}"
    if ctx.option("nougat.non_latin") == "reject":
        raise Rejected("non_latin_script", detail + " (nougat.non_latin=reject)")
    if missing_page_marker(sample.text):
        raise Rejected("missing_page_marker", f"the text layer holds {missing_page_marker(sample.text)}")
    # Routed: Nougat fails on these scripts, the PDF's own text is the best text we have.
    return _with_text(sample, sample.text, "plain",
                      {"text_source": "pdf_text_layer", "script": {"name": name, "share": round(share, 3)}}, {})


def _needs_model(sample: Sample) -> bool:
    return "text_source" not in sample.metadata  # a routed page has its text already


def transcribe(outcomes: Iterator[Outcome], ctx: TaskContext) -> Iterator[Outcome]:
    """Pages through the model in batches; everything comes out in the order it came in."""
    options = check_options(ctx.options)  # a worker of a job that skipped the check fails here
    stage = batched(functools.partial(_transcribe_batch, options), "transcribe", options.batch_size)
    yield from stage(_loading_model(outcomes, options), ctx)


def _loading_model(outcomes: Iterator[Outcome], options: NougatOptions) -> Iterator[Outcome]:
    """The stream as it is; loads the model as the first page that needs it goes by, outside
    the batches' error handling: a model that does not load fails the task, not its pages."""
    loaded = False
    for outcome in outcomes:
        if not loaded and isinstance(outcome, Sample) and _needs_model(outcome):
            _model(options)
            loaded = True
        yield outcome


def _model(options: NougatOptions) -> NougatModel:
    return load_nougat(options.model, options.device or None, options.dtype or None)


def _transcribe_batch(options: NougatOptions, samples: list[Sample], ctx: TaskContext) -> list[Outcome]:
    pages = [s for s in samples if _needs_model(s)]
    if not pages:  # all routed: no model needed
        return samples
    model = _model(options)
    try:
        outputs = iter(model.generate([p.scratch["image"] for p in pages], max_new_tokens=options.max_new_tokens,
                                      rule=options.loop))
    except Exception as exc:  # one bad batch (out of memory, a bad image) must not fail the task
        error = Rejected("model_error", exception_detail(exc))
        return [_dropped(s, error) if _needs_model(s) else s for s in samples]
    return [_after_model(s, next(outputs), model, options) if _needs_model(s) else s for s in samples]


def _after_model(sample: Sample, output: PageOutput, model: NougatModel, options: NougatOptions) -> Outcome:
    error = judge_output(output)
    script = script_of(output.markdown, threshold=options.non_latin_share)
    if error is None and script:
        error = Rejected("non_latin_script", f"{script[1]:.0%} of the letters in the model output are {script[0]}")
    if error is not None:
        return _dropped(sample, error)
    nougat = {"model": model.name, "tokens": output.tokens, "dtype": str(model.dtype).removeprefix("torch."),
              "max_new_tokens": options.max_new_tokens}
    if output.postprocess_error:
        nougat["postprocess_error"] = output.postprocess_error
    return _with_text(sample, output.markdown, "markdown", {"text_source": "nougat", "nougat": nougat},
                      model_tools(model.name))


def _with_text(page: Sample, text: str, kind: str, metadata: dict, tools: dict) -> Sample:
    provenance = Provenance(page.provenance.source, page.provenance.checksum,
                            tools={**page.provenance.tools, **tools})
    return Sample(page.key, page.corpus, text, kind, provenance, image=page.image,
                  image_format=page.image_format, image_size=page.image_size,
                  metadata={**page.metadata, "text_layer_chars": len(page.text), **metadata})


def _dropped(sample: Sample, error: Rejected) -> Reject:
    return page_reject(sample, _page_number, "transcribe", error)


@functools.lru_cache(maxsize=4)
def model_tools(model_name: str) -> dict[str, str]:
    return {"nougat_model": model_name, "transformers": _version("transformers"), "torch": _version("torch")}


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


CORPUS = Corpus(
    name="pdf",
    description="PDFs -> page images + markdown from a local Nougat checkpoint (--set nougat.model=PATH)",
    read=read,
    stages=(
        per_page(_blank_pages, "blank_pages", _page_number),
        per_page(_non_latin_pages, "non_latin_pages", _page_number),
        transcribe,
    ),
    defaults=DEFAULTS,
    check_options=check_options,
    suffixes=(".pdf",),
    # The model is loaded once per worker process: Ray keeps it in long-lived actors.
    actor_resources={},
)
