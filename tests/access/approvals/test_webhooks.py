"""Webhooks against a real HTTP server on 127.0.0.1: signed bodies of ids only, a receiver
that fails twice then succeeds (exponential back-off on a pinned clock), attempts running
out, delivery state over the API, deletion, bad URLs, who may manage endpoints, and the
background worker of ``serve``."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fastapi.testclient import TestClient

from callvault.access.actor import Actor
from callvault.access.approvals import service, webhooks
from callvault.core import clock
from callvault.core.runtime import Runtime
from callvault.crypto import verify_webhook
from tests.access.approvals.conftest import Staff, relogin
from tests.access.identity.conftest import FakeClock
from tests.conftest import CAPTURED_LOGS, TenantHandle, auth

MakeStaff = Callable[[str], Staff]


@dataclass
class Receiver:
    """Answers ``fail_first`` requests with 503, then 204; checks each signature."""

    fail_first: int = 0
    secret: str = ""
    received: list[tuple[bytes, dict[str, str], bool]] = field(default_factory=list)
    got: threading.Event = field(default_factory=threading.Event)
    url: str = ""


@contextmanager
def receiver(fail_first: int = 0) -> Iterator[Receiver]:
    state = Receiver(fail_first=fail_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            signed = verify_webhook(
                state.secret, body, headers.get("x-callvault-signature", ""), now=int(clock.now().timestamp())
            )
            state.received.append((body, headers, signed))
            failing = len(state.received) <= state.fail_first
            self.send_response(503 if failing else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            if not failing:
                state.got.set()

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/callvault"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _register(client: TestClient, staff: Staff, state: Receiver) -> str:
    created = client.post("/v1/webhooks", json={"url": state.url, "description": "pager"}, headers=staff.admin.headers)
    assert created.status_code == 201, created.text
    state.secret = created.json()["secret"]
    assert state.secret.startswith("whsec_")
    return str(created.json()["id"])


def _deliveries(client: TestClient, staff: Staff, webhook_id: str) -> list[dict]:  # type: ignore[type-arg]
    page = client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=staff.admin.headers)
    assert page.status_code == 200, page.text
    return page.json()["items"]  # type: ignore[no-any-return]


def test_signed_delivery_retried_with_backoff_until_it_succeeds(
    client: TestClient, runtime: Runtime, tenant: TenantHandle, make_staff: MakeStaff, fake_clock: FakeClock
) -> None:
    staff = make_staff(tenant.id)
    justification = f"Ticket T-{uuid.uuid4().hex[:6]}: customer asked for a full copy"
    with receiver(fail_first=2) as state:
        webhook_id = _register(client, staff, state)
        listed = client.get("/v1/webhooks", headers=staff.admin.headers).json()
        assert [hook["id"] for hook in listed] == [webhook_id] and "secret" not in listed[0]
        created = client.post(
            "/v1/approvals",
            json={"kind": "full_data", "target": {"scope": "tenant"}, "justification": justification},
            headers=staff.requester.headers,
        )
        assert created.status_code == 201
        approval_id = created.json()["id"]
        (queued,) = _deliveries(client, staff, webhook_id)
        assert queued["status"] == "pending" and queued["attempts"] == 0 and queued["event"] == "approval.requested"

        first = webhooks.deliver_due(runtime)
        assert (first.sent, first.retrying) == (1, 1)
        (after_one,) = _deliveries(client, staff, webhook_id)
        assert after_one["attempts"] == 1 and after_one["last_status"] == 503 and after_one["last_error"] == "http_503"
        assert after_one["next_attempt_at"] is not None
        assert webhooks.deliver_due(runtime).sent == 0  # not due before its back-off
        fake_clock.advance(seconds=webhooks.BASE_DELAY.total_seconds())
        assert webhooks.deliver_due(runtime).retrying == 1
        fake_clock.advance(seconds=webhooks.BASE_DELAY.total_seconds())  # the second wait is twice as long
        assert webhooks.deliver_due(runtime).sent == 0
        fake_clock.advance(seconds=webhooks.BASE_DELAY.total_seconds())
        third = webhooks.deliver_due(runtime)
        assert (third.sent, third.delivered) == (1, 1)

    (done,) = _deliveries(client, staff, webhook_id)
    assert done["status"] == "delivered" and done["attempts"] == 3 and done["last_status"] == 204
    assert done["next_attempt_at"] is None and done["delivered_at"] is not None
    assert len(state.received) == 3 and all(signed for _, _, signed in state.received)
    bodies = {body for body, _, _ in state.received}
    assert len(bodies) == 1  # every retry carries the same signed bytes
    payload = json.loads(bodies.pop())
    assert payload["type"] == "approval.requested" and payload["tenant_id"] == tenant.id
    assert payload["data"]["approval_id"] == approval_id and payload["data"]["required"] == 2
    assert payload["id"] == done["id"] == state.received[0][1]["x-callvault-delivery"]
    assert justification not in json.dumps(payload)
    assert not [line for line in CAPTURED_LOGS if state.secret in line or justification in line]
    counts = client.get("/v1/webhooks", headers=staff.admin.headers).json()[0]
    assert (counts["delivered"], counts["pending"], counts["failed"]) == (1, 0, 0)


def test_attempts_run_out_and_deleting_cancels(
    client: TestClient, runtime: Runtime, tenant: TenantHandle, make_staff: MakeStaff, fake_clock: FakeClock
) -> None:
    staff = make_staff(tenant.id)
    with receiver(fail_first=10_000) as state:
        webhook_id = _register(client, staff, state)
        body = {"kind": "bulk_read", "target": {"scope": "tenant"}, "justification": "Nightly reconciliation job"}
        approval_id = client.post("/v1/approvals", json=body, headers=staff.requester.headers).json()["id"]
        for _ in range(webhooks.MAX_ATTEMPTS):
            webhooks.deliver_due(runtime)
            fake_clock.advance(seconds=webhooks.MAX_DELAY.total_seconds())
        assert webhooks.deliver_due(runtime).sent == 0
        for who in (staff.admin, staff.security):
            relogin(client, who, fake_clock)  # hours went by
        (failed,) = _deliveries(client, staff, webhook_id)
        assert failed["status"] == "failed" and failed["attempts"] == webhooks.MAX_ATTEMPTS
        assert len(state.received) == webhooks.MAX_ATTEMPTS

        # a vote queues the next event; deleting the endpoint cancels it
        voted = client.post(f"/v1/approvals/{approval_id}:approve", json={}, headers=staff.security.headers)
        assert voted.status_code == 200, voted.text
        events = [item["event"] for item in _deliveries(client, staff, webhook_id)]
        assert events[0] == "approval.voted"
        assert client.delete(f"/v1/webhooks/{webhook_id}", headers=staff.admin.headers).status_code == 204
        assert client.delete(f"/v1/webhooks/{webhook_id}", headers=staff.admin.headers).status_code == 404
        statuses = {item["event"]: item["status"] for item in _deliveries(client, staff, webhook_id)}
        assert statuses == {"approval.voted": "cancelled", "approval.requested": "failed"}
        assert client.get("/v1/webhooks", headers=staff.admin.headers).json() == []
        sent = len(state.received)
        fake_clock.advance(hours=2)
        webhooks.deliver_due(runtime)
        assert len(state.received) == sent


def test_only_tenant_admins_manage_webhooks_and_urls_are_checked(
    client: TestClient, tenant: TenantHandle, make_tenant: Callable[[], TenantHandle], make_staff: MakeStaff,
    fake_clock: FakeClock,
) -> None:  # fmt: skip
    staff = make_staff(tenant.id)
    good = {"url": "https://hooks.example.net/callvault"}
    for who in (staff.security, staff.agent, staff.auditor):
        assert client.post("/v1/webhooks", json=good, headers=who.headers).status_code == 403
    assert client.post("/v1/webhooks", json=good, headers=auth(tenant.api_key)).status_code == 403
    for url in (
        "ftp://hooks.example.net/x",
        "file:///etc/passwd",
        "https://user:pw@hooks.example.net/x",
        "http:///nohost",
        "https://hooks.example.net:99999/x",
        "https://hooks.example.net/a b",
        "not a url",
    ):
        response = client.post("/v1/webhooks", json={"url": url}, headers=staff.admin.headers)
        assert response.status_code == 422, (url, response.text)
    created = client.post("/v1/webhooks", json=good, headers=staff.admin.headers)
    assert created.status_code == 201
    other = make_staff(make_tenant().id)
    assert client.get("/v1/webhooks", headers=other.admin.headers).json() == []
    hook_id = created.json()["id"]
    assert client.delete(f"/v1/webhooks/{hook_id}", headers=other.admin.headers).status_code == 404
    assert client.get(f"/v1/webhooks/{hook_id}/deliveries", headers=other.admin.headers).status_code == 404


def test_the_background_worker_delivers(isolated_runtime: Runtime) -> None:
    """The worker ``serve`` starts: a request made through the service reaches the
    receiver without anyone calling ``deliver_due`` (waits for the event, bounded)."""
    from callvault.access.identity import service as identity
    from callvault.core.db import tenant_session

    tenant_id = f"w-{uuid.uuid4().hex[:8]}"
    with isolated_runtime.sessions() as db_session, db_session.begin():
        identity.create_tenant(db_session=db_session, tenant_id=tenant_id, name="Worker test")
    now = clock.now()
    admin = Actor(tenant_id, f"user:{uuid.uuid4()}", "user", role="tenant_admin", step_up_at=now)
    with receiver() as state:
        with tenant_session(isolated_runtime.sessions, tenant_id) as db_session:
            state.secret = webhooks.create_webhook(db_session=db_session, actor=admin, url=state.url).secret
        with tenant_session(isolated_runtime.sessions, tenant_id) as db_session:
            service.create_request(
                db_session=db_session,
                actor=admin,
                kind="break_glass_review",
                target={"scope": "tenant", "event_seq": 42},
                justification="Review of last night's break-glass access",
                expires_in=timedelta(hours=1),
            )
        worker = webhooks.start_worker(isolated_runtime, interval=0.2)
        try:
            assert webhooks.start_worker(isolated_runtime) is worker  # once per runtime
            assert state.got.wait(timeout=60)
        finally:
            worker.close()
    body, _, signed = state.received[0]
    assert signed and json.loads(body)["data"]["kind"] == "break_glass_review"
