"""Erasure (right to be forgotten), the erasure ledger, key epochs and the key store.

Erasing a subject destroys its data key first (every field, recording, transcript, export
and sealed audit reason under it is unreadable at once, wherever a copy lives), then
deletes its rows. A ledger entry (subject id hashed, time, scope, approvers) is appended to
the database *and* to an append-only file outside it (``erasure_ledger_path``): a restored
database copy is brought back in line by ``replay_ledger`` (run by ``serve`` at start and
by ``callvault lifecycle replay``), so a restore never brings the subject back.

Copies: a database copy taken before the erasure still holds the subject's wrapped key.
``rotate_epoch_if_due`` (run by the scheduled sweep after erasures) rotates the tenant
KEK, rewraps every live key and retires the old KEK version, so such a copy no longer
opens with today's keyring at all. A copy is then restored together with the key store
export (``export_key_store``, taken after each epoch; destroyed keys are tombstones in
it), which never holds a destroyed key. See docs/lifecycle.md for the costs.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import hashlib
import importlib
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Table, delete, func, select
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.decision import Decision, Resource
from callvault.access.pdp import enforce, record_failure
from callvault.audit import log
from callvault.calls.models import LiveCall
from callvault.core import clock
from callvault.core.db import bulk_insert, system_session, tenant_session
from callvault.core.errors import Conflict, IntegrityViolation, NotFound
from callvault.core.runtime import Runtime, runtime_of
from callvault.lifecycle import recordings as lifecycle_recordings
from callvault.lifecycle.consent import customer_or_raise, subject_resource
from callvault.lifecycle.models import Consent, DsarRequest, ErasureEntry, KeyEpoch
from callvault.lifecycle.retention import _covers, active_holds, holds_on_subject, retention_days
from callvault.lifecycle.schemas import DeletionCertificate, SigningKeyRead
from callvault.lifecycle.signing import canonical, public_key, sign_document, sign_encoded
from callvault.vault.customers.models import Customer
from callvault.vault.fields.models import SubjectKey
from callvault.vault.fields.service import destroy_subject_keys, time_ordered_uuid

__all__ = [
    "CERTIFICATE_KIND",
    "LEDGER_KIND",
    "erase",
    "export_key_store",
    "get_certificate",
    "ledger_path",
    "read_ledger",
    "replay_ledger",
    "request_erasure",
    "restore_key_store",
    "rotate_epoch_if_due",
    "shred_customer",
    "signing_key",
    "subject_hash",
]

_log = structlog.get_logger("callvault.lifecycle")
CERTIFICATE_KIND = "deletion-certificate"
LEDGER_KIND = "erasure-ledger"
ERASURE_APPROVERS = ("tenant_admin", "security_officer")
SCOPE = ("customer_profile", "call_metadata", "recordings", "transcripts", "exports")
_GENESIS = "0" * 64


def subject_hash(tenant_id: str, subject_id: uuid.UUID | str) -> str:
    """The subject's name in the ledger: SHA-256 of tenant and id (the id is a random
    UUID, so the hash identifies without revealing; it needs no key, so a copy whose keys
    are retired can still be matched)."""
    return hashlib.sha256(f"callvault/erased-subject/v1|{tenant_id}|{subject_id}".encode()).hexdigest()


def ledger_path(runtime: Runtime) -> Path:
    return runtime.settings.erasure_ledger_path or runtime.settings.home / "erasure-ledger.jsonl"


# -- shredding ------------------------------------------------------------------------------
@functools.cache
def _optional_eraser(capability: str) -> Any:
    """``callvault.<capability>.retention.erase_subject`` if that capability provides one."""
    try:
        module = importlib.import_module(f"callvault.{capability}.retention")
    except ImportError:
        return None
    return getattr(module, "erase_subject", None)


def shred_customer(db_session: Session, tenant_id: str, customer: Customer) -> dict[str, int]:
    """Destroy the customer's data key, then delete its rows (profile, call metadata, and
    the blobs of capabilities that provide ``erase_subject``). Counts per data class."""
    return shred_customers(db_session, tenant_id, [customer])[customer.id]


def shred_customers(
    db_session: Session, tenant_id: str, customers: Sequence[Customer]
) -> dict[uuid.UUID, dict[str, int]]:
    """``shred_customer`` for many, in a few statements: the keys first (every copy of the
    data dies with them), then calls, blobs and the profile rows."""
    counts = _shred_rows(db_session, tenant_id, [(c.id, c.subject_key_id) for c in customers])
    for customer in customers:  # gone from the database: forget them in this session too
        if customer in db_session:
            db_session.expunge(customer)
    return counts


def _shred_rows(
    db_session: Session, tenant_id: str, subjects: Sequence[tuple[uuid.UUID, uuid.UUID]]
) -> dict[uuid.UUID, dict[str, int]]:
    """``shred_customers`` for ``(customer id, subject key id)`` pairs (no ORM objects:
    the bulk erasure never loads a profile)."""
    if not subjects:
        return {}
    ids = [customer_id for customer_id, _ in subjects]
    destroy_subject_keys(db_session=db_session, tenant_id=tenant_id, key_ids=[key_id for _, key_id in subjects])
    counts: dict[uuid.UUID, dict[str, int]] = {
        customer_id: {"subject_key": 1, "customer_profile": 1} for customer_id in ids
    }
    for capability in ("recordings", "exports"):
        eraser = _optional_eraser(capability)
        if eraser is not None:
            for customer_id in ids:
                counts[customer_id][capability] = int(eraser(db_session, tenant_id, customer_id) or 0)
    calls = db_session.execute(
        select(LiveCall.customer_id, func.count())
        .where(LiveCall.tenant_id == tenant_id, LiveCall.customer_id.in_(ids))
        .group_by(LiveCall.customer_id)
    ).all()
    per_customer = {row[0]: int(row[1]) for row in calls}
    for customer_id in ids:
        counts[customer_id]["call_metadata"] = per_customer.get(customer_id, 0)
    if per_customer:
        db_session.execute(
            delete(LiveCall)
            .where(LiveCall.tenant_id == tenant_id, LiveCall.customer_id.in_(list(per_customer)))
            .execution_options(synchronize_session=False)
        )
    db_session.execute(
        delete(Customer)
        .where(Customer.tenant_id == tenant_id, Customer.id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    return counts


# -- the ledger file ------------------------------------------------------------------------
def _lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open("r", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def read_ledger(runtime: Runtime) -> list[dict[str, Any]]:
    """Every entry of the ledger file, checked: the hash chain, every signature, and a
    signed last entry (each append signs its last entry, which the chain ties to the rest):
    an edited, dropped, reordered or appended entry raises ``IntegrityViolation``."""
    from callvault.lifecycle.signing import verify_document

    _, key = public_key(runtime.keyring)
    previous = _GENESIS
    entries = []
    signed = True
    for number, line in enumerate(_lines(ledger_path(runtime)), start=1):
        entry = line.get("entry") or {}
        signature = line.get("signature")
        if entry.get("prev") != previous or (
            signature is not None and not verify_document(key, LEDGER_KIND, entry, signature)
        ):
            raise IntegrityViolation(f"Erasure ledger entry {number} fails its check", code="ledger.tampered")
        signed = signature is not None
        previous = hashlib.sha256(canonical(entry)).hexdigest()
        entries.append(entry)
    if not signed:  # entries after the last signature would be unauthenticated
        raise IntegrityViolation("The erasure ledger ends with an unsigned entry", code="ledger.tampered")
    return entries


def _last_entry_hash(fd: int) -> str:
    """Hash of the last entry in the file (read from its end: entries are small)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return _GENESIS
    start = max(0, size - 64 * 1024)
    chunk = os.pread(fd, size - start, start)
    lines = [line for line in chunk.split(b"\n") if line.strip()]
    return hashlib.sha256(canonical(json.loads(lines[-1])["entry"])).hexdigest()


