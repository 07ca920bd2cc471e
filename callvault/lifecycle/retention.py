"""Retention: durations per data class, legal holds, and the sweeper.

A sweep fixes its cut-off (``as_of``) when it starts and records per-class progress after
every batch, each batch in its own transaction: an interrupted sweep resumes where it
stopped with the same cut-off, and a finished one deleted exactly what had expired at
``as_of`` and was on no hold. Re-running deletes nothing more (idempotent). A dry run
reports the same counts and deletes nothing. A class that cannot be swept is reported
(``kept``, ``suspended`` by a case hold, ``no_handler``), never silently skipped.

Classes owned by other capabilities (recordings, transcripts, exports) are swept through a
``HANDLERS`` mapping in ``callvault.<capability>.retention`` when that module exists (see
docs/lifecycle.md for the two functions a handler provides).
"""

from __future__ import annotations

import base64
import importlib
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import Integer, String, case, delete, func, literal_column, or_, select
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.decision import Decision, Resource
from callvault.access.pdp import enforce
from callvault.audit import log
from callvault.calls.models import LiveCall
from callvault.core import clock
from callvault.core.db import is_postgres, system_session, tenant_session
from callvault.core.errors import Conflict, NotFound
from callvault.core.runtime import Runtime
from callvault.lifecycle import recordings
from callvault.lifecycle.models import Consent, LegalHold, RetentionPolicy, SweepRun
from callvault.lifecycle.schemas import (
    DATA_CLASSES,
    ClassReport,
    HoldCreate,
    HoldRead,
    RetentionRead,
    SweepReport,
)
from callvault.lifecycle.signing import public_key, sign_document
from callvault.vault.customers.models import Customer
from callvault.vault.fields.service import time_ordered_uuid

__all__ = [
    "DEFAULT_DAYS",
    "RetentionHandler",
    "active_holds",
    "create_hold",
    "get_holds",
    "get_policies",
    "holds_on_subject",
    "release_hold",
    "retention_days",
    "set_policy",
    "start_sweeper",
    "sweep",
]

_log = structlog.get_logger("callvault.lifecycle")

DEFAULT_DAYS = {
    "customer_profile": 3 * 365,  # after the last update
    "call_metadata": 365,  # after the call ended
    "recordings": 180,
    "transcripts": 180,
    "audit_log": 6 * 365,  # never swept: the log is append-only and holds no personal data
    "consent_evidence": 3 * 365 + 1,  # after withdrawal: "at least three years"
    "exports": 7,
}
SWEEP_KIND = "sweep-certificate"


class RetentionHandler(Protocol):
    """What a capability provides to have its data class swept."""

    def count_expired(self, db_session: Session, tenant_id: str, cutoff: datetime, held: set[uuid.UUID]) -> int: ...

    def delete_expired(
        self, db_session: Session, tenant_id: str, cutoff: datetime, held: set[uuid.UUID], limit: int
    ) -> int: ...


# -- policies -------------------------------------------------------------------------------
def retention_days(db_session: Session, tenant_id: str, data_class: str) -> int:
    row = db_session.get(RetentionPolicy, (tenant_id, data_class))
    return row.days if row is not None else DEFAULT_DAYS[data_class]


def _policy_resource(tenant_id: str, data_class: str | None = None) -> Resource:
    return Resource(type="retention_policy", tenant_id=tenant_id, id=data_class)


def get_policies(*, db_session: Session, actor: Actor) -> list[RetentionRead]:
    enforce(db_session, actor, "retention.read", _policy_resource(actor.tenant_id))
    stored = {
        row.data_class: row.days
        for row in db_session.scalars(select(RetentionPolicy).where(RetentionPolicy.tenant_id == actor.tenant_id))
    }
    return [
        RetentionRead(data_class=name, days=stored.get(name, DEFAULT_DAYS[name]), default=name not in stored)
        for name in DATA_CLASSES
    ]


