"""Recordings and transcripts at the edge."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

__all__ = [
    "BlankedInterval",
    "PlaybackLinkCreate",
    "PlaybackLinkRead",
    "RecordingCreate",
    "RecordingRead",
    "RecordingSettingsRead",
    "RecordingSettingsUpdate",
    "SecurePauseRead",
    "SecurePauseStart",
    "TranscriptCreate",
    "TranscriptRead",
    "TranscriptSegment",
    "Word",
]

CallId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\w.\-:@/]+$")]
Variant = Literal["redacted", "original"]
AUDIO_TYPES = frozenset(
    {
        "audio/wav",
        "audio/x-wav",
        "audio/wave",
        "audio/vnd.wave",
        "audio/mpeg",
        "audio/ogg",
        "audio/opus",
        "audio/webm",
        "audio/flac",
        "audio/mp4",
        "application/octet-stream",  # any other format, stored and played as opaque bytes
    }
)
WAV_TYPES = frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"})


class RecordingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    call_id: CallId
    started_at: datetime | None = Field(
        default=None, description="When the recorder started; default the call's start."
    )
    retention_class: str = Field(default="recording", min_length=1, max_length=32, pattern=r"^[a-z0-9_\-]+$")


class BlankedInterval(BaseModel):
    start: float = Field(description="Seconds from the start of the recording.")
    end: float
    why: str = Field(description="`secure_pause` or `pii:<TYPE>`: the timeline shows a lock there.")


class RecordingRead(BaseModel):
    id: uuid.UUID
    call_id: str
    customer_id: uuid.UUID
    agent: str
    content_type: str
    started_at: datetime
    duration_seconds: float | None
    sample_rate: int | None
    channels: int | None
    size: int
    sha256: str
    original: Literal["sealed", "tenant_sealed", "discarded"]
    redaction: Literal["pending_transcript", "redacted", "unsupported"]
    redacted_size: int | None
    blanked: list[BlankedInterval]
    has_transcript: bool
    retention_class: str
    legal_hold: bool
    created_at: datetime


class Word(BaseModel):
    model_config = ConfigDict(extra="forbid")

    word: str = Field(min_length=1, max_length=200)
    start: float = Field(ge=0, description="Seconds from the start of the recording.")
    end: float = Field(ge=0)


class TranscriptSegment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    speaker: str = Field(min_length=1, max_length=64)
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str = Field(max_length=100_000)
    words: list[Word] | None = None


class TranscriptCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: str | None = Field(default=None, max_length=16, pattern=r"^[A-Za-z\-]+$")
    segments: list[TranscriptSegment] = Field(max_length=200_000)


class TranscriptRead(BaseModel):
    recording_id: uuid.UUID
    variant: Variant
    language: str | None
    segments: list[TranscriptSegment]
    blanked: list[BlankedInterval]


class PlaybackLinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variant: Variant = "redacted"
    reason: str | None = Field(default=None, max_length=500, description="Needed for the original, by default.")


class PlaybackLinkRead(BaseModel):
    url: str = Field(description="GET it (with the same session's bearer token); Range requests welcome.")
    token: str
    variant: Variant
    expires_at: datetime
    duration_seconds: float | None
    blanked: list[BlankedInterval]


class SecurePauseStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("max_seconds", mode="before")
    @classmethod
    def _seconds_is_a_number(cls, value: object) -> object:
        return _no_bool(value)

    max_seconds: int = Field(default=300, ge=1, le=3600, description="The pause ends by itself after this long.")
    source: Literal["agent", "api", "dtmf"] = "api"


class SecurePauseRead(BaseModel):
    id: uuid.UUID
    call_id: str
    started_at: datetime
    ended_at: datetime | None
    max_seconds: int
    source: str
    active: bool


class RecordingSettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("margin_ms", mode="before")
    @classmethod
    def _margin_is_a_number(cls, value: object) -> object:
        return _no_bool(value)

    keep_original: StrictBool | None = Field(
        default=None, description="False: redacted-only (the original is discarded)."
    )
    redaction_fill: Literal["tone", "silence"] | None = None
    margin_ms: int | None = Field(default=None, ge=0, le=2000)
    tenant_public_key: str | None = Field(
        default=None,
        pattern=r"^(|[A-Za-z0-9+/]{43}=)$",
        description="Base64 of a raw X25519 public key: originals are sealed to it from now on (the server cannot "
        "play them); an empty string goes back to server-held keys.",
    )


class RecordingSettingsRead(BaseModel):
    keep_original: bool
    redaction_fill: Literal["tone", "silence"]
    margin_ms: int
    tenant_key_id: str | None = Field(description="Id of the registered tenant public key, if any.")


def _no_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("a number, not true/false")
    return value
