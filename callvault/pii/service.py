"""PII scanning and redaction: the surface the API and the CLI share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

from callvault.core.errors import Invalid
from callvault.pii.engine import Analyzer
from callvault.pii.model import ENTITY_TYPES, Entity
from callvault.pii.recognizers.custom import load_custom_recognizers
from callvault.pii.redact import MemoryTokenizer, Mode, Tokenizer, apply_operators
from callvault.pii.registry import analyzer, build_analyzer

__all__ = ["engine_for", "redact", "redact_text", "scan"]

_default_tokenizer = MemoryTokenizer()


@lru_cache(maxsize=64)
def _configured(path: Path, mtime_ns: int, entities: frozenset[str] | None) -> Analyzer:
    return build_analyzer(entities, extra=load_custom_recognizers(path))


def engine_for(*, entities: Iterable[str] | None = None, recognizers: Path | None = None) -> Analyzer:
    """The built-in analyzer, plus the tenant recognizers of a YAML file if it exists
    (rebuilt when the file changes)."""
    if recognizers is not None and recognizers.is_file():
        custom = {spec.ENTITIES[0] for spec in load_custom_recognizers(recognizers)}
        return _configured(recognizers, recognizers.stat().st_mtime_ns, _entities(entities, custom))
    return analyzer(_entities(entities))


def _entities(entities: Iterable[str] | None, custom: set[str] | None = None) -> frozenset[str] | None:
    if entities is None:
        return None
    chosen = frozenset(entities)
    unknown = sorted(chosen - set(ENTITY_TYPES) - (custom or set()))
    if unknown:
        raise Invalid("Unknown entity types: " + ", ".join(u[:40] for u in unknown), code="pii.entity_unknown")
    return chosen


def scan(
    texts: Iterable[str], *, entities: Iterable[str] | None = None, recognizers: Path | None = None
) -> list[list[Entity]]:
    engine = engine_for(entities=entities, recognizers=recognizers)
    return [engine.analyze(text) for text in texts]


def redact(
    texts: Iterable[str],
    *,
    mode: Mode | Mapping[str, Mode] = "mask",
    entities: Iterable[str] | None = None,
    hash_key: bytes = b"",
    tokenizer: Tokenizer | None = None,
    recognizers: Path | None = None,
) -> list[str]:
    engine = engine_for(entities=entities, recognizers=recognizers)
    tokens = tokenizer or _default_tokenizer
    return [apply_operators(text, engine.analyze(text), mode, hash_key=hash_key, tokenizer=tokens) for text in texts]


def redact_text(text: str, mode: Mode = "tag") -> str:
    """One text, one operator (used to scrub free-text reasons before they are logged)."""
    return redact([text], mode=mode)[0]
