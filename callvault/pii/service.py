"""PII scanning and redaction: the surface the API and the CLI share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from callvault.core.errors import Invalid
from callvault.pii.model import ENTITY_TYPES, Entity
from callvault.pii.redact import MemoryTokenizer, Mode, Tokenizer, apply_operators
from callvault.pii.registry import analyzer

__all__ = ["redact", "redact_text", "scan"]

_default_tokenizer = MemoryTokenizer()


def _entities(entities: Iterable[str] | None) -> frozenset[str] | None:
    if entities is None:
        return None
    chosen = frozenset(entities)
    unknown = sorted(chosen - set(ENTITY_TYPES))
    if unknown:
        raise Invalid("Unknown entity types: " + ", ".join(u[:40] for u in unknown), code="pii.entity_unknown")
    return chosen


def scan(texts: Iterable[str], *, entities: Iterable[str] | None = None) -> list[list[Entity]]:
    engine = analyzer(_entities(entities))
    return [engine.analyze(text) for text in texts]


def redact(
    texts: Iterable[str],
    *,
    mode: Mode | Mapping[str, Mode] = "mask",
    entities: Iterable[str] | None = None,
    hash_key: bytes = b"",
    tokenizer: Tokenizer | None = None,
) -> list[str]:
    engine = analyzer(_entities(entities))
    tokens = tokenizer or _default_tokenizer
    return [apply_operators(text, engine.analyze(text), mode, hash_key=hash_key, tokenizer=tokens) for text in texts]


def redact_text(text: str, mode: Mode = "tag") -> str:
    """One text, one operator (used to scrub free-text reasons before they are logged)."""
    return redact([text], mode=mode)[0]
