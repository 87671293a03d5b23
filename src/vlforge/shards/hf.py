"""The columns Hugging Face `datasets` gives our shards, for loading them in any mix.

`load_dataset("webdataset", data_files=...)` infers its columns from the first five samples
of the first tar file and drops what later samples have beyond them (an image member of a
later shard, when the first shard is text-only). Passing these features makes every mix
load whole, in any order: text-only samples get None in the image column, never the
reverse.

    from vlforge.shards.hf import features
    load_dataset("webdataset", data_files=shards, features=features())
"""

from __future__ import annotations

from vlforge.schemas import IMAGE_EXTENSIONS, METADATA_MEMBER, TEXT_MEMBER, Provenance, Sample

# The KEY.json fields and their Arrow value types (every sample has every field).
_VALUE_TYPES = {int: "int64", str: "string"}


def metadata_fields() -> dict[str, str]:
    """KEY.json field -> value type, read off a record so the two can never disagree."""
    record = Sample("k", "c", "", "plain", Provenance("")).metadata_record()
    return {name: _VALUE_TYPES[type(value)] for name, value in record.items()}


def features(image_extensions: tuple[str, ...] = ("png", "jpg")):
    """`datasets.Features` of our shards: json, txt, the image members, __key__, __url__."""
    import datasets

    unknown = set(image_extensions) - set(IMAGE_EXTENSIONS.values())
    if unknown:
        raise ValueError(f"not an image member of ours: {sorted(unknown)}")
    columns = {METADATA_MEMBER: {n: datasets.Value(t) for n, t in metadata_fields().items()},
               TEXT_MEMBER: datasets.Value("string")}
    columns.update({ext: datasets.Image() for ext in image_extensions})
    columns.update({"__key__": datasets.Value("string"), "__url__": datasets.Value("string")})
    return datasets.Features(columns)
