"""CSV injection: what a spreadsheet could run as a formula leaves an export as text."""

from __future__ import annotations

import pytest

from callvault.exports.files import safe_cell

HOSTILE = [
    "=1+1",
    '=HYPERLINK("http://evil.example","click")',
    "@SUM(A1:A2)",
    "\t=cmd",
    "\r=cmd",
    "+cmd|' /C calc'!A0",
    "-cmd|' /C calc'!A0",
    "-1+cmd|' /C calc'!A0",  # a digit after the sign does not make it a number
    '+1+HYPERLINK("x")',
    "-2+3!A0",
    "+8613812345678|x",
]
BENIGN = ["+8613812345678", "+86 138 1234 5678", "-12.5", "-", "+", "(010) 1234-5678", "张*", "138****5678", ""]


@pytest.mark.parametrize("value", HOSTILE)
def test_formula_starts_become_text(value: str) -> None:
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", BENIGN)
def test_numbers_and_masks_are_unchanged(value: str) -> None:
    assert safe_cell(value) == value
