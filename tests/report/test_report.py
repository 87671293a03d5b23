"""The job report, opened in real Chromium: every plot and sample image loads, and the
numbers on the page are the numbers in stats.json and the reject ledger."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import make_samples, write_jsonl

from vlforge.engines.runner import run_job
from vlforge.renderers.browser import DEFAULT_EXECUTABLE
from vlforge.report import write_report


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A text job with accepted lines and two kinds of reject (bad JSON, a missing field)."""
    root = tmp_path_factory.mktemp("report")
    rows = [{"text": f"Line {i}: the keeper climbed the stairs. 灯塔 {i}"} for i in range(30)]
    write_jsonl(root / "in" / "a.jsonl", rows + [{"body": "no text field"}])
    (root / "in" / "b.jsonl").write_text('{"text": "fine"}\n{broken\n')
    run_job("text", [str(root / "in")], str(root / "out"), workers=1, quiet=True)
    return root / "out"


# Read in a process of its own: the test process may already run Playwright's sync driver
# for the renderer tests, and a second one in the same thread refuses to start.
_READ_PAGE = """
import json, sys
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=sys.argv[2])
    page = browser.new_page()
    page.goto(sys.argv[1])
    page.wait_for_load_state("load")
    print(json.dumps({
        "numbers": {f: page.inner_text("#" + f) for f in ("read", "accepted", "rejected", "balanced")},
        "reject_rows": page.locator("tr.reject-row").all_inner_texts(),
        "images": page.evaluate("[...document.images].map(i => [i.className, i.complete, i.naturalWidth, i.alt])"),
    }))
    browser.close()
"""


@pytest.fixture(scope="module")
def page_of(job):
    """What Chromium shows of the report: its numbers, reject rows and images."""
    write_report(job)
    shown = subprocess.run([sys.executable, "-c", _READ_PAGE, (job / "report.html").as_uri(), DEFAULT_EXECUTABLE],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def test_the_page_numbers_are_stats_json(job, page_of):
    stats = json.loads((job / "stats.json").read_text())
    for field in ("read", "accepted", "rejected"):
        assert int(page_of["numbers"][field]) == stats[field]
    assert page_of["numbers"]["balanced"] == "yes"
    rows = page_of["reject_rows"]
    shown = {tuple(re.split(r"\t", row)[:3]) for row in rows}
    expected = {("read", reason, str(count)) for reason, count in stats["rejected_by_reason"].items()}
    assert shown == expected


def test_every_plot_and_sample_image_loads(page_of):
    images = page_of["images"]
    assert len(images) >= 2  # the text-length histogram and the script mix
    assert all(complete and width > 0 for _, complete, width, _ in images), images
    assert {"plot"} <= {name for name, _, _, _ in images}


def test_the_script_mix_counts_every_sample_of_a_small_job(job, page_of):
    accepted = json.loads((job / "stats.json").read_text())["accepted"]
    assert [alt for _, _, _, alt in page_of["images"]].count(f"Script of the text ({accepted} samples)") == 1


def test_two_reports_of_one_job_are_identical_but_for_timings(job):
    first = write_report(job).read_text()
    assets = {p.name: p.read_bytes() for p in (job / "report").iterdir()}
    second = write_report(job).read_text()
    assert first == second
    assert assets == {p.name: p.read_bytes() for p in (job / "report").iterdir()}


def test_a_directory_that_is_no_job_output_is_a_clear_error(tmp_path):
    from vlforge.errors import VlforgeError

    with pytest.raises(VlforgeError, match="no stats.json"):
        write_report(tmp_path)


def test_a_job_of_image_pairs_shows_its_images(tmp_path):
    from vlforge.shards import ShardWriter

    out = tmp_path / "out"
    with ShardWriter(out / "shards", "demo-000000", max_count=10) as writer:
        for sample in make_samples(5):
            writer.write(sample)
    (out / "stats.json").write_text(json.dumps({"corpus": "demo", "read": 5, "accepted": 5, "rejected": 0,
                                                "output": str(out), "engine": "local", "workers": 1,
                                                "elapsed_s": 0.1, "items_per_s": 50.0}))
    html = write_report(out, shown=5).read_text()
    assert html.count('class="sample"') == 4  # make_samples gives every 4th sample no image
    assert (out / "report" / "image_width.png").exists()
