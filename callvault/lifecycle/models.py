"""Lifecycle tables: consent ledger, data schema, retention, legal holds, sweeps, erasure
ledger, DSAR requests. No behaviour here; every table holds ``tenant_id`` first."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.db import Base, UtcDateTime

__all__ = [
    "Consent",
    "DataSchema",
    "DsarRequest",
    "ErasureEntry",
    "KeyEpoch",
    "LegalHold",
    "RetentionPolicy",
    "SweepRun",
]


class Consent(Base):
    """One consent event (given or withdrawn); rows are only ever added. The current state
    of (subject, purpose, partner) is its newest row."""

    __tablename__ = "consent"
    __table_args__ = (
        Index("ix_consent_subject", "tenant_id", "subject_id", "purpose", "partner", "recorded_at"),
        Index("ix_consent_evidence", "tenant_id", "evidence_until"),
    )

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    purpose: Mapped[str] = mapped_column(String(32))
    partner: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16))  # given | withdrawn
    channel: Mapped[str] = mapped_column(String(16))
    notice_hash: Mapped[str] = mapped_column(String(64))
    notice_version: Mapped[str] = mapped_column(String(32))
    evidence_ref: Mapped[str | None] = mapped_column(String(128))
    evidence_hash: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_by: Mapped[str] = mapped_column(String(128))
    evidence_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    receipt: Mapped[str] = mapped_column(Text)
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class DataSchema(Base):
    """One version of a tenant's data schema (which customer fields it may collect, for
    which purposes); the newest applies. No row: every field is allowed."""

    __tablename__ = "data_schema"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(128))


class RetentionPolicy(Base):
    __tablename__ = "retention_policy"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    data_class: Mapped[str] = mapped_column(String(32), primary_key=True)
    days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(String(128))


class LegalHold(Base):
    """A hold on one subject (``subject_id``) or on a case (``subject_id`` null: every
    subject, for the data classes named, or all of them)."""

    __tablename__ = "legal_hold"
    __table_args__ = (Index("ix_legal_hold_active", "tenant_id", "released_at", "subject_id"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    case_ref: Mapped[str] = mapped_column(String(64))
    data_classes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(128))
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    released_by: Mapped[str | None] = mapped_column(String(128), default=None)


class SweepRun(Base):
    """One retention sweep: its cut-off is fixed when it starts, so a resumed run deletes
    exactly what the interrupted one would have."""

    __tablename__ = "sweep_run"
    __table_args__ = (Index("ix_sweep_run_status", "tenant_id", "status"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    as_of: Mapped[datetime] = mapped_column(UtcDateTime)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))  # running | done
    progress: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_by: Mapped[str] = mapped_column(String(128))
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    certificate: Mapped[str | None] = mapped_column(Text, default=None)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)


class ErasureEntry(Base):
    """The database's copy of one erasure-ledger entry (the authoritative ledger is the
    append-only file outside the database, replayed into a restored copy)."""

    __tablename__ = "erasure_ledger"
    __table_args__ = (Index("ix_erasure_ledger_subject", "tenant_id", "subject_hash"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subject_hash: Mapped[str] = mapped_column(String(64))
    erased_at: Mapped[datetime] = mapped_column(UtcDateTime)
    entry: Mapped[str] = mapped_column(Text)
    certificate: Mapped[str] = mapped_column(Text)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    replayed: Mapped[bool] = mapped_column(Boolean, default=False)


class KeyEpoch(Base):
    """When the tenant KEK was last rotated to retire wrapped keys held by old copies."""

    __tablename__ = "key_epoch"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rotated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    rewrapped: Mapped[int] = mapped_column(Integer)


class DsarRequest(Base):
    """A data-subject request and its legal deadline."""

    __tablename__ = "dsar_request"
    __table_args__ = (Index("ix_dsar_due", "tenant_id", "completed_at", "due_at"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(16))  # access | erasure
    regime: Mapped[str] = mapped_column(String(8))  # gdpr | pipl
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    requested_by: Mapped[str] = mapped_column(String(128))
