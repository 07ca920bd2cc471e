"""Monitoring's surface: rules, alerts, unfreezing, replay.

Every call names its actor and goes through ``access.pdp.enforce`` first (actions
``monitoring.rule.read`` / ``.write``, ``monitoring.alert.read`` / ``.update``,
``monitoring.unfreeze``, ``monitoring.replay``, ``metrics.read``), so each decision is in
the audit log before anything is written.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import event as sa_event
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from callvault.access.actor import Actor
from callvault.access.decision import Resource
from callvault.access.pdp import enforce
from callvault.core import clock
from callvault.core.db import is_postgres, system_session, tenant_session
from callvault.core.errors import Invalid, NotFound
from callvault.core.processes import worker_context
from callvault.core.runtime import runtime_of
from callvault.monitoring.detectors import ROW_FIELDS, Detection, DetectionEngine, Row, fields_read
from callvault.monitoring.models import Alert, MonitoringRule
from callvault.monitoring.rules import RuleSpec, default_rules, effective_rules, parse_rule

if TYPE_CHECKING:
    from callvault.core.runtime import Runtime

__all__ = [
    "ReplayReport",
    "delete_rule",
    "get_alert_or_raise",
    "get_all_alerts",
    "get_rules",
    "load_rules",
    "metrics_exposition",
    "put_rule",
    "replay",
    "unfreeze_user",
    "update_alert",
]

ALERT_STATUSES = ("open", "acknowledged", "closed")


def _resource(actor: Actor, kind: str, ident: str | None = None) -> Resource:
    return Resource(type=kind, tenant_id=actor.tenant_id, id=ident)


# -- rules --------------------------------------------------------------------------------
def _stored(db_session: Session, tenant_id: str) -> list[RuleSpec]:
    rows = db_session.scalars(
        select(MonitoringRule).where(MonitoringRule.tenant_id == tenant_id).order_by(MonitoringRule.id)
    )
    return [RuleSpec.model_validate(row.spec) for row in rows]


def load_rules(runtime: Runtime, tenant_id: str) -> list[RuleSpec]:
    """A tenant's effective rules (the engine's view, no actor)."""
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        return effective_rules(_stored(db_session, tenant_id))


def get_rules(*, db_session: Session, actor: Actor) -> list[tuple[RuleSpec, str]]:
    """Every rule of the actor's tenant with where it comes from (``default``,
    ``tenant``, or ``tenant`` disabled); disabled overrides are listed too."""
    enforce(db_session, actor, "monitoring.rule.read", _resource(actor, "monitoring_rule"))
    stored = {rule.id: rule for rule in _stored(db_session, actor.tenant_id)}
    listed: list[tuple[RuleSpec, str]] = []
    for rule in default_rules():
        listed.append((stored.pop(rule.id), "tenant") if rule.id in stored else (rule, "default"))
    listed += [(rule, "tenant") for rule in stored.values()]
    return listed


def put_rule(*, db_session: Session, actor: Actor, rule_id: str, document: dict[str, Any]) -> RuleSpec:
    """Store the tenant's version of a rule (replacing a shipped one of the same id, or new)."""
    enforce(db_session, actor, "monitoring.rule.write", _resource(actor, "monitoring_rule", rule_id[:64]))
    if "id" in document and document["id"] != rule_id:
        raise Invalid("The rule's id must match the path", code="monitoring.rule_invalid")
    spec = parse_rule({**document, "id": rule_id})
    row = db_session.get(MonitoringRule, (actor.tenant_id, rule_id))
    spec_json = spec.model_dump(mode="json", exclude_none=True)
    now = clock.now()
    if row is None:
        db_session.add(
            MonitoringRule(
                tenant_id=actor.tenant_id, id=rule_id, spec=spec_json, updated_by=actor.actor_id, updated_at=now
            )
        )
    else:
        row.spec, row.updated_by, row.updated_at = spec_json, actor.actor_id, now
    db_session.flush()
    _invalidate(db_session, actor.tenant_id)
    return spec


def delete_rule(*, db_session: Session, actor: Actor, rule_id: str) -> None:
    """Drop the tenant's version: the shipped rule of that id (if any) applies again."""
    enforce(db_session, actor, "monitoring.rule.write", _resource(actor, "monitoring_rule", rule_id[:64]))
    row = db_session.get(MonitoringRule, (actor.tenant_id, rule_id))
    if row is None:
        raise NotFound("No tenant rule with this id", code="monitoring.rule_not_found")
    db_session.delete(row)
    db_session.flush()
    _invalidate(db_session, actor.tenant_id)


