"""The Nougat model through transformers, and how to tell when its output is no good.

    load_nougat(path)          a local checkpoint directory (facebook/nougat-base layout) ->
                               NougatModel: VisionEncoderDecoderModel + NougatProcessor, bf16 on
                               CUDA, float32 on CPU, eval mode, one per worker process
    model.generate(images)     PIL pages -> one PageOutput each: the markdown, the raw decoded
                               text, and the max score of every generated token
    judge_output(output)       -> Rejected (reason, detail) when the page must not become a sample

Why not the `nougat-ocr` package: it pins transformers<=4.38.2 and timm==0.5.4 and cannot
share an environment with the trainer. transformers ships the same model classes.

The image processor is the PIL one (NougatImageProcessorPil), named explicitly: the default
NougatImageProcessor needs torchvision, which vlforge does not install; both read the same
preprocessor_config.json and do the same steps (crop margins, resize, pad to 896x672).
The tokenizer class is NougatTokenizer: transformers 5's name for NougatTokenizerFast (the
old name is an alias of it), read from the checkpoint's tokenizer.json.

Failure detection (each a pure function, so tests drive it with constructed inputs):

    repetition   find_loop(max_scores): Nougat's heuristic. In a loop the model repeats a
                 phrase with the same confidence each time round, so the max logit turns
                 periodic: its variance over short windows stops changing. We take the
                 variance of the max score over every window of 15 tokens, then the
                 variance of those local variances over a rolling span; a loop is a run of
                 flat spans (under Nougat's 0.045) reaching the end and covering at least
                 `min_loop_tokens` tokens. Generation checks the same rule every
                 `check_every` steps and stops a looping page early (a loop otherwise runs
                 to max_new_tokens, holding up its whole batch). As in Nougat, a page that
                 ends with its own end-of-sequence token is not a loop.
    truncated    no end-of-sequence within max_new_tokens and no loop found.
    empty        nothing but whitespace after decoding or after post-processing.
    missing page Nougat's post-processing marks removed hallucinated references with
                 [MISSING_PAGE_POST]; its CLI writes [MISSING_PAGE_FAIL/EMPTY]. Any output
                 holding `[MISSING_PAGE` is refused: no such marker ever reaches a shard.
    out of domain   before the model: a blank or near-blank page image (ink_share below
                 min_ink, or a single colour); after it: garbage output, where over 10% of
                 the visible characters are replacement/control/private-use characters, or
                 under 30% are letters or digits (LaTeX-heavy pages stay well above that).
    non-Latin    script_of(text): the share of letters that are not Latin (CJK, Cyrillic,
                 Arabic, ...; mathematical alphanumerics count as Latin) over `threshold`,
                 given at least `min_letters` letters (Greek counts as non-Latin: the odd
                 symbol in mathematics stays far under the share). The pipeline applies it
                 to the PDF's text layer before the model and to the model's output after.
"""

from __future__ import annotations

import os
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vlforge.errors import Rejected, VlforgeError

MISSING_PAGE_MARKER = "[MISSING_PAGE"


# --------------------------------------------------------------------------------------
# Repetition loops: a pure function of the max score of each generated token
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoopRule:
    """Nougat's window (15 tokens) and threshold (0.045); see find_loop. The threshold is in
    the units of the model's logits: calibrated by Nougat for its checkpoint, an option
    (nougat.loop_threshold) for others."""

    window: int = 15  # tokens per local variance
    span: int = 50  # local variances per variance-of-variances
    threshold: float = 0.045
    min_loop_tokens: int = 200  # a flat tail shorter than this is not called a loop
    check_every: int = 16  # generation steps between online checks

    def __post_init__(self) -> None:
        if self.window < 2 or self.span < 2 or self.min_loop_tokens < 1 or self.check_every < 1:
            raise ValueError("window and span must be >= 2, min_loop_tokens and check_every >= 1")


def local_variances(max_scores, window: int) -> np.ndarray:
    """var(x[i:i+window]) / window for every window start i (Nougat divides by the window)."""
    values = np.asarray(max_scores, dtype=np.float64)
    if len(values) < window:
        return np.zeros(0)
    return np.lib.stride_tricks.sliding_window_view(values, window).var(axis=1) / window


