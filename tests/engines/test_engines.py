"""The same job on every engine: identical files, identical totals, retries, resume.

"Identical files" is every file of the output directory (job_files), byte for byte, less
the stats fields that say how long and on what a job ran.

One local Ray cluster serves every Ray test in this process (ray.init costs ~20 s).
"""

import pytest
from conftest import load_stats, output_digests, write_jsonl
from job_files import job_files

from vlforge.contract import register_corpus_module
from vlforge.engines.runner import run_job

ENGINES = ["local", "ray", "beam"]
TOTALS = ("read", "accepted", "rejected", "rejected_by_reason", "shards", "bytes", "tasks")


@pytest.fixture(scope="module")
def text_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine-inputs")
    for f in range(5):
        write_jsonl(root / f"f{f}.jsonl", [{"text": f"file {f} record {i}"} for i in range(7)] + ["{bad", {"text": ""}])
    (root / "notes.md").write_text("# notes\n")
    return root


@pytest.fixture(scope="module")
def local_reference(text_inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("local-reference")
    stats = run_job("text", [str(text_inputs)], str(out), "local", 2, quiet=True,
                    assignments=("tasks.max_files=2", "shards.max_count=4"))
    return output_digests(out), stats, job_files(out)


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_writes_byte_identical_outputs_and_totals(engine, text_inputs, local_reference, tmp_path):
    digests, reference, files = local_reference
    stats = run_job("text", [str(text_inputs)], str(tmp_path), engine, 2, quiet=True,
                    assignments=("tasks.max_files=2", "shards.max_count=4"))
    assert output_digests(tmp_path) == digests
    assert job_files(tmp_path) == files  # local: a rerun; ray, beam: the same files as local
    assert sum(name.endswith(".tar") for name in files) == 10 and "stats.json" in files
    assert {k: stats[k] for k in TOTALS} == {k: reference[k] for k in TOTALS}
    assert stats["read"] == 46 and stats["rejected_by_reason"] == {"empty_text": 5, "invalid_json": 5}
    assert stats["engine"] == engine


@pytest.mark.parametrize("engine", ENGINES)
def test_a_task_that_raises_once_is_retried_and_the_job_completes(engine, tmp_path):
    register_corpus_module("flaky", "flaky_corpus")
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (inputs / name).write_text("one\ntwo\n")
    stats = run_job("flaky", [str(inputs)], str(tmp_path / "out"), engine, 2, quiet=True,
                    assignments=("tasks.max_files=1",))
    assert stats["tasks_failed"] == 0 and stats["accepted"] == 6
    assert len(list((tmp_path / "out/_tasks").glob("flaky-*.json"))) == 3


def test_a_rerun_gives_tasks_that_failed_their_whole_retry_budget_again(tmp_path):
    """The failed attempts of one run are not charged to the next: exit 3 says "re-run the
    same command to retry them", and the re-run does."""
    register_corpus_module("flaky", "flaky_corpus")
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.txt", "b.txt"):
        (inputs / name).write_text("one\ntwo\n")
    options = ("tasks.max_files=1", "engine.retries=0")
    first = run_job("flaky", [str(inputs)], str(tmp_path / "out"), "local", 1, quiet=True, assignments=options)
    assert first["tasks_failed"] == 2 and list((tmp_path / "out/_tasks").glob("*.progress"))
    again = run_job("flaky", [str(inputs)], str(tmp_path / "out"), "local", 1, quiet=True, assignments=options)
    assert again["tasks_failed"] == 0 and again["accepted"] == 4


@pytest.mark.parametrize("engine", ["ray", "beam"])
def test_rerun_after_an_interruption_runs_only_the_missing_tasks(engine, text_inputs, local_reference, tmp_path):
    digests, _, _ = local_reference
    args = ("tasks.max_files=2", "shards.max_count=4")
    run_job("text", [str(text_inputs)], str(tmp_path), "local", 2, quiet=True, assignments=args)
    (tmp_path / "_tasks/text-000001.json").unlink()  # as if killed before task 1 committed
    for shard in (tmp_path / "shards").glob("text-000001-*"):
        shard.unlink()
    stats = run_job("text", [str(text_inputs)], str(tmp_path), engine, 2, quiet=True, assignments=args)
    assert stats["tasks_skipped"] == stats["tasks"] - 1
    assert output_digests(tmp_path) == digests
    assert load_stats(tmp_path)["accepted"] == 36  # 5 files x 7 records + notes.md


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_a_worker_that_dies_mid_task_is_replaced_and_the_output_is_exactly_once(engine, tmp_path):
    register_corpus_module("dying", "dying_corpus")
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (inputs / name).write_text(f"{name} one\n{name} two\n")
    stats = run_job("dying", [str(inputs)], str(tmp_path / "out"), engine, 2, quiet=True,
                    assignments=("tasks.max_files=1", "engine.retries=2"))
    assert stats["tasks_failed"] == 0 and stats["accepted"] == 6
    assert len(list((tmp_path / "out").glob("died-*"))) == 3  # every task's worker did die once
    from vlforge.shards import find_shards, iter_samples
    keys = [s["__key__"] for shard in find_shards(tmp_path / "out/shards") for s in iter_samples(shard)]
    assert len(keys) == len(set(keys)) == 6


@pytest.fixture(scope="module")
def notebooks_local(tmp_path_factory):
    from conftest import REPO

    out = tmp_path_factory.mktemp("notebooks-local")
    stats = run_job("notebooks", [str(REPO / "examples/notebooks")], str(out), "local", 2, quiet=True,
                    assignments=("tasks.max_files=1",))
    return job_files(out), stats


@pytest.mark.parametrize("engine", ["ray", "beam"])
def test_browser_stages_give_the_same_pairs_on_every_engine(engine, notebooks_local, tmp_path):
    """Ray runs this corpus on actors that keep their Chromium; Beam in its workers."""
    from conftest import REPO

    files, reference = notebooks_local
    stats = run_job("notebooks", [str(REPO / "examples/notebooks")], str(tmp_path), engine, 2, quiet=True,
                    assignments=("tasks.max_files=1",))
    assert job_files(tmp_path) == files
    assert {k: stats[k] for k in TOTALS} == {k: reference[k] for k in TOTALS}
    assert stats["accepted"] > 0 and reference["tasks"] == 3


def test_model_corpora_ask_ray_for_the_gpus_the_option_names():
    from vlforge.config import resolve_options
    from vlforge.contract import get_corpus
    from vlforge.engines.ray_engine import actor_resources

    pdf = get_corpus("pdf")
    on_gpu = resolve_options(pdf.defaults, None, ("engine.actor_gpus=1",))
    assert actor_resources(pdf.actor_resources, on_gpu) == {"num_gpus": 1.0}
    assert actor_resources(pdf.actor_resources, resolve_options(pdf.defaults, None, ())) == {}
    assert actor_resources(get_corpus("text").actor_resources, on_gpu) is None  # plain tasks


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_a_raise_and_a_dead_worker_come_out_of_one_retry_budget(engine, tmp_path):
    register_corpus_module("mixed", "mixed_corpus")
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.txt").write_text("one\ntwo\n")
    spent = run_job("mixed", [str(inputs)], str(tmp_path / "spent"), engine, 1, quiet=True,
                    assignments=("engine.retries=1",))
    assert spent["tasks_failed"] == 1  # attempt 1 raised, attempt 2 died: nothing left
    assert (tmp_path / "spent/attempts-0").read_text() == "xx"
    enough = run_job("mixed", [str(inputs)], str(tmp_path / "enough"), engine, 1, quiet=True,
                     assignments=("engine.retries=2",))
    assert enough["tasks_failed"] == 0 and enough["accepted"] == 2
    assert not list((tmp_path / "enough/_tasks").glob("*.progress"))


@pytest.mark.parametrize("engine", ENGINES)
def test_the_monitor_sees_progress_of_tasks_in_flight_on_every_engine(engine, tmp_path, monkeypatch):
    from vlforge.engines import runner
    from vlforge.engines.executor import PROGRESS_EVERY

    register_corpus_module("waiting", "waiting_corpus")
    out = tmp_path / "out"
    seen = []

    class Watching(runner.Monitor):
        def progress(self, task, attempt, accepted, rejected):
            seen.append((task, accepted, self.done_tasks))
            if accepted >= PROGRESS_EVERY:  # the count the stage stops at: let the task end
                (out / "release").touch()
            super().progress(task, attempt, accepted, rejected)

    monkeypatch.setattr(runner, "Monitor", Watching)
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.txt").write_text("".join(f"line {i}\n" for i in range(PROGRESS_EVERY + 5)))
    stats = run_job("waiting", [str(inputs)], str(out), engine, 1, quiet=True)
    assert stats["accepted"] == PROGRESS_EVERY + 5
    assert (0, PROGRESS_EVERY, 0) in seen  # counts of the task in flight, before it ended
