"""Checks of the 18-character resident identity number (GB 11643-1999)."""

from __future__ import annotations

import re
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"  # ISO 7064 MOD 11-2: index = weighted sum mod 11
_PATTERN = re.compile(r"^\d{17}[\dX]$")


class NationalIdError(ValueError):
    pass


def check_character(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def normalize(value: str) -> str:
    return value.strip().upper()


def validate(value: str) -> str:
    """The normalised number, or NationalIdError naming what is wrong with it."""
    nid = normalize(value)
    if not _PATTERN.match(nid):
        raise NationalIdError(
            "a resident ID number has 18 characters: 17 digits and a final digit or X"
        )
    birth_date(nid)
    expected = check_character(nid[:17])
    if nid[17] != expected:
        raise NationalIdError(
            f"the check character is wrong (expected {expected}); the number was mistyped"
        )
    return nid


def birth_date(nid: str) -> date:
    try:
        born = date(int(nid[6:10]), int(nid[10:12]), int(nid[12:14]))
    except ValueError as exc:
        raise NationalIdError(
            f"characters 7-14 must be a real date of birth (YYYYMMDD), got {nid[6:14]}"
        ) from exc
    if born.year < 1880 or born > date.today():
        raise NationalIdError(f"the date of birth {born.isoformat()} in the number is impossible")
    return born


def sex(nid: str) -> str:
    """'M' or 'F' from the 17th character (odd: male)."""
    return "M" if int(nid[16]) % 2 else "F"


def make(region_code: str, born: date, sequence: int) -> str:
    """A valid number for demo data and tests; sequence 0-999 (odd last digit: male)."""
    first17 = f"{region_code}{born:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)
