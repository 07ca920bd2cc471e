"""The issue's "done when": a supervisor's export goes through two approvals (security
officer, then DPO), is downloaded once after a step-up, and 20 rows of it pasted into a
text file trace back to that supervisor; with the manifest, the audit trail and no
personal data in any log line."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from callvault.audit.models import AuditEvent
from callvault.core.db import tenant_session
from callvault.core.runtime import Runtime
from tests.access.identity.conftest import FakeClock
from tests.conftest import TenantHandle, auth
from tests.exports.conftest import Staff, import_customers, request_export, step_up, vote, wait_generated


def test_supervisor_export_two_approvals_download_once_and_trace(
    client: TestClient,
    runtime: Runtime,
    tenant: TenantHandle,
    make_staff,  # type: ignore[no-untyped-def]
    fake_clock: FakeClock,
    tmp_path: Path,
    cli_env: dict[str, str],
) -> None:
    staff: Staff = make_staff(tenant.id)
    import_customers(client, tenant, 120)
    export = request_export(client, staff.supervisor)
    export_id = export["id"]
    assert export["status"] == "pending"
    assert export["levels"] == ["security_officer", "dpo"]
    assert export["waiting_for"] == "security_officer"
    assert export["estimated_rows"] == 120

    # the approvers' inbox (approvals service) names it; the DPO cannot go first
    inbox = client.get("/v1/approvals", params={"status": "pending"}, headers=staff.security.headers).json()
    mine = [item for item in inbox["items"] if item["id"] == export["approval_id"]]
    assert mine and mine[0]["may_decide"] and mine[0]["kind"] == "export"
    early = vote(client, staff.dpo, export_id, fake_clock)
    assert early.status_code == 403 and early.json()["code"] == "approval.not_your_level"
    own = vote(client, staff.supervisor, export_id, fake_clock)
    assert own.status_code == 403 and own.json()["code"] == "approval.self_approval"

    # not downloadable before the chain ends
    step_up(client, staff.supervisor, fake_clock)
    early_download = client.get(
        f"/v1/exports/{export_id}/download", params={"format": "csv"}, headers=staff.supervisor.headers
    )
    assert early_download.status_code == 409 and early_download.json()["code"] == "export.not_ready"

    first = vote(client, staff.security, export_id, fake_clock)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "pending" and first.json()["waiting_for"] == "dpo"
    second = vote(client, staff.dpo, export_id, fake_clock)
    assert second.status_code == 200, second.text
    assert second.json()["status"] == "queued"
    assert wait_generated(runtime, tenant.id, export_id) == "ready"
    ready = client.get(f"/v1/exports/{export_id}", headers=staff.supervisor.headers).json()
    assert ready["status"] == "ready" and ready["row_count"] == 120 and ready["progress"] == 1.0
    assert {item["format"] for item in ready["files"]} == {"csv", "xlsx"}

    # only the requester, only after a step-up, only once
    other = client.get(f"/v1/exports/{export_id}/download", params={"format": "csv"}, headers=staff.security.headers)
    assert other.status_code in (401, 403), other.text
    fake_clock.advance(minutes=10)
    stale = client.get(f"/v1/exports/{export_id}/download", params={"format": "csv"}, headers=staff.supervisor.headers)
    assert stale.status_code == 401 and stale.json()["code"] == "auth.step_up_required"
    step_up(client, staff.supervisor, fake_clock)
    got = client.get(f"/v1/exports/{export_id}/download", params={"format": "csv"}, headers=staff.supervisor.headers)
    assert got.status_code == 200, got.text
    again = client.get(f"/v1/exports/{export_id}/download", params={"format": "csv"}, headers=staff.supervisor.headers)
    assert again.status_code == 409 and again.json()["code"] == "export.downloads_spent"
    data = got.content
    text = data.decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0].startswith("# CONFIDENTIAL - CallVault export " + export_id)
    assert staff.supervisor.person.username in lines[0]
    assert lines[-1].startswith("# CONFIDENTIAL - end of CallVault export " + export_id)
    rows = list(csv.reader(io.StringIO("\n".join(lines[1:-1]))))
    assert rows[0] == ["name", "mobile", "id_number", "region"] and len(rows) == 121
    assert all("*" in row[1] and "*" in row[2] for row in rows[1:])  # masked

    # the signed manifest matches the file, offline
    manifest = client.get(
        f"/v1/exports/{export_id}/manifest", params={"format": "csv"}, headers=staff.supervisor.headers
    )
    assert manifest.status_code == 200, manifest.text
    (tmp_path / "export.csv").write_bytes(data)
    (tmp_path / "manifest.json").write_text(manifest.text)
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "callvault",
            "exports",
            "verify-manifest",
            str(tmp_path / "export.csv"),
            str(tmp_path / "manifest.json"),
        ],
        capture_output=True,
        text=True,
        env=cli_env,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (tmp_path / "tampered.csv").write_bytes(data.replace(b"\r\n", b"\n", 1))
    tampered = subprocess.run(
        [
            sys.executable,
            "-m",
            "callvault",
            "exports",
            "verify-manifest",
            str(tmp_path / "tampered.csv"),
            str(tmp_path / "manifest.json"),
        ],
        capture_output=True,
        text=True,
        env=cli_env,
        check=False,
    )
    assert tampered.returncode == 1

    # 20 rows pasted into a text file (tab-separated, as from a spreadsheet), re-ordered
    fragment = "\n".join("\t".join(row) for row in reversed(rows[40:60])) + "\n"
    (tmp_path / "pasted.txt").write_text(fragment, encoding="utf-8")
    traced = subprocess.run(
        [
            sys.executable,
            "-m",
            "callvault",
            "exports",
            "trace",
            str(tmp_path / "pasted.txt"),
            "--tenant",
            tenant.id,
            "--json",
        ],
        capture_output=True,
        text=True,
        env=cli_env,
        check=False,
    )
    assert traced.returncode == 0, traced.stdout + traced.stderr
    answer = json.loads(traced.stdout)
    assert answer["matched"] and answer["export_id"] == export_id
    assert answer["requester_id"] == staff.supervisor.actor_id
    assert [a["role"] for a in answer["approvers"]] == ["security_officer", "dpo"]
    assert answer["confidence"] > 0.999

    # the same through the API, for a security officer; not for the supervisor
    api = client.post(
        "/v1/exports:trace", content=fragment.encode(), headers={**staff.security.headers, "content-type": "text/plain"}
    )
    assert api.status_code == 200 and api.json()["export_id"] == export_id
    refused = client.post("/v1/exports:trace", content=fragment.encode(), headers=staff.supervisor.headers)
    assert refused.status_code == 403

    # every step is in the audit log
    with tenant_session(runtime.sessions, tenant.id) as db_session:
        actions = set(
            db_session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.tenant_id == tenant.id, AuditEvent.resource_id.in_([export_id, export["approval_id"]])
                )
            )
        )
    for step in (
        "export.request",
        "approval.request",
        "approval.approve",
        "approval.grant",
        "export.generate",
        "export.generated",
        "export.download",
        "export.downloaded",
        "export.read",
    ):
        assert step in actions, step
    with tenant_session(runtime.sessions, tenant.id) as db_session:
        traces = db_session.scalars(
            select(AuditEvent).where(AuditEvent.tenant_id == tenant.id, AuditEvent.action == "export.trace")
        ).all()
    assert {event.decision for event in traces} == {"allow", "deny"}
    assert client.get(f"/v1/exports/{export_id}", headers=auth(tenant.api_key)).status_code in (403, 404)
