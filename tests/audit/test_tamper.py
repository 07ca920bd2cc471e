"""A DBA edits the log directly: ``audit verify`` names the first bad sequence number."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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
        for table in ("audit_event", "audit_tree_head", "audit_node", "audit_verified_head"):
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
    routine = cli("verify", "--anchor", str(anchor))  # from the head the first run verified
    assert routine.returncode == 1
    assert "FAILED at seq 20: missing: the verified tree head of size 20 is gone or changed" in routine.stderr
    bad = cli("verify", "--full", "--anchor", str(anchor))
    assert bad.returncode == 1
    assert "FAILED at seq 1: unsigned: the log holds 20 events but no signed tree head" in bad.stderr
    assert "also seq 3: changed" in bad.stderr


def test_parallel_verify_finds_the_same(isolated_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large logs are hashed by worker processes: force that path on a small log."""
    from callvault.audit import verify as verify_module

    _fill(isolated_runtime, 40)
    _tamper(isolated_runtime, "UPDATE audit_event SET action = 'customer.delete' WHERE seq = 23")
    monkeypatch.setattr(verify_module, "_PARALLEL_FROM", 10)
    monkeypatch.setattr(verify_module, "_CHUNK", 8)  # ranges are perfect subtrees: a power of two
    with isolated_runtime.engine.connect() as conn:
        report = verify_log(conn, isolated_runtime.keyring.public_key("audit"), workers=2)
    assert report.events == 40
    assert (
        report.first is not None
        and report.first.line() == "seq 23: changed: event content does not match its leaf hash"
    )


def _leaf_literal(runtime: Runtime, seq: int, **changes: str) -> str:
    """SQL literal of the leaf hash event ``seq`` would have with ``changes``: what a DBA who
    also recomputes hashes writes."""
    from callvault.audit.log import event_leaf_hash
    from callvault.audit.models import AuditEvent
    from callvault.audit.service import event_dict

    with runtime.sessions() as db_session:
        if runtime.engine.dialect.name == "postgresql":
            db_session.execute(text("SELECT set_config('callvault.scope', 'system', true)"))
        event = db_session.get(AuditEvent, seq)
        assert event is not None
        document = {**event_dict(event), **changes}
        document["time"] = event.time
    digest = event_leaf_hash(document).hex()
    return f"X'{digest}'" if runtime.engine.dialect.name == "sqlite" else f"'\\x{digest}'::bytea"


def test_deleting_every_head_and_recomputing_a_leaf_fails(isolated_runtime: Runtime) -> None:
    """Issue 9, item 7: this used to verify as "OK: 0 signed tree heads"."""
    _fill(isolated_runtime, 30)
    leaf = _leaf_literal(isolated_runtime, 12, action="customer.delete")
    _tamper(
        isolated_runtime,
        "DELETE FROM audit_tree_head",
        f"UPDATE audit_event SET action = 'customer.delete', leaf_hash = {leaf} WHERE seq = 12",
    )
    assert _verify(isolated_runtime) == ["seq 1: unsigned: the log holds 30 events but no signed tree head"]


def _resign(runtime: Runtime, keyring: Any) -> None:
    """Replace every head by one over the current rows, signed with ``keyring``'s key."""
    from callvault.audit import merkle
    from callvault.audit.log import format_time, head_message, signing_key_id

    with runtime.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT set_config('callvault.scope', 'system', false)"))
        leaves = [bytes(row[0]) for row in conn.execute(text("SELECT leaf_hash FROM audit_event ORDER BY seq"))]
    root, moment = merkle.root_from_leaves(leaves), clock.now()
    signature = keyring.sign("audit", head_message(len(leaves), root, moment)).hex()
    key_id = signing_key_id(keyring.public_key("audit"))
    sqlite = runtime.engine.dialect.name == "sqlite"

    def blob(value: str) -> str:
        return f"X'{value}'" if sqlite else f"'\\x{value}'::bytea"

    stamp = format_time(moment).replace("T", " ").replace("Z", "" if sqlite else "+00")
    _tamper(
        runtime,
        "DELETE FROM audit_tree_head",
        f"INSERT INTO audit_tree_head (size, root, time, key_id, signature) VALUES ({len(leaves)}, "
        f"{blob(root.hex())}, '{stamp}', '{key_id}', {blob(signature)})",
    )


