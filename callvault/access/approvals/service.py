"""N-of-M approvals: request, decide, use; reused by full-data access, bulk reads,
break-glass review, and later exports and erasure.

A request names a ``kind``, a ``target`` (ids only) and a justification (sealed, never
logged). ``required`` distinct people whose role is in ``approver_roles`` must approve,
never the requester; one "no" ends it; nobody deciding before ``expires_at`` ends it too.
An approved request is usable by its requester for ``grant_window`` from the final vote:
the policy decision point asks ``active_approval`` and audits the use (``mark_used``).

Every step is an audit event (``approval.request``, ``approval.approve``, ``approval.deny``,
``approval.grant``, ``approval.expire``, ``approval.revoke``, ``approval.use``), with ids
only. Step events are appended inside the transaction that makes the step
(``log.record_many_in``), so a vote and its event commit or vanish together; the PDP's
own decision and any refusal are recorded before anything is written (``log.record``),
as everywhere else. Approvers learn of new requests from the in-app list and from the
tenant's signed webhooks (``approvals.webhooks``), queued in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callvault.access.actor import ROLES, Actor
from callvault.access.approvals import webhooks
from callvault.access.approvals.models import Approval, ApprovalVote
from callvault.access.approvals.schemas import (
    ApprovalPage,
    ApprovalRead,
    ApprovalStatus,
    VoteRead,
    check_comment,
    check_justification,
    check_kind,
    check_target,
)
from callvault.access.decision import Decision, Resource
from callvault.access.pdp import enforce, record_failure
from callvault.access.policy import effective_policy
from callvault.audit import log
from callvault.core import clock
from callvault.core.db import tenant_session
from callvault.core.errors import Conflict, Forbidden, Invalid, NotFound, StepUpRequired
from callvault.vault.fields.service import new_subject_keys, open_subject_key, tenant_keys, time_ordered_uuid

__all__ = [
    "DEFAULT_APPROVER_ROLES",
    "KIND_POLICIES",
    "LEVELS_IN_ORDER",
    "READ_ALL_ROLES",
    "KindPolicy",
    "active_approval",
    "create_request",
    "current_level",
    "decide",
    "effective_status",
    "expire_due",
    "get_all",
    "get_or_raise",
    "mark_used",
    "read",
    "revoke_requests_of",
]

DEFAULT_APPROVER_ROLES = ("tenant_admin", "security_officer")
READ_ALL_ROLES = frozenset({"auditor"})
"""Roles that see every request of their tenant (read-only) besides their own and the
ones they may decide."""


class KindPolicy:
    """The chain a kind requested over the API gets: the requester never chooses it."""

    def __init__(
        self,
        required: int = 2,
        approver_roles: Sequence[str] = DEFAULT_APPROVER_ROLES,
        expires_in: timedelta = timedelta(hours=24),
        grant_window: timedelta = timedelta(hours=1),
    ) -> None:
        self.required = required
        self.approver_roles = tuple(approver_roles)
        self.expires_in = expires_in
        self.grant_window = grant_window


KIND_POLICIES: dict[str, KindPolicy] = {
    "full_data": KindPolicy(),
    "bulk_read": KindPolicy(),
    "break_glass_review": KindPolicy(grant_window=timedelta(hours=1)),
}

_TABLE, _VOTE_TABLE = "approval", "approval_vote"
_MAX_REQUIRED = 10
_MIN_EXPIRY, _MAX_EXPIRY = timedelta(minutes=5), timedelta(days=30)
_MIN_WINDOW, _MAX_WINDOW = timedelta(minutes=1), timedelta(days=7)


# -- helpers ------------------------------------------------------------------------------
def _resource(tenant_id: str, approval_id: uuid.UUID | None = None) -> Resource:
    return Resource(type="approval", tenant_id=tenant_id, id=str(approval_id) if approval_id else None)


def _roles_text(roles: Iterable[str]) -> str:
    return "," + ",".join(roles) + ","


def _roles_of(approval: Approval) -> list[str]:
    return [role for role in approval.approver_roles.split(",") if role]


LEVELS_IN_ORDER = "levels_in_order"
"""Target key (``true``) of a request whose approver roles are levels decided in order, one
approval per level (exports: security officer, then DPO, then ...)."""


def current_level(approval: Approval) -> str | None:
    """The role whose vote is due on an ordered request; None for an unordered one."""
    if approval.target.get(LEVELS_IN_ORDER) is not True:
        return None
    roles = _roles_of(approval)
    return roles[min(approval.approvals, len(roles) - 1)]


def effective_status(approval: Approval, at: datetime) -> ApprovalStatus:
    """The stored status, except that a pending request past ``expires_at`` is expired
    (whether or not the sweep has written it yet)."""
    if approval.status == "pending" and at >= approval.expires_at:
        return "expired"
    return approval.status  # type: ignore[return-value]


def _is_active(approval: Approval, at: datetime) -> bool:
    return (
        approval.status == "approved"
        and approval.valid_from is not None
        and approval.valid_until is not None
        and approval.valid_from <= at < approval.valid_until
    )


def _may_see(approval: Approval, actor: Actor) -> bool:
    if approval.requester_id == actor.actor_id:
        return True
    return (
        actor.kind == "user"
        and actor.role is not None
        and (actor.role in _roles_of(approval) or actor.role in READ_ALL_ROLES)
    )


def _step_event(actor: Actor, action: str, approval: Approval, rule: str, reason: str) -> dict[str, Any]:
    decision = Decision(True, "none", rule, reason)
    return log.build_event(
        actor=actor, action=action, resource=_resource(approval.tenant_id, approval.id), decision=decision
    )


def _refuse(db_session: Session, actor: Actor, approval_id: uuid.UUID, rule: str, reason: str) -> None:
    """Record the approval's own refusal (the PDP allowed the action class)."""
    decision = Decision(False, "none", rule, reason)
    log.record(
        db_session,
        actor=actor,
        action="approval.decide",
        resource=_resource(actor.tenant_id, approval_id),
        decision=decision,
    )


