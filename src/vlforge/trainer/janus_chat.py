"""Janus's chat format, as the released Janus code builds it, and its label mask.

The released VLChatProcessor (deepseek-ai/Janus, janus/models/processing_vlm.py, sft_format
"deepseek") writes a conversation as

    {system}\\n\\n<|User|>: {user}\\n\\n<|Assistant|>: {answer}<｜end▁of▁sentence｜><|User|>: ...

(roles "<|User|>" and "<|Assistant|>", every message stripped, an empty message written
"Role:" alone, the whole string stripped), tokenises it with bos first, and replaces each
<image_placeholder> by [begin_of_image] + num_image_tokens image ids + [end_of_image].
Understanding prompts carry the processor's default system prompt (its `system_prompt`,
the same text as DeepSeek-VL's; transformers' converted Janus processors add it too);
text-to-image prompts carry none (the release's generation example passes system_prompt="").

Token ids are built run by run, so the mask boundary is exact:

    [bos] "{system}\\n\\n<|User|>: {user}\\n\\n<|Assistant|>:"   masked (images expanded)
    " {answer}" [eos]                                        supervised
    "<|User|>: ..."                                          masked (later rounds)

A role marker the tokenizer holds as one token (the released Janus tokenizer lists both as
special tokens) is that token, as the release's tokenizer.encode makes it; otherwise it is
ordinary text. Plain text between special tokens is encoded in one piece, as the release's
tokenizer sees it. Data text goes through `encode_text` (special-token strings in the data
stay text).

`JANUS_CHAT_TEMPLATE` renders the same string for `apply_chat_template` (an export's
processor; DeepSeek-VL's template with Janus's role markers): a leading "system" message replaces the default system prompt (an empty one
drops it, as text-to-image prompts want); content is a string or {"type": "text"|"image"}
blocks, an image block being <image_placeholder>.
"""

from __future__ import annotations

from collections.abc import Sequence

from vlforge.trainer.chat_format import (
    ASSISTANT,
    CHAT_TEMPLATE,
    DEFAULT_SYSTEM_PROMPT,
    IGNORE_INDEX,
    SEP,
    USER,
    ChatFormatError,
    Turn,
    as_turns,
)
from vlforge.trainer.tokenizer import EOS_TOKEN, IMAGE_TOKEN, encode_text

BOI_TOKEN = "<begin_of_image>"
EOI_TOKEN = "<end_of_image>"
ROLE_MARKERS = {USER: "<|User|>", ASSISTANT: "<|Assistant|>"}


def render_janus(turns: Sequence, system_prompt: str = DEFAULT_SYSTEM_PROMPT,
                 add_generation_prompt: bool = False) -> str:
    """The conversation as the released processor writes it (images as <image_placeholder>)."""
    turns = as_turns(turns)
    text = system_prompt + SEP if system_prompt else ""
    for turn in turns:
        content, marker = turn.content.strip(), ROLE_MARKERS[turn.role]
        end = SEP if turn.role == USER else EOS_TOKEN
        text += f"{marker}: {content}{end}" if content else f"{marker}:"
    return (text + (ROLE_MARKERS[ASSISTANT] + ":" if add_generation_prompt else "")).strip()


class _IdsBuilder:
    """Ids of masked text: plain text gathered into runs, special pieces (role tokens, image
    spans) cutting the runs exactly where the release's tokenizer cuts them."""

    def __init__(self, tokenizer, num_image_tokens: int):
        self.tokenizer, self.num_image_tokens = tokenizer, num_image_tokens
        self.ids: list[int] = []
        self.text = ""

    def add_text(self, text: str) -> None:
        self.text += text

    def add_role(self, role: str) -> None:
        marker = ROLE_MARKERS[role]
        token_id = self.tokenizer.get_vocab().get(marker)
        if token_id is None:
            self.add_text(marker)
        else:
            self._special([token_id])

    def add_content(self, content: str) -> None:
        """User text: each <image_placeholder> becomes an image span, the rest is data text."""
        pieces = content.split(IMAGE_TOKEN)
        self.add_text(pieces[0])
        tok = self.tokenizer
        span = [tok.convert_tokens_to_ids(BOI_TOKEN), *[tok.image_token_id] * self.num_image_tokens,
                tok.convert_tokens_to_ids(EOI_TOKEN)]
        for piece in pieces[1:]:
            self._special(span)
            self.add_text(piece)

    def _special(self, ids: list[int]) -> None:
        self.flush()
        self.ids += ids

    def flush(self) -> list[int]:
        if self.text:
            self.ids += encode_text(self.tokenizer, self.text)
            self.text = ""
        return self.ids


