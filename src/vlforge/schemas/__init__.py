"""Records and table schemas shared by every part of vlforge."""

from vlforge.schemas.sample import (
    IMAGE_EXTENSIONS,
    LEGACY_TEXT_MEMBERS,
    METADATA_MEMBER,
    SCHEMA_VERSION,
    TEXT_KINDS,
    TEXT_MEMBER,
    Provenance,
    Reject,
    Sample,
    checksum,
    file_checksum,
    make_key,
    source_digest,
    to_json,
)
from vlforge.schemas.tables import INDEX_SCHEMA, REJECT_SCHEMA

__all__ = [
    "IMAGE_EXTENSIONS",
    "INDEX_SCHEMA",
    "REJECT_SCHEMA",
    "SCHEMA_VERSION",
    "LEGACY_TEXT_MEMBERS",
    "METADATA_MEMBER",
    "TEXT_KINDS",
    "TEXT_MEMBER",
    "Provenance",
    "Reject",
    "Sample",
    "checksum",
    "to_json",
    "file_checksum",
    "make_key",
    "source_digest",
]
