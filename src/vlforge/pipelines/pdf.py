"""PDFs -> page images paired with the markdown a Nougat model reads off them (issue 5, path 2).

For PDFs without LaTeX source: each page is rasterised with pypdfium2 and transcribed by a
Nougat checkpoint through transformers (documents.nougat), loaded from a local directory:

    vlforge run pdf PDFS... -o OUT --set nougat.model=/models/nougat-base

What counts as an item (read = accepted + rejected): a page. A PDF that cannot be opened
is one item of its own (item "document"), rejected with documents.pdf's reason
(encrypted_pdf, broken_pdf, zero_pages, pdf_too_large, too_many_pages, not_a_file).

The stream:
    read        open_pdf checks the file; every page becomes a Sample holding the page
                image (PNG, fitted into pdf.size, or at pdf.dpi when pdf.size is empty) and
                the PDF's own text layer as plain text, or a Reject with the page's
                rasterisation reason (page_load_failed, page_too_large, page_render_failed,
                page_text_failed).
    transcribe  one Nougat model per worker process, `nougat.batch_size` pages a batch
                (batches run across the PDFs of a task). Before the model: blank_page (no
                ink), non_latin_script (judged on the text layer: rejected, or with
                nougat.non_latin=route kept with the text layer as its text, metadata
                text_source "pdf_text_layer"). After it: nougat_repetition,
                nougat_truncated, nougat_empty_output, missing_page_marker, garbage_output,
                non_latin_script (judged on the output: rejected whatever nougat.non_latin
                says, as the text layer was not non-Latin and is no text to route to),
                model_error (generate raised on the page's batch). Accepted pages carry the markdown (text_kind markdown,
                text_source "nougat").

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

from vlforge.contract import Corpus, Outcome, Part, TaskContext, exception_detail
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
from vlforge.documents.pdf import PdfDocument, PdfRejected, open_pdf
from vlforge.documents.pdf import tool_versions as pdf_tool_versions
from vlforge.errors import VlforgeError
from vlforge.schemas import Provenance, Reject, Sample, file_checksum, make_key

DEFAULTS: dict[str, Any] = {
    # A task is a batch source for the model: a few PDFs of tens of pages each.
    "tasks": {"target_bytes": 64 * 1024 * 1024, "max_files": 16},
    "pdf": {
        # (width, height) box each page is fitted into: Nougat's 896x672 (height x width)
        # input. Empty ([], or --set pdf.size=) renders at `dpi` instead.
        "size": [672, 896],
        "dpi": 96.0,  # Nougat's rasterisation default, used when size is empty
        "max_bytes": 256 * 1024 * 1024,  # pdf_too_large beyond this
        "max_pages": 2000,  # too_many_pages beyond this
        "max_page_pixels": 40_000_000,  # page_too_large beyond this
        "allow_encrypted": False,  # permissions-only encrypted files: their owner restricted use
    },
    "nougat": {
        "model": "",  # a local checkpoint directory (facebook/nougat-base layout): required
        "device": "",  # "" = cuda when there is one, else cpu
        "dtype": "",  # "" = bfloat16 on cuda, float32 on cpu
        "batch_size": 8,
        "max_new_tokens": 4096,  # Nougat's max length; a page still going is nougat_truncated
        "non_latin": "reject",  # or "route": keep the page with its PDF text layer as text
        "non_latin_share": 0.3,  # non-Latin letters over this share -> non_latin_script
        "min_ink": 0.001,  # share of dark pixels under which a page is blank_page
        "loop_threshold": 0.045,  # Nougat's; in units of the checkpoint's logits
        "loop_min_tokens": 200,  # a flat max-logit tail this long is a repetition loop
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
class Settings:
    """The transcribe stage's options, checked."""

    model: str
    device: str
    dtype: str
    batch_size: int
    max_new_tokens: int
    non_latin: str
    non_latin_share: float
    min_ink: float
    loop: LoopRule


