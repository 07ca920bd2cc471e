"""Tenants, service accounts, people (``user_account``), their sessions, recovery codes
and the SCIM tokens identity providers provision them with.

Secrets are stored only as digests (session and SCIM tokens, recovery codes) or argon2id
hashes (passwords); the TOTP secret is sealed with a per-user data key of the tenant.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, ForeignKeyConstraint, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.db import Base, UtcDateTime

__all__ = ["RecoveryCode", "ScimToken", "ServiceAccount", "Tenant", "User", "UserSession"]


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
    # Staff feed (CSV from HR): users it manages are disabled when not seen for this long.
    feed_max_age_seconds: Mapped[int | None] = mapped_column(Integer, default=None)


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


class User(Base):
    """A person of one tenant. ``username`` is unique per tenant; ``status`` is one of
    ``active``, ``frozen`` (security hold: refused, kept), ``disabled`` (offboarded) or
    ``deleted`` (SCIM DELETE: hidden, kept for the audit trail)."""

    __tablename__ = "user_account"
    __table_args__ = (
        Index("ix_user_account_username", "tenant_id", "username", unique=True),
        Index("ix_user_account_external_id", "tenant_id", "external_id"),
        Index("ix_user_account_feed", "tenant_id", "source", "last_seen_in_feed_at"),
    )

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    username: Mapped[str] = mapped_column(String(150))
    display_name: Mapped[str | None] = mapped_column(String(200), default=None)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    role: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")
    disabled_by: Mapped[str | None] = mapped_column(String(16), default=None)
    offboarded_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    password_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    totp_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    totp_secret_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, default=None)
    source: Mapped[str] = mapped_column(String(16), default="local")  # local | scim | csv
    external_id: Mapped[str | None] = mapped_column(String(255), default=None)
    last_seen_in_feed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class UserSession(Base):
    """A login. The token is ``cvs_<id>.<secret>``; only the secret's digest is stored.

    Found by ``id`` before the tenant is known (``set_lookup_key``)."""

    __tablename__ = "user_session"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "user_id"], ["user_account.tenant_id", "user_account.id"]),
        Index("ix_user_session_user", "tenant_id", "user_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(63))
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    token_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    enrol_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    step_up_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class RecoveryCode(Base):
    """One single-use TOTP recovery code, stored as a digest (80 random bits each)."""

    __tablename__ = "user_recovery_code"
    __table_args__ = (ForeignKeyConstraint(["tenant_id", "user_id"], ["user_account.tenant_id", "user_account.id"]),)

    tenant_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    code_digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class ScimToken(Base):
    """Bearer token of a tenant's identity provider: ``cvscim_<id>.<secret>``, digest only."""

    __tablename__ = "scim_token"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"))
    name: Mapped[str] = mapped_column(String(100))
    token_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