def test_heads_resigned_with_another_key_fail_against_the_pinned_key(isolated_runtime: Runtime, tmp_path: Any) -> None:
    from callvault.audit.verify import key_fingerprint, trusted_public_key
    from callvault.core.errors import IntegrityViolation
    from callvault.crypto.keyrings.local import LocalKeyring

    _fill(isolated_runtime, 30)
    pinned = isolated_runtime.keyring.public_key("audit")
    attacker = LocalKeyring(tmp_path / "attacker.json", "attacker", scrypt_n=2**12)
    leaf = _leaf_literal(isolated_runtime, 12, action="customer.delete")
    _tamper(isolated_runtime, f"UPDATE audit_event SET action = 'customer.delete', leaf_hash = {leaf} WHERE seq = 12")
    _resign(isolated_runtime, attacker)
    with isolated_runtime.engine.connect() as conn:
        forged = verify_log(conn, attacker.public_key("audit"))  # whoever swaps the keyring passes this
        pinned_report = verify_log(conn, trusted_public_key(pinned.hex(), attacker.public_key("audit")))
    assert forged.ok
    assert [f.line() for f in pinned_report.findings] == [
        "seq 30: bad signature: tree head of size 30 is not validly signed"
    ]
    with pytest.raises(IntegrityViolation):
        trusted_public_key(key_fingerprint(pinned), attacker.public_key("audit"))
    assert trusted_public_key(key_fingerprint(pinned).lower(), pinned) == pinned


def test_an_old_unsigned_tail_fails(isolated_runtime: Runtime) -> None:
    from datetime import timedelta

    from callvault.audit.log import AuditWriter

    _fill(isolated_runtime, 14)
    writer = AuditWriter(isolated_runtime, head_every=10**6, head_seconds=3600)
    try:
        writer.append([{"time": clock.now(), "tenant_id": "acme", "actor_id": "sa:1", "actor_kind": "service_account",
                        "action": "customer.read", "resource_type": "customer", "decision": "allow"}] * 3)  # fmt: skip
    finally:
        writer._appended = False  # a crash: the process never signs what it wrote
        writer.close()
    with isolated_runtime.engine.connect() as conn:
        fresh = verify_log(conn, isolated_runtime.keyring.public_key("audit"), max_unsigned_age=70)
        later = clock.now() + timedelta(minutes=5)
        stale = verify_log(conn, isolated_runtime.keyring.public_key("audit"), max_unsigned_age=70, now=later)
    assert fresh.ok and fresh.events == 17
    assert [f.line()[:70] for f in stale.findings] == [
        "seq 15: unsigned: events 15..17 are not covered by a signed tree head;"
    ]


def test_a_process_signs_what_it_appended_when_it_closes(isolated_runtime: Runtime) -> None:
    from callvault.audit.log import AuditWriter

    writer = AuditWriter(isolated_runtime, head_every=10**6, head_seconds=3600)
    writer.append([{"time": clock.now(), "tenant_id": "acme", "actor_id": "sa:1", "actor_kind": "service_account",
                    "action": "customer.read", "resource_type": "customer", "decision": "allow"}] * 5)  # fmt: skip
    writer.close()
    with isolated_runtime.engine.connect() as conn:
        report = verify_log(conn, isolated_runtime.keyring.public_key("audit"), max_unsigned_age=0)
    assert report.ok and (report.events, report.heads) == (5, 1)


def test_cli_pins_the_key(isolated_runtime: Runtime, tmp_path: Any) -> None:
    from callvault.audit.verify import key_fingerprint

    _fill(isolated_runtime, 10)
    settings = isolated_runtime.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
    env.update(CALLVAULT_HOME=str(settings.home), CALLVAULT_MASTER_KEY="test-master-key")
    if settings.database_url:
        env.update(CALLVAULT_DATABASE_URL=settings.database_url, CALLVAULT_DB_APP_ROLE=settings.db_app_role or "")

    def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "callvault.cli", "audit", *args],
            env={**env, **extra}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    public_key = isolated_runtime.keyring.public_key("audit")
    exported = cli("heads", "export")
    assert exported.returncode == 0, exported.stderr
    assert f"fingerprint {key_fingerprint(public_key)}" in exported.stderr
    assert f"public key {public_key.hex()}" in exported.stderr
    assert all(line.startswith("{") for line in exported.stdout.splitlines())
    assert cli("verify", "--public-key", key_fingerprint(public_key)).returncode == 0
    assert cli("verify", CALLVAULT_AUDIT_PUBLIC_KEY=public_key.hex()).returncode == 0
    other = cli("verify", "--public-key", "11" * 32)
    assert other.returncode == 1 and "bad signature" in other.stderr
    swapped = cli("verify", CALLVAULT_AUDIT_PUBLIC_KEY="SHA256:" + "0" * 64)
    assert swapped.returncode == 8 and "audit.key_mismatch" in swapped.stderr
    malformed = cli("verify", "--public-key", "xyz")
    assert malformed.returncode == 2 and "Traceback" not in malformed.stderr


