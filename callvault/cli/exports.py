"""``callvault exports``: trace a leaked file, check a manifest, list exports, delete
expired files.

``trace`` and ``list`` run as the local operator (who holds the keyring, so the scope
``exports:trace``) through the same services and policy decision point as the API, and are
audited; ``verify-manifest`` needs nothing but the file and its manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from callvault.cli.common import console, err_console, handle_errors, runtime

app = typer.Typer(
    help="Exports: trace leaked files, verify manifests, list, delete expired files.", no_args_is_help=True
)

_TENANT = typer.Option(..., "--tenant", help="Tenant id.")


@app.command("trace")
@handle_errors
def trace(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="Leaked CSV, XLSX or text file."),
    tenant: str = _TENANT,
    as_json: bool = typer.Option(False, "--json", help="Print the full answer as JSON."),
) -> None:
    """Name the export a leaked file (or text pasted from one) came from, with a confidence.
    Exit code 0 when it matches an export, 1 when it matches none."""
    from callvault.access.actor import Actor
    from callvault.core.db import tenant_session
    from callvault.core.errors import PayloadTooLarge
    from callvault.exports import service

    if file.stat().st_size > service.TRACE_MAX_BYTES:
        raise PayloadTooLarge(f"Trace files are limited to {service.TRACE_MAX_BYTES} bytes", code="request.too_large")
    data = file.read_bytes()
    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        found = service.trace(db_session=db_session, actor=Actor.operator(tenant, "exports-trace"), data=data)
    if as_json:
        console.print_json(found.model_dump_json())
    elif found.matched:
        approvers = ", ".join(f"{a.approver_id} ({a.role})" for a in found.approvers) or "-"
        console.print(
            f"export {found.export_id}\nrequester {found.requester_username} ({found.requester_id})\n"
            f"approvers {approvers}\nrequested {found.created_at}  generated {found.generated_at}\n"
            f"confidence {found.confidence:.6f} ({found.matches} of {found.units} fingerprint units; "
            f"{found.exports_compared} exports compared)",
            highlight=False,
        )
    else:
        console.print(
            f"matches no export ({found.units} fingerprint units, best {found.matches}; "
            f"{found.exports_compared} exports compared)",
            highlight=False,
        )
    if not found.matched:
        raise typer.Exit(1)


@app.command("verify-manifest")
@handle_errors
def verify_manifest(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="The export file."),
    manifest: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="Its manifest (JSON)."),
    public_key: str | None = typer.Option(
        None, "--public-key", help="Pin the signer: 64 hex digits (else the manifest's own key is trusted)."
    ),
) -> None:
    """Check that FILE is the one the manifest describes (SHA-256, size) and that the
    manifest is signed by the export key. Exit code 1 when anything differs."""
    import hashlib

    from callvault.crypto import verify_signature

    document = json.loads(manifest.read_text(encoding="utf-8"))
    digest = hashlib.sha256()
    size = 0
    with file.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    key_hex = public_key or str(document["public_key"])
    signed = verify_signature(
        bytes.fromhex(key_hex), str(document["message"]).encode(), bytes.fromhex(str(document["signature"]))
    )
    lines = str(document["message"]).split("\n")
    covers = len(lines) >= 8 and lines[5] == document["sha256"] and lines[6] == str(document["size"])
    problems = []
    if not signed or not covers:
        problems.append("the manifest's signature does not verify")
    if digest.hexdigest() != document["sha256"] or size != int(document["size"]):
        problems.append("the file's SHA-256 or size differs from the manifest")
    if public_key is None:
        err_console.print("note: trusting the public key inside the manifest (pin it with --public-key)")
    if problems:
        for problem in problems:
            console.print(f"FAILED: {problem}", highlight=False)
        raise typer.Exit(1)
    console.print(
        f"OK: export {document['export_id']} ({document['format']}, {document['rows']} rows), signed", highlight=False
    )


@app.command("list")
@handle_errors
def list_(tenant: str = _TENANT, limit: int = typer.Option(50, "--limit", min=1, max=500)) -> None:
    """The tenant's exports, newest first (status, progress, rows)."""
    from callvault.access.actor import Actor
    from callvault.core.db import tenant_session
    from callvault.exports import service

    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        page = service.get_all(db_session=db_session, actor=Actor.operator(tenant, "exports"), limit=limit)
    for item in page.items:
        rows = "-" if item.row_count is None else str(item.row_count)
        console.print(
            f"{item.id}  {item.status:<10} {item.progress:>4.0%}  rows={rows}"
            f"  requester={item.requester_id}  created={item.created_at:%Y-%m-%d %H:%M}",
            highlight=False,
        )


@app.command("sweep")
@handle_errors
def sweep() -> None:
    """Delete every expired export file and its key (the rows stay, for tracing); queue
    exports approved but never generated."""
    from callvault.exports import service

    with runtime() as built:
        deleted = service.sweep_expired(built)
        queued = service.schedule_pending(built) + service.sync_pending(built)
        service.jobs_of(built).close()
    console.print(f"deleted {deleted} expired files; generated {queued} pending exports", highlight=False)
