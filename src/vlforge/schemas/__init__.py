"""Records and table schemas shared by every part of vlforge."""

from vlforge.schemas.sample import (
    IMAGE_EXTENSIONS,
    SCHEMA_VERSION,
    TEXT_EXTENSIONS,
    Provenance,
    Reject,
    Sample,
    checksum,
    file_checksum,
    make_key,
    source_digest,
)
from vlforge.schemas.tables import INDEX_SCHEMA, REJECT_SCHEMA

__all__ = [
    "IMAGE_EXTENSIONS",
    "INDEX_SCHEMA",
    "REJECT_SCHEMA",
    "SCHEMA_VERSION",
    "TEXT_EXTENSIONS",
    "Provenance",
    "Reject",
    "Sample",
    "checksum",
    "file_checksum",
    "make_key",
    "source_digest",
]
