"""Trainer data: tokenizer, "deepseek" template and label mask, image preprocessing, shard sources."""

import base64
import io
import json

import pytest
from conftest import png_bytes, write_jsonl
from PIL import Image
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from vlforge.engines.runner import run_job
from vlforge.schemas import Provenance, Sample, make_key
from vlforge.shards.writer import ShardWriter
from vlforge.trainer.chat_format import (
    DEFAULT_SYSTEM_PROMPT,
    IGNORE_INDEX,
    count_images,
    encode_conversation,
    encode_prompt,
    render_conversation,
)
from vlforge.trainer.data import (
    INSTRUCTIONS,
    ExampleEncoder,
    RecordTable,
    ShardRecords,
    ShardSource,
    SkipRecord,
    conversation_turns,
    indexed_records,
    scanned_records,
    truncate,
    wanted,
)
from vlforge.trainer.tokenizer import (
    BOS_TOKEN,
    EOS_TOKEN,
    IMAGE_TOKEN,
    bytes_to_unicode,
    encode_text,
    load_tokenizer,
)

N_IMAGE = 16  # the tiny preset's image tokens


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(None)


def supervised_spans(ids, labels):
    """Contiguous runs of supervised ids, each as a list."""
    spans, current = [], []
    for token, label in zip(ids, labels, strict=True):
        if label == IGNORE_INDEX:
            if current:
                spans.append(current)
            current = []
        else:
            assert label == token
            current.append(token)
    return spans + ([current] if current else [])


# --- tokenizer -----------------------------------------------------------------------------

def test_byte_tokenizer_has_distinct_specials_and_reloads_from_a_folder(tok, tmp_path):
    specials = [tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.image_token_id]
    assert len(set(specials)) == 4 and len(tok) == 260 and max(specials) == len(tok) - 1
    assert tok.convert_ids_to_tokens(specials[:2]) == [BOS_TOKEN, EOS_TOKEN]
    tok.save_pretrained(tmp_path)
    again = load_tokenizer(tmp_path)
    text = "x = 1\n图像 ünïcode"
    assert again.image_token_id == tok.image_token_id and len(again) == len(tok)
    assert again(text, add_special_tokens=False)["input_ids"] == tok(text, add_special_tokens=False)["input_ids"]


def test_special_token_strings_in_data_never_become_special_ids(tok, tmp_path):
    encoder = ExampleEncoder(tok, 512, N_IMAGE)
    text = f"about {IMAGE_TOKEN} and {EOS_TOKEN} in a document"
    [example] = encoder.language("k", text)
    assert tok.image_token_id not in example.input_ids and tok.decode(example.input_ids[1:-1]) == text
    assert example.input_ids.count(tok.eos_token_id) == 1 and example.input_ids[-1] == tok.eos_token_id
    # a tokenizer folder holding the tag as an ordinary (non-special) added token
    backend = Tokenizer(models.BPE(vocab={c: b for b, c in bytes_to_unicode().items()}, merges=[]))
    backend.pre_tokenizer, backend.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    backend.add_tokens([IMAGE_TOKEN])
    PreTrainedTokenizerFast(tokenizer_object=backend).save_pretrained(tmp_path)
    loaded = load_tokenizer(tmp_path)
    assert loaded.image_token_id not in encode_text(loaded, text) and loaded.decode(encode_text(loaded, text)) == text


# --- template ------------------------------------------------------------------------------

TURNS = [("user", f"{IMAGE_TOKEN}\nWhat is in the picture?"), ("assistant", "A lighthouse."),
         ("user", "And the colour?"), ("assistant", "Grey stone, 灰色.")]


def test_template_renders_the_spec_string(tok):
    ids, _ = encode_conversation(tok, TURNS, N_IMAGE)
    text = tok.decode(ids).replace(IMAGE_TOKEN * N_IMAGE, IMAGE_TOKEN)
    expected = (f"{DEFAULT_SYSTEM_PROMPT}\n\nUser: {IMAGE_TOKEN}\nWhat is in the picture?\n\nAssistant: "
                f"A lighthouse.{EOS_TOKEN}User: And the colour?\n\nAssistant: Grey stone, 灰色.{EOS_TOKEN}")
    assert text == BOS_TOKEN + expected == BOS_TOKEN + render_conversation(TURNS)
    assert render_conversation(TURNS[:2], system_prompt="").startswith("User: ")


