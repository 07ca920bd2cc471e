"""Text as the recognizers see it: full-width forms folded to ASCII, offsets unchanged.

Chinese input methods and some ASR engines write digits and Latin letters full width
(``１３８１２３４５６７８``, ``ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ``); the vault accepts them as the
same values, so the engine must too. Folding is done code point for code point, so the
offset map back to the original text is the identity: an entity at ``[start, end)`` of the
folded text is at ``[start, end)`` of the original, and operators replace the original
characters. Chinese punctuation (，：（）) is left alone: the patterns already name it.
"""

from __future__ import annotations

import re

__all__ = ["NORMALIZE_TRIGGERS", "fold_width", "mark_turns", "needs_folding", "unspace"]

_FOLDED = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz@.+-_%#"
_TABLE = {ord(c) + 0xFEE0: ord(c) for c in _FOLDED} | {0x3000: ord(" ")}
_WIDE = re.compile("[" + "".join(re.escape(chr(k)) for k in sorted(_TABLE)) + "]")


def needs_folding(text: str) -> bool:
    """True if ``text`` holds a character that folding changes (one fast scan)."""
    return _WIDE.search(text) is not None


def fold_width(text: str) -> str:
    """``text`` with full-width digits, letters, e-mail/phone symbols and the ideographic
    space replaced by their ASCII forms; ``len(fold_width(t)) == len(t)`` always."""
    if _WIDE.search(text) is None:
        return text
    return text.translate(_TABLE)


# A speaker label in the middle of a line ("坐席：请问您的护照号码 客户：E12345678", a call put
# into one JSON line) starts a turn just as a newline does: the space before it becomes
# "\n" (one code point for one, offsets unchanged), so context reaches back over it the
# same way.
_LABELS = (
    r"(?:SPEAKER_\d{1,2}|spk_?\d{1,2}|坐席|客服|客户|用户|来电人|来电|[Aa]gent|[Cc]ustomer|[Cc]aller|[Rr]ep)\s?[:：]|"
    r"\[(?:坐席|客服|客户|用户|来电人|[Aa]gent|[Cc]aller|[Cc]ustomer|[Rr]ep)\]|[A-D]："
)
_MID_LABEL = re.compile(rf"(?<=\S) (?={_LABELS})")


def mark_turns(text: str) -> str:
    """``text`` with the space before a mid-line speaker label turned into a newline."""
    if ":" not in text and "：" not in text and "]" not in text:
        return text
    return _MID_LABEL.sub("\n", text)


_HAN = "\u4e00-\u9fff"
_SPACED = re.compile(rf"[{_HAN}] [{_HAN}0-9] [{_HAN}0-9] [{_HAN}]")
_GAP = re.compile(rf"(?<=[{_HAN}]) (?=[{_HAN}0-9A-Za-z])|(?<=[0-9A-Za-z]) (?=[{_HAN}])")
_SPACED_HAN = re.compile(rf"[{_HAN}] (?=[{_HAN}0-9])")
_ANY_HAN = re.compile(rf"[{_HAN}]")


def unspace(text: str) -> tuple[str, list[int]] | None:
    """ASR output that spaces every Chinese character ("我 叫 王 小 明", "验 证 码 是 3 8 4 1")
    reads as ordinary Chinese once the single spaces between characters are dropped. Returns
    the compact text and, for each of its code points, its index in ``text``; ``None`` when
    no line of ``text`` is spaced out (at least half its Chinese characters followed by a
    space and another character), which is nearly always."""
    if _SPACED.search(text) is None:
        return None
    pieces: list[str] = []
    positions: list[int] = []
    line_start = 0
    changed = False
    for line in text.split("\n"):
        han = len(_ANY_HAN.findall(line))
        if han >= 3 and 2 * len(_SPACED_HAN.findall(line)) >= han:
            keep = 0
            for gap in _GAP.finditer(line):
                pieces.append(line[keep : gap.start()])
                positions.extend(range(line_start + keep, line_start + gap.start()))
                keep = gap.end()
                changed = True
            pieces.append(line[keep:])
            positions.extend(range(line_start + keep, line_start + len(line)))
        else:
            pieces.append(line)
            positions.extend(range(line_start, line_start + len(line)))
        line_start += len(line) + 1
        pieces.append("\n")
        positions.append(line_start - 1)
    if not changed:
        return None
    pieces.pop()
    positions.pop()
    return "".join(pieces), positions


# What makes a text need the work above, as triggers for the prefilter (no lookaround): a
# text in which none occurs is scanned as it is, with no folding, turn marks or compaction.
NORMALIZE_TRIGGERS: list[tuple[str, bool]] = [
    (_WIDE.pattern, False),
    (f" (?:{_LABELS})", False),
    (_SPACED.pattern, False),
]
