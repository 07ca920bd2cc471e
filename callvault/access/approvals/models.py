"""N-of-M approval requests, their votes, tenant webhooks and the webhook outbox.

Free text (the justification, each vote's comment) is sealed with a data key of the
request's own (a ``subject_key`` row of the tenant, wrapped by its KEK), bound to the row
as AAD; webhook secrets likewise, under a key per webhook. Targets and payloads hold ids
only. ``approver_roles`` is also kept as ``,role,role,`` text so a portable ``LIKE``
finds the requests a role may decide on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, ForeignKeyConstraint, Index, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.db import Base, UtcDateTime

__all__ = ["Approval", "ApprovalVote", "Webhook", "WebhookDelivery"]


class Approval(Base):
    """A request for access that ``required`` distinct approvers must grant.

    ``status``: ``pending`` → ``approved`` (then usable from ``valid_from`` until
    ``valid_until``) or ``denied`` (any approver said no) or ``expired`` (nobody decided
    before ``expires_at``; also read as expired before the sweep writes it) or
    ``revoked`` (the requester was offboarded)."""

    __tablename__ = "approval"
    __table_args__ = (
        Index("ix_approval_requester", "tenant_id", "requester_id", "kind", "status"),
        Index("ix_approval_status", "tenant_id", "status", "expires_at"),
        Index("ix_approval_due", "status", "expires_at"),  # the expiry sweep, across tenants
    )

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    requester_id: Mapped[str] = mapped_column(String(100))
    requester_kind: Mapped[str] = mapped_column(String(16))
    required: Mapped[int] = mapped_column(Integer)
    approver_roles: Mapped[str] = mapped_column(String(300))  # ",tenant_admin,security_officer,"
    key_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    justification_ct: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))
    approvals: Mapped[int] = mapped_column(Integer, default=0)
    grant_seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    valid_from: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class ApprovalVote(Base):
    """One approver's decision; the unique index makes a second vote a conflict even
    when two arrive at once."""

    __tablename__ = "approval_vote"
    __table_args__ = (
        Index("ix_approval_vote_approver", "tenant_id", "approval_id", "approver_id", unique=True),
        ForeignKeyConstraint(["tenant_id", "approval_id"], ["approval.tenant_id", "approval.id"]),
    )

    tenant_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    approval_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    approver_id: Mapped[str] = mapped_column(String(100))
    approver_role: Mapped[str] = mapped_column(String(32))
    approve: Mapped[bool] = mapped_column(Boolean)
    comment_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Webhook(Base):
    """A tenant's HTTP(S) endpoint for approval events; deleting one keeps the row
    (``deleted_at``) so its delivery history stays readable."""

    __tablename__ = "webhook"
    __table_args__ = (Index("ix_webhook_tenant", "tenant_id", "deleted_at"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(200), default=None)
    key_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    secret_ct: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class WebhookDelivery(Base):
    """The outbox: one row per event and endpoint, written in the transaction that made
    the event, sent by the background worker until delivered or out of attempts.

    ``status``: ``pending`` (due at ``next_attempt_at``), ``delivered``, ``failed``
    (``max_attempts`` spent) or ``cancelled`` (the endpoint was deleted). ``body`` is the
    exact JSON that is signed and sent, so every retry carries the same bytes."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_webhook", "tenant_id", "webhook_id", "created_at"),
        ForeignKeyConstraint(["tenant_id", "webhook_id"], ["webhook.tenant_id", "webhook.id"]),
    )

    tenant_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    webhook_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_status: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(String(64), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
