"""The chat format equals DeepSeek-VL's released VLChatProcessor (sft_format "deepseek"); the
export folder's processor renders the same string and ids.

`released_string` / `released_ids` write out the release's rules (processing_vlm.py's
apply_sft_template_for_multi_turn_prompts + conversation.py's SeparatorStyle.DeepSeek, then
`tokenizer.encode` of the whole string and the image-token expansion) independently of vlforge.
"""

import numpy as np
import pytest
from PIL import Image
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoProcessor, AutoTokenizer, PreTrainedTokenizerFast
from transformers.utils.chat_template_utils import render_jinja_template

from vlforge.trainer.chat_format import (
    CHAT_TEMPLATE,
    DEFAULT_SYSTEM_PROMPT,
    IGNORE_INDEX,
    ChatFormatError,
    encode_answer,
    encode_conversation,
    encode_prompt,
    render_conversation,
)
from vlforge.trainer.images import image_processor, preprocess_image
from vlforge.trainer.presets import get_preset
from vlforge.trainer.processing import processor_for, save_processor
from vlforge.trainer.tokenizer import BOS_TOKEN, EOS_TOKEN, IMAGE_TOKEN, PAD_TOKEN, load_tokenizer

N_IMAGE = 16


def released_string(turns, system_prompt):
    """conversation.py, SeparatorStyle.DeepSeek, after the processor strips every message."""
    seps = ["\n\n", EOS_TOKEN]
    out = system_prompt + seps[0] if system_prompt else ""
    for i, (role, message) in enumerate(turns):
        message = message.strip()
        name = {"user": "User", "assistant": "Assistant"}[role]
        out += f"{name}: {message}{seps[i % 2]}" if message else f"{name}:"
    return out.strip()


def released_ids(tokenizer, text, num_image_tokens):
    """tokenizer.encode(sft_format) (bos first), each image id -> num_image_tokens image ids."""
    ids = [tokenizer.bos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"]
    out = []
    for token in ids:
        out += [token] * num_image_tokens if token == tokenizer.image_token_id else [token]
    return out


def deepseek_like_bpe(tmp_path):
    """A byte-level BPE with merges and DeepSeek-LLM's pre-tokenizer splits (letters, punctuation,
    newlines, CJK, single digits), trained here on chat-shaped text."""
    letters = r"\s?[A-Za-zµÀ-ÖØ-öø-ƺ]+"
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(pattern=_regex(r"[\r\n]"), behavior="isolated"),
        pre_tokenizers.Split(pattern=_regex(letters), behavior="isolated"),
        pre_tokenizers.Split(pattern=_regex(r"\s?[!-/:-~！-／：-～‘-‟　-。]+"), behavior="isolated"),
        pre_tokenizers.Split(pattern=_regex(r"\s+$"), behavior="isolated"),
        pre_tokenizers.Split(pattern=_regex(r"[一-龥ࠀ-一가-퟿]+"), behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    backend.decoder = decoders.ByteLevel()
    corpus = [DEFAULT_SYSTEM_PROMPT, "User: what is this?\n\nAssistant: A lighthouse, 灰色.",
              "Assistant: (a) 42 apples", "User:: hmm\n\nAssistant: :) ok"] * 20
    backend.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    PreTrainedTokenizerFast(tokenizer_object=backend).save_pretrained(tmp_path)
    return load_tokenizer(tmp_path)


def _regex(pattern):
    from tokenizers import Regex
    return Regex(pattern)


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(None)


CONVERSATIONS = {
    "images and rounds": [("user", f"  {IMAGE_TOKEN}\nWhat is in the picture?  "), ("assistant", " A lighthouse.\n"),
                          ("user", "And the colour?"), ("assistant", "Grey stone, 灰色.")],
    "two images": [("user", f"{IMAGE_TOKEN} is one.\n{IMAGE_TOKEN} is two. Which?"), ("assistant", "(a) 42")],
    "empty user message": [("user", "  "), ("assistant", "Hello."), ("user", "x"), ("assistant", ":) ok")],
    "empty middle answer": [("user", "Hi"), ("assistant", "   "), ("user", "Again"), ("assistant", "Yes")],
}


@pytest.mark.parametrize("name", sorted(CONVERSATIONS))
@pytest.mark.parametrize("system_prompt", [DEFAULT_SYSTEM_PROMPT, "", "  padded system  "])
def test_string_and_ids_equal_the_released_processor(tok, name, system_prompt):
    turns = CONVERSATIONS[name]
    text = released_string(turns, system_prompt)
    assert render_conversation(turns, system_prompt) == text
    ids, labels = encode_conversation(tok, turns, N_IMAGE, system_prompt)
    assert ids == released_ids(tok, text, N_IMAGE) and len(labels) == len(ids)


def test_ids_equal_whole_string_tokenisation_with_bpe_merges(tmp_path):
    bpe = deepseek_like_bpe(tmp_path)
    assert len(bpe("Assistant: lighthouse", add_special_tokens=False)["input_ids"]) < 10  # merges at work
    for turns in CONVERSATIONS.values():
        text = released_string(turns, DEFAULT_SYSTEM_PROMPT)
        assert encode_conversation(bpe, turns, N_IMAGE)[0] == released_ids(bpe, text, N_IMAGE)
        prompt = released_string([*turns[:-1], ("assistant", "")], DEFAULT_SYSTEM_PROMPT)
        assert encode_prompt(bpe, turns[-2][1], N_IMAGE, history=turns[:-2]) == released_ids(bpe, prompt, N_IMAGE)


def test_labels_supervise_exactly_the_stripped_answers_and_their_eos(tok):
    turns = CONVERSATIONS["images and rounds"]
    ids, labels = encode_conversation(tok, turns, N_IMAGE)
    supervised = [token for token, label in zip(ids, labels, strict=True) if label != IGNORE_INDEX]
    assert tok.decode(supervised) == f" A lighthouse.{EOS_TOKEN} Grey stone, 灰色.{EOS_TOKEN}"
    assert all(label in (IGNORE_INDEX, token) for token, label in zip(ids, labels, strict=True))
    # scoring: the prompt + the answer's ids is the training sequence
    prompt = encode_prompt(tok, turns[2][1], N_IMAGE, history=turns[:2])
    assert prompt + encode_answer(tok, turns[3][1]) == ids
    assert ids.count(tok.image_token_id) == N_IMAGE


def test_generation_prompt_and_refusals(tok):
    turns = [("user", " Describe. ")]
    text = render_conversation(turns, add_generation_prompt=True)
    assert text == released_string([*turns, ("assistant", "")], DEFAULT_SYSTEM_PROMPT)
    assert text.endswith("User: Describe.\n\nAssistant:")
    assert render_conversation(turns, "") == "User: Describe."  # the trailing separator is stripped
    with pytest.raises(ChatFormatError, match="alternates"):
        encode_conversation(tok, [("assistant", "hi")], N_IMAGE)
    with pytest.raises(ChatFormatError, match="has content"):
        encode_conversation(tok, [("user", "hi"), ("assistant", "  ")], N_IMAGE)
    with pytest.raises(ChatFormatError, match="follows a user turn"):
        render_conversation([("user", "a"), ("assistant", "b")], add_generation_prompt=True)


def messages(turns, system=None):
    out = [{"role": "system", "content": system}] if system is not None else []
    return out + [{"role": role, "content": content} for role, content in turns]


@pytest.mark.parametrize("name", sorted(CONVERSATIONS))
def test_chat_template_renders_the_same_string(name):
    turns = CONVERSATIONS[name]

    def render(msgs, **kwargs):
        return render_jinja_template(conversations=[msgs], chat_template=CHAT_TEMPLATE, **kwargs)[0][0]

    assert render(messages(turns)) == render_conversation(turns)
    assert render(messages(turns, system="")) == render_conversation(turns, "")
    assert render(messages(turns, system="Be brief.")) == render_conversation(turns, "Be brief.")
    question = messages(turns[:1])
    assert render(question, add_generation_prompt=True) == render_conversation(turns[:1], add_generation_prompt=True)


def test_chat_template_takes_content_blocks_with_images():
    blocks = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "\nWhat is it? "}]}]
    rendered = render_jinja_template(conversations=[blocks], chat_template=CHAT_TEMPLATE,
                                     add_generation_prompt=True)[0][0]
    assert rendered == render_conversation([("user", f"{IMAGE_TOKEN}\nWhat is it?")], add_generation_prompt=True)