def _summary(approval: Approval) -> dict[str, Any]:
    """What a webhook says about a request: ids, counts and times only."""
    return {
        "approval_id": str(approval.id),
        "kind": approval.kind,
        "status": approval.status,
        "requester_id": approval.requester_id,
        "required": approval.required,
        "approvals": approval.approvals,
        "approver_roles": _roles_of(approval),
        "target": approval.target,
        "expires_at": log.format_time(approval.expires_at),
        "valid_until": log.format_time(approval.valid_until) if approval.valid_until else None,
    }


def _open(db_session: Session, approval: Approval, sealed: bytes, table: str, record_id: uuid.UUID) -> str:
    keys = tenant_keys(db_session=db_session, tenant_id=approval.tenant_id)
    data_key = open_subject_key(db_session=db_session, keys=keys, key_id=approval.key_id)
    return data_key.open(sealed, keys.context(table, "justification" if table == _TABLE else "comment", record_id))


def _votes(db_session: Session, approval: Approval) -> list[ApprovalVote]:
    query = (
        select(ApprovalVote)
        .where(ApprovalVote.tenant_id == approval.tenant_id, ApprovalVote.approval_id == approval.id)
        .order_by(ApprovalVote.decided_at, ApprovalVote.id)
    )
    return list(db_session.scalars(query))