def _append_many(
    runtime: Runtime,
    builds: list[Callable[[str], dict[str, Any]]],
    *,
    prepare: Callable[[list[tuple[dict[str, Any], bytes, str]]], None] | None = None,
    before_write: Callable[[], None] | None = None,
) -> list[tuple[dict[str, Any], bytes, str]]:
    """Append ``build(prev_hash)`` for each builder to the ledger file, chained, under an
    exclusive lock, with one fsync for all of them. Returns ``(entry, canonical bytes,
    SHA-256 hex)`` per entry. Under the lock, before anything is written: ``prepare``
    gets those triples (certificates are signed there), then ``before_write`` runs (the
    bulk erasure waits there for its previous batch's commit); either raising writes
    nothing."""
    path = ledger_path(runtime)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        previous = _last_entry_hash(fd)
        entries: list[tuple[dict[str, Any], bytes, str]] = []
        lines: list[bytes] = []
        last = len(builds) - 1
        for position, build in enumerate(builds):
            entry = build(previous)
            encoded = canonical(entry)
            signature = b"null"  # the chain links every entry to the batch's last one, which is signed
            if position == last:
                signature = b'"' + base64.b64encode(sign_document(runtime.keyring, LEDGER_KIND, entry)) + b'"'
            lines.append(b'{"entry":' + encoded + b',"signature":' + signature + b"}\n")
            previous = hashlib.sha256(encoded).hexdigest()
            entries.append((entry, encoded, previous))
        if prepare is not None:
            prepare(entries)
        if before_write is not None:
            before_write()
        os.write(fd, b"".join(lines))
        os.fsync(fd)
        return entries
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# -- erasure --------------------------------------------------------------------------------
def request_erasure(*, db_session: Session, actor: Actor, subject_id: uuid.UUID, justification: str) -> Any:
    """Open the approval an erasure needs (kind ``erasure``: one tenant admin or security
    officer, never the requester; usable for an hour once approved)."""
    from callvault.access.approvals.service import create_request

    customer = customer_or_raise(db_session, actor, "erasure.request", subject_id)
    enforce(
        db_session, actor, "erasure.request", subject_resource(actor.tenant_id, subject_id, customer.assigned_agent)
    )
    return create_request(
        db_session=db_session,
        actor=actor,
        kind="erasure",
        target={"customer_ids": [str(subject_id)]},
        justification=justification,
        required=1,
        approver_roles=ERASURE_APPROVERS,
        grant_window=timedelta(hours=1),
    )


