"""Tenant webhooks for approval events: a durable outbox and a worker that sends it.

``enqueue`` adds one ``webhook_delivery`` row per live endpoint of the tenant inside the
caller's transaction, so an event is queued exactly when the change that made it
commits. ``deliver_due`` (run by ``ApprovalsWorker`` in ``callvault serve``) claims due
rows with a lease, POSTs them outside any transaction, and writes the result: delivered
on 2xx; otherwise retried after ``BASE_DELAY * 2**(attempt-1)`` (at most ``MAX_DELAY``)
until ``MAX_ATTEMPTS``, then ``failed``. Delivery is at least once: receivers dedupe on
the ``id`` in the body (also sent as ``X-CallVault-Delivery``).

Each body is signed: ``X-CallVault-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret,
"t.body")>`` (``callvault.crypto.sign_webhook``). The secret is generated, shown once and
sealed under a data key of the endpoint's own. Bodies carry ids, counts and times only;
logs name delivery and webhook ids, never the URL (it may hold a token) or the body.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.approvals.models import Webhook, WebhookDelivery
from callvault.access.approvals.schemas import (
    DeliveryPage,
    DeliveryRead,
    WebhookCreatedRead,
    WebhookRead,
    check_webhook_url,
)
from callvault.access.decision import Decision, Resource
from callvault.access.pdp import enforce
from callvault.audit import log
from callvault.core import clock
from callvault.core.db import system_session
from callvault.core.errors import Forbidden, NotFound
from callvault.crypto import new_webhook_secret, sign_webhook
from callvault.vault.fields.service import new_subject_keys, open_subject_key, tenant_keys, time_ordered_uuid

if TYPE_CHECKING:
    import httpx

    from callvault.core.runtime import Runtime

__all__ = [
    "BASE_DELAY",
    "MANAGER_ROLES",
    "MAX_ATTEMPTS",
    "MAX_DELAY",
    "ApprovalsWorker",
    "DeliveryReport",
    "create_webhook",
    "delete_webhook",
    "deliver_due",
    "enqueue",
    "get_all_deliveries",
    "get_all_webhooks",
    "start_worker",
]

_log = structlog.get_logger("callvault.webhooks")

MAX_ATTEMPTS = 8
BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=1)
LEASE = timedelta(minutes=2)
"""A claimed delivery is not claimed again for this long (a worker that died mid-send
leaves it to the next one); longer than ``TIMEOUT_SECONDS``."""
TIMEOUT_SECONDS = 10.0
WORKER_INTERVAL_SECONDS = 5.0
MANAGER_ROLES = frozenset({"tenant_admin"})
SIGNATURE_HEADER = "X-CallVault-Signature"
_TABLE = "webhook"


def _resource(tenant_id: str, webhook_id: uuid.UUID | None = None) -> Resource:
    return Resource(type="webhook", tenant_id=tenant_id, id=str(webhook_id) if webhook_id else None)


def _require_manager(db_session: Session, actor: Actor, resource: Resource) -> None:
    """The PDP allows ``webhook.manage``; endpoints are tenant admins' business (people)."""
    enforce(db_session, actor, "webhook.manage", resource)
    if actor.kind != "user" or actor.role not in MANAGER_ROLES:
        decision = Decision(False, "none", "webhook.role", "only tenant admins manage webhooks")
        log.record(db_session, actor=actor, action="webhook.manage", resource=resource, decision=decision)
        raise Forbidden("Only tenant admins manage webhooks", code="webhook.forbidden")


def _counts(db_session: Session, tenant_id: str, webhook_ids: list[uuid.UUID]) -> dict[tuple[uuid.UUID, str], int]:
    if not webhook_ids:
        return {}
    rows = db_session.execute(
        select(WebhookDelivery.webhook_id, WebhookDelivery.status, func.count())
        .where(WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.webhook_id.in_(webhook_ids))
        .group_by(WebhookDelivery.webhook_id, WebhookDelivery.status)
    ).all()
    return {(webhook_id, status): int(count) for webhook_id, status, count in rows}


def _to_read(hook: Webhook, counts: dict[tuple[uuid.UUID, str], int]) -> WebhookRead:
    return WebhookRead(
        id=hook.id,
        url=hook.url,
        description=hook.description,
        created_by=hook.created_by,
        created_at=hook.created_at,
        deleted_at=hook.deleted_at,
        pending=counts.get((hook.id, "pending"), 0),
        delivered=counts.get((hook.id, "delivered"), 0),
        failed=counts.get((hook.id, "failed"), 0),
    )


