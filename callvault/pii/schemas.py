"""PII API schemas (limits are enforced by the router, with a 413 that names them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EntityOut", "RedactRequest", "RedactResponse", "ScanRequest", "ScanResponse"]

MAX_TEXTS = 1000
MAX_TEXT_CHARS = 200_000
MAX_TOTAL_CHARS = 2_000_000

ModeName = Literal["mask", "tag", "hash", "token", "remove"]


class ScanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[str] = Field(min_length=1)
    entities: list[str] | None = Field(default=None, description="Entity types to look for (default: all).")


class EntityOut(BaseModel):
    type: str
    start: int
    end: int
    score: float


class ScanResponse(BaseModel):
    results: list[list[EntityOut]]


class RedactRequest(ScanRequest):
    mode: ModeName = "mask"
    per_type: dict[str, ModeName] | None = Field(default=None, description="Operator per entity type.")


class RedactResponse(BaseModel):
    texts: list[str]
