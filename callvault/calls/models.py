"""The live-call binding (one row per call from the CTI)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.db import Base, UtcDateTime

__all__ = ["LiveCall"]


class LiveCall(Base):
    __tablename__ = "live_call"
    __table_args__ = (
        Index("ix_live_call_tenant_agent_customer", "tenant_id", "agent", "customer_id", "ended_at"),
        Index("ix_live_call_customer", "tenant_id", "customer_id"),  # erasure: a subject's calls
        Index("ix_live_call_ended", "tenant_id", "ended_at"),  # retention: calls by end time
    )

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)  # the CTI's call id
    agent: Mapped[str] = mapped_column(String(150))  # the agent's username
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    direction: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    started_by: Mapped[str] = mapped_column(String(128))
