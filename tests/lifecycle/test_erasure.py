"""Erasure: approval, legal hold, crypto-shredding, the ledger and restores, certificates.

"Nothing about them can be read back": not through the API, not in the raw database, not
after restoring an older copy (with ledger replay and the key store)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Table, delete, insert, select, text

from callvault.access.approvals.service import decide
from callvault.access.identity import service as identity
from callvault.access.identity.models import Tenant
from callvault.audit.service import subject_report
from callvault.core.db import tenant_session
from callvault.core.errors import ApprovalRequired, Conflict, DecryptionFailed, IntegrityViolation, NotFound
from callvault.core.runtime import Runtime
from callvault.crypto import open_data_key
from callvault.lifecycle import dsar, flows
from callvault.lifecycle.flows import CERTIFICATE_KIND
from callvault.lifecycle.models import ErasureEntry
from callvault.lifecycle.retention import create_hold, release_hold
from callvault.lifecycle.schemas import HoldCreate
from callvault.lifecycle.signing import public_key, verify_document
from callvault.vault.customers.models import Customer
from callvault.vault.fields.models import SubjectKey
from tests.conftest import auth, raw_database_bytes
from tests.lifecycle.conftest import Lc, stepped_up


def _approve(lc: Lc, dpo: Any, subject: uuid.UUID) -> None:
    with lc.session() as db_session:
        request = flows.request_erasure(
            db_session=db_session, actor=dpo, subject_id=subject, justification="customer asked to be forgotten"
        )
    with lc.session() as db_session:
        decide(db_session=db_session, actor=lc.person("tenant_admin"), approval_id=request.id, approve=True)


def _erase(lc: Lc, dpo: Any, subject: uuid.UUID) -> Any:
    with lc.session() as db_session:
        return flows.erase(db_session=db_session, actor=stepped_up(dpo), subject_id=subject)


def test_erasure_needs_dpo_and_approval_then_nothing_reads_back(lc: Lc) -> None:
    subject, row = lc.customer()
    other, _ = lc.customer()
    lc.call(subject)
    # a reveal with a reason that names the customer: sealed under the subject key in the log
    reveal = lc.client.post(
        f"/v1/customers/{subject}:reveal",
        json={"fields": ["name"], "reason": f"核实身份 {row['name']} 来电"},
        headers=auth(lc.tenant.reveal_key),
    )
    assert reveal.status_code == 200
    dpo = lc.person("dpo")
    with pytest.raises(ApprovalRequired), lc.session() as db_session:
        flows.erase(db_session=db_session, actor=dpo, subject_id=subject)
    with pytest.raises(Exception) as refused, lc.session() as db_session:  # an agent may never erase
        flows.erase(db_session=db_session, actor=lc.person("agent"), subject_id=subject)
    assert getattr(refused.value, "status", None) == 403
    _approve(lc, dpo, subject)
    before = lc.runtime.caches.get("dek")
    assert before is not None
    result = _erase(lc, dpo, subject)

    # the certificate verifies, names the approver, and reports what was kept and why
    certificate = result.certificate
    _, key = public_key(lc.runtime.keyring)
    assert verify_document(key, CERTIFICATE_KIND, certificate, result.signature)
    assert not verify_document(key, CERTIFICATE_KIND, {**certificate, "erased_at": "x"}, result.signature)
    assert certificate["approvers"] and certificate["approval_id"]
    assert certificate["deleted"]["call_metadata"] == 1
    assert {e["data_class"] for e in certificate["exceptions"]} >= {"audit_log"}
    assert str(subject) not in json.dumps(certificate)  # the subject is named by its hash only
    assert certificate["subject_hash"] == flows.subject_hash(lc.id, subject)

    # not through the API
    assert lc.client.get(f"/v1/customers/{subject}", headers=lc.headers).status_code == 404
    assert lc.client.get(f"/v1/customers/{other}", headers=lc.headers).status_code == 200
    assert lc.client.post("/v1/customers:search", json={"mobile": row["mobile"]}, headers=lc.headers).json() == []
    with pytest.raises(NotFound), lc.session() as db_session:
        dsar.report(db_session=db_session, actor=stepped_up(dpo), subject_id=subject)
    # the audit log keeps its events, but the reason sealed under the destroyed key is gone
    with lc.session() as db_session:
        accesses = subject_report(db_session=db_session, actor=lc.person("auditor"), subject_id=str(subject)).accesses
    reveals = [a for a in accesses if a.action == "customer.reveal"]
    assert reveals and all(a.purpose is None for a in reveals)
    # not in the raw database: the key row is empty, the customer and call rows are gone
    with lc.session() as db_session:
        assert db_session.get(Customer, (lc.id, subject)) is None
        keys = db_session.scalars(select(SubjectKey).where(SubjectKey.tenant_id == lc.id)).all()
        assert any(k.wrapped_dek is None and k.destroyed_at is not None for k in keys)
        dump = b"".join(
            bytes(str(list(r)), "utf-8") for r in db_session.execute(text("SELECT * FROM audit_event")).all()
        )
    assert row["name"].encode() not in dump and row["mobile"].encode() not in dump
    raw = raw_database_bytes(lc.runtime)
    for value in (row["name"], row["mobile"], row["email"], row["address"]):
        assert value.encode() not in raw
    # the certificate can be fetched again
    with lc.session() as db_session:
        again = flows.get_certificate(
            db_session=db_session, actor=dpo, certificate_id=uuid.UUID(certificate["certificate_id"])
        )
    assert again.certificate == certificate and again.signature == result.signature


def test_erasure_of_unknown_subject_is_404_and_hold_is_409_naming_the_hold(lc: Lc) -> None:
    dpo = lc.person("dpo")
    with pytest.raises(NotFound), lc.session() as db_session:
        flows.erase(db_session=db_session, actor=dpo, subject_id=uuid.uuid4())
    subject, _ = lc.customer()
    with lc.session() as db_session:
        hold = create_hold(
            db_session=db_session, actor=dpo, hold_in=HoldCreate(subject_id=subject, case_ref="CASE-2026-17")
        )
    _approve(lc, dpo, subject)
    with pytest.raises(Conflict) as held, lc.session() as db_session:
        flows.erase(db_session=db_session, actor=stepped_up(dpo), subject_id=subject)
    assert held.value.status == 409 and held.value.code == "subject.legal_hold"
    assert "CASE-2026-17" in held.value.detail and str(hold.id) in held.value.errors[0]["message"]
    assert lc.client.get(f"/v1/customers/{subject}", headers=lc.headers).status_code == 200  # nothing deleted
    with lc.session() as db_session:
        release_hold(db_session=db_session, actor=dpo, hold_id=hold.id)
    _erase(lc, dpo, subject)
    assert lc.client.get(f"/v1/customers/{subject}", headers=lc.headers).status_code == 404


def test_http_erasure_answers_problem_json(lc: Lc) -> None:
    unknown = lc.client.post(f"/v1/subjects/{uuid.uuid4()}/erasure", headers=lc.headers)
    assert unknown.status_code in (403, 404)
    assert unknown.headers["content-type"].startswith("application/problem+json")
    subject, _ = lc.customer()
    refused = lc.client.post(f"/v1/subjects/{subject}/erasure", headers=lc.headers)
    assert refused.status_code == 403  # a backend key never erases


# -- restores ---------------------------------------------------------------------------------
_COPIED = ("customer", "subject_key")


def _copy(runtime: Runtime, tenant_id: str) -> dict[str, Any]:
    """A logical backup of the tenant: its customers, its keys, its tenant row's index root."""
    from callvault.core.db import Base

    with tenant_session(runtime.sessions, tenant_id) as db_session:  # row-level security: the tenant's rows
        tables: dict[str, Any] = {}
        for name in _COPIED:
            table: Table = Base.metadata.tables[name]
            rows = db_session.execute(select(table).where(table.c.tenant_id == tenant_id))
            tables[name] = [dict(r._mapping) for r in rows]
        tenant = db_session.get(Tenant, tenant_id)
        assert tenant is not None
        tables["tenant"] = [{"version": tenant.index_key_version, "wrapped": tenant.index_key_wrapped}]
    return tables


