"""Per-subject data keys (DEKs), wrapped by the tenant KEK."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.db import Base, UtcDateTime

__all__ = ["SubjectKey"]


class SubjectKey(Base):
    """One data subject's DEK. Destroying ``wrapped_dek`` crypto-shreds the subject."""

    __tablename__ = "subject_key"
    __table_args__ = (Index("ix_subject_key_rewrap", "tenant_id", "kek_version"),)

    tenant_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kek_version: Mapped[int]
    wrapped_dek: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    destroyed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