# -- management -------------------------------------------------------------------------
def create_webhook(
    *, db_session: Session, actor: Actor, url: str, description: str | None = None
) -> WebhookCreatedRead:
    """Register an endpoint; the returned secret is shown this once."""
    check_webhook_url(url)
    webhook_id = time_ordered_uuid()
    _require_manager(db_session, actor, _resource(actor.tenant_id, webhook_id))
    secret = new_webhook_secret()
    keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
    (data_key,) = new_subject_keys(db_session=db_session, keys=keys, count=1)
    hook = Webhook(
        tenant_id=actor.tenant_id,
        id=webhook_id,
        url=url,
        description=description,
        key_id=data_key.key_id,
        secret_ct=data_key.seal(secret, keys.context(_TABLE, "secret", webhook_id)),
        created_by=actor.actor_id,
        created_at=clock.now(),
    )
    db_session.add(hook)
    db_session.flush()
    return WebhookCreatedRead(**_to_read(hook, {}).model_dump(), secret=secret)


def get_all_webhooks(*, db_session: Session, actor: Actor, include_deleted: bool = False) -> list[WebhookRead]:
    _require_manager(db_session, actor, _resource(actor.tenant_id))
    query = select(Webhook).where(Webhook.tenant_id == actor.tenant_id)
    if not include_deleted:
        query = query.where(Webhook.deleted_at.is_(None))
    hooks = list(db_session.scalars(query.order_by(Webhook.created_at, Webhook.id)))
    counts = _counts(db_session, actor.tenant_id, [hook.id for hook in hooks])
    return [_to_read(hook, counts) for hook in hooks]


def _hook_or_raise(db_session: Session, tenant_id: str, webhook_id: uuid.UUID) -> Webhook:
    hook = db_session.get(Webhook, (tenant_id, webhook_id))
    if hook is None or hook.deleted_at is not None:
        raise NotFound("Webhook not found", code="webhook.not_found")
    return hook


def delete_webhook(*, db_session: Session, actor: Actor, webhook_id: uuid.UUID) -> None:
    """Stop an endpoint: nothing more is queued for it and what is pending is cancelled."""
    _require_manager(db_session, actor, _resource(actor.tenant_id, webhook_id))
    hook = _hook_or_raise(db_session, actor.tenant_id, webhook_id)
    now = clock.now()
    hook.deleted_at = now
    db_session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.tenant_id == actor.tenant_id,
            WebhookDelivery.webhook_id == webhook_id,
            WebhookDelivery.status == "pending",
        )
        .values(status="cancelled", last_error="webhook.deleted")
    )
    db_session.flush()


def get_all_deliveries(
    *, db_session: Session, actor: Actor, webhook_id: uuid.UUID, limit: int = 100, offset: int = 0
) -> DeliveryPage:
    """Delivery state of one endpoint, newest first."""
    _require_manager(db_session, actor, _resource(actor.tenant_id, webhook_id))
    hook = db_session.get(Webhook, (actor.tenant_id, webhook_id))
    if hook is None:
        raise NotFound("Webhook not found", code="webhook.not_found")
    query = select(WebhookDelivery).where(
        WebhookDelivery.tenant_id == actor.tenant_id, WebhookDelivery.webhook_id == webhook_id
    )
    total = db_session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db_session.scalars(
        query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(limit).offset(offset)
    )
    items = [
        DeliveryRead(
            id=row.id,
            webhook_id=row.webhook_id,
            event=row.event,
            status=row.status,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
            last_attempt_at=row.last_attempt_at,
            last_status=row.last_status,
            last_error=row.last_error,
            delivered_at=row.delivered_at,
            created_at=row.created_at,
        )
        for row in rows
    ]
    return DeliveryPage(items=items, total=total, limit=limit, offset=offset)


