"""How a leaked text is cut into the values the fingerprint was applied to: a unit read
across two cells is one no export made (noise that can hide the true export)."""

from __future__ import annotations

from callvault.exports.files import leaked_texts
from callvault.exports.watermark import observed_units


def _unit_keys(text: str) -> set[str]:
    texts, _ = leaked_texts(text.encode())
    return set(observed_units(texts))


def test_cells_joined_by_runs_of_spaces_are_read_one_by_one() -> None:
    # a CSV row whose tabs became runs of spaces and whose values lost their spaces, with
    # a comma inside one value (so a CSV reading finds three "cells" in the line)
    line = "徐**   ****,Fergusonfurt,VT44568   131*****1817      CRM-00000062  \r\n"
    keys = _unit_keys(line * 3)
    assert keys == {"徐\x1f", "131\x1f1817"}


def test_spaces_inside_one_value_keep_it_whole() -> None:
    # a tab-separated paste: the card number's single spaces are part of the value
    keys = _unit_keys("张*\t6222 **** **** 1234\n李**\t6217 **** **** 5678\n")
    assert keys == {"张\x1f", "李\x1f", "6222\x1f1234", "6217\x1f5678"}  # no "6222|" piece


def test_a_paste_whose_tabs_became_single_spaces_still_yields_the_values() -> None:
    keys = _unit_keys("徐** 131*****1817 CRM-1\n胡* 188****8058 CRM-2\n")
    assert {"徐\x1f", "131\x1f1817", "胡\x1f", "188\x1f8058"} <= keys
