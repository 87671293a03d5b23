"""Arrow schemas of the tables a job writes next to its shards: shard index and reject ledger."""

from __future__ import annotations

import pyarrow as pa

# One row per sample, one parquet file per shard (`SHARD.parquet` beside `SHARD.tar`).
# `offset` is where the sample's first tar header starts, for random access into the shard.
INDEX_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("shard", pa.string()),
        ("offset", pa.int64()),
        ("corpus", pa.string()),
        ("text_kind", pa.string()),
        ("text_chars", pa.int64()),
        ("text_bytes", pa.int64()),
        ("image_format", pa.string()),
        ("image_bytes", pa.int64()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("source", pa.string()),
        ("metadata", pa.string()),  # the sample's free-form metadata (scores, tags) as JSON
        # Each member's extension and where its bytes lie in the tar (data offset, size):
        # a reader seeks to them without scanning the tar's headers.
        ("members", pa.list_(pa.struct([("ext", pa.string()), ("offset", pa.int64()), ("size", pa.int64())]))),
    ]
)

# One row per rejected item. `task` is the index of the task that read the item.
REJECT_SCHEMA = pa.schema(
    [
        ("task", pa.int64()),
        ("source", pa.string()),
        ("item", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)
