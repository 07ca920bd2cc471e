"""``callvault audit``: verify, proofs, anchoring, queries and SIEM export."""

from __future__ import annotations

import json
import socket
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from callvault.access.actor import Actor
from callvault.cli.common import console, err_console, handle_errors, runtime
from callvault.core.errors import Invalid

if TYPE_CHECKING:
    from pydantic import ValidationError

UNSIGNED_GRACE_S = 60.0
"""How late a signed head may be beyond CALLVAULT_AUDIT_HEAD_SECONDS before verify fails:
room for a busy writer and clock skew between processes."""

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
heads_app = typer.Typer(help="Signed tree heads.", no_args_is_help=True)
app.add_typer(heads_app, name="heads")


@app.command("verify")
@handle_errors
def verify(
    anchor: Path | None = typer.Option(None, "--anchor", exists=True, help="Exported heads file."),
    public_key: str | None = typer.Option(
        None,
        "--public-key",
        help="Pinned signing key: 64 hex digits or SHA256:<fingerprint> (default CALLVAULT_AUDIT_PUBLIC_KEY).",
    ),
    max_unsigned_age: float | None = typer.Option(
        None,
        "--max-unsigned-age",
        min=0,
        help=f"Seconds events may wait for a signed head (default: head interval + {UNSIGNED_GRACE_S:.0f}).",
    ),
    full: bool = typer.Option(
        False, "--full", help="Recompute every event, not only those after the last verified head."
    ),
) -> None:
    """Check the log (from the last verified head; --full: all of it); exit 1 naming the
    first bad sequence number. A good run records the newest head it checked."""
    from callvault.audit.log import SIGNING_KEY_REF
    from callvault.audit.verify import latest_verified, load_anchor, record_verified, trusted_public_key, verify_log
    from callvault.core.db import system_session

    with runtime() as built:
        pin = public_key or built.settings.audit_public_key
        trusted = trusted_public_key(pin, built.keyring.public_key(SIGNING_KEY_REF))
        allowed = built.settings.audit_head_seconds + UNSIGNED_GRACE_S if max_unsigned_age is None else max_unsigned_age
        with built.engine.connect() as connection:
            resume = None if full else latest_verified(connection)
            report = verify_log(
                connection,
                trusted,
                anchor=load_anchor(anchor) if anchor else (),
                max_unsigned_age=allowed,
                resume=resume,
            )
        if report.ok and report.verified is not None and (resume is None or report.verified.size > resume.size):
            with system_session(built.sessions) as db_session:
                record_verified(db_session, built.keyring, report.verified)
    if not pin:
        err_console.print(
            "note: no pinned key: heads are checked against the keyring's own key, which anyone holding the data "
            "folder also holds (pin it: --public-key or CALLVAULT_AUDIT_PUBLIC_KEY, from `audit heads export`)",
            highlight=False,
        )
    if report.ok:
        if report.events == 0:
            console.print("audit log is empty: nothing to verify, OK")
        else:
            since = f" ({report.events - report.start} new since the verified head of size {report.start})"
            console.print(
                f"OK: {report.events} events{since if report.start else ''}, {report.heads} signed tree heads"
                + (f", {report.anchored} anchored heads" if anchor else "")
                + " verified",
                highlight=False,
            )
        return
    first = report.first
    assert first is not None
    err_console.print(f"FAILED at seq {first.seq}: {first.kind}: {first.detail}", highlight=False)
    for finding in report.findings[1:]:
        err_console.print(f"  also {finding.line()}", highlight=False)
    raise typer.Exit(1)


@app.command("verify-proof")
@handle_errors
def verify_proof(
    proof_file: Path = typer.Argument(
        ..., exists=True, help="JSON from GET /v1/audit/events/{seq}/proof or /v1/audit/tree-heads/consistency"
    ),
    public_key: str | None = typer.Option(None, help="Trusted public key (hex); default: the one in the file."),
) -> None:
    """Check an inclusion or consistency proof offline (no server, no database)."""
    from callvault.audit import merkle
    from callvault.audit.log import head_message
    from callvault.audit.verify import HeadRecord
    from callvault.crypto import verify_signature

    try:
        doc = json.loads(proof_file.read_text())
        key = bytes.fromhex(public_key or doc["public_key"])
        if "audit_path" in doc:
            head = HeadRecord.from_json(doc["tree_head"])
            signed = verify_signature(key, head_message(head.size, head.root, _parse(head.time)), head.signature)
            included = merkle.verify_inclusion(
                bytes.fromhex(doc["leaf_hash"]), int(doc["leaf_index"]), int(doc["tree_size"]),
                [bytes.fromhex(node) for node in doc["audit_path"]], head.root,
            )  # fmt: skip
            ok, what = signed and included and head.size == int(doc["tree_size"]), f"event {doc['seq']}"
        else:
            ok = merkle.verify_consistency(
                int(doc["first"]), int(doc["second"]), bytes.fromhex(doc["first_root"]),
                bytes.fromhex(doc["second_root"]), [bytes.fromhex(node) for node in doc["proof"]],
            )  # fmt: skip
            what = f"tree heads {doc['first']} -> {doc['second']}"
    except (KeyError, ValueError, TypeError) as error:
        raise Invalid(f"Malformed proof file ({type(error).__name__})", code="audit.proof_malformed") from None
    if not ok:
        err_console.print(f"INVALID proof for {what}", highlight=False)
        raise typer.Exit(1)
    console.print(f"OK: proof for {what} verifies", highlight=False)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@heads_app.command("export")