def _invalidate(db_session: Session, tenant_id: str) -> None:
    from callvault.monitoring.engine import engine_of

    engine = engine_of(runtime_of(db_session))
    if engine is not None:  # now, and after the commit (a reload in between saw the old rule)
        engine.rules.invalidate(tenant_id)
        sa_event.listen(db_session, "after_commit", lambda _: engine.rules.invalidate(tenant_id), once=True)


# -- alerts -------------------------------------------------------------------------------
def get_all_alerts(
    *,
    db_session: Session,
    actor: Actor,
    status: str | None = None,
    actor_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Alert], int]:
    """The in-app list: newest first."""
    enforce(db_session, actor, "monitoring.alert.read", _resource(actor, "alert"))
    query = select(Alert).where(Alert.tenant_id == actor.tenant_id)
    if status is not None:
        query = query.where(Alert.status == status)
    if actor_id is not None:
        query = query.where(Alert.actor_id == actor_id)
    total = db_session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db_session.scalars(query.order_by(Alert.created_at.desc(), Alert.id.desc()).limit(limit).offset(offset))
    return list(rows), int(total)


def get_alert_or_raise(*, db_session: Session, actor: Actor, alert_id: uuid.UUID) -> Alert:
    alert = db_session.get(Alert, (actor.tenant_id, alert_id))
    resource = _resource(actor, "alert", str(alert_id))
    if alert is None:
        enforce(db_session, actor, "monitoring.alert.read", resource, outcome="not_found")
        raise NotFound("Alert not found", code="monitoring.alert_not_found")
    enforce(db_session, actor, "monitoring.alert.read", resource)
    return alert


def update_alert(*, db_session: Session, actor: Actor, alert_id: uuid.UUID, status: str, comment: str) -> Alert:
    """Acknowledge or close an alert; the comment goes to the audit log (redacted)."""
    if status not in ALERT_STATUSES:
        raise Invalid("Status must be open, acknowledged or closed", code="monitoring.alert_status_invalid")
    resource = _resource(actor, "alert", str(alert_id))
    alert = db_session.get(Alert, (actor.tenant_id, alert_id))
    if alert is None:
        enforce(db_session, actor, "monitoring.alert.update", resource, purpose=comment, outcome="not_found")
        raise NotFound("Alert not found", code="monitoring.alert_not_found")
    enforce(db_session, actor, "monitoring.alert.update", resource, purpose=comment)
    alert.status = status
    db_session.flush()
    return alert


def unfreeze_user(*, db_session: Session, actor: Actor, user_id: uuid.UUID, comment: str) -> int:
    """Lift a freeze: a security officer (after a step-up, the ``user.unfreeze`` rule) with
    a comment of at least the policy's reason length, recorded (redacted) as the purpose of
    ``monitoring.unfreeze``. Open alerts that froze the user are closed. Returns their number."""
    from callvault.access.identity import users

    enforce(db_session, actor, "monitoring.unfreeze", _resource(actor, "user", str(user_id)), purpose=comment)
    user = users.get_user_or_raise(db_session=db_session, tenant_id=actor.tenant_id, user_id=user_id)
    if user.status != "frozen":
        from callvault.core.errors import Conflict

        raise Conflict("The user is not frozen", code="monitoring.not_frozen")
    users.update_user(
        db_session=db_session, actor=actor, user_id=user_id, changes=users.UserChanges(status="active"), by="security"
    )
    result = db_session.execute(
        update(Alert)
        .where(
            Alert.tenant_id == actor.tenant_id,
            Alert.actor_id == f"user:{user_id}",
            Alert.response_taken == "frozen",
            Alert.status != "closed",
        )
        .values(status="closed")
    )
    db_session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


# -- metrics ------------------------------------------------------------------------------
def metrics_exposition(*, db_session: Session, actor: Actor) -> bytes:
    """Prometheus text of this runtime: platform-wide counts by code-defined labels only."""
    from callvault.monitoring.metrics import metrics_of

    enforce(db_session, actor, "metrics.read", _resource(actor, "metrics"))
    return metrics_of(runtime_of(db_session)).exposition()


# -- replay -------------------------------------------------------------------------------
@dataclass
class ReplayReport:
    events: int = 0
    seconds: float = 0.0
    detections: list[Detection] = field(default_factory=list)
    stored: int = 0
    workers: int = 1
    cpu_seconds: float = 0.0
    """CPU time of the detection phase: this process's and its workers'."""

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


