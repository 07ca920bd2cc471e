"""Streaming AEAD for large objects (recordings, exports): AES-256-GCM in 64 KiB segments.

Format (version 1)::

    header  = magic "CVS" | version (1) | key id (16) | nonce prefix (8)      28 bytes
    segment = AES-256-GCM(plaintext[i*64Ki : (i+1)*64Ki]) | tag (16)           <= 65552 bytes

Segment ``i`` uses nonce ``prefix (8) | i (4, big endian)`` and associated data
``header | last`` where ``last`` is one byte, 1 for the final segment and 0 otherwise
(the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár). So a segment moved to
another position fails (its counter differs), a stream cut at a segment boundary fails
(its new final segment was sealed with ``last = 0``), an appended segment fails (the old
final one carries ``last = 1``), and an edited header fails every segment. An empty
plaintext is one empty final segment (a tag alone). The prefix is random per stream, so
sealing again under the same key never reuses a nonce.

The key is never a raw value: ``derive_stream_key`` derives it with HKDF-SHA256 from a
subject's ``DataKey`` and a context naming the object (a recording id), so destroying the
subject's data key (crypto-shredding) kills every stream derived from it. Segments are
released only after their tag verifies; any failure raises one ``DecryptionFailed``.
A reader that stops at an exception must discard what it already received, as with any
streaming AEAD (the HTTP edge aborts the response).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from callvault.core.errors import DecryptionFailed, Invalid
from callvault.crypto.envelope import DataKey

__all__ = [
    "STREAM_FORMAT_VERSION",
    "STREAM_HEADER_BYTES",
    "STREAM_SEGMENT_BYTES",
    "StreamKey",
    "check_tenant_public_key",
    "derive_stream_key",
    "new_tenant_keypair",
    "new_tenant_sealed_key",
    "open_stream",
    "open_stream_range",
    "open_tenant_sealed_key",
    "seal_stream",
    "stream_key_id",
    "stream_plain_size",
    "stream_sealed_size",
    "tenant_key_id",
]

STREAM_FORMAT_VERSION = 1
_MAGIC = b"CVS"
_PREFIX_LEN = 8
_TAG_LEN = 16
STREAM_HEADER_BYTES = len(_MAGIC) + 1 + 16 + _PREFIX_LEN
STREAM_SEGMENT_BYTES = 64 * 1024
"""Plaintext bytes per segment (the last one may be shorter)."""
_SEALED_SEGMENT = STREAM_SEGMENT_BYTES + _TAG_LEN
_MAX_SEGMENTS = 2**32
_NOT_LAST = b"\x00"
_LAST = b"\x01"


class StreamKey:
    """Handle on a stream key: seals and opens streams, never hands out its bytes."""

    __slots__ = ("_cipher", "key_id")

    def __init__(self, key_id: uuid.UUID, raw: bytes) -> None:
        self.key_id = key_id
        self._cipher = AESGCM(raw)

    def __repr__(self) -> str:
        return f"StreamKey({self.key_id})"


def derive_stream_key(data_key: DataKey, context: str) -> StreamKey:
    """The stream key for one object under a subject's data key: HKDF-SHA256 with
    ``context`` (e.g. ``"recording/<tenant>/<id>/original"``) as info. The same inputs give
    the same key; erasing the data key leaves nothing to derive it from."""
    raw = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"callvault/stream/v1",
        info=context.encode(),
    ).derive(data_key._raw)  # same package: the one place a DEK's bytes are used
    return StreamKey(data_key.key_id, raw)


_WRAP_VERSION = b"\x01"
_WRAPPED_LEN = 1 + 32 + 32 + _TAG_LEN


def check_tenant_public_key(public_key: bytes) -> bytes:
    """``public_key`` if it is a usable X25519 public key (32 bytes, not a low-order point)."""
    try:
        if len(public_key) != 32:
            raise ValueError
        X25519PrivateKey.generate().exchange(X25519PublicKey.from_public_bytes(public_key))
    except ValueError:
        raise Invalid("Not an X25519 public key (32 raw bytes)", code="crypto.bad_public_key") from None
    return public_key


def tenant_key_id(public_key: bytes) -> uuid.UUID:
    """A stable id naming a tenant public key (in stream headers): its SHA-256, truncated."""
    return uuid.UUID(bytes=hashlib.sha256(b"callvault/tenant-key/v1" + public_key).digest()[:16])


def new_tenant_keypair() -> tuple[bytes, bytes]:
    """``(private, public)`` raw X25519 keys: what a tenant generates and keeps offline
    (tests and the CLI helper; the server never needs the private half)."""
    private = X25519PrivateKey.generate()
    return private.private_bytes_raw(), private.public_key().public_bytes_raw()


def _wrap_key(shared: bytes, ephemeral: bytes, recipient: bytes, context: str) -> AESGCM:
    raw = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=ephemeral + recipient,
        info=b"callvault/stream-key-wrap/v1|" + context.encode(),
    ).derive(shared)
    return AESGCM(raw)


def new_tenant_sealed_key(public_key: bytes, context: str) -> tuple[StreamKey, bytes]:
    """A fresh random stream key, and that key sealed to a tenant's X25519 public key
    (ECIES: an ephemeral X25519 exchange, HKDF-SHA256, AES-256-GCM, bound to ``context``).
    Once the caller drops the handle, only the holder of the private key can open
    streams sealed with it."""
    check_tenant_public_key(public_key)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public_key))
    raw = os.urandom(32)
    sealed = (
        _WRAP_VERSION
        + ephemeral_public
        + _wrap_key(shared, ephemeral_public, public_key, context).encrypt(bytes(12), raw, context.encode())
    )
    return StreamKey(tenant_key_id(public_key), raw), sealed


def open_tenant_sealed_key(private_key: bytes, sealed: bytes, context: str) -> StreamKey:
    """The tenant's side of ``new_tenant_sealed_key`` (DecryptionFailed for a wrong key,
    context or altered bytes)."""
    if len(sealed) != _WRAPPED_LEN or sealed[:1] != _WRAP_VERSION or len(private_key) != 32:
        raise DecryptionFailed()
    private = X25519PrivateKey.from_private_bytes(private_key)
    public = private.public_key().public_bytes_raw()
    ephemeral_public = bytes(sealed[1:33])
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
        raw = _wrap_key(shared, ephemeral_public, public, context).decrypt(
            bytes(12), bytes(sealed[33:]), context.encode()
        )
    except (InvalidTag, ValueError):
        raise DecryptionFailed() from None
    return StreamKey(tenant_key_id(public), raw)


def stream_sealed_size(plain_size: int) -> int:
    """Bytes a stream of ``plain_size`` plaintext bytes takes sealed."""
    segments = max(1, -(-plain_size // STREAM_SEGMENT_BYTES))
    return STREAM_HEADER_BYTES + plain_size + segments * _TAG_LEN


def stream_plain_size(sealed_size: int) -> int:
    """Plaintext bytes in a sealed stream of ``sealed_size`` bytes (DecryptionFailed if no
    well-formed stream has that size)."""
    body = sealed_size - STREAM_HEADER_BYTES
    if body < _TAG_LEN:
        raise DecryptionFailed()
    segments = -(-body // _SEALED_SEGMENT)
    last = body - (segments - 1) * _SEALED_SEGMENT
    if last < _TAG_LEN or (last == _TAG_LEN and segments > 1):
        raise DecryptionFailed()
    return body - segments * _TAG_LEN


def stream_key_id(header: bytes) -> uuid.UUID:
    """Key id named in a sealed stream's header (DecryptionFailed if malformed)."""
    if len(header) < STREAM_HEADER_BYTES or header[:3] != _MAGIC or header[3] != STREAM_FORMAT_VERSION:
        raise DecryptionFailed()
    return uuid.UUID(bytes=bytes(header[4:20]))