def _approval_of(db_session: Session, actor: Actor, subject_id: uuid.UUID) -> tuple[str | None, list[str]]:
    try:
        from callvault.access.approvals.models import ApprovalVote
        from callvault.access.approvals.service import active_approval
    except ImportError:
        return None, []
    approval = active_approval(
        db_session=db_session,
        tenant_id=actor.tenant_id,
        requester_id=actor.actor_id,
        kind="erasure",
        covers=lambda target: str(subject_id) in target.get("customer_ids", ()),
        at=clock.now(),
    )
    if approval is None:
        return None, []
    voters = db_session.scalars(
        select(ApprovalVote.approver_id).where(
            ApprovalVote.tenant_id == actor.tenant_id,
            ApprovalVote.approval_id == approval.id,
            ApprovalVote.approve.is_(True),
        )
    )
    return str(approval.id), sorted(voters)


def _withdraw_all(
    db_session: Session, actor: Actor, subject_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Close every consent still given (an erased subject consents to nothing) and report,
    per subject, the evidence kept under the legal duty, with its end."""
    from callvault.lifecycle.consent import _record

    rows = db_session.scalars(
        select(Consent)
        .where(Consent.tenant_id == actor.tenant_id, Consent.subject_id.in_(list(subject_ids)))
        .order_by(Consent.recorded_at, Consent.id)
    ).all()
    latest: dict[tuple[uuid.UUID, str, str], Consent] = {}
    for row in rows:
        latest[(row.subject_id, row.purpose, row.partner)] = row
    if not latest:
        return {}
    until = clock.now() + timedelta(days=retention_days(db_session, actor.tenant_id, "consent_evidence"))
    kept: dict[uuid.UUID, list[Consent]] = {}
    for (subject_id, purpose, partner), row in latest.items():
        if row.status == "given":
            row = _record(
                db_session,
                actor,
                subject_id=subject_id,
                purpose=purpose,
                partner=partner,
                status="withdrawn",
                channel="erasure",
                notice_version=row.notice_version,
                notice_hash=row.notice_hash,
                evidence_ref=None,
                evidence_hash=None,
                evidence_until=until,
            )
        kept.setdefault(subject_id, []).append(row)
    out: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for subject_id, chains in kept.items():
        ends = [row.evidence_until for row in chains if row.evidence_until is not None]
        out[subject_id] = [
            {
                "data_class": "consent_evidence",
                "reason": "legal retention duty: consent evidence is kept after withdrawal",
                "records": len(chains),
                "until": max(ends).isoformat() if ends else None,
            }
        ]
    return out


def _hold_conflict(holds: Sequence[Any], flagged: bool) -> Conflict:
    return Conflict(
        "The subject is under legal hold: "
        + (", ".join(f"{hold.case_ref} ({hold.id})" for hold in holds) or "customer.legal_hold"),
        code="subject.legal_hold",
        errors=[
            {"field": "legal_hold", "code": "subject.legal_hold", "message": f"hold {hold.id} case {hold.case_ref}"}
            for hold in holds
        ]
        or [{"field": "legal_hold", "code": "subject.legal_hold", "message": "customer.legal_hold is set"}],
    )


class _Erased:
    """One subject shredded in this transaction, waiting for its ledger entry."""

    __slots__ = ("at", "counts", "entry_id", "exceptions", "requested_by", "subject_hash", "tenant_id")

    def __init__(
        self, actor: Actor, subject_id: uuid.UUID, counts: dict[str, int], exceptions: list[dict[str, Any]]
    ) -> None:
        self.tenant_id = actor.tenant_id
        self.requested_by = actor.actor_id
        self.subject_hash = subject_hash(actor.tenant_id, subject_id)
        self.entry_id = time_ordered_uuid()
        self.at = clock.now()
        self.counts = counts
        self.exceptions = exceptions


def _recordings_of(db_session: Session, tenant_id: str, customer_id: uuid.UUID) -> list[uuid.UUID]:
    """The customer's recordings, if the recordings capability is installed."""
    try:
        from callvault.recordings.service import recordings_of_customer
    except ImportError:
        return []
    return recordings_of_customer(db_session=db_session, tenant_id=tenant_id, customer_id=customer_id)


def _kept_exceptions(shredded: dict[str, int]) -> list[dict[str, Any]]:
    """What an erasure leaves behind by design, with the reason (the same for every subject
    of a batch: built once and shared)."""
    exceptions: list[dict[str, Any]] = []
    for capability in ("recordings", "exports"):
        if capability not in shredded:
            exception: dict[str, Any] = {
                "data_class": capability,
                "reason": "no eraser installed: blobs remain, unreadable (their keys derive from the destroyed key)",
            }
            if capability == "recordings" and lifecycle_recordings.installed():
                exception["reason"] = (
                    "unreadable now (their keys derive from the destroyed key); the next retention "
                    "sweep deletes the blobs of recordings whose customer is gone"
                )
            exceptions.append(exception)
    exceptions.append(
        {
            "data_class": "audit_log",
            "reason": "append-only log kept: events name the subject by id only; reasons sealed under "
            "the subject key are unreadable",
        }
    )
    return exceptions


def _shred_batch(
    db_session: Session,
    actor: Actor,
    subjects: Sequence[tuple[uuid.UUID, uuid.UUID]],
    *,
    count_recordings: bool = True,
) -> list[_Erased]:
    """Close the consents of ``(customer id, subject key id)`` pairs, shred them, and
    describe each erasure (counts, exceptions) for its ledger entry and certificate."""
    if not subjects:
        return []
    withdrawn = _withdraw_all(db_session, actor, [customer_id for customer_id, _ in subjects])
    counts = _shred_rows(db_session, actor.tenant_id, subjects)
    kept: list[dict[str, Any]] | None = None
    erased = []
    for customer_id, shredded in counts.items():
        if kept is None or "recordings" in shredded or "exports" in shredded:
            kept = _kept_exceptions(shredded)
        exceptions = [*withdrawn.get(customer_id, ()), *kept]
        if count_recordings and "recordings" not in shredded:  # one query per subject: not in bulk
            exceptions = [
                {**e, "records": len(_recordings_of(db_session, actor.tenant_id, customer_id))}
                if e["data_class"] == "recordings"
                else e
                for e in exceptions
            ]
        erased.append(_Erased(actor, customer_id, shredded, exceptions))
    return erased


def _record_erasures(
    db_session: Session,
    erased: list[_Erased],
    approval_id: str | None,
    approvers: list[str],
    *,
    before_write: Callable[[], None] | None = None,
) -> list[tuple[dict[str, Any], bytes]]:
    """Ledger entries (file, then database) and signed certificates for shredded subjects;
    call after the deletions are flushed, before the commit (``before_write``: see
    ``_append_many``)."""
    runtime = runtime_of(db_session)
    key_id, _ = public_key(runtime.keyring)
    scope = list(SCOPE)

    def builder(item: _Erased) -> Callable[[str], dict[str, Any]]:
        def build(previous: str) -> dict[str, Any]:
            return {
                "format": "callvault-erasure-ledger/1",
                "id": str(item.entry_id),
                "tenant_id": item.tenant_id,
                "subject_hash": item.subject_hash,
                "erased_at": item.at.isoformat(),
                "scope": scope,
                "requested_by": item.requested_by,
                "approval_id": approval_id,
                "approvers": approvers,
                "prev": previous,
            }

        return build

    out: list[tuple[dict[str, Any], bytes]] = []
    rows: list[dict[str, Any]] = []

    def certify(entries: list[tuple[dict[str, Any], bytes, str]]) -> None:
        for item, (entry, encoded_entry, entry_sha256) in zip(erased, entries, strict=True):
            certificate = {
                "format": "callvault-deletion-certificate/1",
                "certificate_id": entry["id"],
                "tenant_id": item.tenant_id,
                "subject_hash": item.subject_hash,
                "erased_at": entry["erased_at"],
                "method": "crypto-shredding: the subject's data key was destroyed, then its rows were deleted",
                "deleted": item.counts,
                "scope": scope,
                "exceptions": item.exceptions,
                "requested_by": item.requested_by,
                "approval_id": approval_id,
                "approvers": approvers,
                "ledger_entry_sha256": entry_sha256,
                "copies": _COPIES,
                "signing_key_id": key_id,
            }
            encoded = canonical(certificate)
            signature = sign_encoded(runtime.keyring, CERTIFICATE_KIND, encoded)
            rows.append(
                {
                    "tenant_id": item.tenant_id,
                    "id": item.entry_id,
                    "subject_hash": item.subject_hash,
                    "erased_at": item.at,
                    "entry": encoded_entry.decode(),
                    "certificate": encoded.decode(),
                    "signature": signature,
                    "replayed": False,
                }
            )
            out.append((certificate, signature))

    _append_many(runtime, [builder(item) for item in erased], prepare=certify, before_write=before_write)
    bulk_insert(db_session, _ERASURE_TABLE, rows)  # one executemany, no ORM objects per row
    return out


_COPIES = (
    "older database copies hold the wrapped key until the next key epoch; a restore replays "
    "the erasure ledger and takes keys from the key store, which holds a tombstone for this key"
)
_ERASURE_TABLE: Table = ErasureEntry.__table__  # type: ignore[assignment]


def _complete_requests(db_session: Session, tenant_id: str, subject_ids: Sequence[uuid.UUID]) -> None:
    now = clock.now()
    for request in db_session.scalars(
        select(DsarRequest).where(
            DsarRequest.tenant_id == tenant_id,
            DsarRequest.subject_id.in_(list(subject_ids)),
            DsarRequest.kind == "erasure",
            DsarRequest.completed_at.is_(None),
        )
    ):
        request.completed_at = now


def erase(*, db_session: Session, actor: Actor, subject_id: uuid.UUID) -> DeletionCertificate:
    """Erase a subject (DPO, after a step-up, with an approved ``erasure`` request): 404 if
    unknown, 409 naming the hold if a legal hold covers it; else crypto-shred, delete, write
    the ledger entry and return the signed deletion certificate."""
    # an unknown subject is answered 404 to whoever may ask for erasures (no approval can
    # name a subject that does not exist, so ``subject.erase`` itself would say 403)
    customer = customer_or_raise(db_session, actor, "erasure.request", subject_id)
    resource = subject_resource(actor.tenant_id, subject_id, customer.assigned_agent)
    enforce(db_session, actor, "subject.erase", resource)
    holds = holds_on_subject(db_session, actor.tenant_id, subject_id, "customer_profile")
    if holds or customer.legal_hold:
        error = _hold_conflict(holds, customer.legal_hold)
        record_failure(db_session, actor, "subject.erase", resource, error.code)
        raise error
    approval_id, approvers = _approval_of(db_session, actor, subject_id)
    erased = _shred_batch(db_session, actor, [(customer.id, customer.subject_key_id)])[0]
    db_session.expunge(customer)  # its row is gone
    db_session.flush()  # the deletions are in the transaction before the ledger says they happened
    ((certificate, signature),) = _record_erasures(db_session, [erased], approval_id, approvers)
    _complete_requests(db_session, actor.tenant_id, [subject_id])
    db_session.flush()
    return DeletionCertificate(
        certificate=certificate,
        signature=base64.b64encode(signature).decode(),
        signing_key_id=certificate["signing_key_id"],
    )


def erase_many(
    runtime: Runtime, actor: Actor, subject_ids: Sequence[uuid.UUID], *, batch_size: int = 1000
) -> dict[str, int]:
    """Bulk erasure by the local operator (``callvault lifecycle erase``; the operator holds
    the keyring): one PDP decision per batch, one audit event per subject (appended in the
    batch's transaction), one ledger fsync per batch. Held subjects are skipped and
    counted (``held``), unknown (or repeated) ones counted (``missing``).

    Each batch commits on a helper thread while the next one is prepared (on SQLite the
    commit also checkpoints the WAL, the larger part of a batch's time): batches still
    commit one by one and in order, and a batch writes its ledger entries only once the
    previous batch has committed; a failed commit stops the run (raised)."""
    counts = {"erased": 0, "held": 0, "missing": 0}
    unique = list(dict.fromkeys(subject_ids))  # a repeated id is missing the second time
    counts["missing"] += len(subject_ids) - len(unique)
    writer = log.writer_for(runtime)
    pending: list[tuple[Future[None], int]] = []

    def previous_committed() -> None:
        while pending:
            future, erased_count = pending.pop()
            future.result()
            counts["erased"] += erased_count

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="callvault-erasure-commit") as committer:
        try:
            for start in range(0, len(unique), batch_size):
                transaction = ExitStack()
                db_session = transaction.enter_context(tenant_session(runtime.sessions, actor.tenant_id))
                try:
                    erased = _erase_batch(
                        db_session, actor, writer, unique[start : start + batch_size], counts, previous_committed
                    )
                    previous_committed()  # (a batch that erased nobody wrote no ledger entry)
                except BaseException:
                    transaction.__exit__(*sys.exc_info())  # rolls the batch back
                    raise
                pending.append((committer.submit(transaction.close), erased))
        finally:
            previous_committed()
    return counts


