"""The recognizer registry: which recognizers run, compiled into one analyzer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from callvault.pii.engine import Analyzer
from callvault.pii.recognizers.address import AddressRecognizer
from callvault.pii.recognizers.base import Recognizer
from callvault.pii.recognizers.contextual import PassportRecognizer, SecretRecognizer
from callvault.pii.recognizers.email import EmailRecognizer
from callvault.pii.recognizers.numbers import NumberRecognizer
from callvault.pii.recognizers.person import PersonRecognizer

__all__ = ["STRUCTURED", "analyzer", "build_analyzer", "default_recognizers"]

STRUCTURED = frozenset({"PHONE_NUMBER", "CN_ID_CARD", "BANK_CARD", "EMAIL_ADDRESS", "PASSPORT", "VERIFICATION_CODE"})


def default_recognizers() -> list[Recognizer]:
    # Order matters where two patterns could start at the same character: the earlier wins
    # (a street address before the digit run it starts with). Digit runs are the most
    # frequent match, so they come right after: fewer alternatives are tried before them.
    return [
        AddressRecognizer(),
        NumberRecognizer(),
        EmailRecognizer(),
        SecretRecognizer(),
        PassportRecognizer(),
        PersonRecognizer(),
    ]


def build_analyzer(entities: Iterable[str] | None = None, extra: Sequence[Recognizer] = ()) -> Analyzer:
    """An analyzer for the chosen entity types (all by default) plus tenant recognizers."""
    wanted = None if entities is None else frozenset(entities)
    chosen = [r for r in [*default_recognizers(), *extra] if wanted is None or wanted & set(r.ENTITIES)]
    return Analyzer(chosen, entities=wanted)


@lru_cache(maxsize=32)
def analyzer(entities: frozenset[str] | None = None) -> Analyzer:
    """Cached analyzer for the built-in recognizers."""
    return build_analyzer(entities)
