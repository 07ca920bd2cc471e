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

__all__ = ["fold_width", "needs_folding"]

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