def _to_read(
    db_session: Session, approval: Approval, actor: Actor, at: datetime, *, detail: bool, votes: list[ApprovalVote]
) -> ApprovalRead:
    status = effective_status(approval, at)
    voted = any(vote.approver_id == actor.actor_id for vote in votes)
    may_decide = (
        status == "pending"
        and actor.kind == "user"
        and actor.role in _roles_of(approval)
        and approval.requester_id != actor.actor_id
        and not voted
        and current_level(approval) in (None, actor.role)
    )
    return ApprovalRead(
        id=approval.id,
        kind=approval.kind,
        target=approval.target,
        status=status,
        requester_id=approval.requester_id,
        required=approval.required,
        approvals=approval.approvals,
        approver_roles=_roles_of(approval),
        justification=_open(db_session, approval, approval.justification_ct, _TABLE, approval.id) if detail else None,
        created_at=approval.created_at,
        expires_at=approval.expires_at,
        decided_at=approval.decided_at,
        valid_from=approval.valid_from,
        valid_until=approval.valid_until,
        active=_is_active(approval, at),
        requested_by_me=approval.requester_id == actor.actor_id,
        may_decide=may_decide,
        votes=[
            VoteRead(
                approver_id=vote.approver_id,
                approver_role=vote.approver_role,
                approve=vote.approve,
                comment=(
                    _open(db_session, approval, vote.comment_ct, _VOTE_TABLE, vote.id)
                    if detail and vote.comment_ct is not None
                    else None
                ),
                decided_at=vote.decided_at,
            )
            for vote in votes
        ],
    )


# -- requests -----------------------------------------------------------------------------
def create_request(
    *,
    db_session: Session,
    actor: Actor,
    kind: str,
    target: dict[str, Any],
    justification: str,
    required: int = 2,
    approver_roles: Sequence[str] = DEFAULT_APPROVER_ROLES,
    expires_in: timedelta = timedelta(hours=24),
    grant_window: timedelta = timedelta(hours=1),
) -> ApprovalRead:
    """A new pending request of ``actor``; approvers are notified (in-app list, webhooks).

    ``required``, ``approver_roles`` and the two durations are the caller's policy (the API
    takes them from ``KIND_POLICIES``, exports from their chain), never the requester's."""
    check_kind(kind)
    target = check_target(target)
    check_justification(justification)
    roles = tuple(dict.fromkeys(approver_roles))
    if not roles or any(role not in ROLES for role in roles):
        raise Invalid("Approver roles must be known roles", code="approval.roles_invalid")
    if not 1 <= required <= _MAX_REQUIRED:
        raise Invalid(f"Required approvals must be 1-{_MAX_REQUIRED}", code="approval.required_invalid")
    if not _MIN_EXPIRY <= expires_in <= _MAX_EXPIRY or not _MIN_WINDOW <= grant_window <= _MAX_WINDOW:
        raise Invalid("Expiry or grant window out of range", code="approval.duration_invalid")
    approval_id = time_ordered_uuid()
    enforce(db_session, actor, "approval.create", _resource(actor.tenant_id, approval_id))
    now = clock.now()
    keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
    (data_key,) = new_subject_keys(db_session=db_session, keys=keys, count=1)
    approval = Approval(
        tenant_id=actor.tenant_id,
        id=approval_id,
        kind=kind,
        target=target,
        requester_id=actor.actor_id,
        requester_kind=actor.kind,
        required=required,
        approver_roles=_roles_text(roles),
        key_id=data_key.key_id,
        justification_ct=data_key.seal(justification, keys.context(_TABLE, "justification", approval_id)),
        status="pending",
        approvals=0,
        grant_seconds=int(grant_window.total_seconds()),
        created_at=now,
        expires_at=now + expires_in,
    )
    db_session.add(approval)
    db_session.flush()
    webhooks.enqueue(db_session, tenant_id=actor.tenant_id, event="approval.requested", data=_summary(approval))
    event = _step_event(
        actor, "approval.request", approval, f"approval.{kind}", f"needs {required} of {','.join(roles)}"
    )
    log.record_many_in(db_session, [event])
    return _to_read(db_session, approval, actor, now, detail=False, votes=[])


def get_or_raise(*, db_session: Session, tenant_id: str, approval_id: uuid.UUID) -> Approval:
    approval = db_session.get(Approval, (tenant_id, approval_id))
    if approval is None:
        raise NotFound("Approval request not found", code="approval.not_found")
    return approval


