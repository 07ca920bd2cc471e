"""The compiled AES-256-GCM (callvault.crypto._openssl) and the pure-Python path agree.

Both paths seal the published GCM vector; whatever one seals the other opens, field by
field, with the same bytes for the same nonces; both refuse the same tampering (any
flipped byte, a cut, another header, prefix or record, a plaintext that is not UTF-8)
with ``DecryptionFailed``, and the same malformed calls with ``ValueError``. Without
the extension only the pure path runs (the agreement tests are skipped).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.core.errors import DecryptionFailed
from callvault.crypto.gcm import Gcm, PyGcm, compiled

COMPILED = compiled()
IMPLEMENTATIONS: list[Any] = [PyGcm] + ([COMPILED] if COMPILED is not None else [])
compiled_only = pytest.mark.skipif(COMPILED is None, reason="callvault.crypto._openssl is not built")

HEADER = b"\x01" + bytes(range(16))
RECORD = b"\x00\x24" + b"r" * 36 + HEADER
PREFIXES = [
    b"callvault/field/v1\x00\x01t\x00\x08customer\x00\x06mobile",
    b"callvault/field/v1\x00\x01t\x00\x08customer\x00\x04name",
]

values_strategy = st.lists(st.text(max_size=700), min_size=1, max_size=8)


def _prefixes(count: int) -> list[bytes]:
    return [b"prefix-" + bytes([index]) * index for index in range(count)]


def test_compiled_is_what_the_package_uses_when_built() -> None:
    assert Gcm is (COMPILED or PyGcm)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_nist_vector(implementation: Callable[[bytes], PyGcm]) -> None:
    """McGrew & Viega GCM spec, test case 16 (AES-256, 60-byte plaintext, 20-byte AAD)."""
    key = bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
    nonce = bytes.fromhex("cafebabefacedbaddecaf888")
    plaintext = bytes.fromhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
    )
    aad = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    expected = bytes.fromhex(
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
        "76fc6ece0f4e1768cddf8853bb2d551b"
    )
    cipher = implementation(key)
    assert cipher.encrypt(nonce, plaintext, aad) == expected
    assert cipher.decrypt(nonce, expected, aad) == plaintext


@compiled_only
@settings(max_examples=150, deadline=None)
@given(key=st.binary(min_size=32, max_size=32), values=values_strategy, data=st.data())
def test_each_opens_what_the_other_seals(key: bytes, values: list[str], data: st.DataObject) -> None:
    prefixes = _prefixes(len(values))
    nonces = data.draw(st.binary(min_size=12 * len(values), max_size=12 * len(values)))
    record = data.draw(st.binary(max_size=80))
    pure, fast = PyGcm(key), COMPILED(key)
    sealed = fast.seal_fields(HEADER, record, prefixes, values, nonces)
    assert sealed == pure.seal_fields(HEADER, record, prefixes, values, nonces)
    assert pure.open_fields(HEADER, record, prefixes, sealed) == values
    assert fast.open_fields(HEADER, record, prefixes, sealed) == values
    # each field is plain AES-GCM with the prefix then the record as associated data
    for position, (prefix, value) in enumerate(zip(prefixes, values, strict=True)):
        nonce = nonces[12 * position : 12 * position + 12]
        assert sealed[position] == HEADER + nonce + AESGCM(key).encrypt(nonce, value.encode(), prefix + record)
        assert fast.decrypt(nonce, sealed[position][len(HEADER) + 12 :], prefix + record) == value.encode()


@compiled_only
@settings(max_examples=100, deadline=None)
@given(
    key=st.binary(min_size=32, max_size=32), nonce=st.binary(min_size=12, max_size=12), plain=st.binary(max_size=3000)
)
def test_encrypt_agrees_with_cryptography(key: bytes, nonce: bytes, plain: bytes) -> None:
    aad = plain[:7]
    assert COMPILED(key).encrypt(nonce, plain, aad) == AESGCM(key).encrypt(nonce, plain, aad)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@settings(max_examples=60, deadline=None)
@given(values=values_strategy, data=st.data())
def test_any_flipped_byte_fails(
    implementation: Callable[[bytes], PyGcm], values: list[str], data: st.DataObject
) -> None:
    cipher = implementation(bytes(range(32)))
    prefixes = _prefixes(len(values))
    sealed = cipher.seal_fields(HEADER, RECORD, prefixes, values, os.urandom(12 * len(values)))
    which = data.draw(st.integers(0, len(values) - 1))
    position = data.draw(st.integers(0, len(sealed[which]) - 1))
    bit = data.draw(st.integers(0, 7))
    tampered = bytearray(sealed[which])
    tampered[position] ^= 1 << bit
    sealed[which] = bytes(tampered)
    with pytest.raises(DecryptionFailed):
        cipher.open_fields(HEADER, RECORD, prefixes, sealed)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_bound_to_header_prefix_record_key_and_length(implementation: Callable[[bytes], PyGcm]) -> None:
    key = os.urandom(32)
    cipher = implementation(key)
    values = ["13812345678", "张伟"]
    sealed = cipher.seal_fields(HEADER, RECORD, PREFIXES, values, os.urandom(24))
    assert cipher.open_fields(HEADER, RECORD, PREFIXES, sealed) == values
    other_header = b"\x01" + bytes(16)
    refused = [
        (HEADER, RECORD, PREFIXES[::-1], sealed),  # columns swapped
        (HEADER, RECORD + b"x", PREFIXES, sealed),  # another record
        (other_header, RECORD, PREFIXES, sealed),  # another key id
        (HEADER, RECORD, PREFIXES, [sealed[0][:-1], sealed[1]]),  # cut tag
        (HEADER, RECORD, PREFIXES, [sealed[0], sealed[1][: len(HEADER) + 12 + 15]]),  # shorter than a tag
        (HEADER, RECORD, PREFIXES, [b"", sealed[1]]),
    ]
    for header, record, prefixes, fields in refused:
        with pytest.raises(DecryptionFailed):
            cipher.open_fields(header, record, prefixes, fields)
    with pytest.raises(DecryptionFailed):
        implementation(os.urandom(32)).open_fields(HEADER, RECORD, PREFIXES, sealed)
    nonce = sealed[0][len(HEADER) : len(HEADER) + 12]
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(nonce, sealed[0][len(HEADER) + 12 :], b"other")
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(nonce, b"short", b"")


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_plaintext_that_is_not_utf8_fails_to_open_as_a_field(implementation: Callable[[bytes], PyGcm]) -> None:
    key = os.urandom(32)
    nonce = os.urandom(12)
    body = AESGCM(key).encrypt(nonce, b"\xff\xfe not utf-8", PREFIXES[0] + RECORD)
    with pytest.raises(DecryptionFailed):
        implementation(key).open_fields(HEADER, RECORD, PREFIXES[:1], [HEADER + nonce + body])


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_long_and_empty_values(implementation: Callable[[bytes], PyGcm]) -> None:
    cipher = implementation(os.urandom(32))
    values = ["", "地址" * 5000, "x" * 511, "y" * 512, "z" * 513]
    prefixes = _prefixes(len(values))
    sealed = cipher.seal_fields(HEADER, RECORD, prefixes, values, os.urandom(12 * len(values)))
    assert cipher.open_fields(HEADER, RECORD, prefixes, sealed) == values
    assert cipher.open_fields(HEADER, RECORD, [], []) == []


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_malformed_calls_are_refused(implementation: Callable[[bytes], PyGcm]) -> None:
    with pytest.raises(ValueError):
        implementation(bytes(16))
    cipher = implementation(bytes(32))
    with pytest.raises(ValueError):
        cipher.seal_fields(HEADER, RECORD, PREFIXES, ["a", "b"], bytes(12))  # one nonce for two values
    with pytest.raises(ValueError):
        cipher.seal_fields(HEADER, RECORD, PREFIXES[:1], ["a", "b"], bytes(24))
    with pytest.raises(ValueError):
        cipher.open_fields(HEADER, RECORD, PREFIXES[:1], [b"a", b"b"])
    with pytest.raises(ValueError):
        cipher.encrypt(bytes(16), b"data", b"")
    with pytest.raises(ValueError):
        cipher.decrypt(bytes(8), bytes(32), b"")
    with pytest.raises(TypeError):
        pickle.dumps(cipher)


@compiled_only
def test_compiled_without_a_key_refuses_to_work() -> None:
    keyless = COMPILED.__new__(COMPILED)
    with pytest.raises(ValueError):
        keyless.encrypt(bytes(12), b"data", b"")


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_an_empty_column_opens_as_none_in_its_place(implementation: Callable[[bytes], PyGcm]) -> None:
    cipher = implementation(os.urandom(32))
    prefixes = _prefixes(4)
    sealed: list[bytes | None] = list(
        cipher.seal_fields(HEADER, RECORD, prefixes, ["a", "b", "c", "d"], os.urandom(48))
    )
    sealed[0] = sealed[2] = None
    assert cipher.open_fields(HEADER, RECORD, prefixes, sealed) == [None, "b", None, "d"]
    # the values that are there are still checked against their own prefix
    with pytest.raises(DecryptionFailed):
        cipher.open_fields(HEADER, RECORD, [prefixes[0], prefixes[0], prefixes[2], prefixes[3]], sealed)