def _erase_batch(
    db_session: Session,
    actor: Actor,
    writer: log.AuditWriter,
    batch: list[uuid.UUID],
    counts: dict[str, int],
    before_ledger: Callable[[], None],
) -> int:
    """One batch of ``erase_many`` in ``db_session``'s transaction; the number erased."""
    batch_id = time_ordered_uuid()
    enforce(
        db_session,
        actor,
        "subject.erase_bulk",
        Resource(type="subject_batch", tenant_id=actor.tenant_id, id=str(batch_id)),
    )
    found = db_session.execute(
        select(Customer.id, Customer.subject_key_id, Customer.legal_hold).where(
            Customer.tenant_id == actor.tenant_id, Customer.id.in_(batch)
        )
    ).all()
    counts["missing"] += len(batch) - len(found)
    holds = active_holds(db_session, actor.tenant_id)
    # a hold on every subject (a case hold over profiles) stops the batch; a hold on one
    # subject, of any class, stops that subject
    case_hold = any(hold.subject_id is None and _covers(hold, "customer_profile") for hold in holds)
    held_subjects = {hold.subject_id for hold in holds if hold.subject_id is not None}
    chosen = []
    for customer_id, key_id, flagged in found:
        if case_hold or flagged or customer_id in held_subjects:
            counts["held"] += 1
        else:
            chosen.append((customer_id, key_id))
    erased = _shred_batch(db_session, actor, chosen, count_recordings=False)
    db_session.flush()
    if not erased:
        return 0
    _record_erasures(db_session, erased, None, [], before_write=before_ledger)
    _complete_requests(db_session, actor.tenant_id, [customer_id for customer_id, _ in chosen])
    # one event per subject from one template (the log's bulk lane: each leaf is assembled
    # around the subject's id instead of encoding a document per event)
    template = log.build_event(
        actor=actor,
        action="subject.erase",
        resource=Resource(type="customer", tenant_id=actor.tenant_id),
        decision=Decision(True, "none", "lifecycle.erase_bulk", f"erased in batch {batch_id}"),
    )
    writer.append_like_in(db_session, template, [str(customer_id) for customer_id, _ in chosen])
    return len(erased)


