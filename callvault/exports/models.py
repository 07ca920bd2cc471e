"""Export requests and the tenant's export chain.

An export row keeps ids, counts, digests and times only: the purpose is the approval's
justification (sealed there), the file lives encrypted in the blob store under a data key
of the export's own (``key_id``, destroyed when the file is deleted). The row itself is
kept after the file is gone, so a file that leaks months later can still be traced.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.db import Base, UtcDateTime

__all__ = ["ExportRequest", "ExportSettings"]


class ExportRequest(Base):
    """One export: requested, approved (by its approval request), generated, delivered.

    ``status``: ``pending`` (waiting for the chain; read as ``denied``/``expired``/``revoked``
    from the approval) → ``queued`` → ``generating`` → ``ready`` (or ``failed``) →
    ``deleted`` (the file expired and is gone; the row stays for tracing)."""

    __tablename__ = "export_request"
    __table_args__ = (
        Index("ix_export_request_requester", "tenant_id", "requester_id", "created_at"),
        Index("ix_export_request_status", "tenant_id", "status"),
        Index("ix_export_request_due", "status", "expires_at"),  # the deletion sweep, across tenants
    )

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subject: Mapped[str] = mapped_column(String(32))
    requester_id: Mapped[str] = mapped_column(String(100))
    requester_username: Mapped[str] = mapped_column(String(128))
    requester_role: Mapped[str] = mapped_column(String(32))
    filters: Mapped[dict[str, Any]] = mapped_column(JSON)
    fields: Mapped[list[str]] = mapped_column(JSON)
    unmasked_fields: Mapped[list[str]] = mapped_column(JSON)
    estimated_rows: Mapped[int] = mapped_column(Integer)
    max_rows: Mapped[int | None] = mapped_column(Integer, default=None)
    levels: Mapped[str] = mapped_column(String(200))
    approval_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(String(16))
    progress_rows: Mapped[int] = mapped_column(Integer, default=0)
    row_count: Mapped[int | None] = mapped_column(Integer, default=None)
    skipped_rows: Mapped[int] = mapped_column(Integer, default=0)
    key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    files: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    max_downloads: Mapped[int] = mapped_column(Integer)
    csv_downloads: Mapped[int] = mapped_column(Integer, default=0)
    xlsx_downloads: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    file_hours: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class ExportSettings(Base):
    """A tenant's export chain and delivery limits (absent: the defaults)."""

    __tablename__ = "export_settings"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    levels: Mapped[str] = mapped_column(String(200))
    extra_level: Mapped[str] = mapped_column(String(32))
    rows_threshold: Mapped[int] = mapped_column(Integer)
    max_downloads: Mapped[int] = mapped_column(Integer)
    file_hours: Mapped[int] = mapped_column(Integer)
    request_hours: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(String(100))
