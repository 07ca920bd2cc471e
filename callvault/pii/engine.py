"""One scanning pass per text.

Every recognizer's patterns are compiled into a single alternation of named groups; the
text is scanned once with ``finditer`` and each match is handed to the recognizer that
owns the pattern. Overlaps (possible only between a tenant recognizer and a built-in one,
or after a run is split) are resolved by: higher score wins, then the longer span, then the
earlier start.

Before the scan, one multi-pattern pass (``prefilter``: Hyperscan, or ``re``) looks for
any pattern's trigger; most turns of a call have none and are done at that point.

A text that needs it is normalized before the scan (see ``normalize``): full-width digits
and letters folded to ASCII and a mid-line speaker label turned into a turn boundary, one
code point for one, so offsets stay those of the original text; a line whose every Chinese
character is spaced out by the ASR is scanned compact and the spans are mapped back. The
prefilter's own triggers say which texts need any of this, so the others skip it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from callvault.pii.model import Entity
from callvault.pii.normalize import NORMALIZE_TRIGGERS, fold_width, mark_turns, unspace
from callvault.pii.prefilter import Prefilter
from callvault.pii.recognizers.base import Pattern, Recognizer

__all__ = ["Analyzer", "resolve_overlaps"]

_MAX_VARIANTS = 512  # compiled alternations kept per analyzer, one per set of triggers seen


def _resolve_cluster(cluster: list[Entity]) -> list[Entity]:
    ranked = sorted(cluster, key=lambda e: (-e.score, -(e.end - e.start), e.start))
    kept: list[Entity] = []
    for entity in ranked:
        if all(entity.end <= other.start or entity.start >= other.end for other in kept):
            kept.append(entity)
    return kept


def resolve_overlaps(entities: list[Entity]) -> list[Entity]:
    """Non-overlapping entities in text order (linear unless spans really overlap)."""
    end = -1
    for entity in entities:
        if entity.start < end:
            break
        end = entity.end
    else:
        return entities  # already in order, none overlapping: the common case
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
    # A set of several triggers is scanned by merging single-pattern searches until it has
    # been seen this often, then by its own compiled alternation: merging costs about a
    # microsecond more a text, compiling an alternation a few milliseconds once.
    merge_until = 256

    def __init__(
        self, recognizers: Sequence[Recognizer], *, entities: frozenset[str] | None = None, prefilter: str = "auto"
    ) -> None:
        """``prefilter``: "auto" (Hyperscan if installed, else ``re``), "re", or "none"."""
        self.recognizers = list(recognizers)
        self.entities = entities
        self._owners: dict[str, tuple[Recognizer, Pattern]] = {}
        self._parts: list[tuple[str, Pattern]] = []  # (named group, pattern), in priority order
        for r_index, recognizer in enumerate(self.recognizers):
            for p_index, pattern in enumerate(recognizer.PATTERNS):
                name = f"p{r_index}_{p_index}"
                self._parts.append((name, pattern))
                self._owners[name] = (recognizer, pattern)
        self._regex = self._compile(range(len(self._parts)))
        # per pattern: where a pattern of another recognizer could start (None: anywhere)
        self._others: dict[str, re.Pattern[str] | None] = {}
        for name, _ in self._parts:
            owner = self._owners[name][0]
            firsts = [p.first for r in self.recognizers for p in r.PATTERNS if r is not owner or owner.RESCAN_OWN]
            self._others[name] = (
                re.compile("[" + "".join(f for f in firsts if f) + "]") if firsts and all(firsts) else None
            )
        self._variants: dict[frozenset[int], re.Pattern[str] | None] = {}
        self._seen: dict[frozenset[int], int] = {}  # texts merged, per set of triggers
        # a text in which one pattern's trigger alone occurs may be scanned by its recognizer
        # (the digits pattern in compiled code: most turns that hold a value)
        self._alone: dict[frozenset[int], Callable[[str], list[Entity]]] = {}
        # each pattern alone (compiled when first needed), or its compiled search
        self._single: dict[int, re.Pattern[str] | None] = {}
        self._runs: dict[int, Callable[[str, int], tuple[int, int] | None]] = {}
        # and a match of such a pattern among others, from its span
        self._spans: dict[str, Callable[[str, int, int], list[Entity]]] = {}
        for index, (name, pattern) in enumerate(self._parts):
            recognizer = self._owners[name][0]
            scan = recognizer.scanner_alone(pattern)
            if scan is not None:
                self._alone[frozenset([index])] = scan
            span = recognizer.span_analyzer(pattern)
            if span is not None and not pattern.rescan:
                self._spans[name] = span
            runs = recognizer.match_finder(pattern)
            if runs is not None:
                self._runs[index] = runs
        produced = {kind for recognizer in self.recognizers for kind in recognizer.ENTITIES}
        self._filter = entities is not None and not produced <= entities
        triggers = [pattern.trigger for _, pattern in self._parts]
        # after the patterns' triggers, those of texts that need normalizing first
        self._normalize = frozenset(range(len(triggers), len(triggers) + len(NORMALIZE_TRIGGERS)))
        self._prefilter = (
            Prefilter([*(t for t in triggers if t is not None), *NORMALIZE_TRIGGERS], engine=prefilter)
            if self._parts and all(triggers) and prefilter != "none"
            else None
        )
        self._hits = None if self._prefilter is None else self._prefilter.hits

    def _compile(self, chosen: Iterable[int]) -> re.Pattern[str] | None:
        """One alternation of the chosen patterns (in priority order) behind a first-character gate."""
        picked = [self._parts[i] for i in sorted(chosen)]
        if not picked:
            return None
        alternation = "|".join(f"(?P<{name}>{pattern.regex})" for name, pattern in picked)
        firsts = [pattern.first for _, pattern in picked]
        if all(firsts):
            # One character-class test rejects every position no pattern can start at; a
            # pattern starting with a Latin letter only ever starts a word.
            joined = "".join(f for f in firsts if f)
            latin = "".join(
                c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if re.match(f"[{joined}]", c)
            )
            other = f"[{joined}]" if not latin else f"(?![A-Za-z])[{joined}]"
            gate = f"(?={other})" if not latin else f"(?:(?={other})|(?<![A-Za-z])(?=[{latin}]))"
            alternation = f"{gate}(?:{alternation})"
        return re.compile(alternation)

    def _regex_for(self, hits: frozenset[int]) -> re.Pattern[str] | None:
        """The alternation of only the patterns whose trigger occurs in the text: a turn
        with digits and no Latin cue word is scanned without any Latin pattern."""
        regex = self._variants.get(hits, self._regex)
        if hits not in self._variants:
            regex = self._compile(hits)
            if len(self._variants) < _MAX_VARIANTS:
                self._variants[hits] = regex
        return regex

    def _scan(self, regex: re.Pattern[str], text: str, position: int, found: list[Entity]) -> int | None:
        """Scan from ``position`` (``finditer``, in C) until a rescan pattern's entities end
        before its match does; returns where to scan again, or ``None`` when done."""
        owners, spans = self._owners, self._spans
        for match in regex.finditer(text, position):
            name = match.lastgroup
            # lastgroup is the outermost group that closed last: ours wrap each pattern
            while name is not None and name not in owners:
                name = next((g for g, span in match.groupdict().items() if span is not None and g in owners), None)
            if name is None:
                continue
            direct = spans.get(name)
            if direct is not None:  # the compiled digit scanner: no rescan, one call
                found.extend(direct(text, match.start(), match.end()))
                continue
            recognizer, pattern = owners[name]
            before = len(found)
            found.extend(recognizer.analyze(text, match, name, pattern))
            if pattern.rescan:
                # resume where what was found ends, so a value inside the match is still seen
                resume = max([match.start() + 1, *(e.end for e in found[before:])])
                others = self._others.get(name)
                if others is not None and len(found) == before:
                    # nothing found: only where another recognizer's pattern can start
                    # ("北京市北京市…" is not rescanned at every 北)
                    inside = others.search(text, resume, match.end())
                    resume = inside.start() if inside is not None else match.end()
                if resume < match.end():
                    return resume
        return None

    def analyze(self, text: str) -> list[Entity]:
        if self._regex is None or not text:
            return []
        hits = None
        if self._hits is not None:
            hits = self._hits(text)
            if not hits:
                return []  # no trigger occurs: nothing can match, nothing to normalize
            alone = self._alone.get(hits)
            if alone is not None:  # one pattern's trigger, none for normalizing
                found = alone(text)
                return found if len(found) < 2 and not self._filter else self._finish(found)
            if hits.isdisjoint(self._normalize):
                return self._analyze(text, hits, plain=True)
        # code point for code point: offsets stay those of the original
        text = mark_turns(fold_width(text))
        compact = unspace(text)
        if compact is None:
            return self._analyze(text, None if hits is None else self._prefilter.hits(text))  # type: ignore[union-attr]
        # every character spaced out by the ASR: scan the compact text, map spans back
        view, positions = compact
        return [
            Entity(e.type, positions[e.start], positions[e.end - 1] + 1, e.score, e.recognizer)
            for e in self._analyze(view, None if hits is None else self._prefilter.hits(view))  # type: ignore[union-attr]
        ]

    def _analyze(self, text: str, hits: frozenset[int] | None, *, plain: bool = False) -> list[Entity]:
        regex: re.Pattern[str] | None = self._regex
        if hits is not None:
            if not plain:
                hits = hits - self._normalize
                if not hits:
                    return []  # no pattern's trigger occurs: nothing can match
                alone = self._alone.get(hits)
                if alone is not None:
                    return self._finish(alone(text))
            regex = self._variants.get(hits)
            if regex is None and 1 < len(hits) < len(self._parts):
                seen = self._seen[hits] = self._seen.get(hits, 0) + 1
                if seen <= self.merge_until:
                    return self._finish(self._merge(text, sorted(hits)))
            regex = regex or self._regex_for(hits)
        if regex is None:
            return []
        found: list[Entity] = []
        position: int | None = 0
        while position is not None:
            position = self._scan(regex, text, position, found)
        return self._finish(found)

    def _next(self, index: int, text: str, position: int) -> tuple[int, int, re.Match[str] | None] | None:
        """The leftmost match of pattern ``index`` alone at or after ``position``."""
        runs = self._runs.get(index)
        if runs is not None:
            span = runs(text, position)
            return None if span is None else (span[0], span[1], None)
        regex = self._single.get(index)
        if regex is None:
            regex = self._single[index] = self._compile([index])
        match = regex.search(text, position)  # type: ignore[union-attr]
        return None if match is None else (match.start(), match.end(), match)

    def _merge(self, text: str, indexes: list[int]) -> list[Entity]:
        """What ``finditer`` over the alternation of these patterns gives, from each
        pattern's own leftmost match: the earliest wins, the first pattern on a tie, the
        scan goes on where the match (or its rescan) ends, and only a pattern whose next
        match starts before that is searched again. No alternation is compiled per set of
        triggers, and the digits pattern is searched in compiled code."""
        parts, owners, spans = self._parts, self._owners, self._spans
        ahead = {i: self._next(i, text, 0) for i in indexes}
        found: list[Entity] = []
        while True:
            best: int | None = None
            for i in indexes:
                candidate = ahead[i]
                if candidate is not None and (best is None or candidate[0] < ahead[best][0]):  # type: ignore[index]
                    best = i
            if best is None:
                return found
            start, end, match = ahead[best]  # type: ignore[misc]
            name, pattern = parts[best]
            position = end
            direct = spans.get(name)
            if direct is not None:
                found.extend(direct(text, start, end))
            else:
                if match is None:  # a compiled search gave the span: the match for analyze
                    match = self._single[best].match(text, start)  # type: ignore[union-attr]
                recognizer = owners[name][0]
                before = len(found)
                found.extend(recognizer.analyze(text, match, name, pattern))  # type: ignore[arg-type]
                if pattern.rescan:
                    resume = max([start + 1, *(e.end for e in found[before:])])
                    others = self._others.get(name)
                    if others is not None and len(found) == before:
                        inside = others.search(text, resume, end)
                        resume = inside.start() if inside is not None else end
                    position = min(resume, end)
            for i in indexes:
                candidate = ahead[i]
                if candidate is not None and candidate[0] < position:
                    ahead[i] = self._next(i, text, position)

    def _finish(self, found: list[Entity]) -> list[Entity]:
        if self._filter:
            found = [e for e in found if e.type in self.entities]  # type: ignore[operator]
        if len(found) > 1:
            found = resolve_overlaps(found)
        return found
