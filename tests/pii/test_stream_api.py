"""The live redaction WebSocket: bad frames, revoked keys and suspended tenants (issue 9)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

from callvault.access.identity import service as identity
from callvault.core import clock
from callvault.crypto import parse_api_key
from tests.conftest import TenantHandle, auth

URL = "/v1/pii/stream?mode=mask"


def _within(ws: Any, seconds: float) -> dict[str, Any]:
    """The next server message, failing (not hanging) if none comes in time."""

    async def get() -> dict[str, Any]:
        with anyio.fail_after(seconds):
            return await ws._send_rx.receive()  # type: ignore[no-any-return]

    return ws.portal.call(get)  # type: ignore[no-any-return]


@pytest.fixture
def pinned_clock() -> Iterator[list[timedelta]]:
    """A clock that moves only when the test says so (append to the list to add time)."""
    base = clock.now()
    shifts: list[timedelta] = []
    clock.set_clock(lambda: base + sum(shifts, timedelta()))
    try:
        yield shifts
    finally:
        clock.set_clock(None)


def test_number_in_the_segment_after_a_final_one(client: TestClient, tenant: TenantHandle) -> None:
    with client.websocket_connect(URL, headers=auth(tenant.api_key)) as ws:
        ws.send_text(json.dumps({"text": "OK.", "final": True}))
        assert ws.receive_json() == {"text": "OK.", "final": True}
        ws.send_text(json.dumps({"text": "13812345678", "final": True}))
        assert ws.receive_json() == {"text": "138****5678", "final": True}
        ws.send_text(json.dumps({"text": "yes１３８１２３４５６７８", "final": True}))
        assert ws.receive_json() == {"text": "yes138****5678", "final": True}


def test_binary_frame_is_refused_with_a_close_code(client: TestClient, tenant: TenantHandle) -> None:
    with client.websocket_connect(URL, headers=auth(tenant.api_key)) as ws:
        ws.send_bytes(b'{"text": "13812345678"}')
        assert _within(ws, 10) == {"type": "websocket.send", "text": '{"error":"request.binary_frame"}'}
        closed = _within(ws, 10)
        assert closed["type"] == "websocket.close" and closed["code"] == 1003


@pytest.mark.parametrize(
    "message",
    [{"text": 13812345678}, {"text": None}, {"text": ["a"]}, {"text": "x", "final": "yes"}, {"txt": "x"}, [1], "x"],
)
def test_message_that_is_not_a_segment_is_rejected(client: TestClient, tenant: TenantHandle, message: object) -> None:
    with client.websocket_connect(URL, headers=auth(tenant.api_key)) as ws:
        ws.send_text(json.dumps(message))
        assert ws.receive_json() == {"error": "request.invalid"}
        ws.send_text("{not json")
        assert ws.receive_json() == {"error": "request.invalid"}
        ws.send_text(json.dumps({"text": "still here", "final": True}))  # the stream survives
        assert ws.receive_json() == {"text": "still here", "final": True}


def _revoke(runtime: Any, tenant: TenantHandle) -> None:
    parsed = parse_api_key(tenant.api_key)
    assert parsed is not None
    with runtime.sessions() as db_session, db_session.begin():
        identity.revoke_service_account(db_session=db_session, tenant_id=tenant.id, key_id=parsed[0])


def _suspend(runtime: Any, tenant: TenantHandle) -> None:
    with runtime.sessions() as db_session, db_session.begin():
        identity.set_tenant_status(db_session=db_session, tenant_id=tenant.id, status="suspended")


@pytest.mark.parametrize("withdraw", [_revoke, _suspend])
def test_open_stream_closes_once_its_key_is_withdrawn(
    client: TestClient, tenant: TenantHandle, runtime: Any, pinned_clock: list[timedelta], withdraw: Any
) -> None:
    with client.websocket_connect(URL, headers=auth(tenant.api_key)) as ws:
        ws.send_text(json.dumps({"text": "您好", "final": True}))
        assert ws.receive_json()["text"] == "您好"
        withdraw(runtime, tenant)
        pinned_clock.append(timedelta(seconds=5))  # within the interval: not re-checked yet
        ws.send_text(json.dumps({"text": "还在", "final": True}))
        assert ws.receive_json()["text"] == "还在"
        pinned_clock.append(timedelta(seconds=26))  # 31 s since the last check
        ws.send_text(json.dumps({"text": "13812345678", "final": True}))
        closed = _within(ws, 10)
        assert closed["type"] == "websocket.close" and closed["code"] == 1008


def test_idle_stream_is_closed_too(runtime: Any, make_tenant: Any) -> None:
    from callvault.api.app import create_app

    tenant = make_tenant()
    app = create_app(runtime)
    app.state.pii_key_recheck_seconds = 0.05
    with TestClient(app) as idle_client, idle_client.websocket_connect(URL, headers=auth(tenant.api_key)) as ws:
        ws.send_text(json.dumps({"text": "您好", "final": True}))
        assert ws.receive_json()["text"] == "您好"
        _revoke(runtime, tenant)
        closed = _within(ws, 10)  # nothing sent: the periodic check alone closes it
        assert closed["type"] == "websocket.close" and closed["code"] == 1008