def set_policy(*, db_session: Session, actor: Actor, data_class: str, days: int) -> RetentionRead:
    if data_class not in DATA_CLASSES:
        enforce(
            db_session, actor, "retention.update", _policy_resource(actor.tenant_id, data_class), outcome="not_found"
        )
        raise NotFound("Unknown data class", code="retention.class_unknown")
    enforce(db_session, actor, "retention.update", _policy_resource(actor.tenant_id, data_class))
    row = db_session.get(RetentionPolicy, (actor.tenant_id, data_class))
    if row is None:
        row = RetentionPolicy(tenant_id=actor.tenant_id, data_class=data_class)
        db_session.add(row)
    row.days, row.updated_at, row.updated_by = days, clock.now(), actor.actor_id
    db_session.flush()
    return RetentionRead(data_class=data_class, days=days, default=False)


# -- legal holds ----------------------------------------------------------------------------
def _hold_read(row: LegalHold) -> HoldRead:
    return HoldRead(
        id=row.id,
        subject_id=row.subject_id,
        case_ref=row.case_ref,
        data_classes=list(row.data_classes),
        created_at=row.created_at,
        created_by=row.created_by,
        released_at=row.released_at,
    )


def active_holds(db_session: Session, tenant_id: str) -> list[LegalHold]:
    return list(
        db_session.scalars(
            select(LegalHold)
            .where(LegalHold.tenant_id == tenant_id, LegalHold.released_at.is_(None))
            .order_by(LegalHold.created_at)
        )
    )


def _covers(hold: LegalHold, data_class: str | None) -> bool:
    return not hold.data_classes or data_class is None or data_class in hold.data_classes


def holds_on_subject(
    db_session: Session, tenant_id: str, subject_id: uuid.UUID, data_class: str | None = None
) -> list[HoldRead]:
    """Active holds that suspend deleting this subject's data (of ``data_class``, or any)."""
    return [
        _hold_read(hold)
        for hold in active_holds(db_session, tenant_id)
        if hold.subject_id in (None, subject_id) and _covers(hold, data_class)
    ]


def create_hold(*, db_session: Session, actor: Actor, hold_in: HoldCreate) -> HoldRead:
    hold_id = time_ordered_uuid()
    subject = None if hold_in.subject_id is None else str(hold_in.subject_id)
    resource = Resource(type="legal_hold", tenant_id=actor.tenant_id, id=str(hold_id), subject_id=subject)
    enforce(db_session, actor, "hold.create", resource)
    row = LegalHold(
        tenant_id=actor.tenant_id,
        id=hold_id,
        subject_id=hold_in.subject_id,
        case_ref=hold_in.case_ref,
        data_classes=sorted(set(hold_in.data_classes)),
        created_at=clock.now(),
        created_by=actor.actor_id,
    )
    db_session.add(row)
    db_session.flush()
    return _hold_read(row)


def release_hold(*, db_session: Session, actor: Actor, hold_id: uuid.UUID) -> HoldRead:
    row = db_session.get(LegalHold, (actor.tenant_id, hold_id))
    resource = Resource(type="legal_hold", tenant_id=actor.tenant_id, id=str(hold_id))
    if row is None:
        enforce(db_session, actor, "hold.release", resource, outcome="not_found")
        raise NotFound("Legal hold not found", code="hold.not_found")
    enforce(db_session, actor, "hold.release", resource)
    if row.released_at is None:
        row.released_at, row.released_by = clock.now(), actor.actor_id
        db_session.flush()
    return _hold_read(row)


def get_holds(*, db_session: Session, actor: Actor, include_released: bool = False) -> list[HoldRead]:
    enforce(db_session, actor, "hold.read", Resource(type="legal_hold", tenant_id=actor.tenant_id))
    query = select(LegalHold).where(LegalHold.tenant_id == actor.tenant_id)
    if not include_released:
        query = query.where(LegalHold.released_at.is_(None))
    return [_hold_read(row) for row in db_session.scalars(query.order_by(LegalHold.created_at))]


