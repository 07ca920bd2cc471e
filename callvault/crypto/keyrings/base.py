"""The Keyring protocol: where key-encryption keys (KEKs) live.

A keyring holds versioned KEKs by reference (one per tenant) and an Ed25519 signing key
per reference. KEK bytes never leave it: callers hand it a data key to wrap or a wrapped
blob to unwrap. The wrapped format is ``0x01 | kek version (4, big endian) | body``; the
version lets reads keep working while a rotation rewraps data keys in the background.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from callvault.core.errors import DecryptionFailed

__all__ = ["WRAP_FORMAT_VERSION", "Keyring", "UnknownKey", "wrapped_kek_version"]

WRAP_FORMAT_VERSION = 1


class UnknownKey(DecryptionFailed):
    code = "crypto.unknown_key"
    title = "Key not available"


def wrapped_kek_version(wrapped: bytes) -> int:
    """KEK version that sealed a wrapped blob."""
    if len(wrapped) < 5 or wrapped[0] != WRAP_FORMAT_VERSION:
        raise DecryptionFailed()
    return int.from_bytes(wrapped[1:5], "big")


@runtime_checkable
class Keyring(Protocol):
    """Versioned KEKs and signing keys, addressed by reference."""

    def create_kek(self, kek_ref: str) -> int:
        """Create the first or next KEK version for ``kek_ref``; returns the new version."""
        ...

    def current_version(self, kek_ref: str) -> int: ...

    def versions(self, kek_ref: str) -> list[int]:
        """Versions that can still unwrap (ascending)."""
        ...

    def wrap(self, kek_ref: str, key: bytes, aad: bytes) -> bytes:
        """Seal ``key`` under the current KEK version."""
        ...

    def unwrap(self, kek_ref: str, wrapped: bytes, aad: bytes) -> bytes:
        """Open a blob sealed by any non-retired version; DecryptionFailed otherwise."""
        ...

    def retire(self, kek_ref: str, version: int) -> None:
        """Destroy an old KEK version (after every data key was rewrapped)."""
        ...

    def destroy(self, kek_ref: str) -> None:
        """Destroy every version of ``kek_ref`` (tenant shredding)."""
        ...

    def sign(self, key_ref: str, message: bytes) -> bytes:
        """Ed25519 signature by the signing key ``key_ref`` (created on first use)."""
        ...

    def public_key(self, key_ref: str) -> bytes:
        """Raw 32-byte Ed25519 public key of ``key_ref`` (created on first use)."""
        ...