def find_loop(max_scores, rule: LoopRule = LoopRule()) -> int | None:
    """The token index where a repetition loop that runs to the end starts, or None.

    max_scores: the max (processed) logit of each generated token. local[i] is the
    variance over the window at token i; flat[k] says the variance of local[k:k+span] is
    under the threshold: the model's confidence has settled into a cycle there. The loop
    is the trailing run of flat positions; it must reach the end (a loop only ends with
    max_new_tokens) and cover at least min_loop_tokens tokens. A rolling span rather than
    Nougat's every-suffix variance finds where the loop starts instead of diluting a long
    loop with the text before it.
    """
    local = local_variances(max_scores, rule.window)
    if len(local) < rule.span:
        return None
    flat = np.lib.stride_tricks.sliding_window_view(local, rule.span).var(axis=1) < rule.threshold
    if not flat[-1]:
        return None
    start = 0 if flat.all() else len(flat) - int(np.argmin(flat[::-1]))
    return start if len(local) + rule.window - 1 - start >= rule.min_loop_tokens else None


# --------------------------------------------------------------------------------------
# Scripts, garbage and blank pages
# --------------------------------------------------------------------------------------

# Letters whose Unicode name starts with one of these are what Nougat was trained on.
_LATIN_PREFIXES = ("LATIN", "MATHEMATICAL", "MODIFIER LETTER")


def script_of(text: str, *, threshold: float = 0.3, min_letters: int = 20) -> tuple[str, float] | None:
    """(main non-Latin script, its share of the letters) when non-Latin letters pass
    `threshold`; None for Latin text and for text with too few letters to tell."""
    scripts: dict[str, int] = {}
    letters = 0
    for char in text:
        if not unicodedata.category(char).startswith("L"):
            continue
        letters += 1
        name = unicodedata.name(char, "UNKNOWN")
        if not name.startswith(_LATIN_PREFIXES):
            script = name.split(" ", 1)[0]
            scripts[script] = scripts.get(script, 0) + 1
    foreign = sum(scripts.values())
    if letters < min_letters or foreign <= threshold * letters:
        return None
    return max(scripts, key=lambda s: (scripts[s], s)), foreign / letters


_BAD_CATEGORIES = ("Cc", "Co", "Cn", "Cs")  # control, private use, unassigned, surrogate


def garbage_problem(text: str) -> str | None:
    """Why `text` is not text (see the module docstring), or None."""
    visible = [c for c in text if not c.isspace()]
    if not visible:
        return None
    bad = sum(1 for c in visible if c == "\ufffd" or unicodedata.category(c) in _BAD_CATEGORIES)
    if bad > 0.1 * len(visible):
        return f"{bad} of {len(visible)} characters are replacement or control characters"
    wordy = sum(1 for c in visible if c.isalnum())
    if wordy < 0.3 * len(visible):
        return f"only {wordy} of {len(visible)} characters are letters or digits"
    return None


def ink_share(image: Image.Image, dark_below: int = 160) -> float:
    """The share of pixels darker than `dark_below` (0..255 luminance); 0.0 for a page of
    one colour, whatever the colour (a black scan is as empty as a white page)."""
    gray = np.asarray(image.convert("L"))
    if gray.size == 0 or int(gray.max()) - int(gray.min()) < 16:
        return 0.0
    return float((gray < dark_below).mean())


# --------------------------------------------------------------------------------------
# Loading: one model per checkpoint, device and dtype in each worker process
# --------------------------------------------------------------------------------------

# What a checkpoint directory needs (facebook/nougat-base has all of these).
REQUIRED_FILES = ("config.json", "tokenizer.json")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


def checkpoint_problem(path: str) -> str | None:
    """Why `path` is not a Nougat checkpoint directory, or None."""
    folder = Path(path)
    if not folder.is_dir():
        return f"{path} is not a directory"
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    if not any((folder / name).is_file() for name in PROCESSOR_FILES):
        missing.append(" or ".join(PROCESSOR_FILES))
    return f"{path} lacks {', '.join(missing)}" if missing else None


def resolve_device(device: str | None) -> str:
    import torch

    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(device: str, dtype: Any = None):
    """bf16 on CUDA (as Nougat's own predict script runs the model), float32 elsewhere: CPUs
    without bf16 units run it slower than float32."""
    import torch

    if dtype is None or dtype == "":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, str):
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise VlforgeError(f"unknown torch dtype {dtype!r}; use bfloat16, float16 or float32")
        return getattr(torch, dtype)
    return dtype


@dataclass
class PageOutput:
    """What the model made of one page."""

    markdown: str  # post-processed (Nougat's markdown fixes), stripped
    raw: str  # decoded tokens, special tokens skipped
    tokens: int  # generated tokens, end-of-sequence included
    ended: bool  # the model wrote its end-of-sequence token
    loop_start: int | None  # token index where a repetition loop starts
    max_scores: np.ndarray = field(repr=False)  # max processed score of each generated token
    postprocess_error: str = ""  # post_process_generation raised: markdown is the raw text