# -- the sweeper ----------------------------------------------------------------------------
def _held(db_session: Session, tenant_id: str, data_class: str) -> tuple[LegalHold | None, set[uuid.UUID]]:
    """The case hold that suspends the whole class (if any) and the subjects on hold. The
    vault's own flag (``customer.legal_hold``) holds profiles as well: the profile queries
    test it in SQL (collecting the flagged ids would read every customer row)."""
    case: LegalHold | None = None
    subjects: set[uuid.UUID] = set()
    for hold in active_holds(db_session, tenant_id):
        if not _covers(hold, data_class):
            continue
        if hold.subject_id is None:
            case = case or hold
        else:
            subjects.add(hold.subject_id)
    return case, subjects


def _scanned_tenant(db_session: Session, column: Any) -> Any:
    """``column`` (a ``tenant_id``) as an expression SQLite answers by scanning the table
    (``+column``): without statistics its planner serves ``tenant_id = ?`` from the first
    index that starts with the tenant and then reads every row through it at random,
    12x slower than a scan of the table when the query reads every row of the tenant
    anyway (customers have no index on ``updated_at``)."""
    if is_postgres(db_session):
        return column
    return literal_column(f"+{column.table.name}.{column.name}", String)


def _profile_expired(db_session: Session, tenant_id: str, cutoff: datetime) -> list[Any]:
    return [_scanned_tenant(db_session, Customer.tenant_id) == tenant_id, Customer.updated_at < cutoff]


def _profile_held(held: set[uuid.UUID]) -> Any:
    flagged = Customer.legal_hold.is_(True)
    return or_(flagged, Customer.id.in_(held)) if held else flagged


def _customer_query(db_session: Session, tenant_id: str, cutoff: datetime, held: set[uuid.UUID]) -> Any:
    return select(Customer).where(*_profile_expired(db_session, tenant_id, cutoff), ~_profile_held(held))


def _calls_where(tenant_id: str, cutoff: datetime, held: set[uuid.UUID]) -> list[Any]:
    where = [LiveCall.tenant_id == tenant_id, LiveCall.ended_at.is_not(None), LiveCall.ended_at < cutoff]
    if held:
        where.append(LiveCall.customer_id.not_in(held))
    return where


def _consent_chains(
    db_session: Session, tenant_id: str, as_of: datetime, held: set[uuid.UUID]
) -> list[tuple[Any, ...]]:
    """(subject, purpose, partner) whose newest row is a withdrawal past its evidence time."""
    newest = (
        select(Consent.subject_id, Consent.purpose, Consent.partner, func.max(Consent.recorded_at).label("at"))
        .where(Consent.tenant_id == tenant_id)
        .group_by(Consent.subject_id, Consent.purpose, Consent.partner)
        .subquery()
    )
    rows = db_session.execute(
        select(Consent.subject_id, Consent.purpose, Consent.partner)
        .join(
            newest,
            (Consent.subject_id == newest.c.subject_id)
            & (Consent.purpose == newest.c.purpose)
            & (Consent.partner == newest.c.partner)
            & (Consent.recorded_at == newest.c.at),
        )
        .where(
            Consent.tenant_id == tenant_id,
            Consent.status == "withdrawn",
            Consent.evidence_until.is_not(None),
            Consent.evidence_until < as_of,
        )
    )
    return [tuple(row) for row in rows if row[0] not in held]


def _handler(data_class: str) -> RetentionHandler | None:
    owner = {"recordings": "recordings", "transcripts": "recordings", "exports": "exports"}.get(data_class)
    if owner is None:
        return None
    try:
        module = importlib.import_module(f"callvault.{owner}.retention")
    except ImportError:
        return None
    handlers: dict[str, RetentionHandler] = getattr(module, "HANDLERS", {})
    return handlers.get(data_class)


