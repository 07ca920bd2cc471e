"""The SIEM export endpoint streams every format, and each line parses as it claims."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import TenantHandle, auth

EVENT: dict[str, Any] = {
    "seq": 42, "time": "2026-11-25T02:46:26.123456Z", "tenant_id": "acme", "actor_id": "sa:0123456789abcdef",
    "actor_kind": "service_account", "actor_role": "service", "session_id": None, "action": "customer.reveal",
    "resource_type": "customer", "resource_id": "01a21088-b019-7452-bb71-33c475e1ce28",
    "subject_id": "01a21088-b019-7452-bb71-33c475e1ce28", "purpose": 'live "call" ] \\ 42', "decision": "deny",
    "mask": "none", "rule": "scope.customers:reveal", "reason": "scope customers:reveal required",
    "request_id": "abc", "client_ip": "10.0.0.7", "leaf_hash": "00" * 32,
}  # fmt: skip

# RFC 5424: PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
SD_PARAM = r'[^\s="\]]{1,32}="(?:[^"\\\]]|\\["\\\]])*"'
SYSLOG = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) "
    r"(?P<host>[!-~]{1,255}) (?P<app>[!-~]{1,48}) (?P<proc>[!-~]{1,128}) (?P<msgid>[!-~]{1,32}) "
    rf"(?P<sd>-|(?:\[[^\s=\]\"]+(?: {SD_PARAM})*\])+)(?: (?P<msg>.*))?$"
)


def test_http_export_streams_each_format(client: TestClient, tenant: TenantHandle, runtime: Any) -> None:
    from callvault.access.identity import service as identity

    with runtime.sessions() as db_session, db_session.begin():
        _, key = identity.create_service_account(db_session=db_session, tenant_id=tenant.id, name="siem",
                                                 scopes=["audit:read"])  # fmt: skip
    client.get("/v1/customers", headers=auth(tenant.api_key))
    for fmt in ("jsonl", "ocsf", "syslog"):
        response = client.get(f"/v1/audit/export?format={fmt}", headers=auth(key))
        assert response.status_code == 200, response.text
        lines = [line for line in response.text.splitlines() if line]
        assert lines
        for line in lines:
            if fmt == "syslog":
                assert SYSLOG.match(line), line
            else:
                doc = json.loads(line)
                assert doc["tenant_id" if fmt == "jsonl" else "cloud"] is not None
        assert all(tenant.id in line for line in lines)
    bad = client.get("/v1/audit/export?format=xml", headers=auth(key))
    assert bad.status_code == 422
