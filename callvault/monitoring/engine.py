"""The live engine: an audit subscriber, a bounded queue, a thread that runs the rules
and carries out each rule's response.

The audit writer hands every committed batch to ``MonitoringEngine.offer`` (see
``audit.log.subscribe``), which only puts it on a bounded queue: the request path never
waits for detection, and a full queue drops the batch and counts it
(``callvault_monitoring_dropped_events``) rather than slow the writer. The engine's thread
takes batches in commit order, runs ``DetectionEngine`` and, for each detection, in one
transaction of the event's tenant: records ``monitoring.alert`` in the audit log, applies
the response (``freeze``: the user's status becomes ``frozen`` through the users service,
which ends every session at once and makes every later request fail; ``step_up``: the
user's sessions lose their step-up, so the next sensitive action asks for a TOTP code),
stores the alert and queues the ``monitoring.alert`` webhook in the tenant's outbox
(HMAC-signed, retried by the webhook worker; a dead endpoint never blocks anything).

The stream is ``(events, seqs)`` batches in ``seq`` order: a broker (Kafka, NATS, Redis
Streams) can carry the same batches between processes later, with ``seq`` as the offset
and ``replay`` to catch up after an outage.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from callvault.core import clock
from callvault.monitoring.detectors import MONITOR_ACTOR, Detection, DetectionEngine
from callvault.monitoring.metrics import metrics_of
from callvault.monitoring.rules import RuleSpec

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from callvault.core.runtime import Runtime
    from callvault.monitoring.models import Alert

__all__ = ["MonitoringEngine", "RuleCache", "engine_of", "respond", "start_engine"]

_log = structlog.get_logger("callvault.monitoring")
_STOP = object()
RULES_TTL_SECONDS = 5.0
"""A rule changed through another replica reaches this one's engine within this time."""


class RuleCache:
    """Each tenant's effective rules, reloaded every ``ttl`` seconds (and at once when
    changed in this process). The same list object is returned while nothing changed."""

    def __init__(self, runtime: Runtime, *, ttl: float = RULES_TTL_SECONDS) -> None:
        self._runtime = runtime
        self._ttl = ttl
        self._cached: dict[str, tuple[float, str, list[RuleSpec]]] = {}
        self._lock = threading.Lock()
        self._generation = 0

    def invalidate(self, tenant_id: str) -> None:
        with self._lock:
            self._cached.pop(tenant_id, None)
            self._generation += 1  # a load that started before this must not be cached

    def rules_for(self, tenant_id: str) -> list[RuleSpec]:
        now = time.monotonic()
        found = self._cached.get(tenant_id)
        if found is not None and now - found[0] < self._ttl:
            return found[2]
        from callvault.monitoring.service import load_rules

        generation = self._generation
        rules: list[RuleSpec] = load_rules(self._runtime, tenant_id)
        fingerprint = "\n".join(rule.model_dump_json() for rule in rules)
        if found is not None and found[1] == fingerprint:
            rules = found[2]
        with self._lock:
            if generation == self._generation:
                self._cached[tenant_id] = (now, fingerprint, rules)
        return rules


class MonitoringEngine:
    """One per runtime (``start_engine``); ``close`` (from ``Runtime.close``) stops it."""

    def __init__(self, runtime: Runtime, *, max_batches: int = 10_000) -> None:
        self._runtime = runtime
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()  # C put: the writer thread's cost
        self._max_batches = max_batches
        self.metrics = metrics_of(runtime)
        self.rules = RuleCache(runtime)
        self.detector = DetectionEngine(self.rules.rules_for)
        self._thread = threading.Thread(target=self._run, name="callvault-monitoring", daemon=True)
        self._unsubscribe: Any = None

    def start(self) -> None:
        from callvault.audit import log

        self._thread.start()
        self._unsubscribe = log.subscribe(self._runtime, self.offer)

    def offer(self, events: Sequence[Mapping[str, Any]], seqs: Sequence[int]) -> None:
        """The audit subscriber: queue the batch and return (drop and count when full)."""
        if self._queue.qsize() >= self._max_batches:
            self.metrics.dropped.inc(len(events))
            return
        self._queue.put((events, seqs, time.monotonic()))

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every batch offered so far is handled (tests, shutdown)."""
        marker = threading.Event()
        self._queue.put(marker)
        return marker.wait(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            events, seqs, queued_at = item
            self.metrics.queued.set(self._queue.qsize())
            try:
                self._handle(events, seqs)
            except Exception as error:  # keep going: replay recomputes what a failure missed
                self.metrics.failures.inc()
                _log.error("monitoring.batch_failed", error_type=type(error).__name__)
            self.metrics.lag.observe(time.monotonic() - queued_at)

    def _handle(self, events: Sequence[Mapping[str, Any]], seqs: Sequence[int]) -> None:
        metrics = self.metrics
        metrics.events.inc(len(events))
        process = self.detector.process
        for position, (event, seq) in enumerate(zip(events, seqs, strict=True)):
            if not position & 63:
                time.sleep(0)  # hand the GIL to request threads often: never hold them up to the 5 ms switch
            metrics.count_decision(event["action"], event["decision"])
            for detection in process(event, seq):
                try:
                    respond(self._runtime, detection, live=True)
                except Exception as error:
                    metrics.failures.inc()
                    _log.error("monitoring.response_failed", rule=detection.rule.id, error_type=type(error).__name__)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout=30)


_START_LOCK = threading.Lock()


def start_engine(runtime: Runtime) -> MonitoringEngine:
    """Start the runtime's engine once (``callvault serve``; tests)."""
    with _START_LOCK:
        existing = runtime.caches.get("monitoring.engine")
        if isinstance(existing, MonitoringEngine):
            return existing
        engine = MonitoringEngine(runtime)
        runtime.caches["monitoring.engine"] = engine
        engine.start()
        return engine