@dataclass
class NougatModel:
    model: Any  # VisionEncoderDecoderModel
    processor: Any  # NougatProcessor
    device: str
    dtype: Any
    name: str  # the checkpoint directory's name, for provenance
    # generate() from several threads of a process (Beam's in-process runners) takes turns.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) the processor pads every page to: 896x672 for nougat-base."""
        size = self.processor.image_processor.size
        return int(size.height), int(size.width)

    def generate(self, images: list[Image.Image], *, batch_size: int | None = None,
                 max_new_tokens: int = 4096, rule: LoopRule = LoopRule()) -> list[PageOutput]:
        """Greedy generation, `batch_size` pages at a time (default: all in one batch); one
        PageOutput per image, in order."""
        size = batch_size or len(images)
        outputs: list[PageOutput] = []
        for first in range(0, len(images), size):
            outputs += self._generate_batch(images[first:first + size], max_new_tokens, rule)
        return outputs

    def _generate_batch(self, images, max_new_tokens: int, rule: LoopRule) -> list[PageOutput]:
        with self.lock:
            sequences, max_scores, loops = self._generate(images, max_new_tokens, rule)
        return [self._page_output(sequences[b], max_scores[b], loops.get(b), rule)
                for b in range(len(images))]

    def _generate(self, images, max_new_tokens, rule):
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        pixels = self.processor(images=[image.convert("RGB") for image in images],
                                return_tensors="pt").pixel_values
        recorder = _MaxScoreRecorder()
        tokenizer = self.processor.tokenizer
        stopper = _LoopStopper(recorder, rule, tokenizer.eos_token_id)
        with torch.inference_mode():
            out = self.model.generate(
                pixel_values=pixels.to(self.device, self.dtype),
                # max_length, not max_new_tokens: a checkpoint's generation config may set
                # max_length, and max_new_tokens beside it draws a warning. The decoder
                # prompt is the one start token.
                max_length=max_new_tokens + 1, min_length=1, do_sample=False, num_beams=1,
                # Nougat bans <unk>; <pad> is never content (and marks stopped rows).
                bad_words_ids=[[tokenizer.unk_token_id], [tokenizer.pad_token_id]],
                # Forcing </s> at the last step would make a truncated page look finished.
                forced_eos_token_id=None,
                logits_processor=LogitsProcessorList([recorder]),
                stopping_criteria=StoppingCriteriaList([stopper]),
                return_dict_in_generate=True, use_cache=True)
        generated = out.sequences[:, 1:].cpu().numpy()
        scores = recorder.matrix()[:, : generated.shape[1]]
        return generated, scores, stopper.loops

    def _page_output(self, tokens: np.ndarray, max_scores: np.ndarray, loop: tuple[int, int] | None,
                     rule: LoopRule) -> PageOutput:
        tokenizer = self.processor.tokenizer
        eos = np.flatnonzero(tokens == tokenizer.eos_token_id)
        if loop is not None:  # stopped by _LoopStopper: (tokens so far, loop start)
            length, ended, loop_start = loop[0], False, loop[1]
        elif len(eos):
            length, ended, loop_start = int(eos[0]) + 1, True, None
        else:
            length, ended = len(tokens), False
            loop_start = find_loop(max_scores[:length], rule)
        raw = tokenizer.decode(tokens[:length].tolist(), skip_special_tokens=True)
        markdown, error = postprocess(tokenizer, raw)
        return PageOutput(markdown, raw, length, ended, loop_start, max_scores[:length], error)


# (process id, checkpoint, device, dtype) -> the model. A worker runs one job, so one entry
# is kept; the process id keeps a forked child from using its parent's (CUDA) model.
_MODELS: dict[tuple, NougatModel] = {}
_LOAD_LOCK = threading.Lock()


def load_nougat(path: str | os.PathLike, device: str | None = None, dtype: Any = None) -> NougatModel:
    """The checkpoint at `path` on `device` (default: CUDA when there is one), loaded once
    per worker process and reused by every task it runs."""
    device = resolve_device(device)
    torch_dtype = resolve_dtype(device, dtype)
    key = (os.getpid(), str(Path(path).resolve()), device, str(torch_dtype))
    with _LOAD_LOCK:
        if key not in _MODELS:
            _MODELS.clear()
            _MODELS[key] = _load(Path(path), device, torch_dtype)
        return _MODELS[key]