def test_label_mask_covers_exactly_the_answers_and_their_eos(tok):
    ids, labels = encode_conversation(tok, TURNS, N_IMAGE)
    spans = supervised_spans(ids, labels)
    assert [tok.decode(s) for s in spans] == [f" A lighthouse.{EOS_TOKEN}", f" Grey stone, 灰色.{EOS_TOKEN}"]
    supervised = sum(len(s) for s in spans)
    prompt = encode_prompt(tok, TURNS[0][1], N_IMAGE)
    # everything else is masked: bos, system, user turns, "Assistant:" and the image positions
    assert labels.count(IGNORE_INDEX) == len(ids) - supervised and labels[:len(prompt)] == [IGNORE_INDEX] * len(prompt)
    assert ids[:len(prompt)] == prompt  # scoring prompt + " answer" = the training sequence


def test_image_placeholder_expands_to_exactly_num_image_tokens(tok):
    turns = [("user", f"{IMAGE_TOKEN}{IMAGE_TOKEN} compare"), ("assistant", "same")]
    ids, labels = encode_conversation(tok, turns, N_IMAGE)
    positions = [i for i, t in enumerate(ids) if t == tok.image_token_id]
    assert count_images(turns) == 2 and len(positions) == 2 * N_IMAGE
    assert positions == list(range(positions[0], positions[0] + 2 * N_IMAGE))  # consecutive runs
    assert all(labels[i] == IGNORE_INDEX for i in positions)
    with pytest.raises(ValueError):
        encode_conversation(tok, [("assistant", "hi")], N_IMAGE)


def test_truncation_never_splits_an_image_run():
    ids = [1, 2] + [9] * 4 + [3, 4]
    assert truncate(ids, ids, 9, 4)[::2] == ([1, 2], 0)  # cut inside the run -> before it
    assert truncate(ids, ids, 9, 6)[::2] == ([1, 2, 9, 9, 9, 9], 4)
    assert truncate(ids, ids, 9, 2)[::2] == ([1, 2], 0)


# --- image preprocessing -------------------------------------------------------------------

# --- shards -> examples --------------------------------------------------------------------

def pair_sample(corpus, i, text, text_kind, size=(48, 32)):
    return Sample(make_key(corpus, f"/src/{corpus}-{i // 4}", i), corpus, text, text_kind,
                  Provenance(f"/src/{corpus}-{i // 4}"), image=png_bytes(*size, seed=i),
                  image_format="png", image_size=size)


def write_pairs(directory, n=6):
    """Shards laid out as the notebooks (png + py) and ebooks (png + txt) jobs write them."""
    writer = ShardWriter(directory, "pairs", max_count=4)
    for i in range(n):
        if i % 2:
            writer.write(pair_sample("ebooks", i, f"Page {i}\n\nThe keeper climbed the stairs. " * (i + 1), "plain"))
        else:
            writer.write(pair_sample("notebooks", i, f"import numpy as np\nplt.plot(np.arange({i}))", "code"))
    writer.close()
    return directory


def write_v1_shard(path, records):
    """A shard as schema version 1 wrote it: the text member's extension says its kind
    (md, py, conv.json), KEY.json nested, no parquet index beside it."""
    import tarfile

    with tarfile.open(path, "w") as tar:
        for key, members in records:
            for ext, payload in sorted(members.items()):
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return path


def test_shards_of_schema_version_1_are_still_read(tok, tmp_path):
    png = png_bytes(seed=1)
    v1 = json.dumps({"schema_version": 1, "text_kind": "markdown", "image": {"format": "png"}}).encode()
    conversation = {"id": "c", "conversations": [{"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Hello."}]}
    write_v1_shard(tmp_path / "old-000000-0000.tar", [
        ("page_a", {"json": v1, "md": b"# Title\n\nA page.", "png": png}),
        ("conv_b", {"json": json.dumps({"schema_version": 1, "text_kind": "conversation",
                                        "metadata": {}}).encode(),
                    "conv.json": json.dumps(conversation).encode()}),
    ])
    pairs = ShardSource(tmp_path, "multimodal", ExampleEncoder(tok, 512, N_IMAGE), shuffle=False)
    prompt = tok.decode(next(pairs).input_ids)
    assert "A page." in prompt and any(i in prompt for i in INSTRUCTIONS["markdown"])
    sft = ShardSource(tmp_path, "sft", ExampleEncoder(tok, 512, N_IMAGE), shuffle=False)
    assert "Hello." in tok.decode(next(sft).input_ids)