@handle_errors
def heads_export(out: Path | None = typer.Option(None, "--out", help="File to write (default stdout).")) -> None:
    """Write every signed tree head as JSON lines: {size, root, time, key_id, signature} (hex)."""
    from callvault.audit import service
    from callvault.audit.log import SIGNING_KEY_REF
    from callvault.audit.verify import key_fingerprint

    with runtime() as built, built.sessions() as db_session:
        lines = [json.dumps(head.model_dump(), sort_keys=True) for head in service.heads(db_session=db_session)]
        public_key = built.keyring.public_key(SIGNING_KEY_REF)
    text = "".join(line + "\n" for line in lines)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
        err_console.print(f"{len(lines)} heads written to {out}", highlight=False)
    # On stderr, so stdout stays JSON lines: the key to pin (CALLVAULT_AUDIT_PUBLIC_KEY or
    # `verify --public-key`) somewhere the data folder's holder cannot change it.
    err_console.print(f"public key {public_key.hex()}", highlight=False)
    err_console.print(f"fingerprint {key_fingerprint(public_key)}", highlight=False)


@heads_app.command("sign")
@handle_errors
def heads_sign() -> None:
    """Write a signed tree head now, covering every event so far."""
    from callvault.audit.log import writer_for

    with runtime() as built:
        head = writer_for(built).sign_head()
    console.print(f"signed tree head of size {head.size}" if head else "no new events since the last head")


@app.command("events")
@handle_errors
def events(
    tenant: str = typer.Option(..., "--tenant"),
    actor_id: str | None = typer.Option(None, "--actor"),
    subject_id: str | None = typer.Option(None, "--subject"),
    action: str | None = typer.Option(None),
    decision: str | None = typer.Option(None),
    since: str | None = typer.Option(None, help="ISO 8601 date or date-time; no offset means UTC."),
    until: str | None = typer.Option(None, help="ISO 8601 date or date-time; no offset means UTC."),
    after_seq: int = typer.Option(0, min=0),
    limit: int = typer.Option(100, min=1, max=1000),
) -> None:
    """Query a tenant's events (JSON lines)."""
    from pydantic import ValidationError

    from callvault.audit import service
    from callvault.audit.schemas import AuditQuery
    from callvault.core.db import tenant_session

    try:
        query = AuditQuery.model_validate(
            {
                "actor_id": actor_id,
                "subject_id": subject_id,
                "action": action,
                "decision": decision,
                "since": since,
                "until": until,
                "after_seq": after_seq,
                "limit": limit,
            }
        )
    except ValidationError as error:
        raise _invalid_query(error) from None
    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        page = service.get_all(db_session=db_session, actor=Actor.operator(tenant), query=query)
    for item in page.items:
        print(item.model_dump_json())


@app.command("report")
@handle_errors
def report(subject_id: str, tenant: str = typer.Option(..., "--tenant")) -> None:
    """Who accessed one customer's data (the access part of a DSAR)."""
    from callvault.audit import service
    from callvault.core.db import tenant_session

    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        result = service.subject_report(db_session=db_session, actor=Actor.operator(tenant), subject_id=subject_id)
    console.print_json(result.model_dump_json())


@app.command("export")
@handle_errors
def export(
    fmt: str = typer.Option("jsonl", "--format", help="jsonl | ocsf | syslog"),
    since: str | None = typer.Option(None, "--since", help="ISO 8601 date or date-time; no offset means UTC."),
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant (default: all)."),
) -> None:
    """Write events for a SIEM to stdout."""
    from pydantic import TypeAdapter, ValidationError

    from callvault.audit import service, siem
    from callvault.audit.schemas import UtcInstant
    from callvault.core.db import system_session

    if fmt not in ("jsonl", "ocsf", "syslog"):
        raise Invalid("Format must be jsonl, ocsf or syslog", code="audit.export_format")
    try:
        start = None if since is None else TypeAdapter(UtcInstant).validate_python(since)
    except ValidationError as error:
        raise _invalid_query(error) from None
    hostname = socket.gethostname()
    with runtime() as built, system_session(built.sessions) as db_session:
        for event in service.iter_events(db_session=db_session, tenant_id=tenant, since=start):
            sys.stdout.write(siem.render(event, fmt, hostname=hostname) + "\n")


def _invalid_query(error: ValidationError) -> Invalid:
    """A bad option as one line and exit code 2, like any other invalid input."""
    errors = [
        {"field": ".".join(str(part) for part in item["loc"]) or None, "code": item["type"], "message": item["msg"]}
        for item in error.errors(include_url=False, include_input=False)
    ]
    first = errors[0]
    return Invalid(f"{first['field'] or 'value'}: {first['message']}", code="request.invalid", errors=errors)


__all__ = ["app"]