def _load(path: Path, device: str, dtype) -> NougatModel:
    """from_pretrained on each part, as for a facebook/nougat-base download; nothing is
    fetched (local_files_only), so a bad path fails here instead of reaching for the Hub."""
    problem = checkpoint_problem(str(path))
    if problem:
        raise VlforgeError(f"nougat.model: {problem}; it must be a local Nougat checkpoint "
                           "directory such as a download of facebook/nougat-base")
    from transformers import (
        NougatImageProcessorPil,
        NougatProcessor,
        NougatTokenizer,
        VisionEncoderDecoderModel,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bars from every worker
    model = VisionEncoderDecoderModel.from_pretrained(path, dtype=dtype, local_files_only=True)
    model.to(device).eval()
    processor = NougatProcessor(
        image_processor=NougatImageProcessorPil.from_pretrained(path, local_files_only=True),
        tokenizer=NougatTokenizer.from_pretrained(path, local_files_only=True))
    return NougatModel(model, processor, device, dtype, path.resolve().name)


def postprocess(tokenizer, raw: str) -> tuple[str, str]:
    """Nougat's markdown post-processing (tokenizer.post_process_generation), stripped: its
    trailing space or blank lines join pages of one document, which a page sample does not
    need, and whether it adds them depends on nltk data being installed. If it raises, the
    raw text stays, with the error."""
    try:
        return tokenizer.post_process_generation(raw, fix_markdown=True).strip(), ""
    except Exception as exc:  # a regex or nltk failure must not lose the page
        return raw.strip(), f"{type(exc).__name__}: {exc}"


class _MaxScoreRecorder:
    """A logits processor, last in the list, that keeps the max processed score of every
    row at every step and changes nothing. Keeping all scores instead (output_scores) would
    hold steps x batch x 50,000 floats: gigabytes for a batch of long pages."""

    def __init__(self):
        self.steps: list = []

    def __call__(self, input_ids, scores):
        self.steps.append(scores.max(dim=-1).values.float())
        return scores

    def matrix(self) -> np.ndarray:
        import torch

        if not self.steps:
            return np.zeros((0, 0), dtype=np.float32)
        return torch.stack(self.steps, dim=1).cpu().numpy()


class _LoopStopper:
    """A stopping criterion: every `check_every` steps, runs find_loop on each running row
    and stops the rows that loop. `loops[row] = (tokens generated, loop start)`."""

    def __init__(self, recorder: _MaxScoreRecorder, rule: LoopRule, eos_token_id: int):
        self.recorder = recorder
        self.rule = rule
        self.eos_token_id = eos_token_id
        self.loops: dict[int, tuple[int, int]] = {}

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        stop = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        steps = len(self.recorder.steps)
        if steps % self.rule.check_every or steps < self.rule.min_loop_tokens:
            return stop
        maxima = self.recorder.matrix()
        # Rows that wrote </s> are done: their later scores are of padding.
        ended = (input_ids[:, 1:] == self.eos_token_id).any(dim=1).cpu().numpy()
        for row in range(input_ids.shape[0]):
            if row in self.loops or ended[row]:
                continue
            start = find_loop(maxima[row], self.rule)
            if start is not None:
                self.loops[row] = (steps, start)
                stop[row] = True
        return stop


# --------------------------------------------------------------------------------------
# The verdict on one page's output
# --------------------------------------------------------------------------------------


def judge_output(output: PageOutput) -> Rejected | None:
    """Why the page's output must not become a sample, or None when it may."""
    if output.loop_start is not None:
        return Rejected("nougat_repetition", f"repetition loop from token {output.loop_start} of {output.tokens}")
    if not output.ended:
        return Rejected("nougat_truncated", f"no end of page within {output.tokens} tokens (nougat.max_new_tokens)")
    if not output.raw.strip() or not output.markdown:
        return Rejected("nougat_empty_output", f"nothing but whitespace after {output.tokens} tokens")
    for text in (output.raw, output.markdown):
        marker = missing_page_marker(text)
        if marker:
            return Rejected("missing_page_marker", f"the output holds {marker}")
    garbage = garbage_problem(output.raw)
    if garbage:
        return Rejected("garbage_output", garbage)
    return None


def missing_page_marker(text: str) -> str | None:
    """The first `[MISSING_PAGE...]` marker in `text`, or None."""
    at = text.find(MISSING_PAGE_MARKER)
    if at < 0:
        return None
    end = text.find("]", at)
    return text[at: end + 1 if 0 <= end - at < 40 else at + len(MISSING_PAGE_MARKER)]
