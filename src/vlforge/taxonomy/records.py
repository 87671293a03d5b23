"""Moved: SFT records are read and parsed by `vlforge.documents.sft`, and a record that cannot
be read raises `vlforge.errors.Rejected`.

These two names stay importable from here only because vlforge/trainer/data.py still imports
them from this module; once it imports `parse_record` from vlforge.documents.sft and catches
`Rejected`, delete this file.
"""

from vlforge.documents.sft import parse_record
from vlforge.errors import Rejected as RecordError

__all__ = ["RecordError", "parse_record"]
