"""Time-bound grants: one person, some actions, maybe one customer, for a purpose, until.

A grant is how access outside a role's defaults is given: approved by the person who
creates it (never to themselves), bounded in time, revocable, and revoked at once when
its holder is offboarded (``revoke_all_for_user``, called by identity's offboarding).
The PDP's ``grant`` condition holds while an unrevoked grant covers the action.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import JSON, ForeignKey, Index, String, Uuid, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from callvault.access.actor import Actor
from callvault.access.decision import Resource
from callvault.core import clock
from callvault.core.db import Base, UtcDateTime
from callvault.core.errors import Forbidden, Invalid, NotFound

__all__ = [
    "GRANTABLE_ACTIONS",
    "AccessGrant",
    "GrantCreate",
    "GrantRead",
    "create_grant",
    "get_all_grants",
    "has_grant",
    "revoke_all_for_user",
    "revoke_grant",
]

GRANTABLE_ACTIONS = ("customer.read", "customer.list", "customer.search", "customer.reveal")
MAX_GRANT = timedelta(days=90)


class AccessGrant(Base):
    __tablename__ = "access_grant"
    __table_args__ = (Index("ix_access_grant_tenant_user", "tenant_id", "user_id", "valid_until"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    actions: Mapped[list[str]] = mapped_column(JSON)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    purpose: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime)
    valid_until: Mapped[datetime] = mapped_column(UtcDateTime)
    approved_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


Purpose = Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[a-z0-9_.\-:]+$")]


class GrantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID
    actions: list[Annotated[str, Field(pattern=r"^customer\.(read|list|search|reveal)$")]] = Field(
        min_length=1, max_length=4
    )
    customer_id: uuid.UUID | None = Field(default=None, description="Only this customer; omit for any customer.")
    purpose: Purpose = Field(description="A purpose code (e.g. `complaint.review`), not free text.")
    valid_from: AwareDatetime | None = Field(default=None, description="Default: now.")
    valid_until: AwareDatetime = Field(description="At most 90 days after valid_from.")

    @model_validator(mode="after")
    def _bounded(self) -> GrantCreate:
        start = self.valid_from or clock.now()
        if not start < self.valid_until <= start + MAX_GRANT:
            raise ValueError("valid_until must be after valid_from and at most 90 days later")
        return self


class GrantRead(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    actions: list[str]
    customer_id: uuid.UUID | None
    purpose: str
    valid_from: datetime
    valid_until: datetime
    approved_by: str
    created_at: datetime
    revoked_at: datetime | None
    active: bool


def _read(grant: AccessGrant, now: datetime) -> GrantRead:
    return GrantRead(
        id=grant.id,
        user_id=grant.user_id,
        actions=list(grant.actions),
        customer_id=grant.customer_id,
        purpose=grant.purpose,
        valid_from=grant.valid_from,
        valid_until=grant.valid_until,
        approved_by=grant.approved_by,
        created_at=grant.created_at,
        revoked_at=grant.revoked_at,
        active=grant.revoked_at is None and grant.valid_from <= now < grant.valid_until,
    )


def _resource(actor: Actor, grant_id: uuid.UUID | None = None, user_id: uuid.UUID | None = None) -> Resource:
    return Resource(
        type="grant",
        tenant_id=actor.tenant_id,
        id=None if grant_id is None else str(grant_id),
        subject_id=None if user_id is None else str(user_id),
    )


def create_grant(*, db_session: Session, actor: Actor, grant_in: GrantCreate) -> GrantRead:
    from callvault.access.identity.models import User
    from callvault.access.pdp import enforce, record_failure

    grant_id = uuid.uuid4()
    resource = _resource(actor, grant_id, grant_in.user_id)
    enforce(db_session, actor, "grant.create", resource)
    holder = db_session.get(User, (actor.tenant_id, grant_in.user_id))
    if holder is None or holder.status != "active":
        record_failure(db_session, actor, "grant.create", resource, "user.not_found")
        raise NotFound("User not found or not active", code="user.not_found")
    if actor.user_id is not None and str(grant_in.user_id) == actor.user_id:
        record_failure(db_session, actor, "grant.create", resource, "grant.self")
        raise Forbidden("Nobody can grant access to themselves", code="grant.self")
    if holder.role == "intern" and "customer.reveal" in grant_in.actions:
        record_failure(db_session, actor, "grant.create", resource, "grant.intern_reveal")
        raise Invalid("Interns cannot be granted reveal", code="grant.intern_reveal")
    now = clock.now()
    grant = AccessGrant(
        tenant_id=actor.tenant_id,
        id=grant_id,
        user_id=grant_in.user_id,
        actions=sorted(set(grant_in.actions)),
        customer_id=grant_in.customer_id,
        purpose=grant_in.purpose,
        valid_from=grant_in.valid_from or now,
        valid_until=grant_in.valid_until,
        approved_by=actor.actor_id,
        created_at=now,
    )
    db_session.add(grant)
    db_session.flush()
    return _read(grant, now)


def get_all_grants(*, db_session: Session, actor: Actor, user_id: uuid.UUID | None = None) -> list[GrantRead]:
    from callvault.access.pdp import enforce

    enforce(db_session, actor, "grant.read", _resource(actor, user_id=user_id))
    query = select(AccessGrant).where(AccessGrant.tenant_id == actor.tenant_id)
    if user_id is not None:
        query = query.where(AccessGrant.user_id == user_id)
    now = clock.now()
    return [_read(grant, now) for grant in db_session.scalars(query.order_by(AccessGrant.created_at))]


def revoke_grant(*, db_session: Session, actor: Actor, grant_id: uuid.UUID) -> GrantRead:
    from callvault.access.pdp import enforce

    grant = db_session.get(AccessGrant, (actor.tenant_id, grant_id))
    if grant is None:
        enforce(db_session, actor, "grant.revoke", _resource(actor, grant_id), outcome="not_found")
        raise NotFound("Grant not found", code="grant.not_found")
    enforce(db_session, actor, "grant.revoke", _resource(actor, grant_id, grant.user_id))
    now = clock.now()
    grant.revoked_at = grant.revoked_at or now
    db_session.flush()
    return _read(grant, now)


def revoke_all_for_user(db_session: Session, *, tenant_id: str, user_id: uuid.UUID, at: datetime) -> int:
    """Offboarding: every grant the user holds ends now; returns how many."""
    result = db_session.execute(
        update(AccessGrant)
        .where(AccessGrant.tenant_id == tenant_id, AccessGrant.user_id == user_id, AccessGrant.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def has_grant(
    *, db_session: Session, tenant_id: str, user_id: str, action: str, customer_id: uuid.UUID | None, at: datetime
) -> bool:
    """Does an active grant let ``user_id`` do ``action`` (on ``customer_id``) at ``at``?"""
    try:
        holder = uuid.UUID(user_id)
    except ValueError:
        return False
    grants = db_session.scalars(
        select(AccessGrant).where(
            AccessGrant.tenant_id == tenant_id,
            AccessGrant.user_id == holder,
            AccessGrant.revoked_at.is_(None),
            AccessGrant.valid_from <= at,
            AccessGrant.valid_until > at,
        )
    )
    return any(
        action in grant.actions and (grant.customer_id is None or grant.customer_id == customer_id) for grant in grants
    )