def get_certificate(*, db_session: Session, actor: Actor, certificate_id: uuid.UUID) -> DeletionCertificate:
    row = db_session.get(ErasureEntry, (actor.tenant_id, certificate_id))
    resource = Resource(type="erasure_certificate", tenant_id=actor.tenant_id, id=str(certificate_id))
    if row is None:
        enforce(db_session, actor, "erasure.read", resource, outcome="not_found")
        raise NotFound("Deletion certificate not found", code="erasure.not_found")
    enforce(db_session, actor, "erasure.read", resource)
    certificate = json.loads(row.certificate)
    return DeletionCertificate(
        certificate=certificate,
        signature=base64.b64encode(row.signature).decode(),
        signing_key_id=certificate.get("signing_key_id", ""),
    )


def signing_key(*, db_session: Session, actor: Actor) -> SigningKeyRead:
    enforce(db_session, actor, "lifecycle.read", Resource(type="signing_key", tenant_id=actor.tenant_id))
    key_id, key = public_key(runtime_of(db_session).keyring)
    return SigningKeyRead(key_id=key_id, public_key=key)


# -- replay after a restore -----------------------------------------------------------------
def replay_ledger(runtime: Runtime) -> dict[str, int]:
    """Apply every ledger-file entry the database does not hold (a restored copy): shred and
    delete the subjects it names, record the entry as replayed. Idempotent."""
    from callvault.access.identity.models import Tenant

    entries = read_ledger(runtime)
    with system_session(runtime.sessions) as db_session:
        tenants = set(db_session.scalars(select(Tenant.id)))
        known = {(row[0], str(row[1])) for row in db_session.execute(select(ErasureEntry.tenant_id, ErasureEntry.id))}
    missing: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        if entry["tenant_id"] in tenants and (entry["tenant_id"], entry["id"]) not in known:
            missing.setdefault(entry["tenant_id"], []).append(entry)
    counts = {"entries": 0, "subjects": 0}
    for tenant_id, pending in missing.items():
        wanted = {entry["subject_hash"] for entry in pending}
        actor = Actor.operator(tenant_id, "ledger-replay")
        with tenant_session(runtime.sessions, tenant_id) as db_session:
            found = [
                customer
                for customer in db_session.scalars(select(Customer).where(Customer.tenant_id == tenant_id))
                if subject_hash(tenant_id, customer.id) in wanted
            ]
            shred_customers(db_session, tenant_id, found)
            for customer in found:
                log.record_many_in(  # inside this transaction: it holds the write lock already
                    db_session,
                    [
                        log.build_event(
                            actor=actor,
                            action="subject.erase.replay",
                            resource=subject_resource(tenant_id, customer.id),
                            decision=Decision(True, "none", "lifecycle.ledger_replay", "erased again after a restore"),
                        )
                    ],
                )
            for entry in pending:
                db_session.add(
                    ErasureEntry(
                        tenant_id=tenant_id,
                        id=uuid.UUID(entry["id"]),
                        subject_hash=entry["subject_hash"],
                        erased_at=_parse_time(entry["erased_at"]),
                        entry=canonical(entry).decode(),
                        certificate="{}",
                        signature=b"",
                        replayed=True,
                    )
                )
        counts["entries"] += len(pending)
        counts["subjects"] += len(found)
    if counts["entries"]:
        _log.warning("lifecycle.ledger_replayed", entries=counts["entries"], subjects=counts["subjects"])
    return counts