def _count(
    db_session: Session, tenant_id: str, data_class: str, as_of: datetime, cutoff: datetime, held: set[uuid.UUID]
) -> tuple[int, int]:
    """``(expired, of which held)``; profiles are counted in one pass over the table."""
    if data_class == "customer_profile":
        held_rows = func.coalesce(func.sum(case((_profile_held(held), 1), else_=0)), 0)
        query = select(func.count(), held_rows).where(*_profile_expired(db_session, tenant_id, cutoff))
        row = db_session.execute(query).one()
        return int(row[0] or 0), int(row[1] or 0)
    if data_class == "call_metadata":
        expired = int(
            db_session.scalar(select(func.count()).select_from(LiveCall).where(*_calls_where(tenant_id, cutoff, set())))
            or 0
        )
        if not held or not expired:
            return expired, 0
        query = (
            select(func.count())
            .select_from(LiveCall)
            .where(
                LiveCall.tenant_id == tenant_id,
                LiveCall.ended_at.is_not(None),
                LiveCall.ended_at < cutoff,
                LiveCall.customer_id.in_(held),
            )
        )
        return expired, int(db_session.scalar(query) or 0)
    if data_class == "consent_evidence":
        return len(_consent_chains(db_session, tenant_id, as_of, set())), 0
    if data_class == "recordings" and _handler(data_class) is None and recordings.available():
        return recordings.count_expired(db_session, tenant_id, cutoff, set()), 0
    handler = _handler(data_class)
    return (0 if handler is None else handler.count_expired(db_session, tenant_id, cutoff, set())), 0


def _delete_batch(
    db_session: Session,
    tenant_id: str,
    data_class: str,
    as_of: datetime,
    cutoff: datetime,
    held: set[uuid.UUID],
    limit: int,
) -> tuple[int, bool]:
    """Delete up to ``limit`` expired items of the class: ``(deleted, exhausted)``, where
    ``exhausted`` says nothing more is due (a short batch), so no empty batch follows."""
    if data_class == "customer_profile":
        from callvault.lifecycle.flows import shred_customers

        limit = min(limit, 500)
        rows = list(db_session.scalars(_customer_query(db_session, tenant_id, cutoff, held).limit(limit)))
        shred_customers(db_session, tenant_id, rows)
        return len(rows), len(rows) < limit
    if data_class == "call_metadata":
        deleted = _delete_calls(db_session, tenant_id, cutoff, held, limit)
        return deleted, deleted < limit
    if data_class == "consent_evidence":
        chains = _consent_chains(db_session, tenant_id, as_of, held)
        for subject_id, purpose, partner in chains[:limit]:
            db_session.execute(
                delete(Consent).where(
                    Consent.tenant_id == tenant_id,
                    Consent.subject_id == subject_id,
                    Consent.purpose == purpose,
                    Consent.partner == partner,
                )
            )
        return min(len(chains), limit), len(chains) <= limit
    handler = _handler(data_class)
    deleted = 0 if handler is None else handler.delete_expired(db_session, tenant_id, cutoff, held, limit)
    return deleted, deleted == 0


