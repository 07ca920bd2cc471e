"""Reading the audit log: queries, per-subject reports, proofs, heads and SIEM export.

Every read is itself authorized by the PDP and recorded. A caller sees only its own
tenant's events; proofs reveal sibling hashes, never other events' content.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.pdp import Resource, enforce
from callvault.audit import merkle
from callvault.audit.log import SIGNING_KEY_REF, format_time, node_source, writer_for
from callvault.audit.models import AuditEvent, TreeHead
from callvault.audit.schemas import (
    AuditEventRead,
    AuditPage,
    AuditQuery,
    ConsistencyProof,
    InclusionProof,
    SignedTreeHead,
    SubjectAccess,
    SubjectReport,
    parse_utc_instant,
)
from callvault.core.errors import Invalid, NotFound
from callvault.core.runtime import runtime_of

__all__ = [
    "consistency_proof",
    "event_dict",
    "get_all",
    "heads",
    "inclusion_proof",
    "iter_events",
    "subject_report",
]


def _authorize(db_session: Session, actor: Actor, resource_id: str | None = None) -> None:
    enforce(db_session, actor, "audit.read", Resource(type="audit_log", tenant_id=actor.tenant_id, id=resource_id))


def event_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq, "time": format_time(event.time), "tenant_id": event.tenant_id,
        "actor_id": event.actor_id, "actor_kind": event.actor_kind, "actor_role": event.actor_role,
        "session_id": event.session_id, "action": event.action, "resource_type": event.resource_type,
        "resource_id": event.resource_id, "subject_id": event.subject_id, "purpose": event.purpose,
        "decision": event.decision, "mask": event.mask, "rule": event.rule, "reason": event.reason,
        "request_id": event.request_id, "client_ip": event.client_ip, "outcome": event.outcome,
        "leaf_hash": event.leaf_hash.hex(),
    }  # fmt: skip


def _purpose(db_session: Session, event: AuditEvent) -> str | None:
    """The purpose as a reader sees it: a reason sealed under the subject's data key is
    opened (and reads as null once the subject is erased). Exports keep it sealed."""
    if event.purpose is None or event.subject_id is None:
        return event.purpose
    from callvault.vault.customers.service import open_audit_purpose

    return open_audit_purpose(db_session, tenant_id=event.tenant_id, subject_id=event.subject_id, stored=event.purpose)


def _read(db_session: Session, event: AuditEvent) -> AuditEventRead:
    doc = event_dict(event)
    doc["time"] = event.time
    doc["purpose"] = _purpose(db_session, event)
    return AuditEventRead(**doc)


def _filtered(tenant_id: str, query: AuditQuery) -> Select[AuditEvent]:
    statement = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.seq > query.after_seq)
    if query.actor_id is not None:
        statement = statement.where(AuditEvent.actor_id == query.actor_id)
    if query.subject_id is not None:
        statement = statement.where(AuditEvent.subject_id == query.subject_id)
    if query.action is not None:
        statement = statement.where(AuditEvent.action == query.action)
    if query.decision is not None:
        statement = statement.where(AuditEvent.decision == query.decision)
    if query.since is not None:
        statement = statement.where(AuditEvent.time >= query.since)
    if query.until is not None:
        statement = statement.where(AuditEvent.time < query.until)
    return statement.order_by(AuditEvent.seq)


def get_all(*, db_session: Session, actor: Actor, query: AuditQuery) -> AuditPage:
    _authorize(db_session, actor)
    rows = list(db_session.scalars(_filtered(actor.tenant_id, query).limit(query.limit + 1)))
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return AuditPage(
        items=[_read(db_session, row) for row in rows], next_after_seq=rows[-1].seq if more and rows else None
    )


def subject_report(*, db_session: Session, actor: Actor, subject_id: str, limit: int = 10_000) -> SubjectReport:
    _authorize(db_session, actor, subject_id)
    rows = list(
        db_session.scalars(
            select(AuditEvent)
            .where(AuditEvent.tenant_id == actor.tenant_id, AuditEvent.subject_id == subject_id)
            .order_by(AuditEvent.seq)
            .limit(limit)
        )
    )
    accesses = [
        SubjectAccess(
            seq=r.seq,
            time=r.time,
            actor_id=r.actor_id,
            actor_role=r.actor_role,
            action=r.action,
            purpose=_purpose(db_session, r),
            decision=r.decision,
            mask=r.mask,
            outcome=r.outcome,
        )
        for r in rows
    ]
    return SubjectReport(tenant_id=actor.tenant_id, subject_id=subject_id, accesses=accesses, total=len(accesses))


def _signed(head: TreeHead) -> SignedTreeHead:
    return SignedTreeHead(size=head.size, root=head.root.hex(), time=format_time(head.time), key_id=head.key_id,
                          signature=head.signature.hex())  # fmt: skip


def heads(*, db_session: Session) -> list[SignedTreeHead]:
    """Every signed tree head, oldest first (for anchoring off-site)."""
    return [_signed(head) for head in db_session.scalars(select(TreeHead).order_by(TreeHead.size))]


def _public_key(db_session: Session) -> str:
    return runtime_of(db_session).keyring.public_key(SIGNING_KEY_REF).hex()


def inclusion_proof(*, db_session: Session, actor: Actor, seq: int) -> InclusionProof:
    """Proof that event ``seq`` is in the log, against the latest signed tree head.

    The scope is checked before anything is read: a caller without ``audit:read`` learns
    nothing, not even whether the event exists."""
    _authorize(db_session, actor, str(seq))
    event = db_session.get(AuditEvent, seq)
    if event is None or event.tenant_id != actor.tenant_id:
        raise NotFound("Audit event not found", code="audit.event_not_found")
    head = db_session.scalar(select(TreeHead).order_by(TreeHead.size.desc()).limit(1))
    if head is None or head.size < seq:
        writer_for(runtime_of(db_session)).sign_head()
        db_session.expire_all()
        head = db_session.scalar(select(TreeHead).order_by(TreeHead.size.desc()).limit(1))
    assert head is not None and head.size >= seq
    path = merkle.inclusion_proof(seq - 1, head.size, node_source(db_session))
    return InclusionProof(
        seq=seq, leaf_index=seq - 1, leaf_hash=event.leaf_hash.hex(), tree_size=head.size,
        audit_path=[node.hex() for node in path], tree_head=_signed(head), public_key=_public_key(db_session),
    )  # fmt: skip


def consistency_proof(*, db_session: Session, actor: Actor, first: int, second: int) -> ConsistencyProof:
    """Proof that the head of size ``second`` extends the head of size ``first``."""
    if not 0 < first <= second:
        raise Invalid("Need 0 < first <= second", code="audit.consistency_range")
    _authorize(db_session, actor)
    older, newer = db_session.get(TreeHead, first), db_session.get(TreeHead, second)
    if older is None or newer is None:
        raise NotFound("No signed tree head of that size", code="audit.tree_head_not_found")
    proof = merkle.consistency_proof(first, second, node_source(db_session))
    return ConsistencyProof(
        first=first, second=second, first_root=older.root.hex(), second_root=newer.root.hex(),
        proof=[node.hex() for node in proof], public_key=_public_key(db_session),
    )  # fmt: skip


def iter_events(
    *, db_session: Session, tenant_id: str | None, since: datetime | None = None, batch: int = 5000
) -> Iterator[dict[str, Any]]:
    """Events in sequence order as plain dicts (SIEM export); ``tenant_id=None``: all tenants.
    A naive ``since`` is UTC (as at the API edge)."""
    if since is not None:
        since = parse_utc_instant(since)
    after = 0
    while True:
        statement = select(AuditEvent).where(AuditEvent.seq > after)
        if tenant_id is not None:
            statement = statement.where(AuditEvent.tenant_id == tenant_id)
        if since is not None:
            statement = statement.where(AuditEvent.time >= since)
        rows = list(db_session.scalars(statement.order_by(AuditEvent.seq).limit(batch)))
        if not rows:
            return
        for row in rows:
            yield event_dict(row)
        after = rows[-1].seq
        db_session.expunge_all()