def _parse_time(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)


# -- key epochs and the key store -----------------------------------------------------------
def rotate_epoch_if_due(
    runtime: Runtime, tenant_id: str, *, grace_seconds: float = 2.0, force: bool = False
) -> int | None:
    """Rotate the tenant KEK (rewrap live keys, retire the old version) if a subject was
    erased since the last epoch; the new KEK version, or None if nothing was due."""
    from callvault.vault.fields.service import rotate_tenant_kek

    with tenant_session(runtime.sessions, tenant_id) as db_session:
        last = db_session.scalar(select(func.max(KeyEpoch.rotated_at)).where(KeyEpoch.tenant_id == tenant_id))
        query = select(func.count()).select_from(ErasureEntry).where(ErasureEntry.tenant_id == tenant_id)
        if last is not None:
            query = query.where(ErasureEntry.erased_at >= last)
        due = force or int(db_session.scalar(query) or 0) > 0
    if not due:
        return None
    version, rewrapped = rotate_tenant_kek(runtime, tenant_id, grace_seconds=grace_seconds)
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        db_session.merge(KeyEpoch(tenant_id=tenant_id, version=version, rotated_at=clock.now(), rewrapped=rewrapped))
        log.record_many_in(  # inside this transaction: it holds the write lock already
            db_session,
            [
                log.build_event(
                    actor=Actor.operator(tenant_id, "lifecycle-epoch"),
                    action="keys.epoch",
                    resource=Resource(type="tenant", tenant_id=tenant_id, id=tenant_id),
                    decision=Decision(
                        True, "none", "lifecycle.key_epoch", f"KEK v{version}; {rewrapped} keys rewrapped"
                    ),
                )
            ],
        )
    return version


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode()


