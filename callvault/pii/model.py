"""What the engine finds: typed spans with a score and the recognizer that found them."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class Entity:
    """``text[start:end]`` (Python string offsets) is an ``type`` with confidence ``score``."""

    type: str
    start: int
    end: int
    score: float
    recognizer: str

    def as_json(self) -> dict[str, object]:
        return {"type": self.type, "start": self.start, "end": self.end, "score": round(self.score, 3)}
