"""AES-256-GCM with one key: the compiled path (``callvault.crypto._openssl``, OpenSSL with the
key schedule kept between calls) when it is built, ``cryptography`` otherwise.

``Gcm(key)`` is the handle every user of a data key or a KEK holds. Both paths give the
same bytes and refuse the same inputs (``tests/crypto/test_gcm.py`` checks them against
each other whenever the extension is built); any failure to open raises
``DecryptionFailed``. The compiled path exists because a record's fields are each a few
dozen bytes, sealed with a key of their own: ``cryptography`` sets the cipher up again on
every call, and that set-up, not AES, was most of the cost of opening a customer.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callvault.core.errors import DecryptionFailed

__all__ = ["NONCE_LEN", "TAG_LEN", "Gcm", "PyGcm", "compiled"]

NONCE_LEN = 12
TAG_LEN = 16


def _check_nonce(nonce: bytes) -> None:
    if len(nonce) != NONCE_LEN:
        raise ValueError("the nonce must be 12 bytes")


class PyGcm:
    """The pure-Python path (and the reference the compiled one is tested against)."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._aead = AESGCM(key)

    def encrypt(self, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        """Ciphertext then tag (``AESGCM.encrypt``; 12-byte nonces only)."""
        _check_nonce(nonce)
        return self._aead.encrypt(nonce, data, aad)

    def decrypt(self, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        _check_nonce(nonce)
        try:
            return self._aead.decrypt(nonce, data, aad)
        except InvalidTag:
            raise DecryptionFailed() from None

    def seal_fields(
        self, header: bytes, record: bytes, prefixes: Sequence[bytes], values: Sequence[str], nonces: bytes
    ) -> list[bytes]:
        """``header | nonce | ciphertext | tag`` for each value (UTF-8), bound to its prefix
        followed by ``record``, sealed with the next 12 bytes of ``nonces``."""
        if len(prefixes) != len(values) or len(nonces) != NONCE_LEN * len(values):
            raise ValueError("one prefix and 12 nonce bytes per value")
        encrypt = self._aead.encrypt
        out = []
        for position, (prefix, value) in enumerate(zip(prefixes, values, strict=True)):
            nonce = nonces[position * NONCE_LEN : (position + 1) * NONCE_LEN]
            out.append(header + nonce + encrypt(nonce, value.encode(), prefix + record))
        return out

    def open_fields(
        self, header: bytes, record: bytes, prefixes: Sequence[bytes], sealed: Sequence[bytes | None]
    ) -> list[str | None]:
        """Each sealed value must start with ``header`` and open, with its prefix followed
        by ``record`` as associated data, into UTF-8 (else ``DecryptionFailed``); a
        ``None`` (an empty column) gives ``None``."""
        if len(prefixes) != len(sealed):
            raise ValueError("one prefix per value")
        body_start = len(header) + NONCE_LEN
        decrypt = self._aead.decrypt
        out: list[str | None] = []
        try:
            for prefix, value in zip(prefixes, sealed, strict=True):
                if value is None:
                    out.append(None)
                    continue
                if len(value) < body_start + TAG_LEN or value[: len(header)] != header:
                    raise DecryptionFailed()
                out.append(decrypt(value[len(header) : body_start], value[body_start:], prefix + record).decode())
        except (InvalidTag, UnicodeDecodeError):
            raise DecryptionFailed() from None
        return out

    def __reduce__(self) -> Any:
        raise TypeError("a Gcm key handle cannot be pickled")


def compiled() -> Any:
    """The C extension's ``Gcm`` type, or ``None`` when it is not built (see setup.py)."""
    try:
        return importlib.import_module("callvault.crypto._openssl").Gcm
    except ImportError:
        return None


if TYPE_CHECKING:
    Gcm = PyGcm  # the compiled type has the same methods
else:
    Gcm = compiled() or PyGcm
