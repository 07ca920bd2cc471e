"""One scanning pass per text.

Every recognizer's patterns are compiled into a single alternation of named groups; the
text is scanned once with ``finditer`` and each match is handed to the recognizer that
owns the pattern. Overlaps (possible only between a tenant recognizer and a built-in one,
or after a run is split) are resolved by: higher score wins, then the longer span, then the
earlier start.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from callvault.pii.model import Entity
from callvault.pii.recognizers.base import Pattern, Recognizer

__all__ = ["Analyzer", "resolve_overlaps"]


def _resolve_cluster(cluster: list[Entity]) -> list[Entity]:
    ranked = sorted(cluster, key=lambda e: (-e.score, -(e.end - e.start), e.start))
    kept: list[Entity] = []
    for entity in ranked:
        if all(entity.end <= other.start or entity.start >= other.end for other in kept):
            kept.append(entity)
    return kept


def resolve_overlaps(entities: list[Entity]) -> list[Entity]:
    """Non-overlapping entities in text order (linear unless spans really overlap)."""
    ordered = sorted(entities, key=lambda e: (e.start, e.end))
    result: list[Entity] = []
    cluster: list[Entity] = []
    cluster_end = -1
    for entity in ordered:
        if cluster and entity.start >= cluster_end:
            result.extend(cluster if len(cluster) == 1 else _resolve_cluster(cluster))
            cluster = []
        cluster.append(entity)
        cluster_end = max(cluster_end, entity.end) if len(cluster) > 1 else entity.end
    result.extend(cluster if len(cluster) <= 1 else _resolve_cluster(cluster))
    return sorted(result, key=lambda e: e.start)


class Analyzer:
    def __init__(self, recognizers: Sequence[Recognizer], *, entities: frozenset[str] | None = None) -> None:
        self.recognizers = list(recognizers)
        self.entities = entities
        parts: list[str] = []
        self._owners: dict[str, tuple[Recognizer, Pattern]] = {}
        for r_index, recognizer in enumerate(self.recognizers):
            for p_index, pattern in enumerate(recognizer.PATTERNS):
                name = f"p{r_index}_{p_index}"
                parts.append(f"(?P<{name}>{pattern.regex})")
                self._owners[name] = (recognizer, pattern)
        firsts = [pattern.first for recognizer in self.recognizers for pattern in recognizer.PATTERNS]
        alternation = "|".join(parts)
        if parts and all(firsts):
            # One character-class test rejects every position no pattern can start at; a
            # pattern starting with a Latin letter only ever starts a word.
            joined = "".join(f for f in firsts if f)
            latin = "".join(
                c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if re.match(f"[{joined}]", c)
            )
            other = f"[{joined}]" if not latin else f"(?![A-Za-z])[{joined}]"
            gate = f"(?={other})" if not latin else f"(?:(?={other})|(?<![A-Za-z])(?=[{latin}]))"
            alternation = f"{gate}(?:{alternation})"
        self._regex = re.compile(alternation) if parts else None

    def analyze(self, text: str) -> list[Entity]:
        if self._regex is None or not text:
            return []
        found: list[Entity] = []
        owners = self._owners
        for match in self._regex.finditer(text):
            name = match.lastgroup
            # lastgroup is the outermost group that closed last: ours wrap each pattern
            while name is not None and name not in owners:
                name = next((g for g, span in match.groupdict().items() if span is not None and g in owners), None)
            if name is None:
                continue
            recognizer, pattern = owners[name]
            found.extend(recognizer.analyze(text, match, name, pattern))
        if self.entities is not None:
            found = [e for e in found if e.type in self.entities]
        if len(found) > 1:
            found = resolve_overlaps(found)
        return found