def test_pairs_become_captioning_examples_with_the_text_as_the_answer(tok, tmp_path):
    source = ShardSource(write_pairs(tmp_path / "pairs"), "multimodal", ExampleEncoder(tok, 512, N_IMAGE),
                         shuffle=False)
    examples = [next(source) for _ in range(len(source))]
    assert len(examples) == 6 and all(e.modality == "multimodal" and len(e.images) == 1 for e in examples)
    code = examples[0]
    [span] = supervised_spans(code.input_ids, code.labels)
    assert tok.decode(span) == f" import numpy as np\nplt.plot(np.arange(0)){EOS_TOKEN}"
    assert code.input_ids.count(tok.image_token_id) == N_IMAGE
    prompt = tok.decode(code.input_ids[:len(code) - len(span)]).replace(IMAGE_TOKEN * N_IMAGE, "<I>")
    assert prompt.startswith(f"{BOS_TOKEN}User: <I>\n") and prompt.endswith("\n\nAssistant:")
    assert any(instruction in prompt for instruction in INSTRUCTIONS["code"])
    page = tok.decode(examples[1].input_ids)
    assert any(instruction in page for instruction in INSTRUCTIONS["plain"])
    assert Image.open(io.BytesIO(code.images[0])).size == (48, 32)


def test_a_long_answer_is_cut_but_the_image_tokens_stay_whole(tok, tmp_path):
    source = ShardSource(write_pairs(tmp_path / "pairs"), "multimodal", ExampleEncoder(tok, 100, N_IMAGE),
                         shuffle=False)
    examples = [next(source) for _ in range(len(source))]
    long_page = examples[5]
    assert len(long_page) == 100 and long_page.input_ids.count(tok.image_token_id) == N_IMAGE
    assert long_page.input_ids[-1] != tok.eos_token_id  # the text did not end here: no eos taught
    assert long_page.labels[-1] == long_page.input_ids[-1]


def test_language_examples_are_whole_texts_chunked_to_max_seq_len(tok):
    encoder = ExampleEncoder(tok, 64, N_IMAGE)
    text = "The lighthouse stood on the point. " * 6
    chunks = encoder.language("k", text)
    ids = [tok.bos_token_id, *tok(text, add_special_tokens=False)["input_ids"], tok.eos_token_id]
    assert [len(c) for c in chunks[:-1]] == [64] * (len(chunks) - 1)
    assert [t for c in chunks for t in c.input_ids] == ids
    assert all(c.labels == c.input_ids and c.modality == "language" and not c.images for c in chunks)
    assert [c.key for c in chunks[:2]] == ["k", "k#1"]


def test_text_job_shards_feed_the_language_source(tok, tmp_path):
    stats = run_job("text", ["examples/text"], str(tmp_path / "text"), workers=1, quiet=True)
    source = ShardSource(tmp_path / "text", "language", ExampleEncoder(tok, 128, N_IMAGE), shuffle=False)
    examples = [next(source) for _ in range(20)]
    assert len(source) == stats["accepted"] and examples[0].input_ids[0] == tok.bos_token_id
    assert all(len(e) <= 128 and e.labels == e.input_ids for e in examples)


# --- SFT conversations ---------------------------------------------------------------------

LLAVA = {"id": 1, "image": "../imgs/a.png", "conversations": [
    {"from": "human", "value": "<image>\nDescribe the chart."}, {"from": "gpt", "value": "Bars rise."},
    {"from": "human", "value": "Which is highest?"}, {"from": "gpt", "value": "The last."}]}
TWO_IMAGES = {"id": 2, "images": ["../imgs/a.png", "../imgs/b.png"], "conversation": [
    {"role": "User", "content": f"{IMAGE_TOKEN}{IMAGE_TOKEN}找出这两张图的不同之处。"},
    {"role": "Assistant", "content": "颜色不同。"}]}
SWIFT = {"query": "And now?", "response": "x = 2", "history": [["Solve x + 1 = 2", "x = 1"]],
         "system": "Be brief."}


def write_sft_shards(root):
    (root / "imgs").mkdir(parents=True)
    for name, seed in (("a", 1), ("b", 2)):
        (root / f"imgs/{name}.png").write_bytes(png_bytes(64, 48, seed))
    path = write_jsonl(root / "data/records.jsonl", [LLAVA, TWO_IMAGES, SWIFT])
    stats = run_job("sft", [str(path)], str(root / "sft"), workers=1, quiet=True)
    assert stats["accepted"] == 3
    return root / "sft"


