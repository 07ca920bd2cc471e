"""Streaming redaction for real-time ASR: partial segments in, safe text out.

A number may be split across segments ("幺三八一二" / "三四五六七八"). The redactor keeps the
text not yet emitted and, after each segment, emits only up to the start of the trailing
part that could still grow into an entity: the run of characters an entity can contain at
the end (digits in any spelling, separators, e-mail characters), any entity that touches
the end, and a few characters after a name cue. Already emitted text stays available as
context (so "验证码是" in one segment still qualifies "4821" in the next) but is never
emitted twice. ``flush`` emits the rest at the end of the utterance.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from callvault.pii.engine import Analyzer
from callvault.pii.redact import Mode, Tokenizer, apply_operators

__all__ = ["StreamingRedactor"]

_OPEN_TAIL = re.compile(
    r"(?:[0-9零〇一幺二两三四五六七八九A-Za-z@._%+\-#()（）:：]|[ ,，、](?=[0-9零〇一幺二两三四五六七八九A-Za-z]))*$"
)
_CONTEXT_KEEP = 32
_MAX_HOLD = 96
_NAME_CUE = re.compile(r"(?:我叫|我是|我姓|姓名|名字|联系人|客户|收件人|持卡人)[:：\s]*[\u4e00-\u9fff]{0,3}$")


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

    def _hold_from(self, buffer: str, offset: int, entities: list[tuple[int, int]]) -> int:
        """Index in ``buffer`` from which text must be held back."""
        hold = len(buffer)
        tail = _OPEN_TAIL.search(buffer, offset)
        if tail is not None and tail.start() < hold:
            hold = tail.start()
        cue = _NAME_CUE.search(buffer, offset)
        if cue is not None:
            hold = min(hold, cue.start())
        for start, end in entities:
            if end >= len(buffer) - 1:
                hold = min(hold, start)
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
        cut = len(buffer) if final else self._hold_from(buffer, offset, [(e.start, e.end) for e in found])
        # never cut through an entity: move the cut to its start
        for entity in found:
            if entity.start < cut < entity.end:
                cut = max(offset, entity.start)
        emitted_entities = [e for e in found if e.start >= offset and e.end <= cut]
        part = buffer[offset:cut]
        shifted = [type(e)(e.type, e.start - offset, e.end - offset, e.score, e.recognizer) for e in emitted_entities]
        out = apply_operators(part, shifted, self._mode, hash_key=self._hash_key, tokenizer=self._tokenizer)
        self._pending = buffer[cut:]
        self._context = (self._context + part)[-_CONTEXT_KEEP:]
        return out