def read(*, db_session: Session, actor: Actor, approval_id: uuid.UUID) -> ApprovalRead:
    """One request with its justification and comments: for its requester, the people who
    may decide it, and auditors; anyone else of the tenant gets 404, as other tenants do."""
    approval = db_session.get(Approval, (actor.tenant_id, approval_id))
    visible = approval is not None and _may_see(approval, actor)
    enforce(
        db_session,
        actor,
        "approval.read",
        _resource(actor.tenant_id, approval_id),
        outcome=None if visible else "not_found",
    )
    if approval is None or not visible:
        raise NotFound("Approval request not found", code="approval.not_found")
    return _to_read(db_session, approval, actor, clock.now(), detail=True, votes=_votes(db_session, approval))


def get_all(
    *,
    db_session: Session,
    actor: Actor,
    status: ApprovalStatus | None = None,
    limit: int = 100,
    offset: int = 0,
) -> ApprovalPage:
    """The in-app list: what ``actor`` requested and what their role may decide (auditors:
    everything), newest first; ``status=pending`` is the approver's inbox."""
    enforce(db_session, actor, "approval.read", _resource(actor.tenant_id))
    now = clock.now()
    query = select(Approval).where(Approval.tenant_id == actor.tenant_id)
    if not (actor.kind == "user" and actor.role in READ_ALL_ROLES):
        mine = Approval.requester_id == actor.actor_id
        if actor.kind == "user" and actor.role:
            query = query.where(or_(mine, Approval.approver_roles.like(f"%,{actor.role},%")))
        else:
            query = query.where(mine)
    if status == "pending":
        query = query.where(Approval.status == "pending", Approval.expires_at > now)
    elif status == "expired":
        query = query.where(
            or_(Approval.status == "expired", (Approval.status == "pending") & (Approval.expires_at <= now))
        )
    elif status is not None:
        query = query.where(Approval.status == status)
    total = db_session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(
        db_session.scalars(query.order_by(Approval.created_at.desc(), Approval.id.desc()).limit(limit).offset(offset))
    )
    votes: dict[uuid.UUID, list[ApprovalVote]] = {row.id: [] for row in rows}
    if rows:
        found = db_session.scalars(
            select(ApprovalVote)
            .where(ApprovalVote.tenant_id == actor.tenant_id, ApprovalVote.approval_id.in_(list(votes)))
            .order_by(ApprovalVote.decided_at, ApprovalVote.id)
        )
        for vote in found:
            votes[vote.approval_id].append(vote)
    items = [_to_read(db_session, row, actor, now, detail=False, votes=votes[row.id]) for row in rows]
    return ApprovalPage(items=items, total=total, limit=limit, offset=offset)