def test_sft_shards_become_template_conversations_with_their_images(tok, tmp_path):
    source = ShardSource(write_sft_shards(tmp_path), "sft", ExampleEncoder(tok, 512, N_IMAGE), shuffle=False)
    llava, pair, swift = (next(source) for _ in range(3))
    assert [tok.decode(s) for s in supervised_spans(llava.input_ids, llava.labels)] == [
        f" Bars rise.{EOS_TOKEN}", f" The last.{EOS_TOKEN}"]
    assert llava.images == [png_bytes(64, 48, 1)] and llava.input_ids.count(tok.image_token_id) == N_IMAGE
    assert tok.decode(llava.input_ids).startswith(BOS_TOKEN + DEFAULT_SYSTEM_PROMPT + "\n\nUser: <image_placeholder>")
    # the second image travels in metadata extra_images; both come back in order
    assert pair.images == [png_bytes(64, 48, 1), png_bytes(64, 48, 2)]
    assert pair.input_ids.count(tok.image_token_id) == 2 * N_IMAGE and pair.modality == "multimodal"
    assert [tok.decode(s) for s in supervised_spans(swift.input_ids, swift.labels)] == [
        f" x = 1{EOS_TOKEN}", f" x = 2{EOS_TOKEN}"]
    assert tok.decode(swift.input_ids).startswith(f"{BOS_TOKEN}Be brief.\n\nUser: Solve x + 1 = 2\n\n")
    assert swift.modality == "language" and swift.images == []
    only_text = ShardSource(tmp_path / "sft", "sft", ExampleEncoder(tok, 512, N_IMAGE), modality="language")
    assert len(only_text) == 1 and next(only_text).key == swift.key


def test_conversation_records_are_normalised_or_skipped_with_a_reason():
    with pytest.raises(SkipRecord, match="no_answer"):
        conversation_turns({"query": "What is this?"}, 0)
    system, turns = conversation_turns({"query": "What is this?", "response": "A cat."}, 1)
    assert system is None and turns[0].content == f"{IMAGE_TOKEN}\nWhat is this?"  # no tag: image first
    with pytest.raises(SkipRecord, match="image_count_mismatch"):
        conversation_turns(TWO_IMAGES, 1)
    raw = {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "a"},
                        {"role": "tool", "content": "b"}, {"role": "assistant", "content": "c"}]}
    system, turns = conversation_turns(raw, 0)
    assert system == "S" and [(t.role, t.content) for t in turns] == [("user", "a\nb"), ("assistant", "c")]


def test_conversation_cut_at_max_seq_len_keeps_whole_images_or_skips(tok):
    encoder = ExampleEncoder(tok, 120, N_IMAGE, system_prompt="")
    record = {"query": "<image> " + "q" * 30, "response": "a" * 200, "images": ["x"]}
    [example] = encoder.conversation("k", record, [b"img"])
    assert len(example) == 120 and example.input_ids.count(tok.image_token_id) == N_IMAGE
    late = {"query": "q" * 150 + "<image>", "response": "a", "images": ["x"]}
    with pytest.raises(SkipRecord):
        encoder.conversation("k", late, [b"img"])


def test_encoder_refuses_a_sequence_too_short_for_an_image(tok):
    with pytest.raises(ValueError, match="num_image_tokens"):
        ExampleEncoder(tok, 512, 576)
    tight = ExampleEncoder(tok, N_IMAGE + 32, N_IMAGE)  # accepted, but no room for this prompt
    with pytest.raises(SkipRecord, match="prompt_too_long"):
        tight.pair("k", b"png", "text", "plain")


# --- ShardSource: ranks, epochs, resume ----------------------------------------------------

def write_texts(directory, n):
    writer = ShardWriter(directory, "text", max_count=5)
    for i in range(n):
        writer.write(Sample(make_key("text", f"/src/{i}", i), "text", f"text number {i} " + "z" * (i % 7 * 30),
                            "plain", Provenance(f"/src/{i}")))
    writer.close()
    return directory


def keys_of(source, count):
    return [next(source).key for _ in range(count)]


def test_ranks_read_disjoint_records_and_epochs_reshuffle(tok, tmp_path):
    shards = write_texts(tmp_path / "t", 23)
    encoder = ExampleEncoder(tok, 10_000, N_IMAGE)
    ranks = [ShardSource(shards, "language", encoder, seed=3, rank=r, world_size=2) for r in (0, 1)]
    assert [len(s) for s in ranks] == [11, 11]  # 23 records: one left out per epoch
    first = [keys_of(s, 11) for s in ranks]
    assert not set(first[0]) & set(first[1]) and len(set(first[0]) | set(first[1])) == 22
    second = keys_of(ranks[0], 11)
    assert second != first[0]  # a new permutation every epoch
    again = ShardSource(shards, "language", encoder, seed=3, rank=0, world_size=2)
    assert keys_of(again, 22) == first[0] + second  # deterministic


