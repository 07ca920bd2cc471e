"""A DBA edits the log directly: ``audit verify`` names the first bad sequence number."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import text

from callvault.audit.log import record_many, writer_for
from callvault.audit.verify import verify_log
from callvault.core import clock
from callvault.core.runtime import Runtime
from tests.conftest import owner_engine


def _fill(runtime: Runtime, count: int) -> None:
    events = [
        {"time": clock.now(), "tenant_id": "acme", "actor_id": f"sa:{i % 3}", "actor_kind": "service_account",
         "action": "customer.read", "resource_type": "customer", "resource_id": f"c{i}", "subject_id": f"c{i}",
         "decision": "allow", "mask": "masked", "rule": "scope.customers:read", "reason": "allowed"}
        for i in range(count)
    ]  # fmt: skip
    for start in range(0, count, 7):  # several commits, several heads
        record_many(runtime, events[start : start + 7])
        writer_for(runtime).sign_head()


def _tamper(runtime: Runtime, *statements: str) -> None:
    engine = owner_engine(runtime)
    with engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        for table in ("audit_event", "audit_tree_head", "audit_node"):
            if postgres:
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only"))
            else:
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


def _verify(runtime: Runtime) -> list[str]:
    with runtime.engine.connect() as conn:
        report = verify_log(conn, runtime.keyring.public_key("audit"))
    return [finding.line() for finding in report.findings]


def test_empty_log_verifies(isolated_runtime: Runtime) -> None:
    assert _verify(isolated_runtime) == []


def test_untouched_log_verifies(isolated_runtime: Runtime) -> None:
    _fill(isolated_runtime, 30)
    assert _verify(isolated_runtime) == []


@pytest.mark.parametrize(
    ("statements", "first"),
    [
        (
            ["UPDATE audit_event SET action = 'customer.delete' WHERE seq = 12"],
            "seq 12: changed: event content does not match its leaf hash",
        ),
        (["DELETE FROM audit_event WHERE seq = 17"], "seq 17: missing: events 17..17 are missing"),
        (
            [
                "UPDATE audit_event SET seq = -1 WHERE seq = 9",
                "UPDATE audit_event SET seq = 9 WHERE seq = 10",
                "UPDATE audit_event SET seq = 10 WHERE seq = -1",
            ],
            "seq 9: reordered: event committed at seq 10 appears here",
        ),
        (
            [
                "UPDATE audit_tree_head SET root = root WHERE size = 14",
                "UPDATE audit_tree_head SET signature = signature WHERE size = 21",
            ],
            None,
        ),
        (["DELETE FROM audit_event WHERE seq > 25"], "seq 26: missing: log ends at 25 but a head covers 30 events"),
    ],
)
def test_tampering_is_named(isolated_runtime: Runtime, statements: list[str], first: str | None) -> None:
    _fill(isolated_runtime, 30)
    _tamper(isolated_runtime, *statements)
    findings = _verify(isolated_runtime)
    if first is None:  # a no-op edit is not tampering
        assert findings == []
    else:
        assert findings[0] == first


def test_forged_head_is_a_bad_signature(isolated_runtime: Runtime) -> None:
    _fill(isolated_runtime, 30)
    forged = "00" * 32
    literal = f"X'{forged}'" if isolated_runtime.engine.dialect.name == "sqlite" else f"'\\x{forged}'::bytea"
    _tamper(isolated_runtime, f"UPDATE audit_tree_head SET root = {literal} WHERE size = 14")
    assert _verify(isolated_runtime)[0] == "seq 14: bad signature: tree head of size 14 is not validly signed"


def test_cli_verify_exit_codes_and_anchor(isolated_runtime: Runtime, tmp_path: Any) -> None:
    _fill(isolated_runtime, 20)
    settings = isolated_runtime.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
    env.update(CALLVAULT_HOME=str(settings.home), CALLVAULT_MASTER_KEY="test-master-key")
    if settings.database_url:
        env.update(CALLVAULT_DATABASE_URL=settings.database_url, CALLVAULT_DB_APP_ROLE=settings.db_app_role or "")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "callvault.cli", "audit", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    anchor = tmp_path / "heads.jsonl"
    assert cli("heads", "export", "--out", str(anchor)).returncode == 0
    ok = cli("verify", "--anchor", str(anchor))
    assert ok.returncode == 0, ok.stderr
    assert "OK: 20 events" in ok.stdout

    # a DBA rewrites history *and* re-signs nothing: the anchored copy still catches it
    _tamper(isolated_runtime, "DELETE FROM audit_tree_head", "UPDATE audit_event SET purpose = 'x' WHERE seq = 3")
    bad = cli("verify", "--anchor", str(anchor))
    assert bad.returncode == 1
    assert "FAILED at seq 3: changed" in bad.stderr


def test_parallel_verify_finds_the_same(isolated_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large logs are hashed by worker processes: force that path on a small log."""
    from callvault.audit import verify as verify_module

    _fill(isolated_runtime, 40)
    _tamper(isolated_runtime, "UPDATE audit_event SET action = 'customer.delete' WHERE seq = 23")
    monkeypatch.setattr(verify_module, "_PARALLEL_FROM", 10)
    monkeypatch.setattr(verify_module, "_CHUNK", 7)
    with isolated_runtime.engine.connect() as conn:
        report = verify_log(conn, isolated_runtime.keyring.public_key("audit"), workers=2)
    assert report.events == 40
    assert report.first is not None and report.first.line() == "seq 23: changed: event content does not match its leaf hash"
