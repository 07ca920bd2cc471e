"""``callvault approvals``: an approver logs in as themself (password on stdin, a recovery
code as second factor), sees the request waiting, approves it; the requester cannot."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from fastapi.testclient import TestClient

from callvault.core.runtime import Runtime
from tests.access.identity.conftest import FakeClock, Person, bearer, enrol, login
from tests.conftest import TenantHandle


def _cli(env: dict[str, str], *args: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callvault", "approvals", *args],
        input=password + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_approver_lists_and_approves_from_the_terminal(
    client: TestClient,
    runtime: Runtime,
    tenant: TenantHandle,
    make_person: Callable[..., Person],
    cli_env: dict[str, str],
    fake_clock: FakeClock,
) -> None:
    requester = make_person(tenant.id, "dpo")
    approver = make_person(tenant.id, "security_officer")
    tokens: dict[str, str] = {}
    codes: dict[str, list[str]] = {}
    for person in (requester, approver):
        first = login(client, person)
        _, recovery = enrol(client, first["token"])
        codes[person.username] = recovery
        fake_clock.advance(seconds=30)
        tokens[person.username] = login(client, person, totp=recovery[0])["token"]
    created = client.post(
        "/v1/approvals",
        json={"kind": "bulk_read", "target": {"scope": "tenant"}, "justification": "DSAR backlog for the quarter"},
        headers=bearer(tokens[requester.username]),
    )
    assert created.status_code == 201, created.text
    approval_id = created.json()["id"]
    base = ["--tenant", tenant.id]

    listed = _cli(
        cli_env, "list", *base, "--user", approver.username, "--password-stdin", "--totp", codes[approver.username][1],
        password=approver.password,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert f"* {approval_id}" in listed.stdout

    own = _cli(
        cli_env, "approve", approval_id, *base, "--user", requester.username, "--password-stdin",
        "--totp", codes[requester.username][1], password=requester.password,
    )  # fmt: skip
    assert own.returncode != 0 and "approval.self_approval" in own.stderr

    wrong = _cli(
        cli_env, "approve", approval_id, *base, "--user", approver.username, "--password-stdin",
        "--totp", codes[approver.username][2], password="not-the-password",
    )  # fmt: skip
    assert wrong.returncode != 0 and "auth.login_failed" in wrong.stderr

    voted = _cli(
        cli_env, "approve", approval_id, *base, "--user", approver.username, "--password-stdin",
        "--totp", codes[approver.username][3], "--comment", "ok", password=approver.password,
    )  # fmt: skip
    assert voted.returncode == 0, voted.stderr
    assert "pending (1/2 approvals)" in voted.stdout
    seen = client.get(f"/v1/approvals/{approval_id}", headers=bearer(tokens[requester.username]))
    assert seen.json()["approvals"] == 1 and seen.json()["votes"][0]["comment"] == "ok"