# -- decisions ----------------------------------------------------------------------------
def decide(
    *, db_session: Session, actor: Actor, approval_id: uuid.UUID, approve: bool, comment: str | None = None
) -> ApprovalRead:
    """One approver's vote. Refused: anyone not a person whose role may decide (403
    ``approval.not_an_approver``), the requester (403 ``approval.self_approval``), a
    second vote (409 ``approval.already_decided``), a request past its expiry (409
    ``approval.expired``) or already closed (409 ``approval.closed``). A "no" denies the
    request at once; the ``required``-th distinct "yes" approves it from now for its
    grant window."""
    comment = check_comment(comment)
    query = select(Approval).where(Approval.tenant_id == actor.tenant_id, Approval.id == approval_id)
    approval = db_session.scalar(query.with_for_update())
    visible = approval is not None and _may_see(approval, actor)
    resource = _resource(actor.tenant_id, approval_id)
    enforce(db_session, actor, "approval.decide", resource, outcome=None if visible else "not_found")
    if approval is None or not visible:
        raise NotFound("Approval request not found", code="approval.not_found")
    now = clock.now()
    if approval.requester_id == actor.actor_id:
        _refuse(
            db_session, actor, approval_id, "approval.self_approval", "the requester cannot decide their own request"
        )
        raise Forbidden("You cannot decide your own request", code="approval.self_approval")
    if actor.kind != "user" or actor.role not in _roles_of(approval):
        _refuse(db_session, actor, approval_id, "approval.not_an_approver", "role may not decide this request")
        raise Forbidden("Your role may not decide this request", code="approval.not_an_approver")
    level = current_level(approval)
    if level is not None and approval.status == "pending" and actor.role != level:
        _refuse(db_session, actor, approval_id, "approval.not_your_level", f"waiting for the {level} level")
        raise Forbidden(f"This request waits for a {level} first", code="approval.not_your_level")
    step_up_minutes = effective_policy(db_session, actor.tenant_id).step_up_minutes
    if actor.step_up_at is None or not timedelta(0) <= now - actor.step_up_at <= timedelta(minutes=step_up_minutes):
        # a vote opens clear data to someone else: the approver confirms a TOTP code first
        _refuse(db_session, actor, approval_id, "approval.step_up", "a recent two-factor confirmation is required")
        raise StepUpRequired(f"Confirm a TOTP code (POST /v1/auth/step-up) within {step_up_minutes} minutes to vote")
    conflict: Conflict | None = None
    votes = _votes(db_session, approval)
    if any(vote.approver_id == actor.actor_id for vote in votes):
        conflict = Conflict("You already decided this request", code="approval.already_decided")
    elif effective_status(approval, now) == "expired":
        conflict = Conflict("The request expired before enough approvers decided", code="approval.expired")
    elif approval.status != "pending":
        conflict = Conflict(f"The request is already {approval.status}", code="approval.closed")
    if conflict is not None:
        record_failure(db_session, actor, "approval.decide", resource, conflict.code)
        raise conflict

    keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
    data_key = open_subject_key(db_session=db_session, keys=keys, key_id=approval.key_id)
    vote_id = time_ordered_uuid()
    vote = ApprovalVote(
        tenant_id=actor.tenant_id,
        id=vote_id,
        approval_id=approval.id,
        approver_id=actor.actor_id,
        approver_role=actor.role or "",
        approve=approve,
        comment_ct=data_key.seal(comment, keys.context(_VOTE_TABLE, "comment", vote_id)) if comment else None,
        decided_at=now,
    )
    db_session.add(vote)
    try:
        db_session.flush()
    except IntegrityError:  # the same approver's other click won the race
        raise Conflict("You already decided this request", code="approval.already_decided") from None
    # Count inside this transaction (a concurrent vote may have committed since the read)
    db_session.refresh(approval)
    if approval.status != "pending":
        raise Conflict(f"The request is already {approval.status}", code="approval.closed")
    yes = (
        db_session.scalar(
            select(func.count()).where(
                ApprovalVote.tenant_id == actor.tenant_id,
                ApprovalVote.approval_id == approval.id,
                ApprovalVote.approve.is_(True),
            )
        )
        or 0
    )
    if level is not None and approve and yes > 1:
        same_level = db_session.scalar(
            select(func.count()).where(
                ApprovalVote.tenant_id == actor.tenant_id,
                ApprovalVote.approval_id == approval.id,
                ApprovalVote.approve.is_(True),
                ApprovalVote.approver_role == actor.role,
            )
        )
        if (same_level or 0) > 1:  # two approvers of one level voted at once: one level, one vote
            raise Conflict("Another approver of this level decided first", code="approval.closed")
    approval.approvals = int(yes)
    events = []
    if not approve:
        approval.status = "denied"
        approval.decided_at = now
        events.append(
            _step_event(actor, "approval.deny", approval, "approval.deny", "denied by an approver; request closed")
        )
        notify = "approval.denied"
    else:
        events.append(
            _step_event(
                actor, "approval.approve", approval, "approval.approve", f"{yes} of {approval.required} approvals"
            )
        )
        notify = "approval.voted"
        if yes >= approval.required:
            approval.status = "approved"
            approval.decided_at = now
            approval.valid_from = now
            approval.valid_until = now + timedelta(seconds=approval.grant_seconds)
            events.append(
                _step_event(
                    actor,
                    "approval.grant",
                    approval,
                    "approval.grant",
                    f"approved; usable for {approval.grant_seconds} s",
                )
            )
            notify = "approval.approved"
    db_session.flush()
    webhooks.enqueue(db_session, tenant_id=actor.tenant_id, event=notify, data=_summary(approval))
    log.record_many_in(db_session, events)
    return _to_read(db_session, approval, actor, now, detail=True, votes=[*votes, vote])


