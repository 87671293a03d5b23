"""The job report, opened in real Chromium: every plot draws and every sample image loads,
and the numbers on the page are the numbers in stats.json and the reject ledger."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

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
        "plots": page.evaluate("[...document.querySelectorAll('svg.plot')].map(s => [s.getAttribute('aria-label'),"
                               " s.getBoundingClientRect().width, s.querySelectorAll('rect.bar').length])"),
    }))
    browser.close()
"""


@pytest.fixture(scope="module")
def page_of(job):
    """What Chromium shows of the report: its numbers, reject rows, images and plots."""
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


def test_every_plot_draws_with_bars(job, page_of):
    accepted = json.loads((job / "stats.json").read_text())["accepted"]
    plots = page_of["plots"]
    # a text job: the text-length histogram and the script mix (no image, so no image sizes)
    assert [label for label, _, _ in plots] == [f"Text length (n={accepted})", f"Script of the text ({accepted} samples)"]
    assert all(width > 0 and bars >= 1 for _, width, bars in plots), plots
    assert page_of["images"] == []  # the plots are inside the page: nothing to load


def test_a_job_of_image_pairs_shows_loaded_images(tmp_path):
    out = _image_job(tmp_path)
    write_report(out, shown=5)
    shown = subprocess.run([sys.executable, "-c", _READ_PAGE, (out / "report.html").as_uri(), DEFAULT_EXECUTABLE],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    images = json.loads(shown.stdout)["images"]
    assert len(images) == 4  # make_samples gives every 4th sample no image
    assert all(name == "sample" and complete and width == 32 for name, complete, width, _ in images), images


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


def _image_job(tmp_path) -> Path:
    """The output of a 5-sample demo job: 4 of them with a small 32x24 PNG."""
    from vlforge.shards import ShardWriter

    out = tmp_path / "out"
    with ShardWriter(out / "shards", "demo-000000", max_count=10) as writer:
        for sample in make_samples(5):
            writer.write(sample)
    (out / "stats.json").write_text(json.dumps({"corpus": "demo", "read": 5, "accepted": 5, "rejected": 0,
                                                "output": str(out), "engine": "local", "workers": 1,
                                                "elapsed_s": 0.1, "items_per_s": 50.0}))
    return out


def test_a_small_image_is_shown_as_the_shard_stores_it(tmp_path):
    out = _image_job(tmp_path)
    html = write_report(out, shown=5).read_text()
    stored = {s.key: s.image for s in make_samples(5) if s.image is not None}
    assert sorted(p.name for p in (out / "report").iterdir()) == sorted(f"{key}.png" for key in stored)
    for key, image in stored.items():
        assert (out / "report" / f"{key}.png").read_bytes() == image
        assert f'src="report/{key}.png" width="32" height="24"' in html
    assert 'aria-label="Image width (n=4)"' in html and 'aria-label="Image height (n=4)"' in html
    assert write_report(out, shown=5).read_text() == html
