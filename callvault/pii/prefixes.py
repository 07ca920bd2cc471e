"""How a match of a regex can begin: a test that rules text out before ``re`` or Hyperscan runs.

``match_prefixes(pattern)`` reads the pattern (``re``'s own parser) and lists every way a
match can begin: up to four character sets in a row, one per character. A text, or a window
of one, in which no prefix occurs holds no match, so the caller skips the search. Characters
are compared by ``fold_key``, one key for all the characters ``re``'s IGNORECASE takes for
one another, so a prefix holds for any case and flags. Whatever the reader does not know
(a category such as ``\\d``, a negated set, a cased character outside ASCII under
IGNORECASE) ends the prefix there: a shorter prefix rules out less, never a match.

``prefix_test(patterns)`` compiles the prefixes of several patterns into one test in the C
extension (``callvault.pii._digits``); ``None`` when it is not built or some pattern can
begin anywhere. ``prefixes_occur`` is the same test in Python, the reference.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["FOLDS_TO_ASCII", "Prefix", "fold_key", "match_prefixes", "native", "prefix_test", "prefixes_occur"]

# Characters outside ASCII that re's IGNORECASE matches with an ASCII letter, and that
# letter; tests/pii/test_compiled.py checks the list against every code point.
FOLDS_TO_ASCII = {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}
_LENGTH = 4  # characters a prefix holds at most (the C extension takes up to 6)
_MAX_PREFIXES = 256
_WIDE = 512  # a range wider than this is kept as a range, not listed

Ranges = tuple[tuple[int, int], ...]
"""Fold keys, as inclusive code point ranges."""
Prefix = tuple[Ranges, ...]
"""One character set per character."""


def fold_key(char: str) -> str:
    """One key for every character re's IGNORECASE takes for an ASCII letter (itself
    otherwise): two characters that one pattern element matches have the same key."""
    return FOLDS_TO_ASCII.get(char) or (char.lower() if char.isascii() else char)


def _ranges(codes: set[int]) -> Ranges:
    out: list[tuple[int, int]] = []
    for code in sorted(codes):
        if out and out[-1][1] + 1 == code:
            out[-1] = (out[-1][0], code)
        else:
            out.append((code, code))
    return tuple(out)


class _Unknown(Exception):
    """Something the reader cannot key: the prefix ends before it."""


def _keys(op: Any, av: Any, caseless: bool, sre: Any) -> Ranges:
    """The keys of the characters one element matches."""
    if op is sre.LITERAL:
        items: list[tuple[Any, Any]] = [(sre.LITERAL, av)]
    elif op is sre.IN:
        items = av
    else:
        raise _Unknown
    codes: set[int] = set()
    wide: list[tuple[int, int]] = []
    for item_op, item_av in items:
        if item_op is sre.LITERAL:
            span = [item_av]
        elif item_op is sre.RANGE and item_av[1] - item_av[0] < _WIDE:
            span = list(range(item_av[0], item_av[1] + 1))
        elif item_op is sre.RANGE:
            low, high = item_av
            chars = (chr(c) for c in range(low, high + 1))
            if caseless and any(c.lower() != c.upper() for c in chars):
                raise _Unknown  # a wide range with cased characters
            wide.append((low, high))
            # case-sensitive: its ASCII capitals and folding characters key differently
            codes.update(ord(fold_key(chr(c))) for c in range(max(low, 65), min(high, 90) + 1))
            codes.update(ord(k) for f, k in FOLDS_TO_ASCII.items() if low <= ord(f) <= high)
            continue
        else:
            raise _Unknown  # NEGATE, CATEGORY
        for code in span:
            char = chr(code)
            if caseless and not char.isascii() and char.lower() != char.upper() and char not in FOLDS_TO_ASCII:
                raise _Unknown  # its case variants are not keyed
            codes.add(ord(fold_key(char)))
    merged = sorted([*_ranges(codes), *wide])
    out: list[tuple[int, int]] = []
    for low, high in merged:
        if out and low <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return tuple(out)


def match_prefixes(pattern: re.Pattern[str]) -> list[Prefix] | None:
    """Every way a match of ``pattern`` can begin (see the module docstring), or ``None``
    when a match may be empty or begin with any character."""
    try:
        from re import _constants as sre  # type: ignore[attr-defined]
        from re import _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern.pattern, pattern.flags)
    except Exception:  # another Python's private parser: no shortcut, never a wrong one
        return None
    closed: set[Prefix] = set()
    repeats = (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT))

    def walk(items: Any, open_: set[Prefix], caseless: bool) -> set[Prefix]:
        """The prefixes still growing after ``items``; finished ones go to ``closed``."""
        for op, av in items:
            if not open_:
                break
            if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
                continue  # zero width
            before = open_
            if op is sre.BRANCH:
                open_ = set().union(*(walk(branch, set(open_), caseless) for branch in av[1]))
            elif op is sre.SUBPATTERN:
                _, add, remove, inner = av
                open_ = walk(inner, open_, (caseless or bool(add & re.IGNORECASE)) and not remove & re.IGNORECASE)
            elif op in repeats:
                low, high, inner = av
                kept = set(closed)
                nullable = () in walk(inner, {()}, caseless)  # a probe: what it closes is not ours
                closed.clear()
                closed.update(kept)
                if nullable:
                    closed.update(open_)  # an element that may match empty: the prefixes end here
                    return set()
                grown, current = (set(open_) if low == 0 else set()), open_
                for count in range(1, min(high, _LENGTH) + 1):
                    current = walk(inner, current, caseless)
                    if count >= low:
                        grown |= current
                open_ = grown if low <= _LENGTH else set()
            else:
                try:
                    keys = _keys(op, av, caseless, sre)
                except _Unknown:
                    closed.update(open_)
                    return set()
                open_ = {(*p, keys) for p in open_}
            if len(open_) + len(closed) > _MAX_PREFIXES:
                # too many ways: the prefixes end before this element (what a branch or
                # repeat finished inside is still in ``closed``, all of them true prefixes)
                closed.update(before)
                return set()
            done = {p for p in open_ if len(p) >= _LENGTH}
            closed.update(done)
            open_ -= done
        return open_

    closed.update(walk(parsed, {()}, bool(pattern.flags & re.IGNORECASE)))
    if () in closed or len(closed) > _MAX_PREFIXES:
        return None
    return sorted(closed)


def prefixes_occur(prefixes: Sequence[Prefix], text: str, low: int = 0, high: int | None = None) -> bool:
    """True if one of ``prefixes`` begins in ``text[low:high]`` and fits before ``high``."""
    high = len(text) if high is None else high
    keys = [ord(fold_key(c)) for c in text[low:high]]
    for i in range(len(keys)):
        for prefix in prefixes:
            if i + len(prefix) <= len(keys) and all(
                any(a <= keys[i + k] <= b for a, b in ranges) for k, ranges in enumerate(prefix)
            ):
                return True
    return False


def native() -> Any:
    """The C extension ``callvault.pii._digits``, or ``None`` when it is not built (see
    setup.py): every caller then takes its pure-Python path, with the same results."""
    try:
        return importlib.import_module("callvault.pii._digits")
    except ImportError:
        return None


def prefix_test(patterns: Sequence[re.Pattern[str]]) -> Any:
    """One compiled test for the prefixes of all ``patterns`` (``occurs(text, low, high)``),
    or ``None``: the extension is not built, or one of them can begin anywhere."""
    _digits = native()
    if _digits is None:
        return None
    everything: list[Prefix] = []
    for pattern in patterns:
        prefixes = match_prefixes(pattern)
        if prefixes is None:
            return None
        everything.extend(prefixes)
    return _digits.PrefixTest(everything)
