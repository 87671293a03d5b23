"""The report's SVG charts: well-formed, bars as long as their counts, ticks on round numbers."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from vlforge.report import plots

SVG = "{http://www.w3.org/2000/svg}"


def _bars(svg: str) -> list[tuple[float, float, float, float, str]]:
    """(x, y, width, height, tooltip) of every bar of a chart, parsed as XML."""
    root = ET.fromstring(svg)
    return [(float(r.get("x")), float(r.get("y")), float(r.get("width")), float(r.get("height")),
             r.find(f"{SVG}title").text) for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]


def _tick_labels(svg: str) -> list[str]:
    return [t.text for t in ET.fromstring(svg).iter(f"{SVG}text") if t.get("class") == "tick"]


def _tooltip_count(tooltip: str) -> int:
    return int(tooltip.rsplit(": ", 1)[1].replace(",", ""))


# Image widths of a known job: 7 at 432, 3 at 500, 1 at 640.
WIDTHS = [432] * 7 + [500] * 3 + [640]


def test_a_histogram_is_svg_titled_with_its_count():
    svg = plots.histogram(WIDTHS, "Image width", "pixels")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("aria-label") == "Image width (n=11)"
    assert root.find(f"{SVG}title").text == "Image width (n=11)"


def test_histogram_bins_are_round_and_count_every_value():
    first, width, counts = plots.bins(WIDTHS, 30)
    assert (first, width) == (430, 10)  # 209 values wide: 10 a bin, edges on multiples of 10
    assert sum(counts) == len(WIDTHS) and (counts[0], counts[7], counts[21]) == (7, 3, 1)
    assert plots.bins([32] * 4, 30) == (32, 1, [4])  # one value: one bin of width 1


def test_histogram_bar_heights_are_proportional_to_their_counts():
    bars = _bars(plots.histogram(WIDTHS, "Image width", "pixels"))
    assert [tooltip for *_, tooltip in bars] == ["430 to 439: 7", "500 to 509: 3", "640 to 649: 1"]
    per_sample = [height / _tooltip_count(tooltip) for _, _, _, height, tooltip in bars]
    assert max(per_sample) - min(per_sample) <= 0.1  # the same per sample, within the SVG's 0.1 px rounding
    bottoms = {round(y + height, 1) for _, y, _, height, _ in bars}
    assert len(bottoms) == 1  # all standing on the x axis
    widths = {w for _, _, w, _, _ in bars}
    assert len(widths) == 1  # equal bins, equally wide


def test_histogram_ticks_for_a_known_data_set():
    labels = _tick_labels(plots.histogram(WIDTHS, "Image width", "pixels"))
    # x: 430..650 in steps of 50; y: counts up to 7, so the axis runs 0..8 in steps of 2
    assert labels == ["450", "500", "550", "600", "650", "0", "2", "4", "6", "8"]
    # 0..12,000 characters: 25 bins of 500 up to 12,500, too wide for 6 steps of 2,000
    long_texts = _tick_labels(plots.histogram([0, 12_000], "Text length", "characters"))
    assert long_texts[:3] == ["0", "5,000", "10,000"]


def test_tallest_histogram_bar_reaches_its_tick():
    svg = plots.histogram(WIDTHS, "Image width", "pixels")
    root = ET.fromstring(svg)
    ticks = {t.text: float(t.get("y")) for t in root.iter(f"{SVG}text") if t.get("class") == "tick" and t.get("text-anchor") == "end"}
    tallest = min(y for _, y, _, _, _ in _bars(svg))
    bottom = max(y + h for _, y, _, h, _ in _bars(svg))
    assert ticks["0"] == pytest.approx(bottom, abs=0.1)
    assert tallest == pytest.approx(ticks["6"] + (ticks["8"] - ticks["6"]) / 2, abs=0.2)  # 7 is half way


@pytest.mark.parametrize(("low", "high", "expected"), [
    (0, 8, [0, 2, 4, 6, 8]), (0, 1000, [0, 200, 400, 600, 800, 1000]), (430, 650, [450, 500, 550, 600, 650]),
    (32, 33, [32, 33]), (0, 7, [0, 2, 4, 6]),
])
def test_ticks_fall_on_steps_of_one_two_or_five(low, high, expected):
    assert plots.ticks(low, high) == expected


def test_the_bar_chart_draws_each_count_in_order():
    counts = {"Latin": 400, "Han (Chinese)": 80, "none": 20}
    svg = plots.bars(counts, "Script of the text (500 samples)")
    bars = _bars(svg)
    assert [tooltip for *_, tooltip in bars] == ["Latin: 400", "Han (Chinese): 80", "none: 20"]
    assert [w for _, _, w, _, _ in bars][0] / 400 == pytest.approx(bars[1][2] / 80, rel=0.01)
    assert bars[0][2] / 400 == pytest.approx(bars[2][2] / 20, rel=0.02)
    assert [y for _, y, _, _, _ in bars] == sorted(y for _, y, _, _, _ in bars)  # top to bottom
    texts = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
    assert [t for t in texts if t in counts] == list(counts)  # one label per row
    shown = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text") if t.get("class") == "count"]
    assert shown == ["400", "80", "20"]  # the counts written at the bars' ends
    assert _tick_labels(svg) == ["0", "100", "200", "300", "400"]


def test_labels_are_escaped_and_output_is_deterministic():
    counts = {"<b>&'\"": 3, "plain": 1}
    svg = plots.bars(counts, "a <title> & more")
    root = ET.fromstring(svg)  # would raise on unescaped markup
    assert root.get("aria-label") == "a <title> & more"
    assert "<b>&'\"" in [t.text for t in root.iter(f"{SVG}text")]
    assert plots.bars(counts, "a <title> & more") == svg
    assert not re.search(r"\d\.\d\d", svg)  # coordinates at one decimal at most