def _restore(runtime: Runtime, tenant_id: str, copy: dict[str, Any]) -> None:
    """Put the copy back as the tenant's data (what restoring the backup does)."""
    from callvault.core.db import Base

    with tenant_session(runtime.sessions, tenant_id) as db_session:  # row-level security: the tenant's rows
        for name in ("customer", "subject_key"):
            table: Table = Base.metadata.tables[name]
            db_session.execute(delete(table).where(table.c.tenant_id == tenant_id))
            if copy[name]:
                db_session.execute(insert(table), copy[name])
        db_session.execute(delete(ErasureEntry).where(ErasureEntry.tenant_id == tenant_id))  # the copy predates it
        tenant = db_session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.index_key_version, tenant.index_key_wrapped = copy["tenant"][0]["version"], copy["tenant"][0]["wrapped"]
    runtime.caches.pop("dek", None)
    runtime.caches.pop("tenant_keys", None)


@pytest.fixture
def iso(isolated_runtime: Runtime) -> Iterator[Lc]:
    from fastapi.testclient import TestClient

    from callvault.api.app import create_app

    tenant_id = f"iso-{uuid.uuid4().hex[:8]}"
    with isolated_runtime.sessions() as db_session, db_session.begin():
        identity.create_tenant(db_session=db_session, tenant_id=tenant_id, name="iso")
        _, api_key = identity.create_service_account(db_session=db_session, tenant_id=tenant_id, name="backend")
        _, calls_key = identity.create_service_account(
            db_session=db_session, tenant_id=tenant_id, name="cti", scopes=["calls:write"]
        )
    from tests.conftest import TenantHandle

    with TestClient(create_app(isolated_runtime), raise_server_exceptions=False) as client:
        yield Lc(client, isolated_runtime, TenantHandle(tenant_id, api_key, api_key, api_key), calls_key)


