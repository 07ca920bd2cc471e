"""Blind-index digests are HMAC-SHA256's, bit for bit, on the compiled path (OpenSSL, when
built) and on the pure one (copied hashlib states)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.crypto import BlindIndexer, blind_index
from callvault.crypto.blind_index import (
    FULL_DIGEST_BYTES,
    SUFFIX_DIGEST_BYTES,
    _hkdf_sha256,
    compiled_hmac_sha256,
    pure_hmac_sha256,
)

MACS = [pure_hmac_sha256] + ([compiled_hmac_sha256()] if compiled_hmac_sha256() is not None else [])


@pytest.fixture(params=MACS, ids=lambda mac: "pure" if mac is pure_hmac_sha256 else "compiled")
def each_mac(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the test with the indexer on each path (both are ours: neither is a stand-in)."""
    monkeypatch.setattr(blind_index, "_hmac_sha256", request.param)


def _reference(root: bytes, field: str, value: str, size: int) -> bytes:
    key = _hkdf_sha256(root, info=b"callvault/blind-index/v1|" + field.encode(), length=32)
    return hmac.digest(key, value.encode(), hashlib.sha256)[:size]


@pytest.mark.usefixtures("each_mac")
@settings(max_examples=300, deadline=None)
@given(
    root=st.binary(min_size=32, max_size=32),
    fields=st.lists(st.sampled_from(["customer.mobile", "customer.email", "x", "字段"]), min_size=1, max_size=6),
    values=st.lists(st.text(max_size=200), min_size=1, max_size=6),
    size=st.sampled_from([FULL_DIGEST_BYTES, SUFFIX_DIGEST_BYTES, 32]),
)
def test_digest_is_hmac_sha256_of_the_field_key(root: bytes, fields: list[str], values: list[str], size: int) -> None:
    indexer = BlindIndexer(root)
    # repeated fields reuse the cached states: a copy must never carry one value into the next
    for field in fields:
        for value in values:
            assert indexer.digest(field, value, size=size) == _reference(root, field, value, size)


@pytest.mark.usefixtures("each_mac")
def test_digest_of_long_values_and_known_root() -> None:
    root = bytes(range(32))
    indexer = BlindIndexer(root)
    for value in ("", "5678", "+8613812345678", "z" * 63, "z" * 64, "z" * 65, "长" * 1000):
        assert indexer.digest("customer.mobile", value) == _reference(root, "customer.mobile", value, 16)


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=1, max_size=64), message=st.binary(max_size=300))
def test_each_mac_is_hmac_sha256(key: bytes, message: bytes) -> None:
    expected = hmac.digest(key, message, hashlib.sha256)
    for mac in MACS:
        digest = mac(key)
        assert digest(message) == expected
        assert digest(message) == expected  # the kept key state is not consumed by a message


def test_compiled_mac_refuses_no_key() -> None:
    if len(MACS) == 1:
        pytest.skip("callvault.crypto._openssl is not built")
    with pytest.raises(ValueError):
        MACS[1](b"")
