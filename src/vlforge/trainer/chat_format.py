"""The "deepseek" chat format and its label mask, as DeepSeek-VL's released VLChatProcessor.

The released processor (sft_format "deepseek": deepseek_vl/models/processing_vlm.py and
utils/conversation.py) builds the string

    {system}\\n\\nUser: {user}\\n\\nAssistant: {answer}<｜end▁of▁sentence｜>User: {user}\\n\\nAssistant: ...

with these rules, all kept here:
- every message is `.strip()`ped; a message that is then empty is written "Role:" alone
  (no space, no separator): an empty last assistant turn is the generation prompt
  "...Assistant:";
- an empty system prompt drops the `{system}\\n\\n` prefix; the whole string is stripped;
- the ids are `tokenizer.encode(string)` (bos first, no eos added) with each
  <image_placeholder> id replaced by num_image_tokens image ids.

Token ids are built segment by segment, so the mask boundary is exact:

    [bos]                                              masked
    "{system}\\n\\nUser: {user}\\n\\nAssistant:"          masked; each <image_placeholder> in
                                                       {user} -> num_image_tokens image ids
    " {answer}"                                        supervised
    [eos]                                              supervised
    "User: {user}\\n\\nAssistant:"                       masked (second and later rounds)
    ...

That equals tokenising the whole string as the release does: special tokens already cut it
into independently tokenised pieces, and DeepSeek-LLM's pre-tokenizer (and the byte-level
one) always starts a new piece at " {answer}" after the ":" (tested with a BPE tokenizer with
merges). The space after "Assistant:" belongs to the answer: at inference the prompt ends
with "Assistant:" and the model writes " {answer}", so that is what it is trained to write.
Labels are aligned with input_ids (-100 = ignored); the model shifts them for next-token
prediction.

One deliberate difference: special-token strings inside data text are encoded as plain text
(`tokenizer.encode_text`), where the release would turn them into control tokens.

`CHAT_TEMPLATE` is the same format as a jinja chat template (what an export folder's
processor renders with `apply_chat_template`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vlforge.errors import VlforgeError
from vlforge.trainer.tokenizer import EOS_TOKEN, IMAGE_TOKEN, encode_text

IGNORE_INDEX = -100
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful language and vision assistant. You are able to understand the visual "
    "content that the user provides, and assist the user with a variety of tasks using natural "
    "language."
)
SEP = "\n\n"
USER, ASSISTANT = "user", "assistant"
# The role names written into the text, and what ends each role's message.
ROLE_NAMES = {USER: "User", ASSISTANT: "Assistant"}
ROLE_ENDS = {USER: SEP, ASSISTANT: EOS_TOKEN}


class ChatFormatError(VlforgeError, ValueError):
    """A conversation the format cannot take (roles out of order, nothing to supervise)."""


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
            raise ChatFormatError(f"turn {index} is {turn.role!r}; a conversation alternates user, assistant, "
                                  "user, ... starting with the user")
    return out


def _system_prefix(system_prompt: str) -> str:
    return system_prompt + SEP if system_prompt else ""


def _message(turn: Turn) -> str:
    """One message as the release writes it: stripped; "Role:" alone when empty."""
    content = turn.content.strip()
    name = ROLE_NAMES[turn.role]
    return f"{name}: {content}{ROLE_ENDS[turn.role]}" if content else f"{name}:"


def render_conversation(turns: Iterable, system_prompt: str = DEFAULT_SYSTEM_PROMPT,
                        add_generation_prompt: bool = False) -> str:
    """The conversation as one string, exactly the released processor's.

    add_generation_prompt appends "Assistant:" (the release's empty last assistant turn);
    the conversation must then end with a user turn.
    """
    turns = as_turns(turns)
    if add_generation_prompt and turns and turns[-1].role != USER:
        raise ChatFormatError("a generation prompt follows a user turn")
    text = _system_prefix(system_prompt) + "".join(_message(turn) for turn in turns)
    return (text + ("Assistant:" if add_generation_prompt else "")).strip()


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


def encode_answer(tokenizer, content: str) -> list[int]:
    """Supervised ids of one non-empty answer: " {content stripped}" and eos."""
    return encode_text(tokenizer, " " + content.strip()) + [tokenizer.eos_token_id]


def _encode_turns(tokenizer, turns: list[Turn], num_image_tokens: int,
                  system_prompt: str) -> tuple[list[int], list[int], str]:
    """(ids, labels) up to the last answer, and the masked text still to encode after it.

    Masked text accumulates until an answer with content: empty messages add "Role:" to
    it, as the release writes them, and teach nothing.
    """
    input_ids, labels = [tokenizer.bos_token_id], [IGNORE_INDEX]
    pending = _system_prefix(system_prompt).lstrip()  # the release strips the whole string
    for turn in turns:
        if turn.role == USER or not turn.content.strip():
            pending += _message(turn)
            continue
        prompt = encode_with_images(tokenizer, pending + "Assistant:", num_image_tokens)
        answer = encode_answer(tokenizer, turn.content)
        input_ids += prompt + answer
        labels += [IGNORE_INDEX] * len(prompt) + answer
        pending = ""
    return input_ids, labels, pending


def encode_conversation(tokenizer, turns: Sequence, num_image_tokens: int,
                        system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of a conversation; labels supervise only answers and their eos.

    The conversation must end with an assistant turn with content (there is nothing to
    learn after it, and an empty one is the release's generation prompt, not an answer).
    """
    turns = as_turns(turns)
    if not turns or turns[-1].role != ASSISTANT or not turns[-1].content.strip():
        raise ChatFormatError("a conversation to train on ends with an assistant turn that has content")
    input_ids, labels, _ = _encode_turns(tokenizer, turns, num_image_tokens, system_prompt)
    return input_ids, labels


def encode_prompt(tokenizer, user: str, num_image_tokens: int, history: Sequence = (),
                  system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> list[int]:
    """Ids of a generation/scoring prompt: [history rounds] + the user turn + "Assistant:".

    Appending `encode_answer(tokenizer, candidate)` to it gives exactly what
    `encode_conversation` trains on, which is what multiple-choice perplexity scoring needs.
    """
    turns = as_turns([*history, Turn(USER, user)])
    input_ids, _, pending = _encode_turns(tokenizer, turns, num_image_tokens, system_prompt)
    return input_ids + encode_with_images(tokenizer, pending + "Assistant:", num_image_tokens)


def _jinja_string(text: str) -> str:
    """A jinja string literal of text (jinja reads Python-style escapes in literals)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


# The same format for `apply_chat_template`: a leading "system" message replaces the default
# system prompt; content is a string or a list of {"type": "text"|"image"} blocks (an image
# block is an <image_placeholder>). The text is built in a namespace so that only the final,
# stripped string is output, whatever the renderer does with template whitespace.
CHAT_TEMPLATE = (
    "{%- macro content_text(content) -%}"
    "{%- if content is string -%}{{ content }}{%- else -%}"
    "{%- for block in content -%}"
    "{%- if block['type'] == 'image' -%}" + "{{ " + _jinja_string(IMAGE_TOKEN) + " }}"
    "{%- elif block['type'] == 'text' -%}{{ block['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{%- endmacro -%}"
    "{%- set ns = namespace(text=" + _jinja_string(DEFAULT_SYSTEM_PROMPT) + ", start=0) -%}"
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set ns.text = content_text(messages[0]['content']) -%}{%- set ns.start = 1 -%}"
    "{%- endif -%}"
    "{%- if ns.text -%}{%- set ns.text = ns.text + " + _jinja_string(SEP) + " -%}{%- endif -%}"
    "{%- for message in messages[ns.start:] -%}"
    "{%- set role = message['role'] | lower -%}"
    "{%- if role != ('user' if loop.index0 % 2 == 0 else 'assistant') -%}"
    "{{ raise_exception('a conversation alternates user, assistant, ... starting with the user') }}"
    "{%- endif -%}"
    "{%- set name = 'User' if role == 'user' else 'Assistant' -%}"
    "{%- set content = content_text(message['content']) | trim -%}"
    "{%- if content -%}"
    "{%- set ns.text = ns.text + name + ': ' + content + ("
    + _jinja_string(SEP) + " if role == 'user' else " + _jinja_string(EOS_TOKEN) + ") -%}"
    "{%- else -%}{%- set ns.text = ns.text + name + ':' -%}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{%- set ns.text = ns.text + 'Assistant:' -%}{%- endif -%}"
    "{{ ns.text | trim }}"
)