# -- the PDP hook -------------------------------------------------------------------------
def active_approval(
    *,
    db_session: Session,
    tenant_id: str,
    requester_id: str,
    kind: str,
    covers: Callable[[dict[str, Any]], bool] | None = None,
    at: datetime,
) -> Approval | None:
    """The approved request of ``requester_id`` and ``kind`` whose grant window holds ``at``
    and whose target ``covers`` what is asked (any, without ``covers``); the one that
    lasts longest if several do. Reads only."""
    query = (
        select(Approval)
        .where(
            Approval.tenant_id == tenant_id,
            Approval.requester_id == requester_id,
            Approval.kind == kind,
            Approval.status == "approved",
            Approval.valid_from <= at,
            Approval.valid_until > at,
        )
        .order_by(Approval.valid_until.desc())
    )
    for approval in db_session.scalars(query):
        if covers is None or covers(approval.target):
            return approval
    return None


def mark_used(*, db_session: Session, actor: Actor, approval: Approval, resource: Resource | None = None) -> int:
    """Audit one use of an approval (``approval.use``; the used resource's type and id go
    in the reason). Records only, writes nothing, so a caller may call it between its
    decision and its own writes. Returns the event's sequence number."""
    used = f"used for {resource.type} {resource.id or '*'}" if resource is not None else "used"
    decision = Decision(True, "none", f"approval.{approval.kind}", used)
    return log.record(
        db_session,
        actor=actor,
        action="approval.use",
        resource=_resource(approval.tenant_id, approval.id),
        decision=decision,
    )


# -- expiry and offboarding -----------------------------------------------------------------
def expire_due(runtime: Any, *, now: datetime | None = None) -> int:
    """Write ``expired`` on every pending request past its expiry (all tenants), one
    transaction each with its ``approval.expire`` event and webhook; returns how many."""
    from callvault.core.db import system_session

    moment = now or clock.now()
    with system_session(runtime.sessions) as db_session:
        due = list(
            db_session.execute(
                select(Approval.tenant_id, Approval.id).where(
                    Approval.status == "pending", Approval.expires_at <= moment
                )
            ).all()
        )
    expired = 0
    for tenant_id, approval_id in due:
        with tenant_session(runtime.sessions, tenant_id) as db_session:
            changed = db_session.execute(
                update(Approval)
                .where(Approval.tenant_id == tenant_id, Approval.id == approval_id, Approval.status == "pending")
                .values(status="expired", decided_at=moment)
            )
            if not getattr(changed, "rowcount", 0):
                continue
            approval = get_or_raise(db_session=db_session, tenant_id=tenant_id, approval_id=approval_id)
            db_session.refresh(approval)
            sweeper = Actor.operator(tenant_id, "approvals-sweep")
            webhooks.enqueue(db_session, tenant_id=tenant_id, event="approval.expired", data=_summary(approval))
            log.record_many_in(
                db_session,
                [_step_event(sweeper, "approval.expire", approval, "approval.expire", "no decision before expiry")],
            )
            expired += 1
    return expired


def revoke_requests_of(db_session: Session, tenant_id: str, user_id: uuid.UUID, at: datetime) -> None:
    """Offboarding hook: a person who leaves loses their pending and approved requests at
    once (called by ``identity.users.revoke_user_access``; writes, records nothing: the
    offboarding's own event covers it)."""
    db_session.execute(
        update(Approval)
        .where(
            Approval.tenant_id == tenant_id,
            Approval.requester_id == f"user:{user_id}",
            Approval.status.in_(("pending", "approved")),
        )
        .values(status="revoked", decided_at=at)
    )
