"""Signed lifecycle documents (consent receipts, deletion and sweep certificates).

A document is canonical JSON (sorted keys, no spaces, UTF-8); the Ed25519 signature covers
``callvault/<kind>/v1\\n`` followed by those bytes, made by the keyring's ``lifecycle``
signing key (never leaves the keyring). Verification needs only the public key.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import orjson

from callvault.audit.log import signing_key_id
from callvault.crypto import Keyring, verify_signature

__all__ = ["SIGNING_KEY_REF", "canonical", "public_key", "sign_document", "sign_encoded", "verify_document"]

SIGNING_KEY_REF = "lifecycle"


def canonical(document: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8. orjson writes the same bytes as ``json.dumps(...,
    sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` for what documents hold
    (str, int, bool, None, lists, dicts with str keys; a property test holds it so), about
    10x faster; anything else (a float, an int past 64 bits) takes the json path."""
    try:
        return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return _canonical_json(document)


def _canonical_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _message(kind: str, document: dict[str, Any]) -> bytes:
    return _encoded_message(kind, canonical(document))


def _encoded_message(kind: str, encoded: bytes) -> bytes:
    return f"callvault/{kind}/v1\n".encode() + encoded


def public_key(keyring: Keyring) -> tuple[str, str]:
    """``(key id, base64 public key)`` of the lifecycle signing key."""
    raw = keyring.public_key(SIGNING_KEY_REF)
    return signing_key_id(raw), base64.b64encode(raw).decode()


def sign_document(keyring: Keyring, kind: str, document: dict[str, Any]) -> bytes:
    return keyring.sign(SIGNING_KEY_REF, _message(kind, document))


def sign_encoded(keyring: Keyring, kind: str, encoded: bytes) -> bytes:
    """``sign_document`` of a document already in ``canonical`` form (encode it once)."""
    return keyring.sign(SIGNING_KEY_REF, _encoded_message(kind, encoded))


def verify_document(public_key_b64: str, kind: str, document: dict[str, Any], signature_b64: str) -> bool:
    """True if ``signature_b64`` is the lifecycle key's signature of ``document``."""
    try:
        key = base64.b64decode(public_key_b64, validate=True)
        signature = base64.b64decode(signature_b64, validate=True)
    except ValueError:
        return False
    return verify_signature(key, _message(kind, document), signature)
