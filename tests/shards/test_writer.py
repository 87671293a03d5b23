import io
import json
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
from conftest import make_samples

from vlforge.shards import ShardWriter, iter_samples


def write(directory, samples, **limits):
    with ShardWriter(directory, "demo-000000", **limits) as writer:
        for sample in samples:
            writer.write(sample)
    return writer.shards


def test_same_samples_give_byte_identical_shards(tmp_path):
    samples = make_samples(10)
    first = write(tmp_path / "a", samples)
    second = write(tmp_path / "b", samples)
    assert [open(s.path, "rb").read() for s in first] == [open(s.path, "rb").read() for s in second]
    assert open(first[0].path.replace(".tar", ".parquet"), "rb").read() == \
        open(second[0].path.replace(".tar", ".parquet"), "rb").read()


def test_headers_carry_nothing_of_the_machine_and_members_are_sorted(tmp_path):
    shard = write(tmp_path, make_samples(4))[0]
    with tarfile.open(shard.path) as tar:
        members = tar.getmembers()
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {(0, 0, 0, "", "", 0o444)}
    names = [m.name for m in members]
    first_sample = [n for n in names if n.startswith(make_samples(1)[0].key + ".")]
    assert first_sample == sorted(first_sample) == [f"{make_samples(1)[0].key}.{e}" for e in ("json", "png", "txt")]


def test_rotation_by_count_and_by_bytes(tmp_path):
    samples = make_samples(10)
    by_count = write(tmp_path / "count", samples, max_count=4)
    assert [s.samples for s in by_count] == [4, 4, 2]
    assert [s.path.rsplit("/", 1)[1] for s in by_count] == [f"demo-000000-000{i}.tar" for i in range(3)]
    by_bytes = write(tmp_path / "bytes", samples, max_bytes=6000)
    assert sum(s.samples for s in by_bytes) == 10 and len(by_bytes) > 1
    assert all(s.bytes <= 6000 + 10240 for s in by_bytes)  # end-of-archive blocks come on top


def test_no_temporary_file_is_left_and_a_failed_write_leaves_no_shard(tmp_path):
    write(tmp_path / "ok", make_samples(3))
    assert not list((tmp_path / "ok").glob("*.tmp"))
    try:
        with ShardWriter(tmp_path / "failed", "demo-000001") as writer:
            writer.write(make_samples(1)[0])
            raise RuntimeError("task failed half-way")
    except RuntimeError:
        pass
    assert list((tmp_path / "failed").iterdir()) == []


def test_index_rows_point_at_each_sample_and_match_its_members(tmp_path):
    samples = make_samples(6)
    shard = write(tmp_path, samples)[0]
    index = pq.read_table(shard.path.replace(".tar", ".parquet")).to_pylist()
    assert [row["key"] for row in index] == [s.key for s in samples]
    raw = open(shard.path, "rb").read()
    for row, sample in zip(index, samples, strict=True):
        with tarfile.open(fileobj=io.BytesIO(raw[row["offset"]:]), mode="r:") as tar:
            assert tar.next().name.startswith(sample.key + ".")
        assert row["image_bytes"] == (len(sample.image) if sample.image else 0)
        assert row["text_chars"] == len(sample.text)
        assert json.loads(row["metadata"]) == sample.metadata


def test_reader_returns_what_was_written(tmp_path):
    samples = make_samples(5)
    shard = write(tmp_path, samples)[0]
    read = list(iter_samples(shard.path))
    assert [r["__key__"] for r in read] == [s.key for s in samples]
    for got, sample in zip(read, samples, strict=True):
        assert got["txt"].decode() == sample.text
        assert got.get("png") == sample.image
        assert json.loads(got["json"])["key"] == sample.key


def test_shard_bytes_equal_what_tarfile_writes_for_the_same_members(tmp_path):
    from vlforge.shards.writer import TAR_FORMAT, sample_members, tar_header

    samples = make_samples(5)
    samples[0].key = "demo_" + "k" * 120  # a long name needs GNU long-name blocks
    shard = write(tmp_path, samples)[0]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=TAR_FORMAT) as tar:
        for sample in samples:
            for name, payload in sample_members(sample):
                tar.addfile(tar_header(name, len(payload)), io.BytesIO(payload))
    assert open(shard.path, "rb").read() == buffer.getvalue()


def _members_read_through_index(shard_path: str) -> dict[str, dict[str, bytes]]:
    raw = open(shard_path, "rb").read()
    index = pq.read_table(shard_path.replace(".tar", ".parquet")).to_pylist()
    return {row["key"]: {m["ext"]: raw[m["offset"]:m["offset"] + m["size"]] for m in row["members"]}
            for row in index}


def test_index_members_give_each_members_bytes_without_reading_headers(tmp_path):
    samples = make_samples(6)
    samples[1].key = "demo_" + "k" * 120  # long-name blocks shift what follows
    shard = write(tmp_path, samples)[0]
    expected = {r["__key__"]: {ext: r[ext] for ext in r if not ext.startswith("__")}
                for r in iter_samples(shard.path)}
    assert _members_read_through_index(shard.path) == expected


def test_a_rewritten_shard_index_points_at_the_moved_members(tmp_path):
    from vlforge.shards.writer import rewrite_shard_without

    samples = make_samples(5)
    shard = write(tmp_path, samples)[0]
    rewrite_shard_without(Path(shard.path), {samples[0].key, samples[2].key})
    kept = _members_read_through_index(shard.path)
    assert sorted(kept) == sorted(s.key for s in samples if s.key not in (samples[0].key, samples[2].key))
    assert kept == {r["__key__"]: {ext: r[ext] for ext in r if not ext.startswith("__")}
                    for r in iter_samples(shard.path)}