def _readable(lc: Lc, subject: uuid.UUID) -> bool:
    response = lc.client.get(f"/v1/customers/{subject}", headers=lc.headers)
    assert response.status_code in (200, 404, 422), response.text  # 422: the key does not open
    return response.status_code == 200 and response.json().get("error") is None and response.json()["name"] is not None


def test_restoring_a_pre_erasure_copy_then_replaying_the_ledger_keeps_the_subject_gone(iso: Lc) -> None:
    erased, _ = iso.customer()
    kept, _ = iso.customer()
    copy = _copy(iso.runtime, iso.id)  # taken before the erasure
    dpo = iso.person("dpo")
    _approve(iso, dpo, erased)
    _erase(iso, dpo, erased)
    # the gap the issue names: without more, the copy opened with today's keyring decrypts
    # the erased subject (its wrapped key is in the copy)
    _restore(iso.runtime, iso.id, copy)
    assert _readable(iso, erased) and _readable(iso, kept)
    # a restore replays the ledger (serve does it at start): the subject is gone again
    counts = flows.replay_ledger(iso.runtime)
    assert counts == {"entries": 1, "subjects": 1}
    assert not _readable(iso, erased)
    assert _readable(iso, kept)
    assert flows.replay_ledger(iso.runtime) == {"entries": 0, "subjects": 0}  # idempotent


def test_after_the_key_epoch_a_pre_erasure_copy_holds_no_usable_key(iso: Lc) -> None:
    erased, _ = iso.customer()
    kept, _ = iso.customer()
    copy = _copy(iso.runtime, iso.id)
    dpo = iso.person("dpo")
    _approve(iso, dpo, erased)
    _erase(iso, dpo, erased)
    assert flows.rotate_epoch_if_due(iso.runtime, iso.id, grace_seconds=0) is not None
    assert flows.rotate_epoch_if_due(iso.runtime, iso.id, grace_seconds=0) is None  # nothing new erased
    store = flows.export_key_store(iso.runtime, iso.id)  # backed up apart from the data
    tombstones = [k for k in store["keys"] if k["wrapped"] is None]
    assert tombstones  # the destroyed key travels as a tombstone, never as a key

    # the raw copy, opened with today's keyring: the erased subject's wrapped key is dead
    tenant = iso.runtime.keyring
    kek_ref = _kek_ref(iso)
    erased_key = next(k for k in copy["subject_key"] if k["id"] == _key_id(copy, erased))
    with pytest.raises(DecryptionFailed):
        open_data_key(tenant, kek_ref, iso.id, _uuid(erased_key["id"]), erased_key["wrapped_dek"])

    # restore = data from the copy + keys from the key store, then the ledger
    _restore(iso.runtime, iso.id, copy)
    assert not _readable(iso, kept)  # the copy alone is unreadable for everyone: its KEK is retired
    counts = flows.restore_key_store(iso.runtime, store)
    assert counts["tombstoned"] >= 1
    assert not _readable(iso, erased)  # no key came back for the erased subject
    assert _readable(iso, kept)  # everyone else reads again
    flows.replay_ledger(iso.runtime)
    with iso.session() as db_session:
        assert db_session.get(Customer, (iso.id, erased)) is None


