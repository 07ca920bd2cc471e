"""Live calls: start, end, read, and the fact the policy decision point asks for.

A call binds one agent to one customer while it lasts: the ``live_call`` condition of the
policy (an agent's reveal) holds exactly between ``start`` and ``end``. Calls are started
and ended by the CTI integration (a service account with ``calls:write``).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.pdp import Resource, enforce, record_failure
from callvault.calls.models import LiveCall
from callvault.calls.schemas import CallRead, CallStart
from callvault.core import clock
from callvault.core.errors import Conflict, NotFound

__all__ = ["end", "get_or_raise", "has_live_call", "live_customer_ids", "start"]


def _read(call: LiveCall) -> CallRead:
    return CallRead(
        id=call.id,
        agent=call.agent,
        customer_id=call.customer_id,
        direction=call.direction,
        started_at=call.started_at,
        ended_at=call.ended_at,
        live=call.ended_at is None,
    )


def _resource(actor: Actor, call_id: str, customer_id: uuid.UUID | None = None, owner: str | None = None) -> Resource:
    subject = None if customer_id is None else str(customer_id)
    return Resource(type="call", tenant_id=actor.tenant_id, id=call_id, subject_id=subject, owner=owner)


def start(*, db_session: Session, actor: Actor, call_in: CallStart) -> CallRead:
    resource = _resource(actor, call_in.id, call_in.customer_id)
    enforce(db_session, actor, "call.start", resource)
    from callvault.vault.customers.models import Customer

    if db_session.get(Customer, (actor.tenant_id, call_in.customer_id)) is None:
        record_failure(db_session, actor, "call.start", resource, "customer.not_found")
        raise NotFound("Customer not found", code="customer.not_found")
    if db_session.get(LiveCall, (actor.tenant_id, call_in.id)) is not None:
        record_failure(db_session, actor, "call.start", resource, "call.exists")
        raise Conflict("A call with this id exists", code="call.exists")
    call = LiveCall(
        tenant_id=actor.tenant_id,
        id=call_in.id,
        agent=call_in.agent,
        customer_id=call_in.customer_id,
        direction=call_in.direction,
        started_at=clock.now(),
        started_by=actor.actor_id,
    )
    db_session.add(call)
    db_session.flush()
    return _read(call)


def _load(db_session: Session, actor: Actor, action: str, call_id: str) -> LiveCall:
    call = db_session.get(LiveCall, (actor.tenant_id, call_id))
    if call is None:
        enforce(db_session, actor, action, _resource(actor, call_id), outcome="not_found")
        raise NotFound("Call not found", code="call.not_found")
    enforce(db_session, actor, action, _resource(actor, call_id, call.customer_id, owner=call.agent))
    return call


def end(*, db_session: Session, actor: Actor, call_id: str) -> CallRead:
    """End the call (idempotent): the agent's call-bound rights end with it."""
    call = _load(db_session, actor, "call.end", call_id)
    if call.ended_at is None:
        call.ended_at = clock.now()
        db_session.flush()
    return _read(call)


def get_or_raise(*, db_session: Session, actor: Actor, call_id: str) -> CallRead:
    return _read(_load(db_session, actor, "call.read", call_id))


def has_live_call(*, db_session: Session, tenant_id: str, agent: str, customer_id: uuid.UUID) -> bool:
    """Is ``agent`` on a live call with ``customer_id`` now? (the PDP's ``live_call`` fact)"""
    return (
        db_session.scalar(
            select(LiveCall.id)
            .where(
                LiveCall.tenant_id == tenant_id,
                LiveCall.agent == agent,
                LiveCall.customer_id == customer_id,
                LiveCall.ended_at.is_(None),
            )
            .limit(1)
        )
        is not None
    )


def live_customer_ids(*, db_session: Session, tenant_id: str, agent: str) -> list[uuid.UUID]:
    """Customers bound to the agent's live calls (they join the agent's own list)."""
    return list(
        db_session.scalars(
            select(LiveCall.customer_id).where(
                LiveCall.tenant_id == tenant_id, LiveCall.agent == agent, LiveCall.ended_at.is_(None)
            )
        )
    )
