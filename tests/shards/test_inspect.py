import io
import json
import tarfile

from conftest import make_samples, run_cli
from PIL import Image

from vlforge.schemas import SCHEMA_VERSION
from vlforge.shards import ShardWriter
from vlforge.shards.inspect import summarize
from vlforge.shards.writer import tar_header


def write_shards(directory, samples, max_count=4):
    with ShardWriter(directory, "demo-000000", max_count=max_count) as writer:
        for sample in samples:
            writer.write(sample)
    return writer.shards


def test_summary_counts_samples_bytes_and_distributions(tmp_path):
    samples = make_samples(10)
    shards = write_shards(tmp_path, samples)
    summary = summarize(str(tmp_path))
    assert summary["shards"] == 3 and summary["samples"] == 10
    assert summary["per_corpus"] == {"demo": 10}
    assert summary["bytes"] == sum(s.bytes for s in shards)
    assert summary["text_chars"]["min"] == len(samples[0].text)
    assert summary["text_chars"]["max"] == len(samples[-1].text)
    with_image = [s for s in samples if s.image]
    assert summary["image_width"] == {"count": len(with_image), "min": 32, "p50": 32, "p90": 32, "max": 32, "mean": 32}
    printed = run_cli("inspect", str(tmp_path), check=True).stdout
    assert "samples  10" in printed and "demo         10" in printed


def test_show_prints_metadata_and_text_and_writes_the_image(tmp_path):
    samples = make_samples(3)
    write_shards(tmp_path / "shards", samples)
    result = run_cli("inspect", str(tmp_path / "shards"), "--show", samples[1].key,
                     "--image-dir", str(tmp_path / "img"), check=True)
    assert samples[1].text in result.stdout and '"licence": "CC-BY-4.0"' in result.stdout
    assert (tmp_path / "img" / f"{samples[1].key}.png").read_bytes() == samples[1].image
    missing = run_cli("inspect", str(tmp_path / "shards"), "--show", "no_such_key")
    assert missing.returncode == 2 and "no sample with key 'no_such_key'" in missing.stderr


def _append_raw_sample(shard_path, key, members):
    """Rewrites a shard with one more sample whose members we choose (bad on purpose)."""
    with tarfile.open(shard_path) as tar:
        existing = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(shard_path, "w") as tar:
        for member, payload in existing:
            tar.addfile(member, io.BytesIO(payload))
        for ext, payload in members.items():
            tar.addfile(tar_header(f"{key}.{ext}", len(payload)), io.BytesIO(payload))


def test_lint_decodes_every_member_and_lists_the_bad_ones(tmp_path):
    shards = write_shards(tmp_path, make_samples(3), max_count=10)
    clean = run_cli("inspect", str(tmp_path), "--lint")
    assert clean.returncode == 0 and "3 samples checked, 0 problems" in clean.stdout
    meta = json.dumps({"schema_version": SCHEMA_VERSION, "key": "bad_1"}).encode()
    _append_raw_sample(shards[0].path, "bad_1", {"json": meta, "png": b"\x89PNG\r\n\x1a\nnot really", "txt": b"x"})
    _append_raw_sample(shards[0].path, "bad_2", {"json": b"{oops", "txt": b"\xff\xfe"})
    result = run_cli("inspect", str(tmp_path), "--lint")
    assert result.returncode == 1
    assert "bad_1.png: does not decode" in result.stdout
    assert "bad_2.json: does not decode" in result.stdout and "bad_2.txt: does not decode" in result.stdout
    assert "5 samples checked, 3 problems" in result.stdout


def test_grid_draws_one_tile_per_sample(tmp_path):
    write_shards(tmp_path / "shards", make_samples(6))
    result = run_cli("inspect", str(tmp_path / "shards"), "--grid", str(tmp_path / "sheet.png"), "-n", "5", check=True)
    assert "5 samples drawn" in result.stdout
    with Image.open(tmp_path / "sheet.png") as sheet:
        assert sheet.width == 4 * 256 and sheet.height > 2 * 256
        darkest, lightest = sheet.convert("L").getextrema()
        assert darkest < 60 and lightest > 200  # text and images drawn, not a blank canvas


def test_every_command_has_help():
    for args in (["--help"], ["run", "--help"], ["inspect", "--help"]):
        result = run_cli(*args)
        assert result.returncode == 0 and "usage: vlforge" in result.stdout
