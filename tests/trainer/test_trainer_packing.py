"""Packed rows: no dense mask is built; transformers reads the restarting position ids as
document boundaries, and every token's loss equals its loss in its own unpacked sequence."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import png_bytes

from vlforge.trainer.chat_format import IGNORE_INDEX
from vlforge.trainer.data import Example
from vlforge.trainer.images import image_processor
from vlforge.trainer.mixing import Collator
from vlforge.trainer.model import build_model, forward, model_inputs, set_attention
from vlforge.trainer.presets import get_preset

VOCAB, IMAGE_ID, PAD = 300, 299, 0


def _examples() -> list[Example]:
    gen = torch.Generator().manual_seed(0)

    def ids(n: int) -> list[int]:
        return torch.randint(1, IMAGE_ID, (n,), generator=gen).tolist()

    image = [*ids(3), *[IMAGE_ID] * get_preset("tiny").num_image_tokens, *ids(12)]
    labels = [IGNORE_INDEX] * (len(image) - 6) + image[-6:]  # an answer after the image
    text_a, text_b = ids(23), ids(9)
    return [Example("img", "multimodal", image, labels, [png_bytes(40, 30, 1)]),
            Example("a", "language", text_a, list(text_a)), Example("b", "language", text_b, list(text_b))]


def _token_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[B, T-1] cross entropy per predicted position (0 where the label is ignored)."""
    return F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), labels[:, 1:], ignore_index=IGNORE_INDEX,
                           reduction="none")


def _packed_and_alone(attention: str):
    torch.manual_seed(0)
    model = build_model("tiny", VOCAB, IMAGE_ID).eval()
    neck = model.model.high_res_vision_model.vision_encoder.neck
    with torch.no_grad():  # a live SAM branch (random SAM necks start near zero)
        for conv in (neck.conv1, neck.conv2):
            conv.weight.normal_(std=0.3)
        model.model.high_res_vision_alpha.fill_(0.5)
    collator = Collator(PAD, image_processor(get_preset("tiny")))
    examples = _examples()
    packed = collator.packed([examples], seq_len=sum(len(e) for e in examples) + 5)  # 5 padding tokens
    assert packed["attention_mask"] is None  # no [B, 1, T, T] mask anywhere in the batch
    set_attention(model, attention)
    with torch.no_grad():
        got = _token_losses(forward(model, model_inputs(packed, torch.device("cpu"))), packed["labels"])[0]
    set_attention(model, "sdpa")
    alone = []
    for example in examples:
        batch = collator.padded([example])
        with torch.no_grad():
            logits = forward(model, model_inputs(batch, torch.device("cpu")))
        losses = _token_losses(logits, batch["labels"])[0]
        alone.append(torch.cat([losses, torch.zeros(1)]))  # the last token predicts nothing in its row
    # Position i predicts token i + 1: the examples' losses in a row, then padding's (none).
    want = torch.cat(alone)
    return got, torch.cat([want, torch.zeros(len(got) - len(want))]), packed


@pytest.mark.parametrize("attention", ["sdpa", "eager", "flex_attention"])
def test_packed_and_unpacked_per_token_losses_are_equal(attention):
    # flex_attention (a BlockMask from the position ids: the CUDA training kernel) runs
    # forward only on a CPU; sdpa builds its mask from the same position ids.
    got, want, packed = _packed_and_alone(attention)
    assert int((packed["labels"] != IGNORE_INDEX).sum()) == 6 + 22 + 8  # each example's first label dropped
    assert int((want > 0).sum()) == 6 + 22 + 8
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
