"""CSV files people open in a spreadsheet: every export writes its cells through here."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection:
# =HYPERLINK(...), +cmd|..., @SUM(...)); tab and carriage return start one in some programs.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe (shown as
    text, never run); numbers are numbers and stay as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(fieldnames: Sequence[str], rows: Iterable[Mapping[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(fieldnames))
    writer.writeheader()
    for row in rows:
        writer.writerow({key: safe_cell(value) for key, value in row.items()})
    return out.getvalue()