def _nonce(prefix: bytes, index: int) -> bytes:
    if index >= _MAX_SEGMENTS:
        raise DecryptionFailed()
    return prefix + index.to_bytes(4, "big")


def _segments(chunks: Iterable[bytes], size: int) -> Iterator[tuple[bytes | memoryview, bool]]:
    """Cut chunks of any sizes into pieces of ``size`` bytes (the last one shorter, maybe
    empty), each with whether it is the last. Whole pieces inside a chunk are passed as
    views, without a copy; only a piece spanning two chunks is assembled. Nothing is kept
    from a chunk once the next one is asked for (a caller may reuse its buffer)."""
    held: bytes = b""
    full = False  # ``held`` is a whole piece, waiting to learn whether more follows
    for chunk in chunks:
        if not chunk:
            continue
        view = memoryview(chunk)
        pos = 0
        if not full:
            pos = size - len(held)
            held += view[:pos]
            if len(held) < size:
                continue
            full = True
            if pos >= len(view):
                continue
        yield held, False
        last = len(view) - size
        while pos < last:
            yield view[pos : pos + size], False
            pos += size
        held = bytes(view[pos:])
        full = len(held) == size
    yield held, True


def seal_stream(key: StreamKey, chunks: Iterable[bytes], *, _prefix: bytes | None = None) -> Iterator[bytes]:
    """Seal plaintext chunks of any sizes; yields the header, then one sealed segment at a
    time (memory stays at about two segments whatever the stream's length).

    ``_prefix`` pins the nonce prefix, for frozen test vectors only."""
    prefix = os.urandom(_PREFIX_LEN) if _prefix is None else _prefix
    header = _MAGIC + bytes((STREAM_FORMAT_VERSION,)) + key.key_id.bytes + prefix
    aad = (header + _NOT_LAST, header + _LAST)
    encrypt = key._cipher.encrypt
    yield header
    for index, (piece, last) in enumerate(_segments(chunks, STREAM_SEGMENT_BYTES)):
        yield encrypt(_nonce(prefix, index), piece, aad[last])


