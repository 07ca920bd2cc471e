"""Audit tables: the append-only event log, its Merkle nodes and signed tree heads.

One global log (not one per tenant): operator actions span tenants, and one chain of
signed heads is simpler to anchor off-site. Every query path still starts with
``tenant_id`` in its index. Database triggers refuse UPDATE and DELETE on all three tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.db import Base, UtcDateTime

__all__ = ["AuditEvent", "AuditNode", "TreeHead", "VerifiedHead"]


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_tenant_seq", "tenant_id", "seq"),
        Index("ix_audit_event_tenant_actor", "tenant_id", "actor_id", "seq"),
        Index("ix_audit_event_tenant_subject", "tenant_id", "subject_id", "seq"),
        Index("ix_audit_event_tenant_action", "tenant_id", "action", "seq"),
        Index("ix_audit_event_tenant_time", "tenant_id", "time"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    time: Mapped[datetime] = mapped_column(UtcDateTime)
    tenant_id: Mapped[str] = mapped_column(String(63))
    actor_id: Mapped[str] = mapped_column(String(128))
    actor_kind: Mapped[str] = mapped_column(String(32))
    actor_role: Mapped[str | None] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(128))
    subject_id: Mapped[str | None] = mapped_column(String(128))
    purpose: Mapped[str | None] = mapped_column(String(1024))  # sealed purposes are longer than typed ones
    decision: Mapped[str] = mapped_column(String(8))
    mask: Mapped[str | None] = mapped_column(String(16))
    rule: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(String(300))
    request_id: Mapped[str | None] = mapped_column(String(64))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(16))
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditNode(Base):
    """Hash of a perfect Merkle subtree (level 0 = leaves): proofs need O(log n) of them."""

    __tablename__ = "audit_node"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class TreeHead(Base):
    __tablename__ = "audit_tree_head"

    size: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    time: Mapped[datetime] = mapped_column(UtcDateTime)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


class VerifiedHead(Base):
    """A signed tree head that ``audit verify`` found consistent with the events, when, and
    a signature over both by the audit key: where the next routine verify starts, so it
    costs O(new events). Append-only like the log."""

    __tablename__ = "audit_verified_head"

    size: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    verified_at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
