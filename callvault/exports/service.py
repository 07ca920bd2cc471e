"""Exports: the whole surface of the capability.

A person (supervisor or higher; never an agent or intern) asks for customers matching
some filters, a field list and a purpose (``create``). The tenant's chain decides who
approves, level after level, through the approvals service (an ordered request of kind
``export``: security officer, then DPO, then one more level for clear fields or more than
``rows_threshold`` rows). The final vote queues the export; a background job generates it
as the requester (their policy decides rows and masks), masks every personal field unless
the approval covered it in clear, fingerprints the masked values (``watermark``), writes
CSV and XLSX in one pass, seals both with a data key of the export's own (streaming AEAD)
into the blob store and signs a manifest. The requester alone downloads, after a step-up,
a limited number of times, until the file expires and is deleted. ``trace`` names the
export a leaked fragment came from.

Every decision goes through ``access.pdp.enforce``; every step is an audit event with ids.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Select, String, and_, event, false, func, or_, select, type_coerce, update
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.approvals import service as approvals
from callvault.access.approvals.models import Approval, ApprovalVote
from callvault.access.decision import Decision, Resource
from callvault.access.identity.service import get_tenant_or_raise
from callvault.access.pdp import enforce, record_failure
from callvault.audit import log
from callvault.blobs import BlobStore
from callvault.core import clock
from callvault.core.db import system_session, tenant_session
from callvault.core.errors import Conflict, DecryptionFailed, Forbidden, Invalid, NotFound, QuotaExceeded
from callvault.core.processes import worker_context
from callvault.core.runtime import Runtime, runtime_of
from callvault.crypto import BlindIndexer
from callvault.exports import watermark
from callvault.exports.cells import Batch, CellSpec, ExportCells, worker_batch, worker_init, worker_ready
from callvault.exports.files import FORMATS, MEDIA_TYPES, CsvWriter, Pipe, Watermark, XlsxWriter, leaked_texts
from callvault.exports.models import ExportRequest, ExportSettings
from callvault.exports.schemas import (
    CUSTOMER_FIELDS,
    ApproverRead,
    ExportCreate,
    ExportFileRead,
    ExportManifest,
    ExportPage,
    ExportRead,
    ExportSettingsRead,
    ExportSettingsUpdate,
    TraceCandidate,
    TraceRead,
)
from callvault.vault.customers.models import ENCRYPTED_FIELDS, Customer
from callvault.vault.fields.models import SubjectKey
from callvault.vault.fields.service import (
    destroy_subject_key,
    new_subject_keys,
    open_subject_key,
    tenant_keys,
    time_ordered_uuid,
)

__all__ = [
    "APPROVAL_KIND",
    "DEFAULT_SETTINGS",
    "SIGNING_KEY_REF",
    "TRACE_MAX_BYTES",
    "create",
    "decide",
    "download",
    "generate",
    "get_all",
    "get_or_raise",
    "get_settings",
    "jobs_of",
    "manifest",
    "manifest_message",
    "schedule_pending",
    "sweep_expired",
    "trace",
    "update_settings",
]

APPROVAL_KIND = "export"
_logger = structlog.get_logger(__name__)
SIGNING_KEY_REF = "export"
TRACE_MAX_BYTES = 10 * 1024 * 1024
"""Largest leaked file ``trace`` reads (413 above)."""
READ_ALL_ROLES = frozenset({"tenant_admin", "security_officer", "dpo", "auditor"})
"""Roles that see every export of their tenant (besides the requester's own)."""
_BATCH = 2000
_MIN_UNITS = 8
_MAX_FALSE_ATTRIBUTION = 1e-3
_MIN_MATCH_RATE = 0.75


@dataclass(frozen=True, slots=True)
class _Settings:
    levels: tuple[str, ...] = ("security_officer", "dpo")
    extra_level: str = "tenant_admin"
    rows_threshold: int = 10_000
    max_downloads: int = 1
    file_hours: int = 24
    request_hours: int = 72


DEFAULT_SETTINGS = _Settings()


def _resource(tenant_id: str, export_id: uuid.UUID | None = None) -> Resource:
    return Resource(type="export", tenant_id=tenant_id, id=str(export_id) if export_id else None)


def _record(
    db_session: Session, actor: Actor, action: str, export: ExportRequest, rule: str, reason: str, *, allow: bool = True
) -> int:
    """One step the export's own logic took or refused, after the PDP's decision."""
    decision = Decision(allow, "none", rule, reason)
    return log.record(
        db_session,
        actor=actor,
        action=action,
        resource=_resource(export.tenant_id, export.id),
        decision=decision,
        outcome=None if allow else "denied",
    )


def _event(actor: Actor, action: str, export: ExportRequest, rule: str, reason: str) -> dict[str, Any]:
    """A step event to append inside the transaction that makes the step."""
    return log.build_event(
        actor=actor,
        action=action,
        resource=_resource(export.tenant_id, export.id),
        decision=Decision(True, "none", rule, reason),
    )


def _not_found() -> NotFound:
    return NotFound("Export not found", code="export.not_found")


# -- the tenant's chain ---------------------------------------------------------------------
def _settings(db_session: Session, tenant_id: str) -> _Settings:
    row = db_session.get(ExportSettings, tenant_id)
    if row is None:
        return DEFAULT_SETTINGS
    return _Settings(
        levels=tuple(level for level in row.levels.split(",") if level),
        extra_level=row.extra_level,
        rows_threshold=row.rows_threshold,
        max_downloads=row.max_downloads,
        file_hours=row.file_hours,
        request_hours=row.request_hours,
    )


def _settings_read(found: _Settings) -> ExportSettingsRead:
    return ExportSettingsRead(
        levels=list(found.levels),
        extra_level=found.extra_level,
        rows_threshold=found.rows_threshold,
        max_downloads=found.max_downloads,
        file_hours=found.file_hours,
        request_hours=found.request_hours,
    )


def get_settings(*, db_session: Session, actor: Actor) -> ExportSettingsRead:
    """The tenant's export chain and delivery limits (the defaults if never set)."""
    enforce(db_session, actor, "export.settings", _resource(actor.tenant_id))
    return _settings_read(_settings(db_session, actor.tenant_id))


def update_settings(*, db_session: Session, actor: Actor, settings_in: ExportSettingsUpdate) -> ExportSettingsRead:
    """Replace the tenant's chain (a tenant admin after a step-up). Levels are distinct
    roles decided in order; the extra level is added for clear fields or many rows."""
    levels = tuple(settings_in.levels)
    enforce(db_session, actor, "export.configure", _resource(actor.tenant_id))
    if len(set(levels)) != len(levels) or settings_in.extra_level in levels:
        error = Invalid(
            "Levels must be distinct roles, the extra level among none of them", code="export.chain_invalid"
        )
        record_failure(db_session, actor, "export.configure", _resource(actor.tenant_id), error.code)
        raise error
    row = db_session.get(ExportSettings, actor.tenant_id)
    if row is None:
        row = ExportSettings(tenant_id=actor.tenant_id)
        db_session.add(row)
    row.levels = ",".join(levels)
    row.extra_level = settings_in.extra_level
    row.rows_threshold = settings_in.rows_threshold
    row.max_downloads = settings_in.max_downloads
    row.file_hours = settings_in.file_hours
    row.request_hours = settings_in.request_hours
    row.updated_at = clock.now()
    row.updated_by = actor.actor_id
    db_session.flush()
    return _settings_read(_settings(db_session, actor.tenant_id))


# -- rows ---------------------------------------------------------------------------------
def _conditions(db_session: Session, actor: Actor, decision: Decision, filters: dict[str, Any]) -> list[Any]:
    """Which customers of ``filters`` the requester may list: the same row rule as
    ``vault.customers.service`` (all, or with ``rows: assigned`` the agent's own)."""
    conditions: list[Any] = [Customer.tenant_id == actor.tenant_id]
    if decision.rows == "assigned":
        from callvault.calls.service import live_customer_ids

        if actor.username is None:
            return [*conditions, false()]
        live = live_customer_ids(db_session=db_session, tenant_id=actor.tenant_id, agent=actor.username)
        conditions.append(or_(Customer.assigned_agent == actor.username, Customer.id.in_(live)))
    for column in ("region", "membership_level", "assigned_agent"):
        if filters.get(column) is not None:
            conditions.append(getattr(Customer, column) == filters[column])
    if filters.get("created_from") is not None:
        conditions.append(Customer.created_at >= datetime.fromisoformat(filters["created_from"]))
    if filters.get("created_to") is not None:
        conditions.append(Customer.created_at < datetime.fromisoformat(filters["created_to"]))
    return conditions


def _count(db_session: Session, conditions: list[Any]) -> int:
    return int(db_session.scalar(select(func.count()).select_from(Customer).where(*conditions)) or 0)


def _check_fields(export_in: ExportCreate, decision: Decision) -> tuple[list[str], list[str]]:
    fields = list(dict.fromkeys(export_in.fields))
    unknown = [field for field in [*fields, *export_in.unmasked_fields] if field not in CUSTOMER_FIELDS]
    if unknown:
        raise Invalid(
            "Unknown field",
            code="export.field_unknown",
            errors=[{"loc": ["body", "fields"], "msg": "unknown field", "type": "export.field_unknown"}],
        )
    unmasked = list(dict.fromkeys(export_in.unmasked_fields))
    if any(field not in ENCRYPTED_FIELDS or field not in fields for field in unmasked):
        raise Invalid("Only exported personal fields can be asked for in clear", code="export.unmasked_invalid")
    if any(decision.field_masks.get(field) == "hidden" for field in fields):
        raise Invalid("A field your role never sees cannot be exported", code="export.field_hidden")
    return fields, unmasked


# -- requests -----------------------------------------------------------------------------
def create(*, db_session: Session, actor: Actor, export_in: ExportCreate) -> ExportRead:
    """A new export request, pending its approval chain (approvers are notified through the
    approvals service: in-app list and webhooks). An empty filter result is still a request
    (and later an audited, empty export)."""
    export_id = time_ordered_uuid()
    resource = _resource(actor.tenant_id, export_id)
    decision = enforce(db_session, actor, "export.request", resource)
    if actor.kind != "user" or actor.user_id is None or actor.role is None:
        raise Forbidden("Only people request exports", code="access.denied")
    try:
        fields, unmasked = _check_fields(export_in, decision)
    except Invalid as error:  # allowed to ask, but not for that: the event says so
        record_failure(db_session, actor, "export.request", resource, error.code)
        raise
    filters = export_in.filters.model_dump(mode="json", exclude_none=True)
    estimated = _count(db_session, _conditions(db_session, actor, decision, filters))
    chain = _settings(db_session, actor.tenant_id)
    levels = list(chain.levels)
    extra = bool(unmasked) or estimated > chain.rows_threshold
    if extra and chain.extra_level not in levels:
        levels.append(chain.extra_level)
    approval = approvals.create_request(
        db_session=db_session,
        actor=actor,
        kind=APPROVAL_KIND,
        target={
            "export_id": str(export_id),
            approvals.LEVELS_IN_ORDER: True,
            "unmasked_fields": unmasked,
            "estimated_rows": estimated,
        },
        justification=export_in.purpose,
        required=len(levels),
        approver_roles=levels,
        expires_in=timedelta(hours=chain.request_hours),
        grant_window=timedelta(hours=min(chain.file_hours, 168)),
    )
    export = ExportRequest(
        tenant_id=actor.tenant_id,
        id=export_id,
        subject=export_in.subject,
        requester_id=actor.actor_id,
        requester_username=actor.username or actor.actor_id,
        requester_role=actor.role,
        filters=filters,
        fields=fields,
        unmasked_fields=unmasked,
        estimated_rows=estimated,
        max_rows=None if extra else chain.rows_threshold,
        levels=",".join(levels),
        approval_id=approval.id,
        status="pending",
        progress_rows=0,
        skipped_rows=0,
        files={},
        max_downloads=chain.max_downloads,
        csv_downloads=0,
        xlsx_downloads=0,
        file_hours=chain.file_hours,
        created_at=clock.now(),
    )
    db_session.add(export)
    db_session.flush()
    return _read(db_session, export)


def _approval(db_session: Session, export: ExportRequest) -> Approval:
    return approvals.get_or_raise(db_session=db_session, tenant_id=export.tenant_id, approval_id=export.approval_id)


def _sync(db_session: Session, export: ExportRequest, now: datetime) -> bool:
    """Carry the approval's outcome onto a pending export; True if it became ``queued``."""
    if export.status != "pending":
        return False
    approval = _approval(db_session, export)
    status = approvals.effective_status(approval, now)
    if status == "approved":
        export.status = "queued"
        export.approved_at = approval.decided_at
        db_session.flush()
        return True
    if status in ("denied", "expired", "revoked"):
        export.status = status
        db_session.flush()
    return False


def _read(db_session: Session, export: ExportRequest) -> ExportRead:
    approval = _approval(db_session, export)
    levels = [level for level in export.levels.split(",") if level]
    expected = export.row_count if export.row_count is not None else export.estimated_rows
    done = export.status in ("ready", "deleted")
    return ExportRead(
        id=export.id,
        subject=export.subject,
        status=export.status,
        requester_id=export.requester_id,
        fields=export.fields,
        unmasked_fields=export.unmasked_fields,
        filters=export.filters,
        estimated_rows=export.estimated_rows,
        max_rows=export.max_rows,
        levels=levels,
        approval_id=export.approval_id,
        approvals=approval.approvals,
        waiting_for=approvals.current_level(approval) if export.status == "pending" else None,
        progress_rows=export.progress_rows,
        row_count=export.row_count,
        skipped_rows=export.skipped_rows,
        progress=1.0 if done else (min(1.0, export.progress_rows / expected) if expected else 0.0),
        files=[
            ExportFileRead(
                format=fmt,
                size=int(info["size"]),
                sha256=str(info["sha256"]),
                downloads=_downloads(export, fmt),
            )
            for fmt, info in sorted(export.files.items())
        ],
        max_downloads=export.max_downloads,
        error=export.error,
        created_at=export.created_at,
        approved_at=export.approved_at,
        finished_at=export.finished_at,
        expires_at=export.expires_at,
    )


def _downloads(export: ExportRequest, fmt: str) -> int:
    return int(export.csv_downloads if fmt == "csv" else export.xlsx_downloads)


def _may_see(export: ExportRequest, actor: Actor) -> bool:
    if export.requester_id == actor.actor_id:
        return True
    if actor.kind != "user":
        return "exports:trace" in actor.scopes
    return actor.role in READ_ALL_ROLES or actor.role in export.levels.split(",")


def _load(db_session: Session, actor: Actor, export_id: uuid.UUID, action: str) -> tuple[ExportRequest, Decision]:
    export = db_session.get(ExportRequest, (actor.tenant_id, export_id))
    visible = export is not None and _may_see(export, actor)
    decision = enforce(
        db_session, actor, action, _resource(actor.tenant_id, export_id), outcome=None if visible else "not_found"
    )
    if export is None or not visible:
        raise _not_found()
    return export, decision


def get_or_raise(*, db_session: Session, actor: Actor, export_id: uuid.UUID) -> ExportRead:
    """One export with its progress: for its requester, its chain's roles, admins, security
    officers, DPOs and auditors; anyone else of the tenant gets 404, as other tenants do."""
    export, _ = _load(db_session, actor, export_id, "export.read")
    if _sync(db_session, export, clock.now()):
        _schedule_after_commit(db_session, export)
    return _read(db_session, export)


def get_all(*, db_session: Session, actor: Actor, limit: int = 50, offset: int = 0) -> ExportPage:
    """Newest first: your own requests, or every export of the tenant for the roles that
    oversee them."""
    enforce(db_session, actor, "export.read", _resource(actor.tenant_id))
    query = select(ExportRequest).where(ExportRequest.tenant_id == actor.tenant_id)
    if not (actor.kind == "user" and actor.role in READ_ALL_ROLES) and "exports:trace" not in actor.scopes:
        query = query.where(ExportRequest.requester_id == actor.actor_id)
    total = db_session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(
        db_session.scalars(
            query.order_by(ExportRequest.created_at.desc(), ExportRequest.id.desc()).limit(limit).offset(offset)
        )
    )
    now = clock.now()
    for row in rows:
        if _sync(db_session, row, now):
            _schedule_after_commit(db_session, row)
    return ExportPage(items=[_read(db_session, row) for row in rows], total=total, limit=limit, offset=offset)


def decide(
    *, db_session: Session, actor: Actor, export_id: uuid.UUID, approve: bool, comment: str | None = None
) -> ExportRead:
    """One level's vote (the approvals service decides who may vote: the level whose turn
    it is, never the requester, after a step-up). The final approval queues generation."""
    export = db_session.get(ExportRequest, (actor.tenant_id, export_id))
    if export is None:
        enforce(db_session, actor, "export.read", _resource(actor.tenant_id, export_id), outcome="not_found")
        raise _not_found()
    approvals.decide(
        db_session=db_session, actor=actor, approval_id=export.approval_id, approve=approve, comment=comment
    )
    if _sync(db_session, export, clock.now()):
        _schedule_after_commit(db_session, export)
    return _read(db_session, export)


# -- background generation ------------------------------------------------------------------
class ExportJobs:
    """One worker thread per runtime that generates queued exports (closed with the runtime)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="callvault-exports")
        self._lock = threading.Lock()
        self._futures: dict[tuple[str, uuid.UUID], Future[str]] = {}

    def submit(self, tenant_id: str, export_id: uuid.UUID) -> Future[str]:
        with self._lock:
            found = self._futures.get((tenant_id, export_id))
            if found is None or found.done():
                found = self._pool.submit(generate, self._runtime, tenant_id, export_id)
                self._futures[(tenant_id, export_id)] = found
            return found

    def future(self, tenant_id: str, export_id: uuid.UUID) -> Future[str] | None:
        with self._lock:
            return self._futures.get((tenant_id, export_id))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)


def jobs_of(runtime: Runtime) -> ExportJobs:
    jobs: ExportJobs | None = runtime.caches.get("exports.jobs")
    if jobs is None:
        with _JOBS_LOCK:
            jobs = runtime.caches.get("exports.jobs")
            if jobs is None:
                jobs = ExportJobs(runtime)
                runtime.caches["exports.jobs"] = jobs
    return jobs


_JOBS_LOCK = threading.Lock()


def _schedule_after_commit(db_session: Session, export: ExportRequest) -> None:
    """Start generating once the transaction that queued the export has committed."""
    runtime = runtime_of(db_session)
    tenant_id, export_id = export.tenant_id, export.id

    def start(_session: Session) -> None:
        jobs_of(runtime).submit(tenant_id, export_id)

    event.listen(db_session, "after_commit", start, once=True)


def sync_pending(runtime: Runtime) -> int:
    """Carry approval outcomes onto pending exports (all tenants) and start the approved
    ones: for chains finished through ``/v1/approvals`` rather than the exports routes,
    which nobody has read since. Returns how many were queued."""
    with system_session(runtime.sessions) as db_session:
        pending = list(
            db_session.execute(
                select(ExportRequest.tenant_id, ExportRequest.id).where(ExportRequest.status == "pending")
            ).all()
        )
    queued = 0
    now = clock.now()
    for tenant_id, export_id in pending:
        with tenant_session(runtime.sessions, tenant_id) as db_session:
            export = db_session.get(ExportRequest, (tenant_id, export_id))
            if export is not None and _sync(db_session, export, now):
                _schedule_after_commit(db_session, export)
                queued += 1
    return queued


def schedule_pending(runtime: Runtime) -> int:
    """Queue every export approved but not generated (after a restart); returns how many."""
    with system_session(runtime.sessions) as db_session:
        due = list(
            db_session.execute(
                select(ExportRequest.tenant_id, ExportRequest.id).where(
                    ExportRequest.status.in_(("queued", "generating"))
                )
            ).all()
        )
    for tenant_id, export_id in due:
        with tenant_session(runtime.sessions, tenant_id) as db_session:
            db_session.execute(
                update(ExportRequest)
                .where(
                    ExportRequest.tenant_id == tenant_id,
                    ExportRequest.id == export_id,
                    ExportRequest.status == "generating",
                )
                .values(status="queued")
            )
        jobs_of(runtime).submit(tenant_id, export_id)
    return len(due)


def _requester(export: ExportRequest) -> Actor:
    return Actor(
        tenant_id=export.tenant_id,
        actor_id=export.requester_id,
        kind="user",
        role=export.requester_role,
        user_id=export.requester_id.partition(":")[2] or None,
        username=export.requester_username,
        request_id=f"export-{export.id}",
    )


_SPOOL_READ_BYTES = 1024 * 1024
_PROGRESS_SECONDS = 1.0
"""``progress_rows`` is written at most this often (and when the export is ready)."""
_INLINE_ROWS = 3 * _BATCH
"""Exports up to this many rows are made in the generating process; larger ones in worker
processes (one per core)."""


def _cells_query(spec: CellSpec, conditions: list[Any]) -> Select[Any]:
    """The rows of ``conditions`` with only the columns the export needs, as ``cells``
    reads them: the ids (as text: no UUID objects made for the whole table), the wrapped
    data key (one read per batch, not one per customer), the ciphertexts of
    ``spec.personal``, the columns of ``spec.plain``."""
    columns = [
        type_coerce(Customer.id, String),
        type_coerce(Customer.subject_key_id, String),
        SubjectKey.wrapped_dek,
        *[getattr(Customer, f"{field}_ct") for field in spec.personal],
        *[getattr(Customer, field) for field in spec.plain],
    ]
    return (
        select(*columns)
        .select_from(Customer)
        .outerjoin(
            SubjectKey, and_(SubjectKey.tenant_id == Customer.tenant_id, SubjectKey.id == Customer.subject_key_id)
        )
        .where(*conditions)
        .order_by(Customer.id)
    )


def _workers(runtime: Runtime, total: int) -> int:
    """Worker processes for an export of ``total`` rows (setting ``export_workers``,
    default one per core); small exports are made in the exporting process."""
    return 1 if total <= _INLINE_ROWS else runtime.settings.export_workers or max(1, os.cpu_count() or 1)


def _batches(
    runtime: Runtime, spec: CellSpec, indexer: BlindIndexer, conditions: list[Any], workers: int
) -> Iterator[Batch]:
    """The export's rows in order, a batch at a time, written by ``cells``: here, or in
    ``workers`` processes with two batches per worker in flight, this process making
    batches too whenever they are all busy (so the pool's start costs no time)."""
    with tenant_session(runtime.sessions, spec.tenant_id) as read_session:
        result = read_session.connection().execute(_cells_query(spec, conditions).execution_options(yield_per=_BATCH))
        parts = result.partitions(_BATCH)
        if workers <= 1:
            cells = ExportCells(spec, runtime.keyring, indexer)
            for part in parts:
                yield cells.batch(part)
            return
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=worker_context("callvault.exports.cells", keyring=runtime.keyring),
            initializer=worker_init,
            initargs=(runtime.keyring,),
        )
        cells = ExportCells(spec, runtime.keyring, indexer)
        pending: deque[Future[Batch]] = deque()
        # the first submit starts the workers (and the fork server, once per process),
        # which blocks until they run: a thread waits for that, and batches are made here
        # meanwhile
        started = threading.Event()
        running: list[bool] = []

        def start() -> None:
            try:
                pool.submit(worker_ready).result()
                running.append(True)
            except Exception:  # no workers: every batch is made here
                _logger.warning("export workers did not start", exc_info=True)
            finally:
                started.set()

        starter = threading.Thread(target=start, name="callvault-export-workers", daemon=True)
        starter.start()
        try:
            for part in parts:
                records = [tuple(row) for row in part]
                while True:
                    while pending and pending[0].done():
                        yield pending.popleft().result()
                    ready = started.is_set() and bool(running)
                    if ready and sum(not future.done() for future in pending) < 2 * workers:
                        pending.append(pool.submit(worker_batch, spec, records))
                        break
                    if not ready or len(pending) < 4 * workers:
                        # the workers are starting, or every one has two batches: rather
                        # than wait, make this one here
                        done: Future[Batch] = Future()
                        done.set_result(cells.batch(records))
                        pending.append(done)
                        break
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            starter.join()
            pool.shutdown(cancel_futures=True)


def _fail(runtime: Runtime, export: ExportRequest, code: str) -> str:
    with tenant_session(runtime.sessions, export.tenant_id) as db_session:
        record_failure(db_session, _requester(export), "export.generate", _resource(export.tenant_id, export.id), code)
    with tenant_session(runtime.sessions, export.tenant_id) as db_session:
        db_session.execute(
            update(ExportRequest)
            .where(ExportRequest.tenant_id == export.tenant_id, ExportRequest.id == export.id)
            .values(status="failed", error=code, finished_at=clock.now())
        )
    return "failed"


def _blobs(runtime: Runtime) -> BlobStore:
    return runtime.blobs


def _blob_key(export: ExportRequest, fmt: str) -> str:
    return f"exports/{export.tenant_id}/{export.id}.{fmt}.sealed"


def _stream_context(export: ExportRequest, fmt: str) -> str:
    return f"export/{export.tenant_id}/{export.id}/{fmt}"


class _Digesting:
    """Pass chunks through, counting and hashing the plaintext."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.sha256 = hashlib.sha256()
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            if chunk:
                self.sha256.update(chunk)
                self.size += len(chunk)
                yield chunk


def generate(
    runtime: Runtime,
    tenant_id: str,
    export_id: uuid.UUID,
    *,
    formats: tuple[str, ...] = FORMATS,
    stats: dict[str, float] | None = None,
) -> str:
    """Generate one queued export (see ``_generate``); an unexpected error fails the export
    (``export.generation_failed``, audited) instead of leaving it ``generating``.
    ``formats`` narrows the files written (benchmarks measure each writer alone);
    ``stats`` receives the number of worker processes (``workers``; 1: none), the CPU
    seconds they spent (``worker_cpu_s``, which this process's clock misses) and the sum
    of their peak RSS (``worker_peak_rss_mb``), and the CPU seconds this process spent
    making batches itself (``inline_cpu_s``, part of its own clock)."""
    try:
        return _generate(runtime, tenant_id, export_id, formats, stats)
    except Exception:
        _logger.exception("export generation failed", export_id=str(export_id))
        with tenant_session(runtime.sessions, tenant_id) as db_session:
            export = db_session.get(ExportRequest, (tenant_id, export_id))
            if export is not None:
                db_session.expunge(export)
        if export is None:
            raise
        return _fail(runtime, export, "export.generation_failed")


def _generate(
    runtime: Runtime,
    tenant_id: str,
    export_id: uuid.UUID,
    formats: tuple[str, ...],
    stats: dict[str, float] | None,
) -> str:
    """Generate one queued export as its requester; returns its final status.

    The requester's policy decides the rows (``customer.list``'s row rule) and the field
    levels; the approval must still be approved (offboarding revokes it). Both files come
    from one pass over the rows; progress is written every batch."""
    from callvault.crypto import derive_stream_key, seal_stream

    with tenant_session(runtime.sessions, tenant_id) as db_session:
        claimed = db_session.execute(
            update(ExportRequest)
            .where(
                ExportRequest.tenant_id == tenant_id, ExportRequest.id == export_id, ExportRequest.status == "queued"
            )
            .values(status="generating", started_at=clock.now(), progress_rows=0)
        )
        if not getattr(claimed, "rowcount", 0):
            return "skipped"
        export = db_session.get(ExportRequest, (tenant_id, export_id))
        assert export is not None
        db_session.expunge(export)
    requester = _requester(export)
    try:
        with tenant_session(runtime.sessions, tenant_id) as db_session:
            approval = _approval(db_session, export)
            if approvals.effective_status(approval, clock.now()) != "approved":
                raise Forbidden("The approval no longer holds", code="export.approval_revoked")
            enforce(db_session, requester, "export.generate", _resource(tenant_id, export_id))
            rows_decision = enforce(
                db_session, requester, "customer.list", Resource(type="customer", tenant_id=tenant_id)
            )
            if any(rows_decision.field_masks.get(field) == "hidden" for field in export.fields):
                raise Forbidden("A field became hidden for the requester's role", code="export.field_hidden")
            conditions = _conditions(db_session, requester, rows_decision, export.filters)
            total = _count(db_session, conditions)
            if export.max_rows is not None and total > export.max_rows:
                raise Conflict("More rows than the approval covered", code="export.rows_exceed_approval")
            keys = tenant_keys(db_session=db_session, tenant_id=tenant_id)
            index_wrapped = get_tenant_or_raise(db_session=db_session, tenant_id=tenant_id).index_key_wrapped
            (file_key,) = new_subject_keys(db_session=db_session, keys=keys, count=1)
            db_session.execute(
                update(ExportRequest)
                .where(ExportRequest.tenant_id == tenant_id, ExportRequest.id == export_id)
                .values(key_id=file_key.key_id, estimated_rows=total)
            )
    except (Forbidden, Conflict, QuotaExceeded) as error:
        return _fail(runtime, export, error.code)

    now = clock.now()
    mark = Watermark(
        tenant_id=tenant_id,
        requester=export.requester_username,
        requester_id=export.requester_id,
        export_id=str(export_id),
        generated_at=log.format_time(now),
    )
    header = list(export.fields)
    spec = CellSpec(
        tenant_id=tenant_id,
        kek_ref=keys.kek_ref,
        index_wrapped=index_wrapped,
        export_id=str(export_id),
        fields=tuple(export.fields),
        personal=tuple(field for field in export.fields if field in ENCRYPTED_FIELDS),
        plain=tuple(field for field in export.fields if field not in ENCRYPTED_FIELDS and field != "id"),
        clear=frozenset(export.unmasked_fields),
        csv="csv" in formats,
        xlsx="xlsx" in formats,
    )
    workers = _workers(runtime, total)
    here = os.getpid()
    batch_cpu: dict[int, float] = {}  # process id -> CPU seconds spent making batches
    worker_peak: dict[int, int] = {}
    csv_writer = CsvWriter(mark, header) if spec.csv else None
    counts = {"rows": 0, "skipped": 0}
    progress_due = [time.monotonic() + _PROGRESS_SECONDS]  # not a commit per batch
    home = str(runtime.settings.home)
    # XLSX alone streams into its sealed blob as it is written; beside the CSV (one pass
    # feeds both) it waits, compressed, in a private file of the data folder (0700)
    spool_path: str | None = None
    sink: Any = None
    if spec.xlsx:
        if spec.csv:
            handle, spool_path = tempfile.mkstemp(prefix="export-", suffix=".xlsx", dir=home)
            sink = os.fdopen(handle, "wb")
        else:
            sink = Pipe()

    def rows_pass(xlsx_writer: XlsxWriter | None) -> Iterator[bytes]:
        """The one pass over the rows, every batch to every writer; yields the CSV's bytes,
        or the XLSX's when it is written alone."""
        if csv_writer is not None:
            yield csv_writer.start()
        for batch in _batches(runtime, spec, keys.indexer, conditions, workers):
            counts["rows"] += batch.rows
            counts["skipped"] += batch.skipped
            batch_cpu[batch.pid] = batch_cpu.get(batch.pid, 0.0) + batch.cpu_s
            if batch.pid != here:
                worker_peak[batch.pid] = max(worker_peak.get(batch.pid, 0), batch.peak_rss_kb)
            if xlsx_writer is not None:
                xlsx_writer.write_rows(batch.xlsx_rows)
            if csv_writer is not None:
                yield batch.csv
            elif isinstance(sink, Pipe):
                yield sink.take()
            if time.monotonic() >= progress_due[0]:
                _progress(runtime, tenant_id, export_id, counts["rows"])
                progress_due[0] = time.monotonic() + _PROGRESS_SECONDS
        if csv_writer is not None:
            yield csv_writer.finish(counts["rows"])
        elif xlsx_writer is not None and isinstance(sink, Pipe):
            xlsx_writer.finish()
            yield sink.take()

    def spooled_xlsx(xlsx_writer: XlsxWriter) -> Iterator[bytes]:
        xlsx_writer.finish()
        sink.close()
        assert spool_path is not None
        with open(spool_path, "rb") as spooled:
            while chunk := spooled.read(_SPOOL_READ_BYTES):
                yield chunk

    blobs = _blobs(runtime)
    files: dict[str, Any] = {}
    xlsx_writer: XlsxWriter | None = None
    try:
        xlsx_writer = XlsxWriter(mark, header, sink, folder=home) if spec.xlsx else None
        outputs: list[tuple[str, Iterator[bytes]]] = [("csv" if spec.csv else "xlsx", rows_pass(xlsx_writer))]
        if spec.csv and xlsx_writer is not None:
            outputs.append(("xlsx", spooled_xlsx(xlsx_writer)))
        for fmt, chunks in outputs:
            digesting = _Digesting(chunks)
            stream_key = derive_stream_key(file_key, _stream_context(export, fmt))
            blobs.put(_blob_key(export, fmt), seal_stream(stream_key, iter(digesting)))
            files[fmt] = {"size": digesting.size, "sha256": digesting.sha256.hexdigest()}
    except DecryptionFailed as error:
        return _fail(runtime, export, error.code)
    finally:
        if xlsx_writer is not None:
            xlsx_writer.discard()
        if spool_path is not None:
            if not sink.closed:
                sink.close()
            os.unlink(spool_path)
    if stats is not None:
        stats.update(
            workers=workers,
            worker_cpu_s=sum(cpu for pid, cpu in batch_cpu.items() if pid != here),
            worker_peak_rss_mb=sum(worker_peak.values()) / 1024,
            inline_cpu_s=batch_cpu.get(here, 0.0),
        )
    rows, skipped = counts["rows"], counts["skipped"]
    finished = clock.now()
    signatures = {
        fmt: runtime.keyring.sign(
            SIGNING_KEY_REF,
            manifest_message(export_id, tenant_id, fmt, rows, info["sha256"], info["size"], now).encode(),
        ).hex()
        for fmt, info in files.items()
    }
    for fmt in files:
        files[fmt]["signature"] = signatures[fmt]
        files[fmt]["generated_at"] = log.format_time(now)
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        db_session.execute(
            update(ExportRequest)
            .where(ExportRequest.tenant_id == tenant_id, ExportRequest.id == export_id)
            .values(
                status="ready",
                files=files,
                row_count=rows,
                progress_rows=rows,
                skipped_rows=skipped,
                finished_at=finished,
                expires_at=finished + timedelta(hours=export.file_hours),
            )
        )
        stored = db_session.get(ExportRequest, (tenant_id, export_id))
        assert stored is not None
        reason = f"{rows} rows, {len(export.fields)} fields, {len(export.unmasked_fields)} clear; {skipped} skipped"
        log.record_many_in(db_session, [_event(requester, "export.generated", stored, "export.generate", reason)])
    return "ready"


def _progress(runtime: Runtime, tenant_id: str, export_id: uuid.UUID, rows: int) -> None:
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        db_session.execute(
            update(ExportRequest)
            .where(ExportRequest.tenant_id == tenant_id, ExportRequest.id == export_id)
            .values(progress_rows=rows)
        )


def manifest_message(
    export_id: uuid.UUID, tenant_id: str, fmt: str, rows: int, sha256: str, size: int, generated_at: datetime
) -> str:
    """The exact text a manifest signature covers."""
    return (
        f"callvault/export-manifest/v1\n{export_id}\n{tenant_id}\n{fmt}\n{rows}\n{sha256}\n{size}\n"
        f"{log.format_time(generated_at)}\n"
    )


# -- delivery -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Download:
    """A file on its way out: decrypted chunk by chunk as the response is sent."""

    filename: str
    media_type: str
    size: int
    chunks: Iterator[bytes]


def _ready_or_raise(export: ExportRequest, now: datetime) -> None:
    if export.status == "deleted" or (export.expires_at is not None and now >= export.expires_at):
        raise Conflict("The export expired and its file was deleted", code="export.expired")
    if export.status in ("pending", "queued", "generating"):
        raise Conflict(f"The export is not ready ({export.status})", code="export.not_ready")
    if export.status != "ready":
        raise Conflict(f"The export is {export.status}", code="export.not_ready")


def download(*, db_session: Session, actor: Actor, export_id: uuid.UUID, fmt: str) -> Download:
    """The requester's file, after a step-up (the PDP's ``export.download`` rule), while the
    export is ready and unexpired and downloads remain. Anyone else who may read the export
    gets 403 ``export.not_requester``; every attempt is audited."""
    if fmt not in FORMATS:
        raise Invalid("Format must be csv or xlsx", code="export.format_invalid")
    from callvault.crypto import derive_stream_key, open_stream

    export, _ = _load(db_session, actor, export_id, "export.download")
    resource = _resource(actor.tenant_id, export_id)
    if export.requester_id != actor.actor_id:
        _record(db_session, actor, "export.download", export, "export.not_requester", "only the requester", allow=False)
        raise Forbidden("Only the person who requested the export downloads it", code="export.not_requester")
    now = clock.now()
    try:
        _ready_or_raise(export, now)
        used = _downloads(export, fmt)
        if used >= export.max_downloads:
            raise Conflict("No downloads left for this file", code="export.downloads_spent")
    except Conflict as error:
        record_failure(db_session, actor, "export.download", resource, error.code)
        raise
    info = export.files[fmt]
    keys = tenant_keys(db_session=db_session, tenant_id=export.tenant_id)
    assert export.key_id is not None
    file_key = open_subject_key(db_session=db_session, keys=keys, key_id=export.key_id)
    stream_key = derive_stream_key(file_key, _stream_context(export, fmt))
    # count it with one conditional update: two clicks at once cannot both take the last download
    column = ExportRequest.csv_downloads if fmt == "csv" else ExportRequest.xlsx_downloads
    counted = db_session.execute(
        update(ExportRequest)
        .where(
            ExportRequest.tenant_id == export.tenant_id,
            ExportRequest.id == export.id,
            column < ExportRequest.max_downloads,
        )
        .values({column: column + 1})
        .execution_options(synchronize_session=False)
    )
    if not getattr(counted, "rowcount", 0):
        raise Conflict("No downloads left for this file", code="export.downloads_spent")
    log.record_many_in(
        db_session,
        [_event(actor, "export.downloaded", export, "export.download", f"{fmt} {used + 1} of {export.max_downloads}")],
    )
    sealed = _blobs(runtime_of(db_session)).get(_blob_key(export, fmt))
    return Download(
        filename=f"callvault-export-{export.id}.{fmt}",
        media_type=MEDIA_TYPES[fmt],
        size=int(info["size"]),
        chunks=open_stream(stream_key, sealed),
    )


def manifest(*, db_session: Session, actor: Actor, export_id: uuid.UUID, fmt: str) -> ExportManifest:
    """The signed manifest of one file (anyone who may read the export)."""
    if fmt not in FORMATS:
        raise Invalid("Format must be csv or xlsx", code="export.format_invalid")
    export, _ = _load(db_session, actor, export_id, "export.read")
    info = export.files.get(fmt)
    if info is None or export.row_count is None:
        raise Conflict("The export has no file yet", code="export.not_ready")
    generated = datetime.fromisoformat(str(info["generated_at"]).replace("Z", "+00:00"))
    message = manifest_message(
        export.id, export.tenant_id, fmt, export.row_count, str(info["sha256"]), int(info["size"]), generated
    )
    public_key = runtime_of(db_session).keyring.public_key(SIGNING_KEY_REF)
    return ExportManifest(
        export_id=export.id,
        tenant_id=export.tenant_id,
        format=fmt,
        rows=export.row_count,
        sha256=str(info["sha256"]),
        size=int(info["size"]),
        generated_at=generated,
        message=message,
        public_key=public_key.hex(),
        signature=str(info["signature"]),
    )


def sweep_expired(runtime: Runtime, *, now: datetime | None = None) -> int:
    """Delete every expired export file (all tenants) and destroy its data key; the row
    stays (``deleted``) so a leak can still be traced. Returns how many were deleted."""
    moment = now or clock.now()
    with system_session(runtime.sessions) as db_session:
        due = list(
            db_session.execute(
                select(ExportRequest.tenant_id, ExportRequest.id).where(
                    ExportRequest.status == "ready", ExportRequest.expires_at <= moment
                )
            ).all()
        )
    deleted = 0
    for tenant_id, export_id in due:
        with tenant_session(runtime.sessions, tenant_id) as db_session:
            export = db_session.get(ExportRequest, (tenant_id, export_id))
            if export is None or export.status != "ready":
                continue
            blobs = _blobs(runtime)
            for fmt in export.files:
                blobs.delete(_blob_key(export, fmt))
            if export.key_id is not None:
                destroy_subject_key(db_session=db_session, tenant_id=tenant_id, key_id=export.key_id)
            export.status = "deleted"
            export.deleted_at = moment
            db_session.flush()
            sweeper = Actor.operator(tenant_id, "exports-sweep")
            log.record_many_in(
                db_session, [_event(sweeper, "export.delete", export, "export.expire", "file expired; deleted")]
            )
            deleted += 1
    return deleted


# -- leak tracing ---------------------------------------------------------------------------
def _approvers(db_session: Session, export: ExportRequest) -> list[ApproverRead]:
    votes = db_session.scalars(
        select(ApprovalVote)
        .where(
            ApprovalVote.tenant_id == export.tenant_id,
            ApprovalVote.approval_id == export.approval_id,
            ApprovalVote.approve.is_(True),
        )
        .order_by(ApprovalVote.decided_at)
    )
    return [ApproverRead(approver_id=v.approver_id, role=v.approver_role, decided_at=v.decided_at) for v in votes]


_CLAIMED = re.compile(r"CallVault export ([0-9a-fA-F-]{36})")


def trace(*, db_session: Session, actor: Actor, data: bytes) -> TraceRead:
    """Name the export a leaked file (CSV, XLSX or pasted text; any subset of at least about
    20 rows, in any order) came from, with a confidence, or say it matches none.

    Every export of the tenant that produced a file is compared; see ``watermark``."""
    enforce(db_session, actor, "export.trace", _resource(actor.tenant_id))
    if len(data) > TRACE_MAX_BYTES:
        from callvault.core.errors import PayloadTooLarge

        raise PayloadTooLarge(f"Trace uploads are limited to {TRACE_MAX_BYTES} bytes", code="request.too_large")
    texts, whole = leaked_texts(data)
    units = watermark.observed_units(texts)
    claimed = _CLAIMED.search(whole)
    keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
    exports = list(
        db_session.scalars(
            select(ExportRequest).where(
                ExportRequest.tenant_id == actor.tenant_id, ExportRequest.finished_at.is_not(None)
            )
        )
    )
    scored: list[tuple[float, int, ExportRequest, watermark.Score]] = []
    for export in exports:
        field_name = watermark.fingerprint_field(str(export.id))

        def bit(unit: str, _field: str = field_name) -> int:
            return keys.indexer.digest(_field, unit)[0] & 1

        result = watermark.score(units, bit)
        scored.append((result.p_value, -result.matches, export, result))
    scored.sort(key=lambda item: (item[0], item[1]))
    compared = len(scored)
    candidates = [
        TraceCandidate(export_id=export.id, units=result.units, matches=result.matches)
        for _, _, export, result in scored[:3]
    ]
    base = TraceRead(
        matched=False,
        confidence=0.0,
        units=len(units),
        matches=0,
        exports_compared=compared,
        claimed_export_id=claimed.group(1) if claimed else None,
        candidates=candidates,
    )
    if not scored:
        return base
    p_value, _, best, result = scored[0]
    false_attribution = min(1.0, p_value * compared)
    base.matches = result.matches
    base.confidence = round(1.0 - false_attribution, 6)
    if (
        result.units < _MIN_UNITS
        or false_attribution > _MAX_FALSE_ATTRIBUTION
        or result.matches < _MIN_MATCH_RATE * result.units
    ):
        return base
    base.matched = True
    base.export_id = best.id
    base.requester_id = best.requester_id
    base.requester_username = best.requester_username
    base.approvers = _approvers(db_session, best)
    base.created_at = best.created_at
    base.generated_at = best.finished_at
    return base


__all__ += ["Download", "ExportJobs"]


class ExportSweeper:
    """Background loop of ``callvault serve``: at start, queue exports approved but never
    generated (a restart); then every ``interval_seconds`` start exports whose chain was
    finished through ``/v1/approvals`` and delete expired files."""

    def __init__(self, runtime: Runtime, interval_seconds: float) -> None:
        self._runtime = runtime
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="callvault-exports-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            schedule_pending(self._runtime)
        except Exception:
            _logger.exception("export resume failed")
        while not self._stop.wait(self._interval):
            try:
                sync_pending(self._runtime)
                sweep_expired(self._runtime)
            except Exception:
                _logger.exception("export sweep failed")

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)


def start_sweeper(runtime: Runtime, interval_seconds: float = 60.0) -> ExportSweeper:
    """Start the exports loop once per runtime (stopped by ``Runtime.close``)."""
    existing = runtime.caches.get("exports.sweeper")
    if isinstance(existing, ExportSweeper):
        return existing
    sweeper = ExportSweeper(runtime, interval_seconds)
    runtime.caches["exports.sweeper"] = sweeper
    sweeper.start()
    return sweeper


__all__ += ["ExportSweeper", "start_sweeper", "sync_pending"]