REPLAY_PARALLEL_FROM = 500_000
"""Seq ranges at least this long may replay in worker processes, one per idle core (at
most ``_MAX_WORKERS``; on PostgreSQL one per two idle cores, its server backends need the
others). Each worker scans the whole range for its actors' rows (~25% more CPU in all),
so they pay off only on idle cores: a busy machine replays in one process (bench)."""
_MAX_WORKERS = 4

# The event time as integer microseconds since the epoch, computed by the database: no
# datetime per row. SQLite stores the driver's ISO text ("2026-11-10 01:00:00.144000+00:00",
# no fraction when it is zero); ``unixepoch`` reads the offset, the fraction is six digits.
_SQLITE_MICROS = (
    "unixepoch(time) * 1000000"
    " + CASE WHEN substr(time, 20, 1) = '.' THEN CAST(substr(time, 21, 6) AS INTEGER) ELSE 0 END"
)
_POSTGRES_MICROS = "(EXTRACT(EPOCH FROM time) * 1000000)::bigint"  # numeric: exact
# Which worker takes an actor: a function of its id's last two characters (every rule's
# state is per actor, so an actor's events must all go to one worker, in seq order).
_SQLITE_PART = "(coalesce(unicode(substr(actor_id, -1)), 0) + 7 * coalesce(unicode(substr(actor_id, -2, 1)), 0))"
_POSTGRES_PART = "(ascii(right(actor_id, 1)) + 7 * ascii(left(right(actor_id, 2), 1)))"


@dataclass(frozen=True)
class _Slice:
    """What one replay (or one worker's share of it) reads: the tenant's events with
    ``seq`` in ``first..last`` and a time in ``[since, until)``; with ``parts`` > 1 only
    the actors of part ``part``."""

    tenant_id: str
    since: datetime
    until: datetime | None
    first: int
    last: int
    fields: frozenset[str]
    chunk: int
    part: int = 0
    parts: int = 1


def _seq_bounds(db_session: Session, tenant_id: str, since: datetime, until: datetime | None) -> tuple[int, int] | None:
    from callvault.audit.models import AuditEvent

    bounds = select(func.min(AuditEvent.seq), func.max(AuditEvent.seq)).where(
        AuditEvent.tenant_id == tenant_id, AuditEvent.time >= since
    )
    if until is not None:
        bounds = bounds.where(AuditEvent.time < until)
    first, last = db_session.execute(bounds).one()
    return None if first is None else (int(first), int(last))


def _stored_rows(db_session: Session, part: _Slice) -> Iterator[list[Row]]:
    """The slice's stored events as detector rows (``detectors.Row``), in ``seq`` order,
    ``chunk`` at a time, read in ``db_session`` (system scope). Only ``fields`` are read
    (the other columns come back as ``NULL``)."""
    from callvault.audit.models import AuditEvent

    # The driver's cursor over the seq range, rows straight into the detectors: no ORM
    # objects, no per-column type processing, no dict per event.
    postgres = is_postgres(db_session)
    named = "%({})s" if postgres else ":{}"
    columns = ", ".join(
        ["seq", _POSTGRES_MICROS if postgres else _SQLITE_MICROS]
        + [name if name in part.fields else "NULL" for name in ROW_FIELDS]
    )
    time_column = "time" if postgres else "+time"  # SQLite: never the (tenant, time) index, then a sort per chunk
    sql = (
        f"SELECT {columns} FROM audit_event"  # noqa: S608 - constant names and numbers, bound values
        f" WHERE seq > {named.format('after')} AND seq <= {named.format('last')}"
        f" AND tenant_id = {named.format('tenant')} AND {time_column} >= {named.format('since')}"
        + (f" AND {time_column} < {named.format('until')}" if part.until is not None else "")
        + (
            f" AND {_POSTGRES_PART if postgres else _SQLITE_PART} {'%%' if postgres else '%'} {int(part.parts)}"
            f" = {int(part.part)}"
            if part.parts > 1
            else ""
        )
        + f" ORDER BY seq LIMIT {int(part.chunk)}"
    )
    # times bound as the ORM binds them (``_seq_bounds``): on SQLite, the text the driver stores
    bind = AuditEvent.__table__.c.time.type.bind_processor(db_session.get_bind().dialect)
    since, until = part.since, part.until
    if bind is not None:
        since, until = bind(since), bind(until) if until is not None else None
    params: dict[str, Any] = {"last": part.last, "tenant": part.tenant_id, "since": since, "until": until}
    cursor = db_session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    after = part.first - 1
    try:
        while after < part.last:
            cursor.execute(sql, {**params, "after": after})
            rows = cast("list[Row]", cursor.fetchmany(part.chunk))
            if not rows:
                return
            yield rows
            after = rows[-1][0]
    finally:
        cursor.close()


