import json

import pytest

from vlforge.schemas import SCHEMA_VERSION, Provenance, Reject, Sample, make_key


def test_key_depends_only_on_corpus_source_and_position():
    first = make_key("text", "/data/a.jsonl", 120)
    assert first == make_key("text", "/data/a.jsonl", 120)
    assert first != make_key("text", "/data/a.jsonl", 121)
    assert first != make_key("text", "/data/b.jsonl", 120)
    assert first.startswith("text_") and first.endswith("_000120")


def test_key_never_holds_a_dot_or_slash_because_webdataset_splits_on_them():
    key = make_key("notebooks", "repo/dir/some.notebook.ipynb", 3, "o01")
    assert "." not in key and "/" not in key
    with pytest.raises(ValueError, match="may hold only"):
        make_key("text", "x", "1.5")


def test_metadata_record_is_versioned_and_json_serialisable():
    sample = Sample("text_abc_000001", "text", "hello", "plain",
                    Provenance("/d/a.txt", "sha256:00", "MIT", {"vlforge": "0.1.0"}),
                    image=b"\x89PNG", image_format="png", image_size=(4, 3), metadata={"score": 0.5})
    record = json.loads(json.dumps(sample.metadata_record()))
    assert record["schema_version"] == SCHEMA_VERSION
    assert (record["image_format"], record["image_width"], record["image_height"], record["image_bytes"]) == \
        ("png", 4, 3, 4)
    assert record["licence"] == "MIT" and record["source"] == "/d/a.txt"
    assert json.loads(record["metadata"]) == {"score": 0.5}
    assert json.loads(record["tools"]) == {"vlforge": "0.1.0"}
    assert sample.image_extension == "png"


def test_every_metadata_record_has_the_same_fields_and_types():
    """Readers that infer one schema from the first samples (Hugging Face `datasets`) need
    every sample of every corpus to agree: no nulls, no field that changes type."""
    with_image = Sample("a", "notebooks", "x = 1", "code", Provenance("/n.ipynb", tools={"nbformat": "5"}),
                        image=b"png", image_format="png", image_size=(2, 2), metadata={"cell": 1})
    text_only = Sample("b", "text", "hi", "plain", Provenance("/t.txt"))
    records = [with_image.metadata_record(), text_only.metadata_record()]
    assert records[0].keys() == records[1].keys()
    for name in records[0]:
        assert type(records[0][name]) is type(records[1][name]), name
        assert records[0][name] is not None


def test_sample_refuses_inconsistent_fields():
    prov = Provenance("s")
    with pytest.raises(ValueError, match="text_kind"):
        Sample("k", "text", "t", "poem", prov)
    with pytest.raises(ValueError, match="go together"):
        Sample("k", "text", "t", "plain", prov, image=b"x")
    with pytest.raises(ValueError, match="snake_case"):
        Reject("s", "1", "read", "Bad Reason")
