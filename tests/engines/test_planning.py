import random

import pytest

from vlforge.contract import Part
from vlforge.engines.planning import plan_tasks
from vlforge.errors import VlforgeError
from vlforge.inputs import expand_inputs
from vlforge.pipelines.text import iter_lines

OPTIONS = {"tasks": {"target_bytes": 100, "max_files": 2}}


def test_same_inputs_give_the_same_tasks_whatever_the_argument_order(tmp_path):
    for name in ["b.txt", "a.txt", "c/d.txt", "c/e.jsonl", ".hidden/x.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x" * 10)
    one = plan_tasks(expand_inputs([str(tmp_path / "c"), str(tmp_path)]), (".jsonl",), OPTIONS)
    two = plan_tasks(expand_inputs([str(tmp_path), str(tmp_path / "c" / "d.txt")]), (".jsonl",), OPTIONS)
    assert one == two
    paths = [p.path.rsplit("/", 2)[-2:] for t in one for p in t.parts]
    assert [tmp_path.name, "a.txt"] in paths and not any(".hidden" in p for p in paths)
    assert [len(t.parts) for t in one] == [2, 2]


def test_missing_input_and_empty_directory_are_clear_errors(tmp_path):
    with pytest.raises(VlforgeError, match="does not exist"):
        expand_inputs([str(tmp_path / "nope")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(VlforgeError, match="no input files found"):
        expand_inputs([str(tmp_path / "empty")])


def test_globs_expand_to_sorted_files(tmp_path):
    for name in ["b.jsonl", "a.jsonl", "c.txt"]:
        (tmp_path / name).write_text("{}\n")
    files = expand_inputs([str(tmp_path / "*.jsonl")])
    assert [f.path.rsplit("/", 1)[1] for f in files] == ["a.jsonl", "b.jsonl"]


def test_byte_ranges_of_a_large_file_cover_every_line_exactly_once(tmp_path):
    rng = random.Random(7)
    lines = [("y" * rng.randint(0, 40)) + "\n" for _ in range(300)]
    path = tmp_path / "big.jsonl"
    path.write_text("".join(lines))
    for target in (1, 7, 64, 1000, 10**6):
        tasks = plan_tasks(expand_inputs([str(path)]), (".jsonl",), {"tasks": {"target_bytes": target, "max_files": 3}})
        got = [line.decode() for t in tasks for part in t.parts for _, line in iter_lines(part)]
        assert got == lines, f"target_bytes={target}"


def test_part_label_names_the_range():
    assert Part("/a.jsonl", 10, 20).label == "/a.jsonl@10-20"
    assert Part("/a.jsonl").label == "/a.jsonl"