def _delete_calls(db_session: Session, tenant_id: str, cutoff: datetime, held: set[uuid.UUID], limit: int) -> int:
    """One batch of expired call rows, found on the ``(tenant_id, ended_at)`` index. On
    SQLite the rows are named by ``rowid`` (the covering index yields it; deleting by the
    primary key searched its index once more per row); on PostgreSQL by primary key."""
    if is_postgres(db_session):
        ids = select(LiveCall.id).where(*_calls_where(tenant_id, cutoff, held)).limit(limit).scalar_subquery()
        statement = delete(LiveCall).where(LiveCall.tenant_id == tenant_id, LiveCall.id.in_(ids))
    else:
        rowid = literal_column("live_call.rowid", Integer)
        rowids = select(rowid).where(*_calls_where(tenant_id, cutoff, held)).limit(limit).scalar_subquery()
        # the rowids alone: an outer ``tenant_id = ?`` would make SQLite walk the tenant's
        # whole index to test each entry against the list
        statement = delete(LiveCall).where(literal_column("rowid").in_(rowids))
    result = db_session.execute(statement.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def _plan(db_session: Session, tenant_id: str, data_class: str, as_of: datetime) -> ClassReport:
    days = retention_days(db_session, tenant_id, data_class)
    cutoff = as_of - timedelta(days=days)
    if data_class == "audit_log":
        return ClassReport(
            data_class=data_class,
            days=days,
            cutoff=cutoff,
            status="kept",
            note="append-only signed log: never deleted; events hold ids only, sealed reasons die with the subject key",
        )
    if data_class == "transcripts" and _handler(data_class) is None and recordings.available():
        return ClassReport(
            data_class=data_class,
            days=days,
            cutoff=cutoff,
            status="kept",
            note="a transcript is deleted together with its recording (class recordings)",
        )
    builtin = data_class == "recordings" and recordings.available()
    if data_class in ("recordings", "transcripts", "exports") and _handler(data_class) is None and not builtin:
        return ClassReport(
            data_class=data_class,
            days=days,
            cutoff=cutoff,
            status="no_handler",
            note="no retention handler installed for this class: not swept (erasure still shreds its key)",
        )
    case, held = _held(db_session, tenant_id, data_class)
    expired, held_count = _count(db_session, tenant_id, data_class, as_of, cutoff, held)
    if case is not None:
        return ClassReport(
            data_class=data_class,
            days=days,
            cutoff=cutoff,
            status="suspended",
            expired=expired,
            held=expired,
            note=f"suspended by legal hold {case.id} (case {case.case_ref})",
        )
    return ClassReport(
        data_class=data_class, days=days, cutoff=cutoff, status="dry_run", expired=expired, held=held_count
    )


def _sweep_actor(tenant_id: str) -> Actor:
    return Actor.operator(tenant_id, "lifecycle-sweeper")


def sweep(
    runtime: Runtime,
    tenant_id: str,
    *,
    actor: Actor | None = None,
    dry_run: bool = False,
    batch_size: int = 20_000,
    max_batches: int | None = None,
) -> SweepReport:
    """Delete what expired (see the module docstring); ``max_batches`` stops early (the run
    stays ``running`` and the next call resumes it)."""
    actor = actor or _sweep_actor(tenant_id)
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        run = db_session.scalars(
            select(SweepRun).where(SweepRun.tenant_id == tenant_id, SweepRun.status == "running").limit(1)
        ).first()
        resource = Resource(type="sweep_run", tenant_id=tenant_id, id=None if run is None else str(run.id))
        enforce(db_session, actor, "sweep.run", resource, purpose="dry run" if dry_run else None)
        as_of = run.as_of if run is not None and not dry_run else clock.now()
        plans = [_plan(db_session, tenant_id, name, as_of) for name in DATA_CLASSES]
        if dry_run:
            return SweepReport(
                run_id=None, tenant_id=tenant_id, as_of=as_of, dry_run=True, complete=True, classes=plans
            )
        resumed = run is not None
        if run is None:
            run = SweepRun(
                tenant_id=tenant_id,
                id=time_ordered_uuid(),
                as_of=as_of,
                dry_run=False,
                status="running",
                progress={},
                started_at=clock.now(),
                started_by=actor.actor_id,
            )
            db_session.add(run)
        run_id = run.id
        progress: dict[str, Any] = dict(run.progress)
    # classes with nothing to delete (kept, suspended, no handler, or nothing due at
    # ``as_of``) are done at once, in one write: no batch runs to find nothing
    idle = False
    for plan in plans:
        state = progress.get(plan.data_class) or {"deleted": 0, "done": False}
        if not state["done"] and (plan.status != "dry_run" or plan.expired <= plan.held):
            progress[plan.data_class] = {**state, "done": True}
            idle = True
    if idle:
        _save_progress(runtime, tenant_id, run_id, progress)
    batches = 0
    for plan in plans:
        state = dict(progress.get(plan.data_class) or {"deleted": 0, "done": False})
        if state["done"]:
            continue
        while True:
            if max_batches is not None and batches >= max_batches:
                return _report(runtime, tenant_id, run_id, plans, progress, complete=False, resumed=resumed)
            assert plan.cutoff is not None
            deleted, exhausted = -1, False
            if plan.data_class == "recordings" and _handler("recordings") is None:
                with tenant_session(runtime.sessions, tenant_id) as db_session:
                    _, held = _held(db_session, tenant_id, plan.data_class)
                # each recording in its own transaction (the recordings service audits, then writes)
                deleted = recordings.delete_expired(runtime, tenant_id, plan.cutoff, held, batch_size)
                exhausted = deleted == 0
            with tenant_session(runtime.sessions, tenant_id) as db_session:
                _, held = _held(db_session, tenant_id, plan.data_class)
                if deleted < 0:
                    deleted, exhausted = _delete_batch(
                        db_session, tenant_id, plan.data_class, as_of, plan.cutoff, held, batch_size
                    )
                state["deleted"] += deleted
                state["done"] = exhausted
                progress[plan.data_class] = dict(state)
                row = db_session.get(SweepRun, (tenant_id, run_id))
                assert row is not None
                row.progress = dict(progress)
            batches += 1
            if state["done"]:
                break
    return _finish(runtime, tenant_id, run_id, plans, progress, actor, resumed=resumed)


def _save_progress(runtime: Runtime, tenant_id: str, run_id: uuid.UUID, progress: dict[str, Any]) -> None:
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        row = db_session.get(SweepRun, (tenant_id, run_id))
        assert row is not None
        row.progress = dict(progress)


def _classes(plans: list[ClassReport], progress: dict[str, Any]) -> list[ClassReport]:
    out = []
    for plan in plans:
        state = progress.get(plan.data_class) or {}
        status = "swept" if plan.status == "dry_run" else plan.status
        out.append(plan.model_copy(update={"status": status, "deleted": int(state.get("deleted", 0))}))
    return out


def _report(
    runtime: Runtime,
    tenant_id: str,
    run_id: uuid.UUID,
    plans: list[ClassReport],
    progress: dict[str, Any],
    *,
    complete: bool,
    resumed: bool,
) -> SweepReport:
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        row = db_session.get(SweepRun, (tenant_id, run_id))
        assert row is not None
        as_of = row.as_of
    return SweepReport(
        run_id=run_id,
        tenant_id=tenant_id,
        as_of=as_of,
        dry_run=False,
        complete=complete,
        resumed=resumed,
        classes=_classes(plans, progress),
    )


def _finish(
    runtime: Runtime,
    tenant_id: str,
    run_id: uuid.UUID,
    plans: list[ClassReport],
    progress: dict[str, Any],
    actor: Actor,
    *,
    resumed: bool,
) -> SweepReport:
    """Mark the run done and sign its certificate (counts per class, nothing personal)."""
    classes = _classes(plans, progress)
    key_id, _ = public_key(runtime.keyring)
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        row = db_session.get(SweepRun, (tenant_id, run_id))
        assert row is not None
        now = clock.now()
        certificate = {
            "format": "callvault-sweep-certificate/1",
            "run_id": str(run_id),
            "tenant_id": tenant_id,
            "as_of": row.as_of.isoformat(),
            "finished_at": now.isoformat(),
            "method": "rows deleted; customer profiles crypto-shredded (data key destroyed, then row deleted)",
            "classes": {
                c.data_class: {"status": c.status, "deleted": c.deleted, "held": c.held, "note": c.note}
                for c in classes
            },
            "signing_key_id": key_id,
        }
        signature = sign_document(runtime.keyring, SWEEP_KIND, certificate)
        from callvault.lifecycle.signing import canonical

        row.status, row.finished_at, row.progress = "done", now, dict(progress)
        row.certificate, row.signature = canonical(certificate).decode(), signature
        deleted = sum(c.deleted for c in classes)
        log.record_many_in(  # inside this transaction: it holds the write lock already
            db_session,
            [
                log.build_event(
                    actor=actor,
                    action="retention.sweep",
                    resource=Resource(type="sweep_run", tenant_id=tenant_id, id=str(run_id)),
                    decision=Decision(True, "none", "lifecycle.sweep", f"swept: {deleted} deleted"),
                )
            ],
        )
        as_of = row.as_of
    return SweepReport(
        run_id=run_id,
        tenant_id=tenant_id,
        as_of=as_of,
        dry_run=False,
        complete=True,
        resumed=resumed,
        classes=classes,
        certificate=certificate,
        signature=base64.b64encode(signature).decode(),
    )


def run_for(*, db_session: Session, actor: Actor, run_id: uuid.UUID) -> SweepRun:
    row = db_session.get(SweepRun, (actor.tenant_id, run_id))
    resource = Resource(type="sweep_run", tenant_id=actor.tenant_id, id=str(run_id))
    if row is None:
        enforce(db_session, actor, "sweep.read", resource, outcome="not_found")
        raise NotFound("Sweep run not found", code="sweep.not_found")
    enforce(db_session, actor, "sweep.read", resource)
    if row.status != "done":
        raise Conflict("The sweep is still running", code="sweep.running")
    return row


# -- scheduled in the server ----------------------------------------------------------------
def sweep_all(runtime: Runtime) -> dict[str, int]:
    """One pass over every active tenant: sweep, then retire the key epoch if subjects were
    erased since the last one (so older database copies stop holding their keys)."""
    from callvault.access.identity.models import Tenant
    from callvault.lifecycle.flows import rotate_epoch_if_due

    with system_session(runtime.sessions) as db_session:
        tenants = list(db_session.scalars(select(Tenant.id).order_by(Tenant.id)))
    deleted: dict[str, int] = {}
    for tenant_id in tenants:
        report = sweep(runtime, tenant_id)
        deleted[tenant_id] = sum(c.deleted for c in report.classes)
        rotate_epoch_if_due(runtime, tenant_id)
    return deleted


class LifecycleSweeper:
    """Runs ``sweep_all`` every ``lifecycle_sweep_minutes`` on a daemon thread (``serve``);
    held in ``runtime.caches`` so ``Runtime.close`` stops it."""

    def __init__(self, runtime: Runtime, interval_seconds: float, job: Callable[[Runtime], Any] = sweep_all) -> None:
        self._runtime = runtime
        self._interval = interval_seconds
        self._job = job
        self._stop = threading.Event()
        self.passes = 0
        self.passed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="callvault-lifecycle-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                found = self._job(self._runtime)
                _log.info("lifecycle.sweep", tenants=len(found or {}), deleted=sum((found or {}).values()))
            except Exception as error:  # keep sweeping: the next pass resumes the run
                _log.error("lifecycle.sweep_failed", error_type=type(error).__name__)
            self.passes += 1
            self.passed.set()
            self._stop.wait(self._interval)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)


def start_sweeper(runtime: Runtime, interval_seconds: float | None = None) -> LifecycleSweeper:
    """Replay the erasure ledger (a restored copy must not serve erased subjects), then
    start the scheduled sweep once per runtime."""
    existing = runtime.caches.get("lifecycle.sweeper")
    if isinstance(existing, LifecycleSweeper):
        return existing
    from callvault.lifecycle.flows import replay_ledger

    replay_ledger(runtime)
    minutes = runtime.settings.lifecycle_sweep_minutes
    sweeper = LifecycleSweeper(runtime, interval_seconds if interval_seconds is not None else minutes * 60)
    runtime.caches["lifecycle.sweeper"] = sweeper
    sweeper.start()
    return sweeper
