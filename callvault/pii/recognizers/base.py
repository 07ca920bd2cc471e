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
from typing import Any, ClassVar

from callvault.pii.model import Entity

__all__ = [
    "FOLDS_TO_ASCII",
    "Pattern",
    "Recognizer",
    "asked_before",
    "context_before",
    "fold_key",
    "match_prefixes",
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


# Characters outside ASCII that re's IGNORECASE matches with an ASCII letter, and that
# letter; tests/pii/test_compiled.py checks the list against every code point.
FOLDS_TO_ASCII = {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}
_PREFIX = 3  # characters
_MAX_PREFIXES = 256


def fold_key(char: str) -> str:
    """One key for every character re's IGNORECASE takes for an ASCII letter (itself
    otherwise): two characters one pattern element can both match have the same key."""
    return FOLDS_TO_ASCII.get(char) or (char.lower() if char.isascii() else char)


def match_prefixes(pattern: re.Pattern[str]) -> list[str] | None:
    """Every way a match of ``pattern`` can begin: the ``fold_key`` of its first three
    characters (fewer when a match can be shorter, or the pattern holds something not read
    here), in any case and flags. ``None`` when that cannot be told (a match may be empty or
    start with any character). A window of text in which none of them occurs holds no
    match: the compiled digit scanner calls ``search`` only then."""
    try:
        from re import _constants as sre  # type: ignore[attr-defined]
        from re import _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern.pattern, pattern.flags)
    except Exception:  # another Python's private parser: no shortcut, never a wrong one
        return None
    closed: set[str] = set()
    repeats = (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT))

    class Unknown(Exception):
        pass

    def keys(op: Any, av: Any, caseless: bool) -> set[str] | None:
        """Keys of the characters one element matches; None: not a character set read here."""
        if op is sre.LITERAL:
            codes: Any = [av]
        elif op is sre.IN:
            codes = []
            for item_op, item_av in av:
                if item_op is sre.LITERAL:
                    codes.append(item_av)
                elif item_op is sre.RANGE and item_av[1] - item_av[0] < 256:
                    codes.extend(range(item_av[0], item_av[1] + 1))
                else:
                    return None  # NEGATE, CATEGORY, a wide range
        else:
            return None
        found = set()
        for code in codes:
            char = chr(code)
            if caseless and not char.isascii() and char.lower() != char.upper():
                raise Unknown  # a cased character outside ASCII: its case variants are not keyed
            found.add(fold_key(char))
        return found

    def walk(items: Any, open_: set[str], caseless: bool) -> set[str]:
        """The prefixes still growing after ``items``; finished ones go to ``closed``."""
        for op, av in items:
            if not open_:
                break
            if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
                continue  # zero width
            if op is sre.BRANCH:
                open_ = set().union(*(walk(branch, set(open_), caseless) for branch in av[1]))
            elif op is sre.SUBPATTERN:
                _, add, remove, inner = av
                open_ = walk(inner, open_, (caseless or bool(add & re.IGNORECASE)) and not remove & re.IGNORECASE)
            elif op in repeats:
                low, high, inner = av
                if "" in walk(inner, {""}, caseless):
                    closed.update(open_)  # an element that may match empty: stop here (shorter prefixes)
                    return set()
                grown, current = (set(open_) if low == 0 else set()), open_
                for count in range(1, min(high, _PREFIX) + 1):
                    current = walk(inner, current, caseless)
                    if count >= low:
                        grown |= current
                    elif count >= _PREFIX:
                        break
                open_ = grown if low <= _PREFIX else set()
            else:
                found = keys(op, av, caseless)
                if found is None:
                    closed.update(open_)  # not read here: what is known so far
                    return set()
                open_ = {p + k for p in open_ for k in found}
            if len(open_) + len(closed) > _MAX_PREFIXES:
                raise Unknown
            done = {p for p in open_ if len(p) >= _PREFIX}
            closed.update(done)
            open_ -= done
        return open_

    try:
        closed.update(walk(parsed, {""}, bool(pattern.flags & re.IGNORECASE)))
    except Unknown:
        return None
    if "" in closed or len(closed) > _MAX_PREFIXES:
        return None
    return sorted(closed)


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
