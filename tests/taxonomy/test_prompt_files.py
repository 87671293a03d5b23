"""`vlforge taxonomy tag` reads the formats people have; rejects are rows, never copies."""

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import write_jsonl
from test_cli import read_jsonl, taxonomy_cli

from vlforge.taxonomy.prompt_files import read_prompts

QUESTION = "Transcribe all the printed text in this image."


def _items(path, field=None):
    return [(i.item, i.text, i.error.reason if i.error else None) for i in read_prompts(str(path), field)]


def test_json_objects_keyed_by_id_as_charxiv_ships_them(tmp_path):
    path = tmp_path / "reasoning_val.json"
    path.write_text(json.dumps({"0": {"figure_id": 0, "query": QUESTION, "answer": "x"},
                                "7": {"figure_id": 7, "qids": [1, 2]}}))
    assert _items(path) == [("key=0", QUESTION, None), ("key=7", None, "unknown_format")]


def test_json_list_single_record_strings_and_conversations(tmp_path):
    llava = {"conversations": [{"from": "human", "value": "<image>\nHi"}, {"from": "gpt", "value": "no"}]}
    sharegpt = {"messages": [{"role": "user", "content": "What is this?"}]}
    (tmp_path / "list.json").write_text(json.dumps([llava, sharegpt, "a bare prompt", {"instruction": "Do it"}, 5]))
    assert _items(tmp_path / "list.json") == [
        ("index=0", "<image>\nHi", None), ("index=1", "What is this?", None), ("index=2", "a bare prompt", None),
        ("index=3", "Do it", None), ("index=4", None, "not_an_object")]
    (tmp_path / "one.json").write_text(json.dumps({"question": QUESTION}))
    assert _items(tmp_path / "one.json") == [("index=0", QUESTION, None)]


def test_field_option_picks_nested_keys_and_says_what_is_missing(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"meta": {"q": QUESTION}}, {"meta": {"q": 3}}, {"other": 1}])
    offsets = [0, len(json.dumps({"meta": {"q": QUESTION}})) + 1]
    assert _items(path, "meta.q")[:2] == [(f"offset={offsets[0]}", QUESTION, None),
                                          (f"offset={offsets[1]}", None, "field_not_text")]
    assert _items(path, "meta.q")[2][2] == "missing_field"


def test_csv_and_parquet_with_field(tmp_path):
    with open(tmp_path / "p.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerows([["id", "ask"], ["1", QUESTION], ["2", "这两张图片有什么不同？"]])
    assert _items(tmp_path / "p.csv", "ask") == [("row=0", QUESTION, None), ("row=1", "这两张图片有什么不同？", None)]
    assert _items(tmp_path / "p.csv") == [("file", None, "no_prompt_column")]  # no default column
    pq.write_table(pa.table({"ask": [QUESTION, None], "image": [b"\x89PNG", b""]}), tmp_path / "p.parquet")
    assert _items(tmp_path / "p.parquet", "ask") == [("row=0", QUESTION, None), ("row=1", None, "field_not_text")]


def test_rejects_are_rows_not_copies_of_files(tmp_path):
    big = {str(i): {"figure_id": i, "qids": [1, 2, 3], "answers": ["x" * 200]} for i in range(50)}
    (tmp_path / "in").mkdir()
    (tmp_path / "in/descriptive.json").write_text(json.dumps(big))
    (tmp_path / "in/broken.json").write_text("{not json" + "x" * 5000)
    (tmp_path / "in/notes.txt").write_text("hello")
    write_jsonl(tmp_path / "in/ok.jsonl", [{"query": QUESTION}, "{bad"])
    out = tmp_path / "tagged.jsonl"
    result = taxonomy_cli("tag", str(tmp_path / "in"), "-o", str(out))
    rejects = read_jsonl(tmp_path / "tagged.rejects.jsonl")
    assert len(read_jsonl(out)) == 1 and len(rejects) == 50 + 1 + 1 + 1
    assert all(set(r) == {"source", "item", "reason", "detail"} for r in rejects)
    line = len(json.dumps({"query": QUESTION})) + 1
    assert {(r["item"], r["reason"]) for r in rejects if not r["source"].endswith("descriptive.json")} == {
        ("file", "invalid_json"), ("file", "unsupported_file_type"), (f"offset={line}", "invalid_json")}
    assert (tmp_path / "tagged.rejects.jsonl").stat().st_size < 300 * len(rejects)  # no record copies
    assert '"rejected": 53' in result.stderr
