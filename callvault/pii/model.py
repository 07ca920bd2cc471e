"""What the engine finds: typed spans with a score and the recognizer that found them."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ENTITY_TYPES", "Entity"]

ENTITY_TYPES = (
    "PHONE_NUMBER",
    "CN_ID_CARD",
    "BANK_CARD",
    "EMAIL_ADDRESS",
    "PASSPORT",
    "VERIFICATION_CODE",
    "PERSON",
    "ADDRESS",
)


class Entity(NamedTuple):
    """``text[start:end]`` (Python string offsets) is an ``type`` with confidence ``score``.

    Immutable. A named tuple rather than a frozen dataclass: one is made per match, and a
    frozen dataclass's ``__init__`` (five ``object.__setattr__`` calls) cost a tenth of the
    time of a turn that holds a phone number."""

    type: str
    start: int
    end: int
    score: float
    recognizer: str

    def as_json(self) -> dict[str, object]:
        return {"type": self.type, "start": self.start, "end": self.end, "score": round(self.score, 3)}