def _message(builder: _IdsBuilder, turn: Turn, images: bool = True) -> None:
    """A masked message: "Role: content" + separator, or "Role:" when empty. `images`:
    whether <image_placeholder> in it stands for an image (else it is text like any other)."""
    builder.add_role(turn.role)
    content = turn.content.strip()
    if not content:
        builder.add_text(":")
        return
    builder.add_text(": ")
    if images:
        builder.add_content(content)
    else:
        builder.add_text(content)
    builder.add_text(SEP if turn.role == USER else EOS_TOKEN)


def encode_janus_conversation(tokenizer, turns: Sequence, num_image_tokens: int,
                              system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> tuple[list[int], list[int]]:
    """(input_ids, labels): labels supervise the assistant answers and their eos only."""
    turns = as_turns(turns)
    if not turns or turns[-1].role != ASSISTANT or not turns[-1].content.strip():
        raise ChatFormatError("a conversation to train on ends with an assistant turn that has content")
    input_ids, labels = [tokenizer.bos_token_id], [IGNORE_INDEX]
    builder = _IdsBuilder(tokenizer, num_image_tokens)
    builder.add_text((system_prompt + SEP).lstrip() if system_prompt else "")  # the release strips the string
    for turn in turns:
        if turn.role == USER or not turn.content.strip():
            _message(builder, turn)
            continue
        builder.add_role(ASSISTANT)
        builder.add_text(":")
        prompt = builder.flush()
        answer = encode_text(tokenizer, " " + turn.content.strip()) + [tokenizer.eos_token_id]
        input_ids += prompt + answer
        labels += [IGNORE_INDEX] * len(prompt) + answer
        builder = _IdsBuilder(tokenizer, num_image_tokens)
    return input_ids, labels


def encode_janus_prompt(tokenizer, user: str, num_image_tokens: int | None,
                        system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> list[int]:
    """[bos] + "{system}<|User|>: {user}\\n\\n<|Assistant|>:": what the model answers after.
    num_image_tokens None: the user text holds no image (a text-to-image prompt)."""
    builder = _IdsBuilder(tokenizer, num_image_tokens or 0)
    builder.add_text((system_prompt + SEP).lstrip() if system_prompt else "")
    _message(builder, Turn(USER, user), images=num_image_tokens is not None)
    builder.add_role(ASSISTANT)
    builder.add_text(":")
    return [tokenizer.bos_token_id, *builder.flush()]


def _janus_template() -> str:
    """DeepSeek-VL's template (`chat_format.CHAT_TEMPLATE`: same system prompt, separators,
    image blocks, stripping) with Janus's role markers written instead of its role names."""
    swaps = {"set name = 'User' if role == 'user' else 'Assistant'":
             f"set name = '{ROLE_MARKERS[USER]}' if role == 'user' else '{ROLE_MARKERS[ASSISTANT]}'",
             "ns.text + 'Assistant:'": f"ns.text + '{ROLE_MARKERS[ASSISTANT]}:'"}
    template = CHAT_TEMPLATE
    for old, new in swaps.items():
        if template.count(old) != 1:
            raise RuntimeError(f"chat_format.CHAT_TEMPLATE changed: {old!r} is not in it once")
        template = template.replace(old, new)
    return template


JANUS_CHAT_TEMPLATE = _janus_template()
