"""Streaming redaction for real-time ASR: partial segments in, safe text out.

A number may be split across segments ("幺三八一二" / "三四五六七八"). The redactor keeps the
text not yet emitted and, after each segment, emits only up to the start of the trailing
part that could still grow into an entity: the run of characters an entity can contain at
the end (digits in any spelling, separators, e-mail characters), any entity that touches
the end, and a few characters after a name cue. Already emitted text stays available as
context (so "验证码是" in one segment still qualifies "4821" in the next) but is never
emitted twice. ``flush`` emits the rest at the end of the utterance.

A final segment is emitted whole, so a value split across two final segments ("OK.
13812" / "345678") has its first part out before the second arrives: the engine still
sees the whole value (the emitted text is its context), and what is left of it is
replaced (starred under ``mask``, the full operator otherwise), never emitted in clear.
So that the part sent first is no more than a mask would show, a final segment that ends
in 7 or more digits that are nothing yet (or in an e-mail cut after its ``@``) has that
run starred: the next segment may complete it. Full-width digits and letters are folded before the tail is measured.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from callvault.pii.engine import Analyzer
from callvault.pii.model import Entity
from callvault.pii.normalize import fold_width
from callvault.pii.recognizers.numbers import NEGATIVE_CONTEXT
from callvault.pii.recognizers.person import SURNAMES
from callvault.pii.redact import Mode, Tokenizer, apply_operators, replacement

__all__ = ["StreamingRedactor"]

# Characters an entity can be made of (digits in any spelling, Latin letters, e-mail and
# phone punctuation), and separators that may sit inside one when more of it follows.
_TAIL_CHARS = frozenset("0123456789零〇一幺二两三四五六七八九@._%+-#()（）:：") | frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_INNER = frozenset("0123456789零〇一幺二两三四五六七八九ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_SEPARATORS = frozenset(" ,，、")
_CONTEXT_KEEP = 64
_MAX_HOLD = 96
_NAME_CUE = re.compile(r"(?:我叫|我是|我姓|姓名|名字|联系人|客户|收件人|持卡人)[:：\s]{0,4}[\u4e00-\u9fff]{0,3}$")
# A surname among the last characters may be a name an honorific or 本人 follows in the next
# segment ("胡" / "先生您好"): up to three trailing Chinese characters from it are held.
_SURNAME_TAIL = re.compile("[" + "".join(sorted(SURNAMES)) + "][\u4e00-\u9fff]{0,2}$")
# A final segment that ends in a character no value continues with (Chinese, ？。！，) ends a
# turn: the analysis sees a newline there, so "请提供一下您的护照号码？" / "E12345678" is a
# question and its answer. One that ends in a digit, letter or e-mail character may be the
# first part of a value read out in groups, and is not cut.
_NO_TURN_END = frozenset("0123456789零〇一幺二两三四五六七八九@._%+-#") | frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)


def _open_tail(buffer: str, offset: int) -> int:
    """Start of the trailing run that could still grow into an entity (walks back from the
    end, so it is linear however long the run is)."""
    i = len(buffer)
    while i > offset:
        c = buffer[i - 1]
        if c in _TAIL_CHARS or (c in _SEPARATORS and (i == len(buffer) or buffer[i] in _INNER)):
            i -= 1
        else:
            break
    return i


_RUN_DIGITS = frozenset("0123456789零〇一幺二两三四五六七八九")
_PARTIAL_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9.\-]{0,80}\Z")
_PARTIAL_DIGITS = 7  # fewer digits than a mask shows (3 + 4) may go out


def _partial_value(buffer: str, start: int) -> int:
    """Where the start of a value that the next segment may complete begins, at the end of
    a final segment (``len(buffer)`` if none): a run of 7 or more digits in any spelling
    that is nothing on its own yet (the first 17 characters of an ID), or an e-mail cut
    after its ``@``. Such a run is starred rather than sent; a shorter one is sent."""
    folded = fold_width(buffer)
    i, digits = len(folded), 0
    # the run may have begun in text already sent ("幺三八" / "一二三四"): count it all
    while i > 0 and len(folded) - i < 48:
        c = folded[i - 1]
        if c in _RUN_DIGITS:
            digits += 1
        elif not (c in " -" and i < len(folded) and folded[i] in _RUN_DIGITS):
            break
        i -= 1
    if digits >= _PARTIAL_DIGITS and not NEGATIVE_CONTEXT.search(folded, max(0, i - 12), i):
        return max(i, start)
    email = _PARTIAL_EMAIL.search(folded, max(start, len(folded) - 160))
    return max(email.start(), start) if email is not None else len(buffer)


class StreamingRedactor:
    def __init__(
        self,
        analyzer: Analyzer,
        mode: Mode | Mapping[str, Mode] = "mask",
        *,
        hash_key: bytes = b"",
        tokenizer: Tokenizer | None = None,
    ) -> None:
        self._analyzer = analyzer
        self._mode = mode
        self._hash_key = hash_key
        self._tokenizer = tokenizer
        self._context = ""  # emitted text kept only as context for the next analysis
        self._pending = ""

    def _hold_from(self, buffer: str, offset: int, entities: list[Entity]) -> int:
        """Index in ``buffer`` from which text must be held back."""
        folded = fold_width(buffer)
        hold = _open_tail(folded, offset)
        cue = _NAME_CUE.search(folded, max(offset, len(folded) - 16))
        if cue is not None:
            hold = min(hold, cue.start())
        surname = _SURNAME_TAIL.search(folded, max(offset, len(folded) - 3))
        if surname is not None:
            hold = min(hold, surname.start())
        for entity in entities:
            if entity.end >= len(buffer) - 1:
                hold = min(hold, entity.start)
        return max(offset, hold, len(buffer) - _MAX_HOLD)

    def feed(self, segment: str) -> str:
        """Add a segment; returns the text that is now safe to emit (already redacted)."""
        self._pending += segment
        return self._emit(final=False)

    def flush(self) -> str:
        return self._emit(final=True)

    def _emit(self, *, final: bool) -> str:
        buffer = self._context + self._pending
        offset = len(self._context)
        found = [e for e in self._analyzer.analyze(buffer) if e.end > offset]
        cut = len(buffer) if final else self._hold_from(buffer, offset, found)
        # never cut through an entity: move the cut to its start
        for entity in found:
            if entity.start < cut < entity.end:
                cut = max(offset, entity.start)
        out: list[str] = []
        start = offset
        # An entity that began in text already emitted (a value split across final
        # segments, "OK." / "138…"): what is left of it is replaced, never emitted.
        straddling = next((e for e in found if e.start < offset < e.end <= cut), None)
        if straddling is not None:
            out.append(self._remainder(buffer, straddling, offset))
            start = straddling.end
        inside = [
            Entity(e.type, e.start - start, e.end - start, e.score, e.recognizer)
            for e in found
            if e.start >= start and e.end <= cut
        ]
        end = cut
        if final:
            partial = _partial_value(buffer, start)
            if all(e.end <= partial for e in found):
                end = partial
        out.append(
            apply_operators(buffer[start:end], inside, self._mode, hash_key=self._hash_key, tokenizer=self._tokenizer)
        )
        out.append("".join(c if c.isspace() else "*" for c in buffer[end:cut]))
        self._pending = buffer[cut:]
        self._context = buffer[max(0, cut - _CONTEXT_KEEP) : cut]
        if final and self._context and not self._pending:
            last = fold_width(self._context[-1])
            if last not in _NO_TURN_END and not last.isspace():
                self._context += "\n"  # analysed, never emitted: the end of a turn
        return "".join(out)

    def _remainder(self, buffer: str, entity: Entity, offset: int) -> str:
        mode = self._mode if isinstance(self._mode, str) else self._mode.get(entity.type, "tag")
        if mode == "mask":  # the first part is out already: star all that is left
            return "".join(c if c.isspace() else "*" for c in buffer[offset : entity.end])
        value = buffer[entity.start : entity.end]
        return replacement(entity, value, mode, hash_key=self._hash_key, tokenizer=self._tokenizer)