def engine_of(runtime: Runtime) -> MonitoringEngine | None:
    found = runtime.caches.get("monitoring.engine")
    return found if isinstance(found, MonitoringEngine) else None


# -- responses ----------------------------------------------------------------------------
def _user_id(actor_id: str) -> uuid.UUID | None:
    if not actor_id.startswith("user:"):
        return None
    try:
        return uuid.UUID(actor_id.removeprefix("user:"))
    except ValueError:
        return None


def _apply(db_session: Session, detection: Detection) -> str:
    """Carry out the rule's response; returns what was done. Audited by the services."""
    from callvault.access.actor import Actor
    from callvault.access.identity import users
    from callvault.access.identity.models import UserSession

    response = detection.rule.response
    user_id = _user_id(detection.actor_id)
    if response == "alert" or user_id is None:
        return "alert"  # service accounts are contained by hand (incident: revoke the key)
    user = users.get_user(db_session=db_session, tenant_id=detection.tenant_id, user_id=user_id)
    if user is None or user.status != "active":
        return "alert"
    if response == "freeze":
        users.update_user(
            db_session=db_session,
            actor=Actor.operator(detection.tenant_id, MONITOR_ACTOR.partition(":")[2]),
            user_id=user_id,
            changes=users.UserChanges(status="frozen"),
            by="monitoring",
        )
        return "frozen"
    db_session.execute(
        update(UserSession)
        .where(UserSession.tenant_id == detection.tenant_id, UserSession.user_id == user_id)
        .values(step_up_at=None)
    )
    return "step_up"


def respond(runtime: Runtime, detection: Detection, *, live: bool) -> Alert | None:
    """Record, respond to and store one detection; ``live=False`` (replay) stores the
    alert without any response. ``None`` if an alert with the same key exists."""
    from callvault.access.actor import Actor
    from callvault.access.approvals import webhooks
    from callvault.access.decision import Decision, Resource
    from callvault.audit import log
    from callvault.core.db import tenant_session
    from callvault.monitoring.models import Alert
    from callvault.vault.fields.service import time_ordered_uuid

    tenant_id, rule = detection.tenant_id, detection.rule
    metrics = metrics_of(runtime)
    monitor = Actor.operator(tenant_id, MONITOR_ACTOR.partition(":")[2])
    alert_id = time_ordered_uuid()
    try:
        with tenant_session(runtime.sessions, tenant_id) as db_session:
            exists = db_session.scalar(
                select(Alert.id).where(Alert.tenant_id == tenant_id, Alert.dedup_key == detection.dedup_key)
            )
            if exists is not None:
                return None
            # audit first, write after: on SQLite the writer would wait for this transaction's lock
            seq = log.record(
                db_session,
                actor=monitor,
                action="monitoring.alert",
                resource=Resource(type="alert", tenant_id=tenant_id, id=str(alert_id)),
                decision=Decision(True, "none", f"monitor.{rule.id}", f"{rule.severity} {rule.kind} alert"),
                purpose=None,
            )
            taken = _apply(db_session, detection) if live else "none"
            alert = Alert(
                tenant_id=tenant_id,
                id=alert_id,
                rule_id=rule.id,
                kind=rule.kind,
                severity=rule.severity,
                response=rule.response,
                response_taken=taken,
                actor_id=detection.actor_id,
                actor_kind=detection.actor_kind,
                evidence=list(detection.evidence),
                summary=detection.summary,
                source="live" if live else "replay",
                status="open",
                dedup_key=detection.dedup_key,
                detected_at=detection.at,
                created_at=clock.now(),
                alert_seq=seq,
            )
            db_session.add(alert)
            db_session.flush()
            webhooks.enqueue(db_session, tenant_id=tenant_id, event="monitoring.alert", data=alert_payload(alert))
    except IntegrityError:  # the same alert stored by another replica or replay just now
        return None
    metrics.alerts.labels(rule.kind, rule.severity, taken).inc()
    if taken == "frozen":
        metrics.freezes.inc()
    _log.warning(
        "monitoring.alert", alert_id=str(alert_id), rule=rule.id, severity=rule.severity, response=taken, seq=seq
    )
    return alert


def alert_payload(alert: Alert) -> dict[str, Any]:
    """A webhook body's ``data``: ids, codes, counts and times only."""
    return {
        "alert_id": str(alert.id),
        "rule_id": alert.rule_id,
        "kind": alert.kind,
        "severity": alert.severity,
        "response": alert.response_taken,
        "actor_id": alert.actor_id,
        "actor_kind": alert.actor_kind,
        "evidence_count": len(alert.evidence),
        "first_seq": alert.evidence[0] if alert.evidence else None,
        "last_seq": alert.evidence[-1] if alert.evidence else None,
        "detected_at": alert.detected_at.isoformat(),
        "source": alert.source,
    }