def test_resume_from_state_dict_gives_the_same_next_examples(tok, tmp_path):
    shards = write_texts(tmp_path / "t", 9)
    encoder = ExampleEncoder(tok, 48, N_IMAGE)  # long texts split: state lands inside a record
    source = ShardSource(shards, "language", encoder, seed=1)
    for stop in (0, 3, 7, 13, 29):
        fresh = ShardSource(shards, "language", encoder, seed=1)
        keys_of(fresh, stop)
        saved = json.loads(json.dumps(fresh.state_dict()))  # survives a JSON round trip
        expected = [(e.key, e.input_ids) for e in (next(fresh) for _ in range(15))]
        source.load_state_dict(saved)
        assert [(e.key, e.input_ids) for e in (next(source) for _ in range(15))] == expected
    other = ShardSource(shards, "language", encoder, seed=2)
    with pytest.raises(Exception, match="seed"):
        other.load_state_dict(saved)


def test_extra_images_decode_from_base64(tok, tmp_path):
    # the metadata layout sft writes for images 2..n, built by hand to pin the format down
    extra = png_bytes(10, 10, 5)
    sample = Sample("sft_x", "sft", json.dumps({"query": "<image><image> diff?", "response": "none",
                                                  "images": ["a", "b"]}), "conversation",
                    Provenance("/src"), image=png_bytes(10, 10, 4), image_format="png", image_size=(10, 10),
                    metadata={"extra_images": [{"ref": "b", "format": "png", "width": 10, "height": 10,
                                                "base64": base64.b64encode(extra).decode()}]})
    writer = ShardWriter(tmp_path / "s", "sft")
    writer.write(sample)
    writer.close()
    example = next(ShardSource(tmp_path / "s", "sft", ExampleEncoder(tok, 512, N_IMAGE)))
    assert example.images == [png_bytes(10, 10, 4), extra]


# --- ShardSource start-up: the indexes' member places ---------------------------------------

def test_records_from_the_index_are_those_the_tar_headers_give(tmp_path):
    shards = sorted(str(p) for p in write_pairs(tmp_path / "pairs", n=9).glob("*.tar"))
    for shard in shards:
        assert list(indexed_records(shard)) == list(scanned_records(shard))


def test_shards_whose_index_has_no_member_places_are_scanned_and_said_once(tok, tmp_path, caplog):
    import pyarrow.parquet as pq

    directory = write_pairs(tmp_path / "pairs", n=9)
    indexes = sorted(directory.glob("*.parquet"))
    for index in indexes:  # as an older writer left them
        pq.write_table(pq.read_table(index).drop_columns(["members"]), index)
    expected = ShardSource(write_pairs(tmp_path / "fresh", n=9), "multimodal", ExampleEncoder(tok, 512, N_IMAGE),
                           shuffle=False)
    with caplog.at_level("WARNING", logger="vlforge.trainer.data"):
        old = ShardSource(directory, "multimodal", ExampleEncoder(tok, 512, N_IMAGE), shuffle=False)
    said = [r.getMessage() for r in caplog.records if "member places" in r.getMessage()]
    assert len(said) == 1 and f"{len(indexes)} of {len(indexes)} shards" in said[0]
    assert [(e.key, e.input_ids, e.images) for e in (next(old) for _ in range(5))] == \
        [(e.key, e.input_ids, e.images) for e in (next(expected) for _ in range(5))]


def test_the_usable_filter_picks_records_by_their_index_columns(tmp_path):
    places = {"json": (512, 9), "txt": (1536, 9)}
    records = {"pair": {**places, "png": (1024, 9)}, "text": places, "conv_image": {**places, "png": (1024, 9)},
               "conv": places, "no_text": {"json": (512, 9), "png": (1024, 9)}}
    kinds = {"pair": "code", "text": "plain", "conv_image": "conversation", "conv": "conversation",
             "no_text": "code"}  # an index kind without a text member counts as none
    table = RecordTable([ShardRecords.from_members(str(tmp_path / "a.tar"), records, kinds)])

    def keys(mask):
        return [r.key for r in table.where(mask)]

    assert keys(wanted(table, "multimodal", None)) == ["pair"]
    assert keys(wanted(table, "language", None)) == ["text"]
    assert keys(wanted(table, "sft", None)) == ["conv_image", "conv"]
    assert keys(wanted(table, "sft", "multimodal")) == ["conv_image"]
    assert keys(wanted(table, "sft", "language")) == ["conv"]
    assert keys(table.has_image & table.has_text) == ["pair", "conv_image"]  # CaptionSource.usable
    assert table[4].text_kind is None and table[0].members["png"] == (1024, 9)