@pytest.mark.parametrize("preset", ["tiny", "tiny-siglip"])
def test_export_folder_processor_loads_offline_and_gives_our_string_ids_and_pixels(tok, tmp_path, monkeypatch, preset):
    cfg = get_preset(preset)
    save_processor(tmp_path, cfg, tok)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    processor = AutoProcessor.from_pretrained(tmp_path, local_files_only=True)
    assert type(processor) is type(processor_for(cfg, tok))
    turns = [("user", f"{IMAGE_TOKEN}\n Describe the figure. ")]
    text = processor.apply_chat_template(messages(turns), add_generation_prompt=True)
    assert text == render_conversation(turns, add_generation_prompt=True)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 64, 3), dtype=np.uint8))
    batch = processor(text=text, images=[image], return_tensors="pt")
    assert batch["input_ids"][0].tolist() == encode_prompt(tok, turns[0][1], cfg.num_image_tokens)
    ours = preprocess_image(image, image_processor(cfg))
    assert set(ours) <= set(batch) and all(batch[key][0].shape == ours[key].shape for key in ours)
    # 64x40 scales without a fraction: the stock square equals ours; only the hybrid's
    # low-res copy may differ (uint8 quantised there), by at most ~1/255 after normalising
    main = "high_res_pixel_values" if "high_res_pixel_values" in ours else "pixel_values"
    assert (batch[main][0] - ours[main]).abs().max() < 1e-5
    assert (batch["pixel_values"][0] - ours["pixel_values"]).abs().max() <= 2.5 / 255


def test_tokenizer_names_its_image_token_and_puts_bos_first_like_deepseek(tok, tmp_path):
    specials = [tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.image_token_id]
    assert specials == [256, 257, 258, 259] and len(tok) == 260
    assert tok.convert_ids_to_tokens(specials) == [BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, IMAGE_TOKEN]
    assert tok("hi")["input_ids"] == [tok.bos_token_id, ord("h"), ord("i")]
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)  # no code of ours
    assert (again.image_token, again.image_token_id) == (IMAGE_TOKEN, tok.image_token_id)
    assert again("hi x")["input_ids"] == tok("hi x")["input_ids"]
