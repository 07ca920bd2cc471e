"""Recognizers as declarations (after Presidio's PatternRecognizer).

A recognizer names its entity type(s), its PATTERNS (name, regex, base score) and CONTEXT
words; ``analyze`` turns one regex match into zero or more entities (validation, context,
classification). The engine compiles every recognizer's patterns into one alternation and
scans each text once; a recognizer never scans text itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from callvault.pii.model import Entity

__all__ = ["Pattern", "Recognizer", "context_before"]


@dataclass(frozen=True)
class Pattern:
    """``first``: a regex character class (without brackets) of every character a match can
    start with; the engine skips all other positions with one test. ``None``: unknown.

    ``rescan``: the match may run over other entities (an address body takes digits, so
    "…建国路13812345678" holds a phone): the scan resumes where the entities found end,
    not after the whole match."""

    name: str
    regex: str
    score: float
    first: str | None = None
    rescan: bool = False


def context_before(text: str, start: int, words: re.Pattern[str], window: int = 12) -> bool:
    """True if a context word ends within ``window`` characters before ``start``."""
    return words.search(text, max(0, start - window), start) is not None


class Recognizer:
    NAME: ClassVar[str]
    ENTITIES: ClassVar[tuple[str, ...]]
    PATTERNS: ClassVar[tuple[Pattern, ...]]
    CONTEXT: ClassVar[tuple[str, ...]] = ()
    LANGUAGES: ClassVar[tuple[str, ...]] = ("zh", "en")

    def analyze(self, text: str, match: re.Match[str], group: str, pattern: Pattern) -> Iterable[Entity]:
        start, end = match.span(group)
        return [Entity(self.ENTITIES[0], start, end, pattern.score, self.NAME)]
