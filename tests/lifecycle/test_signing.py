"""Canonical JSON of lifecycle documents: the fast encoder writes the bytes the reference
encoder writes, so every signature made before (or by another implementation) verifies."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.lifecycle.signing import canonical


def _reference(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_scalars = st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text()
_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), _values, max_size=8))
def test_canonical_is_the_reference_encoding(document: dict[str, Any]) -> None:
    try:
        expected = _reference(document)
    except UnicodeEncodeError:  # a lone surrogate: neither encoder can write it
        return
    assert canonical(document) == expected


def test_canonical_of_documents_as_written() -> None:
    document = {
        "format": "callvault-deletion-certificate/1",
        "notice": '营销外呼告知 v3\n\t\u2028\x7f\x00 "quoted" \\ / é',
        "deleted": {"call_metadata": 3, "subject_key": 1},
        "approvers": [],
        "approval_id": None,
        "flag": True,
        "big": 2**63 - 1,
    }
    assert canonical(document) == _reference(document)
    assert canonical({"huge": 2**70, "x": 1.5}) == _reference({"huge": 2**70, "x": 1.5})  # the json path
