"""`vlforge options CORPUS` and `vlforge report OUT`, as a user runs them."""

import pytest
from conftest import run_cli, write_jsonl

from vlforge.config import COMMON_DEFAULTS, option_rows, plain, resolve_options
from vlforge.contract import corpus_names, get_corpus


@pytest.mark.parametrize("corpus", corpus_names())
def test_every_option_of_every_corpus_says_what_it_does(corpus):
    defaults = get_corpus(corpus).defaults
    rows = option_rows({**COMMON_DEFAULTS, **defaults})
    undocumented = [name for name, _, help_text in rows if not help_text]
    assert not undocumented, f"{corpus}: options without a description: {undocumented}"
    # what `options` lists is exactly what a job accepts
    resolved = resolve_options(defaults)
    assert {name for name, _, _ in rows} == {name for name, _, _ in option_rows(resolved)}


def test_options_command_prints_names_defaults_and_meanings():
    result = run_cli("options", "text", check=True)
    lines = result.stdout.splitlines()
    assert "tasks.max_files = 64" in lines
    assert lines[lines.index("tasks.max_files = 64") + 1].strip() == "input files per task at most"
    assert run_cli("options", "nonsense").returncode == 2


def test_plain_turns_a_defaults_tree_into_values():
    from vlforge.config import opt

    assert plain({"a": opt(1, "one"), "b": {"c": opt([2], "two"), "d": 3}}) == {"a": 1, "b": {"c": [2], "d": 3}}


def test_every_job_writes_its_report_and_the_command_rewrites_it(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{"text": f"line {i}"} for i in range(5)])
    out = tmp_path / "out"
    result = run_cli("run", "text", str(tmp_path / "in.jsonl"), "--output", str(out), check=True)
    assert (out / "report.html").exists() and f"{out / 'report.html'}" in result.stderr
    (out / "report.html").unlink()
    assert run_cli("report", str(out), check=True).stdout.strip() == str(out / "report.html")
    assert (out / "report.html").exists()
    assert run_cli("report", str(tmp_path)).returncode == 2  # not a job's output: one line, exit 2


def test_set_values_that_yaml_would_read_as_nothing_stay_text():
    """`--set notebooks.images.background=#ffffff`: YAML reads the value as a comment (None);
    the user meant the colour."""
    from vlforge.config import parse_set

    assert parse_set("notebooks.images.background=#ffffff") == {"notebooks": {"images": {"background": "#ffffff"}}}
    assert parse_set("a.b=null") == {"a": {"b": None}}
    assert parse_set("a.b=3") == {"a": {"b": 3}}