def _kek_ref(lc: Lc) -> str:
    with lc.session() as db_session:
        tenant = db_session.get(Tenant, lc.id)
        assert tenant is not None
        return tenant.kek_ref


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _key_id(copy: dict[str, Any], subject: uuid.UUID) -> Any:
    row = next(r for r in copy["customer"] if _uuid(r["id"]) == subject)
    key_id = row["subject_key_id"]
    return next(k["id"] for k in copy["subject_key"] if _uuid(k["id"]) == _uuid(key_id))


def test_a_tampered_ledger_is_refused(iso: Lc) -> None:
    subject, _ = iso.customer()
    dpo = iso.person("dpo")
    _approve(iso, dpo, subject)
    _erase(iso, dpo, subject)
    path = flows.ledger_path(iso.runtime)
    line = json.loads(path.read_text().splitlines()[0])
    line["entry"]["subject_hash"] = "0" * 64
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(IntegrityViolation):
        flows.replay_ledger(iso.runtime)
    assert base64.b64decode(line["signature"])


def test_bulk_erasure_skips_held_subjects_and_writes_one_ledger_entry_each(iso: Lc, tmp_path: Any) -> None:
    import subprocess
    import sys

    subjects = [iso.customer()[0] for _ in range(4)]
    with iso.session() as db_session:
        create_hold(
            db_session=db_session, actor=iso.operator(), hold_in=HoldCreate(subject_id=subjects[0], case_ref="C-9")
        )
    counts = flows.erase_many(iso.runtime, iso.operator(), [*subjects[:3], uuid.uuid4()], batch_size=2)
    assert counts == {"erased": 2, "held": 1, "missing": 1}
    assert [_readable(iso, s) for s in subjects] == [True, False, False, True]
    entries = flows.read_ledger(iso.runtime)
    assert {e["subject_hash"] for e in entries} == {flows.subject_hash(iso.id, s) for s in subjects[1:3]}
    # the CLI does the same for a file of ids
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{subjects[3]}\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "CALLVAULT_HOME": str(iso.runtime.settings.home),
        "CALLVAULT_MASTER_KEY": "test-master-key",
    }
    if iso.runtime.settings.database_url:
        env["CALLVAULT_DATABASE_URL"] = iso.runtime.settings.database_url
        env["CALLVAULT_MIGRATION_DATABASE_URL"] = iso.runtime.settings.resolved_migration_url
        env["CALLVAULT_DB_APP_ROLE"] = iso.runtime.settings.db_app_role or ""
    done = subprocess.run(
        [sys.executable, "-m", "callvault", "lifecycle", "erase", str(ids), "--tenant", iso.id],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "erased=1 held=0 missing=0" in done.stdout
    iso.runtime.caches.pop("dek", None)
    assert not _readable(iso, subjects[3])
    verified = subprocess.run(
        [sys.executable, "-m", "callvault", "lifecycle", "ledger-verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verified.returncode == 0 and "3 entries" in verified.stdout, verified.stderr


def test_bulk_erasure_batches_commit_in_order_each_subject_once(iso: Lc) -> None:
    """Batches commit on a helper thread while the next is prepared: every subject is
    erased once (a repeated id counts as missing), with one verifiable certificate, one
    ledger entry and one ``subject.erase`` event each."""
    from callvault.audit.models import AuditEvent

    subjects = [iso.customer()[0] for _ in range(5)]
    counts = flows.erase_many(iso.runtime, iso.operator(), [*subjects, subjects[1], subjects[4]], batch_size=2)
    assert counts == {"erased": 5, "held": 0, "missing": 2}
    assert not any(_readable(iso, s) for s in subjects)
    hashes = [flows.subject_hash(iso.id, s) for s in subjects]
    entries = flows.read_ledger(iso.runtime)
    assert sorted(e["subject_hash"] for e in entries) == sorted(hashes)
    _, key = public_key(iso.runtime.keyring)
    with iso.session() as db_session:
        rows = db_session.scalars(select(ErasureEntry).where(ErasureEntry.tenant_id == iso.id)).all()
        assert sorted(row.subject_hash for row in rows) == sorted(hashes)
        for row in rows:
            fetched = flows.get_certificate(db_session=db_session, actor=iso.operator(), certificate_id=row.id)
            assert verify_document(key, CERTIFICATE_KIND, fetched.certificate, fetched.signature)
        events = db_session.scalars(
            select(AuditEvent.subject_id).where(AuditEvent.tenant_id == iso.id, AuditEvent.action == "subject.erase")
        ).all()
    assert sorted(events) == sorted(str(s) for s in subjects)
