"""Full verify's fast path: leaves computed in the database give the reference bytes.

``verify._document_sql`` builds each event's canonical document (SQLite) or its leaf
hash (PostgreSQL) in SQL. These tests hold it to the reference encoding
(``event_json(leaf_document(...))``) on values chosen to differ between JSON encoders,
and check that the fallback to the reference path names tampering and nothing else.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import text

from callvault.audit import merkle
from callvault.audit import verify as verify_module
from callvault.audit.log import event_leaf_hash, record_many, writer_for
from callvault.audit.verify import verify_log
from callvault.core import clock
from callvault.core.runtime import Runtime
from tests.conftest import owner_engine

_AWKWARD = [
    "", "plain", 'quote " inside', "back\\slash", "slash / and </script>", "tab\tnew\nline\rcr", "\b\f",
    "\x01\x1f\x7f", "\u0085\u00a0", "\u2028\u2029", "\ufeff", "张三 申请 查看", "😀 emoji", "\ue000\uffff", "null",
    "0", '{"json": [1]}',
]  # fmt: skip


def _events(count: int) -> list[dict[str, Any]]:
    events = []
    for i in range(count):
        awkward = _AWKWARD[i % len(_AWKWARD)]
        events.append(
            {
                "time": clock.now(), "tenant_id": "acme", "actor_id": f"sa:{awkward}", "actor_kind": "service_account",
                "actor_role": None if i % 3 else "service", "session_id": None, "action": "customer.read",
                "resource_type": "customer", "resource_id": awkward or None, "subject_id": f"c{i}",
                "purpose": awkward if i % 2 else None, "decision": "allow" if i % 5 else "deny", "mask": "masked",
                "rule": "scope.customers:read", "reason": awkward, "request_id": f"{i:032x}", "client_ip": "10.0.0.7",
                "outcome": None if i % 4 else "done",
            }
        )  # fmt: skip
    return events


def _fill(runtime: Runtime, count: int) -> None:
    events = _events(count)
    for start in range(0, count, 9):
        record_many(runtime, events[start : start + 9])
        writer_for(runtime).sign_head()


def test_database_leaves_equal_the_reference_encoding(isolated_runtime: Runtime) -> None:
    _fill(isolated_runtime, 2 * len(_AWKWARD) * 4)
    with isolated_runtime.engine.connect() as conn:
        verify_module._system_scope(conn)
        dialect = conn.dialect.name
        selected = verify_module._select_documents(dialect, 1)
        assert selected is not None, "both databases have a fast path"
        sql, hashed = selected
        rows = conn.exec_driver_sql(sql).fetchall()
        reference = conn.exec_driver_sql(verify_module._select_events(dialect, 1)).fetchall()
    assert len(rows) == len(reference) == 2 * len(_AWKWARD) * 4
    width = len(verify_module._SORTED)
    for (seq, computed, stored), columns in zip(rows, reference, strict=True):
        leaf = bytes(computed) if hashed else merkle.leaf_hash(bytes(computed))
        assert leaf == bytes(stored) == verify_module._leaf(columns[:width]), seq


def test_a_log_of_awkward_values_verifies(isolated_runtime: Runtime) -> None:
    _fill(isolated_runtime, 60)
    with isolated_runtime.engine.connect() as conn:
        report = verify_log(conn, isolated_runtime.keyring.public_key("audit"))
    assert report.ok and report.events == 60, [f.line() for f in report.findings]


def test_a_document_the_database_got_wrong_is_recomputed_not_reported() -> None:
    """If the database's bytes ever differed from the reference for a good event, the event
    is recomputed from its columns: folded with its real leaf, and not reported."""
    events = [{**event, "seq": seq} for seq, event in enumerate(_events(6), start=1)]
    width = len(verify_module._SORTED)
    columns = {}
    for event in events:
        values = [event[name] for name in verify_module._SORTED]
        values[verify_module._SORTED.index("time")] = verify_module._time_text(event["time"])
        columns[event["seq"]] = (*values, event_leaf_hash(event))
    rows = [(seq, b"{not the canonical document}", row[width]) for seq, row in columns.items()]
    folded = verify_module._fold_documents(rows, merkle.CompactTree(), 0, {6}, 5, columns.get)
    expected = merkle.CompactTree()
    for event in events:
        expected.append(event_leaf_hash(event))
    assert folded.findings == []
    assert verify_module._root(folded.frontiers[6]) == expected.root()


def _tamper(runtime: Runtime, statement: str) -> None:
    engine = owner_engine(runtime)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_event_no_update"))
        conn.execute(text(statement))
    engine.dispose()


@pytest.mark.parametrize(
    ("statement", "first"),
    [
        ("UPDATE audit_event SET reason = 'back\\slash ' WHERE seq = 5", "seq 5: changed"),
        ("UPDATE audit_event SET actor_role = NULL WHERE seq = 4", "seq 4: changed"),
        ("UPDATE audit_event SET outcome = 'done' WHERE seq = 7", "seq 7: changed"),
        ("UPDATE audit_event SET outcome = NULL WHERE seq = 9", "seq 9: changed"),
        ("UPDATE audit_event SET purpose = 'null' WHERE seq = 3", "seq 3: changed"),
    ],
)
def test_tampering_is_named_through_the_fast_path(isolated_runtime: Runtime, statement: str, first: str) -> None:
    _fill(isolated_runtime, 30)
    _tamper(isolated_runtime, statement)
    with isolated_runtime.engine.connect() as conn:
        report = verify_log(conn, isolated_runtime.keyring.public_key("audit"))
    assert report.first is not None and report.first.line().startswith(first), [f.line() for f in report.findings]


def test_a_blob_in_a_text_column_is_named_not_a_crash(isolated_runtime: Runtime) -> None:
    """SQLite lets a column of any type hold a BLOB, which ``json_object`` refuses: the
    verification falls back to reading the columns and names the event."""
    if isolated_runtime.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL columns hold only their declared type")
    _fill(isolated_runtime, 30)
    _tamper(isolated_runtime, "UPDATE audit_event SET reason = CAST('allowed' AS BLOB) WHERE seq = 11")
    with isolated_runtime.engine.connect() as conn:
        report = verify_log(conn, isolated_runtime.keyring.public_key("audit"))
    assert report.first is not None and report.first.line().startswith("seq 11: changed")


def test_the_empty_hash_is_no_leaf_of_an_event() -> None:
    """A row that cannot be encoded folds as SHA-256 of nothing, which is never a leaf
    (every leaf hashes at least the 0x00 prefix), so no head's root can accept it."""
    assert hashlib.sha256(b"").digest() != merkle.leaf_hash(b"")
