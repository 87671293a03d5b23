"""The "deepseek" chat format and its label mask.

Rendered text (spec, section 2; the same string DeepSeek-VL's released code builds):

    {system}\\n\\nUser: {user}\\n\\nAssistant: {answer}<｜end▁of▁sentence｜>User: {user}\\n\\nAssistant: ...

With an empty system prompt the `{system}\\n\\n` prefix is left out, as in the released code.

Token ids are built segment by segment so the mask boundary is exact (no offset mapping,
no re-tokenisation of the whole string):

    [bos]                                              masked
    "{system}\\n\\nUser: {user}\\n\\nAssistant:"          masked; each <image_placeholder> in
                                                       {user} -> num_image_tokens image ids
    " {answer}"                                        supervised
    [eos]                                              supervised
    "User: {user}\\n\\nAssistant:"                       masked (second and later rounds)
    ...

The space after "Assistant:" belongs to the answer: at inference the prompt ends with
"Assistant:" (the released code's generation prompt) and the model writes " {answer}", so
that is what it is trained to write. Labels are aligned with input_ids (-100 = ignored);
the model shifts them by one for next-token prediction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vlforge.trainer.tokenizer import EOS_TOKEN, IMAGE_TOKEN, encode_text

IGNORE_INDEX = -100
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful language and vision assistant. You are able to understand the visual "
    "content that the user provides, and assist the user with a variety of tasks using natural "
    "language."
)
SEP = "\n\n"
USER, ASSISTANT = "user", "assistant"


@dataclass(frozen=True)
class Turn:
    role: str  # "user" or "assistant"
    content: str


def as_turns(turns: Iterable[Turn | tuple[str, str] | dict]) -> list[Turn]:
    """Turns from Turn, (role, content) pairs or {"role", "content"} dicts; checked to alternate."""
    out = []
    for turn in turns:
        if isinstance(turn, dict):
            turn = Turn(turn["role"], turn["content"])
        elif not isinstance(turn, Turn):
            turn = Turn(*turn)
        out.append(Turn(turn.role.lower(), turn.content))
    for index, turn in enumerate(out):
        expected = USER if index % 2 == 0 else ASSISTANT
        if turn.role != expected:
            raise ValueError(f"turn {index} is {turn.role!r}; a conversation alternates user, assistant, "
                             "user, ... starting with the user")
    return out


def render_conversation(turns: Iterable, system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> str:
    """The conversation as one string, exactly the spec's chat format (for reading, not training)."""
    text = system_prompt + SEP if system_prompt else ""
    for turn in as_turns(turns):
        if turn.role == USER:
            text += f"User: {turn.content}{SEP}"
        else:
            text += f"Assistant: {turn.content}{EOS_TOKEN}"
    return text


def count_images(turns: Iterable) -> int:
    """How many images the user turns ask for (one per <image_placeholder>)."""
    return sum(t.content.count(IMAGE_TOKEN) for t in as_turns(turns) if t.role == USER)


def encode_with_images(tokenizer, text: str, num_image_tokens: int) -> list[int]:
    """Ids of prompt text, each <image_placeholder> expanded to num_image_tokens image ids."""
    pieces = text.split(IMAGE_TOKEN)
    ids = encode_text(tokenizer, pieces[0])
    for piece in pieces[1:]:
        ids += [tokenizer.image_token_id] * num_image_tokens
        ids += encode_text(tokenizer, piece)
    return ids


def _user_segment(turn: Turn, first: bool, system_prompt: str) -> str:
    prefix = system_prompt + SEP if first and system_prompt else ""
    return f"{prefix}User: {turn.content}{SEP}Assistant:"


def encode_conversation(tokenizer, turns: Sequence, num_image_tokens: int,
                        system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of a conversation; labels supervise only answers and their eos.

    The conversation must end with an assistant turn (there is nothing to learn after it).
    """
    turns = as_turns(turns)
    if not turns or turns[-1].role != ASSISTANT:
        raise ValueError("a conversation to train on ends with an assistant turn")
    input_ids, labels = [tokenizer.bos_token_id], [IGNORE_INDEX]
    for index, turn in enumerate(turns):
        if turn.role == USER:
            ids = encode_with_images(tokenizer, _user_segment(turn, index == 0, system_prompt), num_image_tokens)
            input_ids += ids
            labels += [IGNORE_INDEX] * len(ids)
        else:
            ids = encode_text(tokenizer, " " + turn.content if turn.content else "") + [tokenizer.eos_token_id]
            input_ids += ids
            labels += ids
    return input_ids, labels


def encode_prompt(tokenizer, user: str, num_image_tokens: int, history: Sequence = (),
                  system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> list[int]:
    """Ids of a generation/scoring prompt: [history rounds] + the user turn + "Assistant:".

    Appending the ids of " {candidate}" to it gives exactly what `encode_conversation`
    trains on, which is what multiple-choice perplexity scoring needs.
    """
    history = as_turns(history)
    if history and history[-1].role != ASSISTANT:
        raise ValueError("history must end with an assistant turn")
    ids = encode_conversation(tokenizer, history, num_image_tokens, system_prompt)[0] if history \
        else [tokenizer.bos_token_id]
    turn = Turn(USER, user)
    return ids + encode_with_images(tokenizer, _user_segment(turn, not history, system_prompt), num_image_tokens)