def _header_of(key: StreamKey, header: bytes) -> bytes:
    if stream_key_id(header) != key.key_id:
        raise DecryptionFailed()
    return bytes(header[:STREAM_HEADER_BYTES])


def _open_segment(key: StreamKey, header: bytes, index: int, sealed: bytes | memoryview, last: bool) -> bytes:
    try:
        return key._cipher.decrypt(
            _nonce(header[20:STREAM_HEADER_BYTES], index), sealed, header + (_LAST if last else _NOT_LAST)
        )
    except InvalidTag:
        raise DecryptionFailed() from None


def open_stream(key: StreamKey, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Open a sealed stream given as chunks of any sizes; yields each segment's plaintext
    once its tag verifies. Raises ``DecryptionFailed`` for a wrong key, an edited, moved,
    missing or extra segment, or a cut stream."""
    source = iter(chunks)
    start = bytearray()
    for chunk in source:
        start += chunk
        if len(start) >= STREAM_HEADER_BYTES:
            break
    header = _header_of(key, bytes(start))
    rest = bytes(start[STREAM_HEADER_BYTES:])

    def body() -> Iterator[bytes]:
        yield rest
        yield from source

    decrypt = key._cipher.decrypt
    prefix = header[20:STREAM_HEADER_BYTES]
    aad = (header + _NOT_LAST, header + _LAST)
    for index, (piece, last) in enumerate(_segments(body(), _SEALED_SEGMENT)):
        try:
            # bytes, not a view: the binding decrypts a bytes object faster than it copies a view
            yield decrypt(_nonce(prefix, index), piece, aad[last])
        except InvalidTag:
            raise DecryptionFailed() from None


def open_stream_range(
    key: StreamKey,
    read: Callable[[int, int], Iterable[bytes]],
    sealed_size: int,
    start: int = 0,
    end: int | None = None,
) -> Iterator[bytes]:
    """Plaintext bytes ``[start, end)`` of a sealed stream of ``sealed_size`` bytes, opening
    only the segments that hold them. ``read(offset, stop)`` returns the sealed bytes
    ``[offset, stop)`` (a blob store's ranged get). ``end`` defaults to the plaintext size;
    out-of-bounds ranges are clamped (the caller answers 416 before asking)."""
    plain_size = stream_plain_size(sealed_size)
    end = plain_size if end is None else min(end, plain_size)
    start = max(0, start)
    header = _header_of(key, b"".join(read(0, STREAM_HEADER_BYTES)))
    if start >= end:
        return
    last_index = max(0, -(-plain_size // STREAM_SEGMENT_BYTES) - 1)
    first = start // STREAM_SEGMENT_BYTES
    stop = (end - 1) // STREAM_SEGMENT_BYTES
    offset = STREAM_HEADER_BYTES + first * _SEALED_SEGMENT
    sealed_stop = min(sealed_size, STREAM_HEADER_BYTES + (stop + 1) * _SEALED_SEGMENT)
    buffer = bytearray()
    index = first

    def sealed_len(position: int) -> int:
        if position < last_index:
            return _SEALED_SEGMENT
        return plain_size - position * STREAM_SEGMENT_BYTES + _TAG_LEN

    for chunk in read(offset, sealed_stop):
        buffer += chunk
        while index <= stop and len(buffer) >= sealed_len(index):
            size = sealed_len(index)
            plain = _open_segment(key, header, index, bytes(buffer[:size]), last=index == last_index)
            del buffer[:size]
            base = index * STREAM_SEGMENT_BYTES
            yield plain[max(start - base, 0) : min(end - base, len(plain))]
            index += 1
        if index > stop:
            return
    raise DecryptionFailed()  # the store returned fewer bytes than its size promised