def check_options(options: dict) -> Settings:
    """The job's Nougat settings, or a VlforgeError that says how to fix them."""
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
    return Settings(opts["model"], opts["device"], opts["dtype"], opts["batch_size"],
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
    except PdfRejected as exc:
        yield Reject(part.path, "document", "read", exc.reason, exc.detail)
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
    except PdfRejected as exc:
        return Reject(provenance.source, f"page={number}", "read", exc.reason, exc.detail)
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
# Transcribing: page Samples -> markdown Samples, in batches through one model per worker
# --------------------------------------------------------------------------------------


@dataclass
class _Waiting:
    """A page in the current batch: its sample (image + text layer) and decoded image."""

    sample: Sample
    image: Image.Image


def transcribe(outcomes: Iterator[Outcome], ctx: TaskContext) -> Iterator[Outcome]:
    """Pages wait until a batch is full; everything comes out in the order it came in."""
    settings = check_options(ctx.options)  # a worker of a job that skipped the check fails here
    held: list[Outcome | _Waiting] = []
    waiting = 0
    for outcome in outcomes:
        item = _before_model(outcome, settings)
        held.append(item)
        waiting += isinstance(item, _Waiting)
        if waiting >= settings.batch_size:
            yield from _run_batch(held, settings)
            held, waiting = [], 0
    yield from _run_batch(held, settings)


def _before_model(outcome: Outcome, settings: Settings) -> Outcome | _Waiting:
    """Rejects pass; a blank or non-Latin page is settled here; the rest wait for the model."""
    if isinstance(outcome, Reject):
        return outcome
    image = Image.open(io.BytesIO(outcome.image)).convert("RGB")
    ink = ink_share(image)
    if ink < settings.min_ink:
        return _reject(outcome, "blank_page", f"ink covers {ink:.4%} of the page (nougat.min_ink {settings.min_ink})")
    script = script_of(outcome.text, threshold=settings.non_latin_share)
    if script:
        return _non_latin(outcome, script, settings, "the PDF text layer")
    return _Waiting(outcome, image)


def _run_batch(held: list[Outcome | _Waiting], settings: Settings) -> Iterator[Outcome]:
    """The held items in order: pages through the model, the rest as they were."""
    pages = [item for item in held if isinstance(item, _Waiting)]
    model, outputs = _model_outputs(pages, settings)
    results = iter(outputs)
    for item in held:
        if not isinstance(item, _Waiting):
            yield item
        elif isinstance(outputs, str):
            yield _reject(item.sample, "model_error", outputs)
        else:
            yield _after_model(item.sample, next(results), model, settings)


def _model_outputs(pages: list[_Waiting], settings: Settings) -> tuple[NougatModel | None, list[PageOutput] | str]:
    """The model's output per page, or why generate failed on the batch. A model that does
    not load fails the task (it would fail every page the same way)."""
    if not pages:
        return None, []
    model = load_nougat(settings.model, settings.device or None, settings.dtype or None)
    try:
        return model, model.generate([p.image for p in pages], max_new_tokens=settings.max_new_tokens,
                                     rule=settings.loop)
    except Exception as exc:  # one bad batch (out of memory, a bad image) must not fail the task
        return model, exception_detail(exc)


def _after_model(sample: Sample, output: PageOutput, model: NougatModel, settings: Settings) -> Outcome:
    problem = judge_output(output)
    if problem:
        return _reject(sample, *problem)
    script = script_of(output.markdown, threshold=settings.non_latin_share)
    if script:
        return _reject(sample, "non_latin_script", f"{script[1]:.0%} of the letters in the model output "
                                                   f"are {script[0]}")
    nougat = {"model": model.name, "tokens": output.tokens, "dtype": str(model.dtype).removeprefix("torch."),
              "max_new_tokens": settings.max_new_tokens}
    if output.postprocess_error:
        nougat["postprocess_error"] = output.postprocess_error
    return _sample(sample, output.markdown, "markdown", {"text_source": "nougat", "nougat": nougat},
                   model_tools(model.name))


def _non_latin(sample: Sample, script: tuple[str, float], settings: Settings, where: str) -> Outcome:
    name, share = script
    detail = f"{share:.0%} of the letters in {where} are {name}"
    if settings.non_latin == "reject":
        return _reject(sample, "non_latin_script", detail + " (nougat.non_latin=reject)")
    if missing_page_marker(sample.text):
        return _reject(sample, "missing_page_marker", f"the text layer holds {missing_page_marker(sample.text)}")
    # Routed: Nougat fails on these scripts, the PDF's own text is the best text we have.
    return _sample(sample, sample.text, "plain",
                   {"text_source": "pdf_text_layer", "script": {"name": name, "share": round(share, 3)}}, {})


def _sample(page: Sample, text: str, kind: str, metadata: dict, tools: dict) -> Sample:
    provenance = Provenance(page.provenance.source, page.provenance.checksum,
                            tools={**page.provenance.tools, **tools})
    return Sample(page.key, page.corpus, text, kind, provenance, image=page.image,
                  image_format=page.image_format, image_size=page.image_size,
                  metadata={**page.metadata, "text_layer_chars": len(page.text), **metadata})


def _reject(sample: Sample, reason: str, detail: str) -> Reject:
    return Reject(sample.provenance.source, f"page={sample.metadata['page']['number']}", "transcribe",
                  reason, detail)


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
    stages=(transcribe,),
    defaults=DEFAULTS,
    check_options=check_options,
    suffixes=(".pdf",),
    # The model is loaded once per worker process: Ray keeps it in long-lived actors.
    actor_resources={},
)
