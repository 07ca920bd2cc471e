"""Streaming AEAD (crypto.stream): frozen vectors, round trips, tampering, ranged reads."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.core.errors import DecryptionFailed
from callvault.crypto import (
    STREAM_SEGMENT_BYTES,
    derive_stream_key,
    open_stream,
    open_stream_range,
    seal_stream,
    stream_key_id,
    stream_plain_size,
    stream_sealed_size,
)
from callvault.crypto.envelope import DataKey
from callvault.crypto.stream import STREAM_HEADER_BYTES

VECTORS = Path(__file__).parent.parent / "vectors" / "stream_v1.json"
SEG = STREAM_SEGMENT_BYTES
SEALED_SEG = SEG + 16

_DEK = DataKey(uuid.UUID("01234567-89ab-7def-8123-456789abcdef"), bytes(range(32)))
_KEY = derive_stream_key(_DEK, "recording/acme/01a2108b-7e4d-7694-8d7d-edca5f309917/original")


def _pattern(length: int) -> bytes:
    return bytes(i % 251 for i in range(length))


def _sealed(data: bytes, chunk: int = 10_000) -> bytes:
    return b"".join(seal_stream(_KEY, (data[i : i + chunk] for i in range(0, len(data), chunk))))


def _open(sealed: bytes, chunk: int = 7_777) -> bytes:
    return b"".join(open_stream(_KEY, (sealed[i : i + chunk] for i in range(0, len(sealed), chunk))))


def _generate() -> dict[str, object]:  # pragma: no cover - run by hand to freeze the file
    cases = []
    for length in (0, 5, SEG, SEG + 10):
        prefix = bytes.fromhex("a0a1a2a3a4a5a6a7")
        sealed = b"".join(seal_stream(_KEY, [_pattern(length)], _prefix=prefix))
        cases.append({"plaintext_length": length, "sealed": sealed.hex()})
    return {
        "_about": "CallVault stream format v1: header 'CVS'|0x01|key id|prefix(8); AES-256-GCM segments of 64 KiB, "
        "nonce prefix|counter(4), AAD header|last flag. Key = HKDF-SHA256(DEK, salt 'callvault/stream/v1', info "
        "context). Plaintext = bytes(i % 251). Frozen: these must keep opening.",
        "dek": bytes(range(32)).hex(),
        "key_id": str(_DEK.key_id),
        "context": "recording/acme/01a2108b-7e4d-7694-8d7d-edca5f309917/original",
        "verify": cases,
    }


def test_frozen_vectors_open() -> None:
    doc = json.loads(VECTORS.read_text())
    dek = DataKey(uuid.UUID(doc["key_id"]), bytes.fromhex(doc["dek"]))
    key = derive_stream_key(dek, doc["context"])
    assert len(doc["verify"]) == 4
    for case in doc["verify"]:
        sealed = bytes.fromhex(case["sealed"])
        assert b"".join(open_stream(key, [sealed])) == _pattern(case["plaintext_length"])
        assert stream_plain_size(len(sealed)) == case["plaintext_length"]
        assert stream_key_id(sealed) == dek.key_id


def test_frozen_vectors_reseal_identically() -> None:
    """The format did not drift: sealing again with the frozen prefix gives the same bytes."""
    doc = json.loads(VECTORS.read_text())
    for case in doc["verify"]:
        sealed = bytes.fromhex(case["sealed"])
        prefix = sealed[20:STREAM_HEADER_BYTES]
        again = b"".join(seal_stream(_KEY, [_pattern(case["plaintext_length"])], _prefix=prefix))
        assert again == sealed


def _invalid_variants(sealed: bytes) -> dict[str, bytes]:
    """Tampered forms of a 3-segment stream."""
    header, body = sealed[:STREAM_HEADER_BYTES], sealed[STREAM_HEADER_BYTES:]
    segments = [body[i : i + SEALED_SEG] for i in range(0, len(body), SEALED_SEG)]
    assert len(segments) == 3
    flipped = bytearray(sealed)
    flipped[STREAM_HEADER_BYTES + SEALED_SEG + 100] ^= 1
    edited_header = bytearray(sealed)
    edited_header[25] ^= 0x80
    return {
        "empty": b"",
        "header_only": header,
        "cut_at_boundary": header + b"".join(segments[:2]),
        "cut_mid_segment": sealed[:-100],
        "cut_tag": sealed[:-1],
        "reordered": header + segments[1] + segments[0] + segments[2],
        "duplicated": header + segments[0] + segments[0] + segments[1] + segments[2],
        "dropped_middle": header + segments[0] + segments[2],
        "appended": sealed + segments[2],
        "flipped_byte": bytes(flipped),
        "edited_prefix": bytes(edited_header),
        "wrong_version": sealed[:3] + b"\x02" + sealed[4:],
    }


def test_every_tampering_fails_alike() -> None:
    sealed = _sealed(_pattern(2 * SEG + 300))
    for name, variant in _invalid_variants(sealed).items():
        with pytest.raises(DecryptionFailed) as caught:
            _open(variant)
        assert caught.value.code == "crypto.decryption_failed", name


def test_wrong_key_and_wrong_context_fail() -> None:
    sealed = _sealed(b"hello")
    other_context = derive_stream_key(_DEK, "recording/acme/other/original")
    other_dek = derive_stream_key(DataKey(_DEK.key_id, bytes(32)), "recording/acme/01a2108b/original")
    for key in (other_context, other_dek):
        with pytest.raises(DecryptionFailed):
            b"".join(open_stream(key, [sealed]))
    foreign = derive_stream_key(DataKey(uuid.uuid4(), bytes(range(32))), "x")
    with pytest.raises(DecryptionFailed):
        b"".join(open_stream(foreign, [sealed]))


def test_nonce_prefix_is_fresh_per_seal() -> None:
    assert _sealed(b"same") != _sealed(b"same")


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 3 * SEG + 5).map(_pattern),
    st.integers(1, 3 * SEG),
    st.integers(1, 3 * SEG),
)
def test_round_trip_any_chunking(data: bytes, seal_chunk: int, open_chunk: int) -> None:
    sealed = _sealed(data, seal_chunk)
    assert len(sealed) == stream_sealed_size(len(data))
    assert stream_plain_size(len(sealed)) == len(data)
    assert _open(sealed, open_chunk) == data


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 2 * SEG + 100), st.data())
def test_any_flipped_byte_fails(length: int, data: st.DataObject) -> None:
    sealed = bytearray(_sealed(os.urandom(length)))
    position = data.draw(st.integers(0, len(sealed) - 1))
    sealed[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(DecryptionFailed):
        _open(bytes(sealed))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3 * SEG + 5), st.data())
def test_any_cut_fails(length: int, data: st.DataObject) -> None:
    sealed = _sealed(_pattern(length))
    cut = data.draw(st.integers(0, len(sealed) - 1))
    with pytest.raises(DecryptionFailed):
        _open(sealed[:cut])


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 3 * SEG + 5), st.data())
def test_range_equals_slice(length: int, data: st.DataObject) -> None:
    plain = _pattern(length)
    sealed = _sealed(plain)
    start = data.draw(st.integers(0, length + 10))
    end = data.draw(st.none() | st.integers(0, length + 10))
    reads: list[tuple[int, int]] = []

    def read(offset: int, stop: int) -> list[bytes]:
        reads.append((offset, stop))
        return [sealed[offset:stop]]

    assert b"".join(open_stream_range(_KEY, read, len(sealed), start, end)) == plain[start:end]
    # only the segments holding the range are read (one segment read is at most SEALED_SEG + header)
    if end is not None and start < end <= length:
        segments = (end - 1) // SEG - start // SEG + 1
        assert sum(stop - offset for offset, stop in reads) <= STREAM_HEADER_BYTES + segments * SEALED_SEG


def test_range_reads_only_the_middle_segment() -> None:
    plain = _pattern(10 * SEG)
    sealed = bytearray(_sealed(plain))
    # damage segment 0 and 9: a read in segment 5 never touches them
    sealed[STREAM_HEADER_BYTES + 5] ^= 1
    sealed[-5] ^= 1

    def read(offset: int, stop: int) -> list[bytes]:
        return [bytes(sealed[offset:stop])]

    middle = 5 * SEG + 100
    assert b"".join(open_stream_range(_KEY, read, len(sealed), middle, middle + 1000)) == plain[middle : middle + 1000]
    with pytest.raises(DecryptionFailed):
        b"".join(open_stream_range(_KEY, read, len(sealed), 9 * SEG, 9 * SEG + 10))


def test_range_detects_cut_at_segment_boundary() -> None:
    sealed = _sealed(_pattern(3 * SEG))
    cut = sealed[: STREAM_HEADER_BYTES + 2 * SEALED_SEG]  # looks like a well-formed 2-segment stream

    def read(offset: int, stop: int) -> list[bytes]:
        return [cut[offset:stop]]

    with pytest.raises(DecryptionFailed):
        b"".join(open_stream_range(_KEY, read, len(cut), SEG + 5, SEG + 10))


def test_range_short_store_read_fails() -> None:
    sealed = _sealed(_pattern(2 * SEG))
    with pytest.raises(DecryptionFailed):
        b"".join(open_stream_range(_KEY, lambda offset, stop: [sealed[offset : stop - 1]], len(sealed), 0, None))


@pytest.mark.parametrize("size", [0, 1, STREAM_HEADER_BYTES + 15, STREAM_HEADER_BYTES + SEALED_SEG + 16])
def test_impossible_sizes_are_refused(size: int) -> None:
    with pytest.raises(DecryptionFailed):
        stream_plain_size(size)


def test_derivation_is_deterministic_and_bound_to_context() -> None:
    sealed = _sealed(b"x" * 100)
    again = derive_stream_key(DataKey(_DEK.key_id, bytes(range(32))), _KEY_CONTEXT)
    assert b"".join(open_stream(again, [sealed])) == b"x" * 100
    assert hashlib.sha256(sealed).digest() != hashlib.sha256(_sealed(b"x" * 100)).digest()


_KEY_CONTEXT = "recording/acme/01a2108b-7e4d-7694-8d7d-edca5f309917/original"


if __name__ == "__main__":  # pragma: no cover
    VECTORS.write_text(json.dumps(_generate(), indent=1) + "\n")


def test_tenant_sealed_key_round_trip_and_binding() -> None:
    from callvault.core.errors import Invalid
    from callvault.crypto import (
        check_tenant_public_key,
        new_tenant_keypair,
        new_tenant_sealed_key,
        open_tenant_sealed_key,
        tenant_key_id,
    )

    private, public = new_tenant_keypair()
    key, wrapped = new_tenant_sealed_key(public, "recording/acme/r1/original")
    assert key.key_id == tenant_key_id(public)
    sealed = b"".join(seal_stream(key, [b"only the tenant reads this"]))
    opened = open_tenant_sealed_key(private, wrapped, "recording/acme/r1/original")
    assert b"".join(open_stream(opened, [sealed])) == b"only the tenant reads this"
    other_private, _ = new_tenant_keypair()
    flipped = bytearray(wrapped)
    flipped[-1] ^= 1
    for attempt in (
        lambda: open_tenant_sealed_key(other_private, wrapped, "recording/acme/r1/original"),
        lambda: open_tenant_sealed_key(private, wrapped, "recording/acme/r2/original"),
        lambda: open_tenant_sealed_key(private, bytes(flipped), "recording/acme/r1/original"),
        lambda: open_tenant_sealed_key(private, wrapped[:-1], "recording/acme/r1/original"),
    ):
        with pytest.raises(DecryptionFailed):
            attempt()
    for bad in (b"", bytes(31), bytes(32)):  # bytes(32) is a low-order point
        with pytest.raises(Invalid):
            check_tenant_public_key(bad)
