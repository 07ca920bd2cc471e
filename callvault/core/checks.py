"""Checksums shared by field validation and the PII engine: pure and fast."""

from __future__ import annotations

from datetime import date

__all__ = ["PROVINCES", "id_number_valid", "luhn_valid"]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
PROVINCES = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
        "83",
        "91",
    ]
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position & 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def id_number_valid(number: str, *, today: date | None = None) -> bool:
    """18-character 身份证 number: region, plausible birth date and MOD 11-2 check."""
    if len(number) != 18 or not number[:17].isdigit() or number[:2] not in PROVINCES:
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if born.year < 1900 or born > (today or date.today()):
        return False
    total = sum((ord(d) - 48) * w for d, w in zip(number[:17], _WEIGHTS, strict=True))
    return _CHECK[total % 11] == number[17].upper()