def _detect(sessions: sessionmaker[Session], rules: list[RuleSpec], part: _Slice) -> tuple[int, list[Detection]]:
    """A fresh engine over the slice: (events read, detections in seq order)."""
    engine = DetectionEngine(lambda tenant: rules)
    events, found = 0, []
    with system_session(sessions) as db_session:
        for rows in _stored_rows(db_session, part):
            events += len(rows)
            found.extend(engine.process_rows(part.tenant_id, rows))
    return events, found


def _detect_in_worker(
    url: str, app_role: str | None, rules: list[RuleSpec], part: _Slice
) -> tuple[int, list[Detection], float]:
    """Worker process: ``_detect`` over its own connection; also its CPU time."""
    from callvault.core.db import create_db_engine

    began = time.process_time()
    engine = create_db_engine(url, app_role=app_role)
    try:
        events, found = _detect(sessionmaker(engine), rules, part)
    finally:
        engine.dispose()
    return events, found, time.process_time() - began


def _worker_count(runtime: Runtime, first: int, last: int, workers: int | None) -> int:
    if workers is not None:
        return max(1, workers)
    url = make_url(runtime.settings.resolved_database_url)
    sqlite = url.get_backend_name() == "sqlite"
    if last - first + 1 < REPLAY_PARALLEL_FROM or (sqlite and not url.database) or not hasattr(os, "getloadavg"):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    idle = cores - os.getloadavg()[0] + 1  # this process is one of the running ones
    return max(1, min(int(idle if sqlite else idle / 2), _MAX_WORKERS))


def replay(
    runtime: Runtime,
    *,
    actor: Actor,
    since: datetime,
    until: datetime | None = None,
    store: bool = False,
    rules: Sequence[RuleSpec] | None = None,
    chunk: int = 20_000,
    workers: int | None = None,
) -> ReplayReport:
    """Run the rules (the tenant's effective ones, or ``rules``) over stored events from
    ``since``: a fresh engine, so windows and baselines start empty at ``since``. Nothing is
    frozen or stepped up; with ``store`` the alerts are kept (``source = replay``, skipping
    any the live engine already stored under the same key) and sent to webhooks.

    A long range is split by actor over ``workers`` processes (default: one per idle core
    from ``REPLAY_PARALLEL_FROM`` events; started by ``core.processes.worker_context``, never
    a plain fork): every rule keeps its state per actor, so the parts find what one engine
    finds, merged back in ``seq`` order."""
    from callvault.monitoring.engine import respond

    tenant_id = actor.tenant_id
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        enforce(db_session, actor, "monitoring.replay", _resource(actor, "monitoring_rule"))
    specs = list(rules) if rules is not None else load_rules(runtime, tenant_id)
    report = ReplayReport()
    started, cpu = time.perf_counter(), time.process_time()
    with system_session(runtime.sessions) as db_session:
        bounds = _seq_bounds(db_session, tenant_id, since, until)
    if bounds is not None:
        whole = _Slice(tenant_id, since, until, *bounds, fields_read(specs), chunk)
        report.workers = _worker_count(runtime, *bounds, workers)
        if report.workers == 1:
            report.events, report.detections = _detect(runtime.sessions, specs, whole)
        else:
            url = make_url(runtime.settings.resolved_database_url).render_as_string(hide_password=False)
            parts = [replace(whole, part=n, parts=report.workers) for n in range(report.workers)]
            context = worker_context(__name__)
            role, count = runtime.settings.db_app_role, report.workers
            with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
                done = list(pool.map(_detect_in_worker, [url] * count, [role] * count, [specs] * count, parts))
            for events, found, worker_cpu in done:
                report.events += events
                report.detections.extend(found)
                report.cpu_seconds += worker_cpu
            report.detections.sort(key=lambda detection: detection.seq)  # stable: rule order within an event
    report.seconds = time.perf_counter() - started
    report.cpu_seconds += time.process_time() - cpu
    if store:
        for detection in report.detections:
            if respond(runtime, detection, live=False) is not None:
                report.stored += 1
    return report
