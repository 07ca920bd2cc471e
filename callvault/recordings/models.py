"""Recordings, transcripts, secure pauses, playback links and per-tenant recording settings.

Audio lives in the blob store, sealed with ``crypto.stream`` under a key derived from the
customer's data key (``subject_key_id``); rows hold ids, times and digests, never audio or
words. Transcript text is sealed with the same data key as a field (AAD bound to the row).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.db import Base, UtcDateTime

__all__ = ["PlaybackLink", "Recording", "RecordingSettings", "SecurePause", "Transcript"]


class Recording(Base):
    """One call recording.

    ``original_state``: ``sealed`` (kept, under a key derived from the customer's data key),
    ``tenant_sealed`` (under a random key sealed to the tenant's X25519 public key,
    ``original_wrapped_key``: the server cannot open it; ``working_blob`` keeps a copy under
    the customer's key until the transcript's redaction is done) or ``discarded``
    (redacted-only policy, once the redacted copy is complete).
    ``redaction_state``: ``pending_transcript`` (the redacted copy blanks secure pauses
    only), ``redacted`` (PII spans too) or ``unsupported`` (not a 16-bit PCM WAV).
    """

    __tablename__ = "recording"
    __table_args__ = (
        Index("ix_recording_call", "tenant_id", "call_id"),
        Index("ix_recording_customer", "tenant_id", "customer_id"),
        Index("ix_recording_agent", "tenant_id", "agent"),
    )

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    agent: Mapped[str] = mapped_column(String(150))
    subject_key_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    content_type: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    sample_rate: Mapped[int | None] = mapped_column(Integer, default=None)
    channels: Mapped[int | None] = mapped_column(Integer, default=None)
    size: Mapped[int] = mapped_column(BigInteger)  # plaintext bytes of the original
    sha256: Mapped[str] = mapped_column(String(64))  # of the plaintext original
    original_blob: Mapped[str | None] = mapped_column(String(200))
    original_state: Mapped[str] = mapped_column(String(16))
    original_wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # tenant-held key mode
    working_blob: Mapped[str | None] = mapped_column(String(200), default=None)  # tenant-held key mode, until redacted
    redacted_blob: Mapped[str | None] = mapped_column(String(200), default=None)
    redacted_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    redacted_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    redaction_state: Mapped[str] = mapped_column(String(24), default="none")
    blanked: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"start": s, "end": s, "why": ...}]
    retention_class: Mapped[str] = mapped_column(String(32), default="recording")
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    uploaded_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Transcript(Base):
    """The ASR transcript of a recording: original and redacted segments, each sealed JSON."""

    __tablename__ = "transcript"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "recording_id"], ["recording.tenant_id", "recording.id"], name="fk_transcript_recording"
        ),
    )

    tenant_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    recording_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subject_key_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    language: Mapped[str | None] = mapped_column(String(16))
    segment_count: Mapped[int] = mapped_column(Integer)
    original_ct: Mapped[bytes | None] = mapped_column(LargeBinary)  # None: redacted-only policy
    redacted_ct: Mapped[bytes] = mapped_column(LargeBinary)
    entities: Mapped[int] = mapped_column(Integer)  # PII spans found (count only)
    retention_class: Mapped[str] = mapped_column(String(32), default="recording")
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SecurePause(Base):
    """An interval of a call during which nothing may be kept (card numbers read out):
    blanked in the recording and transcript even if the recorder kept running."""

    __tablename__ = "secure_pause"
    __table_args__ = (Index("ix_secure_pause_call", "tenant_id", "call_id", "started_at"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    max_seconds: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))  # agent | api | dtmf
    started_by: Mapped[str] = mapped_column(String(128))


class PlaybackLink(Base):
    """A short-lived permission to stream one recording, bound to the session that asked
    for it after a step-up (only the SHA-256 of the token is stored)."""

    __tablename__ = "playback_link"
    __table_args__ = (Index("ix_playback_link_recording", "tenant_id", "recording_id"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    recording_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    variant: Mapped[str] = mapped_column(String(16))
    session_id: Mapped[str] = mapped_column(String(128))
    actor_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RecordingSettings(Base):
    """Per-tenant recording policy: keep the original or only the redacted copy, the fill
    of redacted spans and the margin around them."""

    __tablename__ = "recording_settings"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    keep_original: Mapped[bool] = mapped_column(Boolean, default=True)
    redaction_fill: Mapped[str] = mapped_column(String(16), default="tone")
    margin_ms: Mapped[int] = mapped_column(Integer, default=150)
    tenant_public_key: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)  # X25519, raw
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
