"""E-mail addresses, anchored on the ``@`` (bounded repetitions: linear on any input).

Matching starts at the ``@`` so the scanner never tries a pattern at every letter of
ordinary text; the local part is taken by looking back from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from callvault.pii.model import Entity
from callvault.pii.recognizers.base import Pattern, Recognizer

__all__ = ["EmailRecognizer"]

_LOCAL_TAIL = re.compile(r"[A-Za-z0-9._%+\-]{1,64}\Z")


class EmailRecognizer(Recognizer):
    NAME = "email"
    ENTITIES = ("EMAIL_ADDRESS",)
    PATTERNS = (
        Pattern(
            "email",
            r"(?<=[A-Za-z0-9._%+\-])@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,5}\.[A-Za-z]{2,24}(?![A-Za-z0-9\-])",
            1.0,
            first="@",
            rescan=False,
            trigger=("@", False),
        ),
    )

    def analyze(self, text: str, match: re.Match[str], group: str, pattern: Pattern) -> Iterable[Entity]:
        at, end = match.span(group)
        local = _LOCAL_TAIL.search(text, max(0, at - 64), at)
        if local is None:
            return []
        return [Entity("EMAIL_ADDRESS", local.start(), end, pattern.score, self.NAME)]
