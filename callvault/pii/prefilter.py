"""Which texts need the full scan at all: one multi-pattern pass over every trigger.

Most turns of a call hold no personal data. Each built-in pattern declares a *trigger*: a
cheap regex that every one of its matches contains (a digit, ``@``, two Chinese digits in
a row, a cue word …). A text in which no trigger occurs cannot hold a match, so the engine
returns nothing without running the big ``re`` alternation or any Python per match.

Hyperscan (Intel's multi-pattern DFA engine, a manylinux wheel) runs all triggers in one
pass at several hundred MB/s; where it is not installed, or cannot compile a trigger, one
``re`` alternation does the same job more slowly. Measured on the benchmark corpus (one
call per turn, so per-call overhead counts): re 10.8, google-re2 20.5, Hyperscan 55.8 MB/s.
Both answer the same question; the tests run with whichever is installed, and a test pins
the ``re`` fallback. With the C extension (``callvault.pii._digits``) the Hyperscan call per
text is made in C (``Hits``), and in front of the ``re`` fallback a prefix test
(``prefixes.py``) rules out most texts before the alternation runs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

from callvault.pii.prefixes import native, prefix_test

__all__ = ["Prefilter", "Trigger"]

Trigger = tuple[str, bool]
"""A trigger regex (no lookaround, no named groups) and whether it ignores case."""


_NONE: frozenset[int] = frozenset()


class Prefilter:
    """``may_match(text)`` is False only if no trigger occurs in ``text``."""

    def __init__(self, triggers: Sequence[Trigger], *, engine: str = "auto") -> None:
        self.engine = "re"
        self._hyperscan: Any = None
        self._local = threading.local()
        if engine in ("auto", "hyperscan"):
            self._hyperscan = _hyperscan_database(triggers)
            if self._hyperscan is not None:
                self.engine = "hyperscan"
        self._all = frozenset(range(len(triggers)))
        self._re = re.compile("|".join(f"(?i:{regex})" if caseless else f"(?:{regex})" for regex, caseless in triggers))
        # Without Hyperscan: first a compiled look for the ways a trigger can begin (most
        # texts hold none, and are done without the alternation). With it, the look costs
        # about what it saves (measured), so Hyperscan runs alone. None without the C extension.
        self._prefixes = (
            prefix_test([re.compile(regex, re.IGNORECASE if caseless else 0) for regex, caseless in triggers])
            if self._hyperscan is None
            else None
        )
        self._record = _record_hit()
        # the hot path, a closure over what it needs (one call a turn of every call)
        self.hits: Callable[[str], frozenset[int]] = (
            self._re_hits() if self._hyperscan is None else self._hyperscan_hits()
        )
        """``hits(text)``: indexes of the triggers that occur in ``text`` (empty: none does).
        The ``re`` fallback does not tell them apart: any occurrence gives every index."""

    def may_match(self, text: str) -> bool:
        return bool(self.hits(text))

    def _re_hits(self) -> Callable[[str], frozenset[int]]:
        search, everything, prefixes = self._re.search, self._all, self._prefixes

        def hits(text: str) -> frozenset[int]:
            if prefixes is not None and not prefixes.occurs(text):
                return _NONE
            return everything if search(text) is not None else _NONE

        return hits

    def _hyperscan_hits(self) -> Callable[[str], frozenset[int]]:
        import hyperscan

        database, scan, record, local = self._hyperscan, self._hyperscan.scan, self._record, self._local
        compiled = native()
        if compiled is not None:  # the same call in C: no Python frame, a frozenset per set of hits
            return compiled.Hits(scan, local, lambda: hyperscan.Scratch(database), record)  # type: ignore[no-any-return]

        def hits(text: str) -> frozenset[int]:
            try:
                scratch = local.scratch
            except AttributeError:  # the first scan of this thread
                scratch = local.scratch = hyperscan.Scratch(database)
            found: list[int] = []
            # lone surrogates cannot be encoded; "?" is no trigger and removes none. Each
            # trigger reports at most once (single-match), so scanning on is cheaper than
            # stopping early (which raises inside the binding).
            scan(text.encode("utf-8", "replace"), record, 0, found, scratch)
            return frozenset(found) if found else _NONE

        return hits


def _on_match(expression: int, start: int, end: int, flags: int, hits: list[int]) -> None:
    hits.append(expression)


def _record_hit() -> Any:
    """Hyperscan's match callback: the C extension's (a third of the cost), else Python's."""
    compiled = native()
    return _on_match if compiled is None else compiled.record_hit


def _hyperscan_database(triggers: Sequence[Trigger]) -> Any:
    try:
        import hyperscan
    except ImportError:
        return None
    flags = [
        hyperscan.HS_FLAG_UTF8
        | hyperscan.HS_FLAG_UCP
        | hyperscan.HS_FLAG_SINGLEMATCH
        | (hyperscan.HS_FLAG_CASELESS if caseless else 0)
        for _, caseless in triggers
    ]
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        database.compile(
            expressions=[regex.encode() for regex, _ in triggers], ids=list(range(len(triggers))), flags=flags
        )
    except Exception:  # hyperscan.error: a trigger it cannot compile; re does them all
        return None
    return database