def export_key_store(runtime: Runtime, tenant_id: str) -> dict[str, Any]:
    """The tenant's key store as a document to back up apart from the data: every subject
    key (wrapped under the current KEK; a destroyed one as a tombstone) and the index root."""
    from callvault.access.identity.models import Tenant

    with tenant_session(runtime.sessions, tenant_id) as db_session:
        tenant = db_session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("Tenant not found", code="tenant.not_found")
        keys = [
            {
                "id": str(row.id),
                "kek_version": row.kek_version,
                "wrapped": _b64(row.wrapped_dek),
                "destroyed_at": None if row.destroyed_at is None else row.destroyed_at.isoformat(),
            }
            for row in db_session.scalars(select(SubjectKey).where(SubjectKey.tenant_id == tenant_id))
        ]
        return {
            "format": "callvault-key-store/1",
            "tenant_id": tenant_id,
            "exported_at": clock.now().isoformat(),
            "index_root": {"version": tenant.index_key_version, "wrapped": _b64(tenant.index_key_wrapped)},
            "keys": keys,
        }


def restore_key_store(runtime: Runtime, document: dict[str, Any]) -> dict[str, int]:
    """Put a key store export over a restored database copy: live keys take the export's
    wrapping (the current KEK), tombstones destroy the copy's key. A key destroyed in the
    copy is never brought back."""
    from callvault.access.identity.models import Tenant

    if document.get("format") != "callvault-key-store/1":
        raise IntegrityViolation("Not a key store export", code="keystore.bad_format")
    tenant_id = str(document["tenant_id"])
    counts = {"rewrapped": 0, "tombstoned": 0}
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        tenant = db_session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("Tenant not found", code="tenant.not_found")
        root = document["index_root"]
        tenant.index_key_version = int(root["version"])
        tenant.index_key_wrapped = base64.b64decode(root["wrapped"])
        for key in document["keys"]:
            row = db_session.get(SubjectKey, (tenant_id, uuid.UUID(key["id"])))
            if row is None or row.wrapped_dek is None:
                continue
            if key["wrapped"] is None:
                row.wrapped_dek, row.destroyed_at = None, clock.now()
                counts["tombstoned"] += 1
            else:
                row.wrapped_dek, row.kek_version = base64.b64decode(key["wrapped"]), int(key["kek_version"])
                counts["rewrapped"] += 1
    runtime.caches.pop("dek", None)
    runtime.caches.pop("tenant_keys", None)
    return counts