# -- the outbox -------------------------------------------------------------------------
def enqueue(db_session: Session, *, tenant_id: str, event: str, data: dict[str, Any]) -> int:
    """Queue ``event`` for every live endpoint of the tenant, in the caller's transaction."""
    hook_ids = list(
        db_session.scalars(select(Webhook.id).where(Webhook.tenant_id == tenant_id, Webhook.deleted_at.is_(None)))
    )
    now = clock.now()
    for hook_id in hook_ids:
        delivery_id = time_ordered_uuid()
        body = {
            "id": str(delivery_id),
            "type": event,
            "created_at": log.format_time(now),
            "tenant_id": tenant_id,
            "data": data,
        }
        db_session.add(
            WebhookDelivery(
                tenant_id=tenant_id,
                id=delivery_id,
                webhook_id=hook_id,
                event=event,
                body=orjson.dumps(body).decode(),
                status="pending",
                attempts=0,
                max_attempts=MAX_ATTEMPTS,
                next_attempt_at=now,
                created_at=now,
            )
        )
    if hook_ids:
        db_session.flush()
    return len(hook_ids)


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failed try: 30 s, 1 min, 2 min, ... at most 1 h."""
    delay: timedelta = BASE_DELAY * (2 ** max(attempts - 1, 0))
    return min(delay, MAX_DELAY)


@dataclass
class DeliveryReport:
    sent: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class _Claimed:
    tenant_id: str
    id: uuid.UUID
    webhook_id: uuid.UUID
    url: str
    secret: str
    body: bytes
    attempts: int
    max_attempts: int


def _claim(runtime: Runtime, now: datetime, limit: int) -> list[_Claimed]:
    claimed: list[_Claimed] = []
    with system_session(runtime.sessions) as db_session:
        due = list(
            db_session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
            )
        )
        for row in due:
            taken = db_session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.tenant_id == row.tenant_id,
                    WebhookDelivery.id == row.id,
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at == row.next_attempt_at,
                )
                .values(next_attempt_at=now + LEASE)
                .execution_options(synchronize_session=False)
            )
            if not getattr(taken, "rowcount", 0):
                continue  # another worker took it
            hook = db_session.get(Webhook, (row.tenant_id, row.webhook_id))
            if hook is None or hook.deleted_at is not None:
                row.status, row.last_error = "cancelled", "webhook.deleted"
                continue
            keys = tenant_keys(db_session=db_session, tenant_id=hook.tenant_id)
            data_key = open_subject_key(db_session=db_session, keys=keys, key_id=hook.key_id)
            secret = data_key.open(hook.secret_ct, keys.context(_TABLE, "secret", hook.id))
            claimed.append(
                _Claimed(
                    row.tenant_id,
                    row.id,
                    row.webhook_id,
                    hook.url,
                    secret,
                    row.body.encode(),
                    row.attempts,
                    row.max_attempts,
                )
            )
    return claimed


def _send(client: httpx.Client, item: _Claimed, now: datetime) -> tuple[int | None, str | None]:
    """POST one delivery: ``(HTTP status, error code)``; error None means delivered."""
    import httpx

    headers = {
        "Content-Type": "application/json",
        "User-Agent": "CallVault-Webhooks/1",
        "X-CallVault-Delivery": str(item.id),
        SIGNATURE_HEADER: sign_webhook(item.secret, item.body, int(now.timestamp())),
    }
    try:
        response = client.post(item.url, content=item.body, headers=headers)
    except httpx.TimeoutException:
        return None, "timeout"
    except httpx.HTTPError:
        return None, "connect_error"
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"http_{response.status_code}"


def deliver_due(
    runtime: Runtime, *, now: datetime | None = None, client: httpx.Client | None = None, limit: int = 100
) -> DeliveryReport:
    """One pass of the outbox: send what is due, record each result."""
    import httpx

    moment = now or clock.now()
    report = DeliveryReport()
    claimed = _claim(runtime, moment, limit)
    if not claimed:
        return report
    own_client = client is None
    http = client or httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False)
    try:
        results = [(item, *_send(http, item, moment)) for item in claimed]
    finally:
        if own_client:
            http.close()
    with system_session(runtime.sessions) as db_session:
        for item, status, error in results:
            report.sent += 1
            attempts = item.attempts + 1
            values: dict[str, Any] = {
                "attempts": attempts,
                "last_attempt_at": moment,
                "last_status": status,
                "last_error": error,
            }
            if error is None:
                values.update(status="delivered", delivered_at=moment)
                report.delivered += 1
            elif attempts >= item.max_attempts:
                values.update(status="failed")
                report.failed += 1
            else:
                values.update(next_attempt_at=moment + backoff(attempts))
                report.retrying += 1
            db_session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.tenant_id == item.tenant_id, WebhookDelivery.id == item.id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            _log.info(
                "webhook.delivery",
                delivery_id=str(item.id),
                webhook_id=str(item.webhook_id),
                attempt=attempts,
                http_status=status,
                error=error,
            )
    return report


class ApprovalsWorker:
    """Every ``interval`` seconds: expire overdue requests, then send due webhooks. Held
    in ``runtime.caches`` so ``Runtime.close`` stops it."""

    def __init__(self, runtime: Runtime, *, interval: float = WORKER_INTERVAL_SECONDS) -> None:
        self._runtime = runtime
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="callvault-approvals-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        import httpx

        from callvault.access.approvals.service import expire_due

        with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as client:
            while not self._stop.is_set():
                try:
                    expire_due(self._runtime)
                    deliver_due(self._runtime, client=client)
                except Exception as error:  # keep going: the next pass retries
                    _log.error("approvals.worker_failed", error_type=type(error).__name__)
                self._stop.wait(self._interval)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=TIMEOUT_SECONDS + 5)


def start_worker(runtime: Runtime, *, interval: float = WORKER_INTERVAL_SECONDS) -> ApprovalsWorker:
    """Start the approvals worker once per runtime."""
    existing = runtime.caches.get("approvals.worker")
    if isinstance(existing, ApprovalsWorker):
        return existing
    worker = ApprovalsWorker(runtime, interval=interval)
    runtime.caches["approvals.worker"] = worker
    worker.start()
    return worker
