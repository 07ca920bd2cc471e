"""E-mail addresses (bounded, anchored repetitions: linear on any input)."""

from __future__ import annotations

from callvault.pii.recognizers.base import Pattern, Recognizer

__all__ = ["EmailRecognizer"]


class EmailRecognizer(Recognizer):
    NAME = "email"
    ENTITIES = ("EMAIL_ADDRESS",)
    PATTERNS = (
        Pattern(
            "email",
            r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,5}\.[A-Za-z]{2,24}"
            r"(?![A-Za-z0-9\-])",
            1.0,
            first=r"A-Za-z0-9._%+\-",
        ),
    )
