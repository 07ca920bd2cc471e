"""Operators: what replaces each entity found (after Presidio's anonymizer).

``mask`` keeps what a person needs to recognise a value (``138****5678``), ``tag`` names
the type (``<PHONE_NUMBER>``), ``hash`` is a keyed HMAC so equal values stay linkable
without being readable, ``token`` is reversible through a ``Tokenizer`` (the vault, with
the right permission), ``remove`` drops the value. The operator can differ per type.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

from callvault.access import masking
from callvault.pii.model import Entity
from callvault.pii.normalize import fold_width
from callvault.pii.recognizers.numbers import EN_DIGITS, ZH_DIGITS

__all__ = ["MODES", "MemoryTokenizer", "Mode", "Tokenizer", "apply_operators", "mask_value", "replacement"]

Mode = Literal["mask", "tag", "hash", "token", "remove"]
MODES: tuple[Mode, ...] = ("mask", "tag", "hash", "token", "remove")


class Tokenizer(Protocol):
    def tokenize(self, entity_type: str, value: str) -> str: ...

    def detokenize(self, token: str) -> str: ...


class MemoryTokenizer:
    """Reversible tokens kept in memory (tests, single process); same value, same token."""

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._by_token: dict[str, str] = {}
        self._lock = threading.Lock()

    def tokenize(self, entity_type: str, value: str) -> str:
        with self._lock:
            token = self._by_value.get((entity_type, value))
            if token is None:
                token = f"<{entity_type}_TOKEN:{secrets.token_hex(6)}>"
                self._by_value[(entity_type, value)] = token
                self._by_token[token] = value
            return token

    def detokenize(self, token: str) -> str:
        with self._lock:
            return self._by_token[token]


def _digits(value: str) -> str:
    value = fold_width(value)
    words = value.lower().replace(",", " ").replace("-", " ").split()
    if words and all(word in EN_DIGITS for word in words):
        return "".join(EN_DIGITS[word] for word in words)
    return "".join(ZH_DIGITS.get(c, c) for c in value if c.isdigit() or c in ZH_DIGITS or c in "Xx").upper()


def mask_value(entity_type: str, value: str) -> str:
    if entity_type == "PHONE_NUMBER":
        digits = _digits(value)
        digits = digits[2:] if digits.startswith("86") and len(digits) == 13 else digits
        return masking.mask_mobile(digits) if len(digits) >= 8 else "*" * len(digits)
    if entity_type == "CN_ID_CARD":
        return masking.mask_id_number(_digits(value))
    if entity_type == "BANK_CARD":
        return masking.mask_bank_card(_digits(value))
    if entity_type == "EMAIL_ADDRESS":
        return masking.mask_email(fold_width(value))
    if entity_type == "PERSON":
        return masking.mask_name(value)
    if entity_type == "ADDRESS":
        return masking.mask_address(value)
    if len(value) <= 4:
        return "*" * len(value)
    return (
        value[0] + "*" * (len(value) - 2) + value[-1] if entity_type not in ("VERIFICATION_CODE",) else "*" * len(value)
    )


def replacement(
    entity: Entity, value: str, mode: Mode, *, hash_key: bytes = b"", tokenizer: Tokenizer | None = None
) -> str:
    """What ``value`` (the text of ``entity``) becomes under ``mode``."""
    if mode == "mask":
        return mask_value(entity.type, value)
    if mode == "tag":
        return f"<{entity.type}>"
    if mode == "hash":
        digest = hmac.new(hash_key, f"{entity.type}|{value}".encode(), hashlib.sha256).hexdigest()[:16]
        return f"<{entity.type}:{digest}>"
    if mode == "token":
        if tokenizer is None:
            raise ValueError("token mode needs a tokenizer")
        return tokenizer.tokenize(entity.type, value)
    return ""


def apply_operators(
    text: str,
    entities: Sequence[Entity],
    mode: Mode | Mapping[str, Mode] = "mask",
    *,
    hash_key: bytes = b"",
    tokenizer: Tokenizer | None = None,
) -> str:
    """``text`` with every entity replaced; ``mode`` may be one operator or one per type."""
    out: list[str] = []
    cursor = 0
    for entity in sorted(entities, key=lambda e: e.start):
        if entity.start < cursor:
            continue
        chosen = mode if isinstance(mode, str) else mode.get(entity.type, "tag")
        out.append(text[cursor : entity.start])
        out.append(replacement(entity, text[entity.start : entity.end], chosen, hash_key=hash_key, tokenizer=tokenizer))
        cursor = entity.end
    out.append(text[cursor:])
    return "".join(out)
