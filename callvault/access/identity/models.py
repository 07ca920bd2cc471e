"""Tenants and service accounts (people come with the identity issue: see ``user``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.db import Base, UtcDateTime

__all__ = ["ServiceAccount", "Tenant"]


class Tenant(Base):
    __tablename__ = "tenant"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")
    kek_ref: Mapped[str] = mapped_column(String(128))
    index_key_version: Mapped[int]
    index_key_wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ServiceAccount(Base):
    """A machine identity of one tenant (the platform backend), authenticated by API key.

    Looked up by ``key_id`` before the tenant is known, so this table carries no row-level
    security; it holds only digests of secrets.
    """

    __tablename__ = "service_account"
    __table_args__ = (Index("ix_service_account_tenant", "tenant_id", "name"),)

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"))
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    key_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
