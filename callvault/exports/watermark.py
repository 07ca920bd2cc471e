"""The invisible fingerprint of an export, and the arithmetic that finds it again.

**Channel.** A masked value says how much it hides with stars (``138****5678``,
``张*``, ``1101**********1234``). The number of stars carries no information the reader
needs (the length of a mobile or ID number is fixed, and a name's length is better not
told at all), so each export chooses it: every *unit* (a run of stars with up to four
visible characters on each side) gets a star count of even or odd parity according to one
bit of ``HMAC(export key, left context | right context)``. The export key is the tenant's
keyed hash (``BlindIndexer`` under the field name ``export.watermark.v1:<export id>``):
without the tenant's index root nobody can compute or forge a bit.

**Why it survives.** The unit is read from the characters around the stars, not from the
row position, the column, the file format or whitespace: re-saving in a spreadsheet
program, copy-pasting rows into plain text, taking any subset and re-sorting keep every
unit and its star count; whitespace inside a cell is ignored (``6222 **** **** 1234`` and
``6222********1234`` are the same unit).

**Tracing.** Given the units of a leaked fragment, each stored export predicts a parity per
unit; the export that made the file predicts all of them, any other export about half
(its bits are independent of the file's). Distinct units are independent coin flips for a
wrong export, so the chance that a wrong export matches ``m`` of ``n`` is the binomial tail
``P(X >= m | n, 1/2)``; multiplied by the number of exports compared (Bonferroni), that is
the false-attribution probability, and ``1 -`` it the confidence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "CONTEXT_CHARS",
    "Score",
    "apply_fingerprint",
    "binomial_tail",
    "fingerprint_field",
    "score",
    "units_of",
]

CONTEXT_CHARS = 4
"""Visible characters taken on each side of a star run."""

_WHITESPACE = re.compile(r"\s+")
_STARS = re.compile(r"\*+")
_BOUNDARY = frozenset(",;|\"'\t")  # a context never reaches across a delimiter


def fingerprint_field(export_id: str) -> str:
    """The keyed-hash field name whose key derives one export's bits."""
    return f"export.watermark.v1:{export_id}"


_WHITESPACE_OR_BOUNDARY = re.compile("[\\s" + re.escape("".join(sorted(_BOUNDARY))) + "]")
_CONTEXT_CLASS = "[^" + re.escape("".join(sorted(_BOUNDARY)) + "*") + "]"
_UNIT = re.compile(f"({_CONTEXT_CLASS}{{0,{CONTEXT_CHARS}}})(\\*+)(?=({_CONTEXT_CLASS}{{0,{CONTEXT_CHARS}}}))")
"""In whitespace-free text: a star run (group 2) with its context, the up to
``CONTEXT_CHARS`` characters before it (group 1) and after it (group 3) that are neither
a star nor a delimiter. The left context is the longest such run ending at the stars,
because a match starts at the leftmost position that can reach them."""


def units_of(text: str) -> Iterator[tuple[str, int]]:
    """``(unit key, star count)`` for every run of stars in ``text`` (whitespace removed
    first); runs with no visible context on either side are not units."""
    if "*" not in text:
        return
    compact = _WHITESPACE.sub("", text)
    for match in _UNIT.finditer(compact):
        left, right = match.group(1), match.group(3)
        if left or right:
            yield f"{left}\x1f{right}", match.end(2) - match.start(2)


def apply_fingerprint(masked: str, bit: Callable[[str], int]) -> str:
    """``masked`` with each star run's count made even (bit 0) or odd (bit 1), by adding one
    star to the run's last group where needed. The visible characters are never changed, so
    the value discloses exactly what the plain mask does."""
    if "*" not in masked:
        return masked
    start = masked.find("*")
    end = masked.rfind("*") + 1
    if masked.count("*", start, end) == end - start and _WHITESPACE_OR_BOUNDARY.search(masked) is None:
        # one star run, nothing to skip or stop at (most masks: mobiles, ID numbers):
        # its unit is the up to CONTEXT_CHARS characters on each side, as _UNIT finds it
        left, right = masked[max(0, start - CONTEXT_CHARS) : start], masked[end : end + CONTEXT_CHARS]
        if (left or right) and (end - start) % 2 != bit(f"{left}\x1f{right}"):
            return f"{masked[:end]}*{masked[end:]}"
        return masked
    if _WHITESPACE.search(masked) is None:
        compact, positions = masked, None
    else:  # map positions of the whitespace-free text back to the original string
        positions = [index for index, char in enumerate(masked) if not char.isspace()]
        compact = "".join(masked[index] for index in positions)
    out: list[str] = []
    previous = 0
    for match in _UNIT.finditer(compact):
        left, right = match.group(1), match.group(3)
        if not (left or right):
            continue
        start, end = match.span(2)
        if (end - start) % 2 != bit(f"{left}\x1f{right}"):
            position = end if positions is None else positions[end - 1] + 1  # after the run's last star
            out.append(masked[previous:position])
            out.append("*")
            previous = position
    if not out:
        return masked
    out.append(masked[previous:])
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Score:
    units: int
    matches: int
    p_value: float


def binomial_tail(n: int, m: int) -> float:
    """``P(X >= m)`` for ``X ~ Binomial(n, 1/2)``, exact."""
    if m <= 0:
        return 1.0
    if m > n:
        return 0.0
    total = sum(math.comb(n, k) for k in range(m, n + 1))
    return float(total / (1 << n)) if n < 1000 else math.exp(math.log(total) - n * math.log(2))


def observed_units(texts: Iterable[str]) -> dict[str, int]:
    """Distinct units of a leaked fragment with the parity seen; a unit seen with both
    parities (edited, or two sources) is dropped."""
    seen: dict[str, int] = {}
    conflicting: set[str] = set()
    for text in texts:
        for key, count in units_of(text):
            parity = count % 2
            if key in seen and seen[key] != parity:
                conflicting.add(key)
            seen.setdefault(key, parity)
    for key in conflicting:
        del seen[key]
    return seen


def score(units: dict[str, int], bit: Callable[[str], int]) -> Score:
    """How many of the fragment's units one export's key predicts, and the chance a key
    unrelated to the fragment would predict at least as many."""
    matches = sum(1 for key, parity in units.items() if bit(key) == parity)
    return Score(len(units), matches, binomial_tail(len(units), matches))