def test_parallel_verify_of_an_untouched_log(isolated_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranges folded by workers and combined by the parent give every head's root."""
    from callvault.audit import verify as verify_module

    _fill(isolated_runtime, 45)
    monkeypatch.setattr(verify_module, "_PARALLEL_FROM", 10)
    monkeypatch.setattr(verify_module, "_CHUNK", 4)
    with isolated_runtime.engine.connect() as conn:
        report = verify_log(conn, isolated_runtime.keyring.public_key("audit"), workers=2)
    assert report.ok, [f.line() for f in report.findings]
    assert (report.events, report.heads) == (45, 7)
    assert report.verified is not None and report.verified.size == 45


def _verified(runtime: Runtime) -> Any:
    """Full verify, then record the newest head it checked (what the CLI does)."""
    from callvault.audit.verify import record_verified
    from callvault.core.db import system_session

    with runtime.engine.connect() as conn:
        report = verify_log(conn, runtime.keyring.public_key("audit"))
    assert report.ok and report.verified is not None
    with system_session(runtime.sessions) as db_session:
        return record_verified(db_session, runtime.keyring, report.verified)


def _resumed(runtime: Runtime) -> Any:
    from callvault.audit.verify import latest_verified

    with runtime.engine.connect() as conn:
        return verify_log(conn, runtime.keyring.public_key("audit"), resume=latest_verified(conn))


def test_incremental_verify_reads_only_new_events(isolated_runtime: Runtime) -> None:
    _fill(isolated_runtime, 21)
    record = _verified(isolated_runtime)
    assert record.size == 21
    _fill(isolated_runtime, 14)
    report = _resumed(isolated_runtime)
    assert report.ok, [f.line() for f in report.findings]
    assert (report.start, report.events, report.heads) == (21, 35, 3)  # heads 21, 28, 35
    assert report.verified is not None and report.verified.size == 35


@pytest.mark.parametrize(
    ("statements", "first"),
    [
        (["UPDATE audit_event SET action = 'customer.delete' WHERE seq = 25"], "seq 25: changed"),
        (["DELETE FROM audit_event WHERE seq = 5"], "seq 5: missing: events 5..5 are missing"),
        (["DELETE FROM audit_event WHERE seq > 30"], "seq 31: missing: log ends at 30 but a head covers 35"),
        (["UPDATE audit_node SET hash = hash WHERE level = 4"], None),
        (["UPDATE audit_tree_head SET size = 36 WHERE size = 35"], "seq 36: bad signature: tree head of size 36"),
        (["DELETE FROM audit_tree_head WHERE size >= 21"], "seq 21: missing: the verified tree head of size 21"),
    ],
)
def test_incremental_verify_finds_tampering_after_or_under_the_verified_head(
    isolated_runtime: Runtime, statements: list[str], first: str | None
) -> None:
    _fill(isolated_runtime, 21)
    _verified(isolated_runtime)
    _fill(isolated_runtime, 14)
    _tamper(isolated_runtime, *statements)
    findings = [f.line() for f in _resumed(isolated_runtime).findings]
    if first is None:
        assert findings == []
    else:
        assert findings and findings[0].startswith(first), findings


def test_incremental_verify_checks_the_stored_tree_against_the_verified_root(isolated_runtime: Runtime) -> None:
    """A leaf hash rewritten (with its event) under the verified head changes the tree the
    resumed run would extend: it is caught from the stored nodes, and the run falls back to
    a full one, which finds the head that no longer matches."""
    _fill(isolated_runtime, 21)
    _verified(isolated_runtime)
    leaf = _leaf_literal(isolated_runtime, 19, action="customer.delete")
    _tamper(isolated_runtime, f"UPDATE audit_event SET action = 'customer.delete', leaf_hash = {leaf} WHERE seq = 19")
    report = _resumed(isolated_runtime)
    assert report.start == 0
    assert [f.line() for f in report.findings] == [
        "seq 21: stored tree: the stored Merkle nodes no longer match the verified head of size 21",
        "seq 21: root mismatch: tree head of size 21 does not match the events",
    ]


def test_a_forged_verified_record_is_refused(isolated_runtime: Runtime) -> None:
    _fill(isolated_runtime, 14)
    _verified(isolated_runtime)
    literal = "X'" + "00" * 64 + "'" if isolated_runtime.engine.dialect.name == "sqlite" else "'\\x" + "00" * 64 + "'"
    _tamper(isolated_runtime, f"UPDATE audit_verified_head SET signature = {literal}")
    report = _resumed(isolated_runtime)
    assert report.start == 0
    assert [f.line() for f in report.findings] == [
        "seq 14: bad signature: verified-head record of size 14 is not validly signed"
    ]


_value = st.one_of(st.none(), st.text(st.characters(exclude_categories=("Cs",)), max_size=30))


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({name: _value for name in ("action", "actor_id", "purpose", "reason", "outcome")}))
def test_the_fast_leaf_is_the_reference_leaf(values: dict[str, Any]) -> None:
    """verify's per-row encoding gives exactly ``event_leaf_hash`` of the same event."""
    from callvault.audit import merkle
    from callvault.audit.log import EVENT_FIELDS, event_leaf_hash
    from callvault.audit.verify import _SORTED, _fold_rows

    event: dict[str, Any] = dict.fromkeys(EVENT_FIELDS)
    event.update({name: value for name, value in values.items() if name in EVENT_FIELDS})
    event.update(seq=1, time="2026-11-26T10:00:00.000001Z")
    row = (*[event[name] for name in _SORTED], event_leaf_hash(event))
    result = _fold_rows([row], merkle.CompactTree(), 0, {1}, 5)
    assert result.findings == []
    assert result.frontiers == {1: [event_leaf_hash(event)]}
