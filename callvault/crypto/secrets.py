"""API keys for service accounts: ``cvk_<key id>.<secret>``, stored as a SHA-256 digest.

The secret has 256 bits of entropy, so a fast hash is enough (a password hash would only
slow every request); comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["API_KEY_PREFIX", "hash_api_secret", "new_api_key", "parse_api_key", "secret_matches"]

API_KEY_PREFIX = "cvk_"


def new_api_key() -> tuple[str, str, bytes]:
    """``(key_id, full key to show once, digest to store)``."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return key_id, f"{API_KEY_PREFIX}{key_id}.{secret}", hash_api_secret(secret)


def parse_api_key(key: str) -> tuple[str, str] | None:
    """Split a presented key into ``(key_id, secret)``; None if it is not one of ours."""
    if not key.startswith(API_KEY_PREFIX) or "." not in key:
        return None
    key_id, _, secret = key[len(API_KEY_PREFIX) :].partition(".")
    if len(key_id) != 16 or not secret:
        return None
    return key_id, secret


def hash_api_secret(secret: str) -> bytes:
    return hashlib.sha256(b"callvault/api-key/v1|" + secret.encode()).digest()


def secret_matches(secret: str, stored_digest: bytes) -> bool:
    return hmac.compare_digest(hash_api_secret(secret), stored_digest)
