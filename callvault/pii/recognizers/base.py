"""Recognizers as declarations (after Presidio's PatternRecognizer).

A recognizer names its entity type(s), its PATTERNS (name, regex, base score) and CONTEXT
words; ``analyze`` turns one regex match into zero or more entities (validation, context,
classification). The engine compiles every recognizer's patterns into one alternation and
scans each text once; a recognizer never scans text itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from callvault.pii.model import Entity

__all__ = [
    "Pattern",
    "Recognizer",
    "asked_before",
    "context_before",
    "skip_label",
    "turn_start",
]


@dataclass(frozen=True)
class Pattern:
    """``first``: a regex character class (without brackets) of every character a match can
    start with; the engine skips all other positions with one test. ``None``: unknown.

    ``rescan``: the match may run over other entities (an address body takes digits, so
    "…建国路13812345678" holds a phone; a name cue "客户：" takes the characters after it):
    the scan resumes where the entities found end (or one character after the match
    start), not after the whole match. Only patterns whose match is itself the value
    (digit runs, e-mails) turn it off, for speed.

    ``trigger``: a cheap regex (no lookaround, no named groups) that every match contains,
    and whether it ignores case; a text with no trigger of any pattern is skipped whole
    (see ``prefilter``). ``None``: unknown, the analyzer then scans every text."""

    name: str
    regex: str
    score: float
    first: str | None = None
    rescan: bool = True
    trigger: tuple[str, bool] | None = None


def context_before(text: str, start: int, words: re.Pattern[str], window: int = 12) -> bool:
    """True if a context word ends within ``window`` characters before ``start``."""
    return words.search(text, max(0, start - window), start) is not None


_TURN_LOOKBACK = 160
_TURNS_BACK = 3
_LABEL = re.compile(r"\s*(?:\[[^\]\n]{1,8}\]|[^\s:：\n]{1,10}[:：])?\s*")


def turn_start(text: str, position: int) -> int:
    """Where the turn holding ``position`` starts: after the last newline before it (a
    transcript holds one turn a line), looking back at most 160 characters."""
    low = max(0, position - _TURN_LOOKBACK)
    newline = text.rfind("\n", low, position)
    return newline + 1 if newline >= 0 else low


def skip_label(text: str, start: int, end: int) -> int:
    """Position after a speaker label ("客户：", "Agent:", "[坐席]") at ``start``, if any."""
    label = _LABEL.match(text, start, end)
    return label.end() if label else start


def asked_before(text: str, start: int, words: re.Pattern[str], *, lead: int = 24, turns: int = _TURNS_BACK) -> bool:
    """True if the turn before the one holding ``start`` contains one of ``words`` and the
    value comes early in its own turn (within ``lead`` characters after the speaker label):
    "请提供一下您的护照号码" / "Yes, E12345678." — the cue is in the question, the value in
    the answer."""
    begin = turn_start(text, start)
    if begin == 0 or text[begin - 1] != "\n":
        return False
    label = _LABEL.match(text, begin, start)
    if start - (label.end() if label else begin) > lead:
        return False
    # the question may be two or three short turns back ("验证码发到您手机上了" / "收到了" /
    # "请读一下" / "0809"): look back over at most 160 characters
    previous = turn_start(text, begin - 1)
    for _ in range(turns - 1):
        if previous == 0 or text[previous - 1] != "\n" or begin - previous > _TURN_LOOKBACK:
            break
        previous = turn_start(text, previous - 1)
    return words.search(text, previous, begin - 1) is not None


class Recognizer:
    NAME: ClassVar[str]
    ENTITIES: ClassVar[tuple[str, ...]]
    PATTERNS: ClassVar[tuple[Pattern, ...]]
    CONTEXT: ClassVar[tuple[str, ...]] = ()
    LANGUAGES: ClassVar[tuple[str, ...]] = ("zh", "en")
    # After a match of one of its patterns that yields nothing, may its own other patterns
    # start inside that match? (Addresses say no: a body that is no address holds no
    # address start worth trying, and "北京市北京市…" would be tried at every 北.)
    RESCAN_OWN: ClassVar[bool] = True

    def analyze(self, text: str, match: re.Match[str], group: str, pattern: Pattern) -> Iterable[Entity]:
        start, end = match.span(group)
        return [Entity(self.ENTITIES[0], start, end, pattern.score, self.NAME)]

    def scanner_alone(self, pattern: Pattern) -> Callable[[str], list[Entity]] | None:
        """A faster way to get, for a text, every entity the engine's scan finds when
        ``pattern`` is the only pattern that can match in it (its trigger alone occurs):
        the same entities in the same order. ``None``: the engine scans as usual."""
        return None

    def span_analyzer(self, pattern: Pattern) -> Callable[[str, int, int], list[Entity]] | None:
        """A faster ``analyze`` for matches of ``pattern`` (a pattern without named groups
        of its own and no rescan), called with the match's span: the same entities.
        ``None``: the engine calls ``analyze``."""
        return None

    def match_finder(self, pattern: Pattern) -> Callable[[str, int], tuple[int, int] | None] | None:
        """A faster ``search`` for ``pattern`` alone: the span of its leftmost match at or
        after a position, or ``None``. ``None``: the engine uses ``re``."""
        return None
