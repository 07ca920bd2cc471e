"""``callvault lifecycle``: retention sweeps, legal holds, DSAR deadlines, the erasure
ledger (verify, replay after a restore), key epochs and the key store."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import typer

from callvault.access.actor import Actor
from callvault.cli.common import console, handle_errors, runtime

app = typer.Typer(help="Lifecycle: consent, retention, legal hold, erasure.", no_args_is_help=True)
TenantOption = typer.Option(..., "--tenant", help="Tenant id.")


def _operator(tenant: str) -> Actor:
    return Actor.operator(tenant, os.environ.get("USER", "cli"))


@app.command("sweep")
@handle_errors
def sweep(
    tenant: str = TenantOption,
    dry_run: bool = typer.Option(True, "--dry-run/--run", help="Report what would be deleted (default), or delete."),
    batch_size: int = typer.Option(20_000, min=1, max=1_000_000),
    max_batches: int | None = typer.Option(None, min=1, help="Stop after this many batches (resume later)."),
) -> None:
    """Delete what outlived its retention period (nothing on legal hold); resumable."""
    from callvault.lifecycle.retention import sweep as run

    with runtime() as built:
        report = run(
            built, tenant, actor=_operator(tenant), dry_run=dry_run, batch_size=batch_size, max_batches=max_batches
        )
    for item in report.classes:
        console.print(
            f"{item.data_class:18} {item.status:10} expired={item.expired} held={item.held} deleted={item.deleted}"
            + (f"  ({item.note})" if item.note else ""),
            highlight=False,
        )
    state = "dry run" if report.dry_run else ("complete" if report.complete else "interrupted: run again to resume")
    console.print(f"as_of={report.as_of.isoformat()} {state}", highlight=False)


@app.command("replay")
@handle_errors
def replay() -> None:
    """Replay the erasure ledger into this database (after restoring a backup)."""
    from callvault.lifecycle.flows import replay_ledger

    with runtime() as built:
        counts = replay_ledger(built)
    console.print(f"entries={counts['entries']} subjects_erased={counts['subjects']}", highlight=False)


@app.command("ledger-verify")
@handle_errors
def ledger_verify() -> None:
    """Check the erasure ledger file: hash chain and every signature."""
    from callvault.lifecycle.flows import ledger_path, read_ledger

    with runtime() as built:
        entries = read_ledger(built)
        console.print(f"{ledger_path(built)}: {len(entries)} entries, chain and signatures valid", highlight=False)


@app.command("rotate-epoch")
@handle_errors
def rotate_epoch(
    tenant: str = TenantOption,
    force: bool = typer.Option(False, help="Rotate even if nobody was erased since the last epoch."),
) -> None:
    """Retire the KEK version older database copies hold (after erasures), rewrapping live keys."""
    from callvault.lifecycle.flows import rotate_epoch_if_due

    with runtime() as built:
        version = rotate_epoch_if_due(built, tenant, force=force)
    console.print("nothing due" if version is None else f"KEK version {version} in force", highlight=False)


@app.command("keys-export")
@handle_errors
def keys_export(
    tenant: str = TenantOption,
    out: Path = typer.Option(..., "--out", help="File to write (keep it apart from database backups)."),
) -> None:
    """Write the tenant's key store (wrapped keys, tombstones for destroyed ones)."""
    from callvault.lifecycle.flows import export_key_store

    with runtime() as built:
        document = export_key_store(built, tenant)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle)
    console.print(f"{len(document['keys'])} keys written to {out}", highlight=False)


@app.command("keys-restore")
@handle_errors
def keys_restore(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True)) -> None:
    """Put a key store export over a restored database copy (then run `replay`)."""
    from callvault.lifecycle.flows import restore_key_store

    with runtime() as built:
        counts = restore_key_store(built, json.loads(file.read_text()))
    console.print(f"rewrapped={counts['rewrapped']} tombstoned={counts['tombstoned']}", highlight=False)


@app.command("hold")
@handle_errors
def hold(
    tenant: str = TenantOption,
    case_ref: str = typer.Option(..., "--case", help="Case reference."),
    subject: uuid.UUID | None = typer.Option(None, "--subject", help="One subject (default: a case hold on all)."),
    data_class: list[str] = typer.Option([], "--class", help="Data classes held (default: all)."),
) -> None:
    """Place a legal hold: nothing it covers is deleted until it is released."""
    from callvault.core.db import tenant_session
    from callvault.lifecycle.retention import create_hold
    from callvault.lifecycle.schemas import HoldCreate

    hold_in = HoldCreate.model_validate({"subject_id": subject, "case_ref": case_ref, "data_classes": data_class})
    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        created = create_hold(db_session=db_session, actor=_operator(tenant), hold_in=hold_in)
    console.print(f"hold {created.id}", highlight=False)


@app.command("release")
@handle_errors
def release(hold_id: uuid.UUID, tenant: str = TenantOption) -> None:
    """Release a legal hold."""
    from callvault.core.db import tenant_session
    from callvault.lifecycle.retention import release_hold

    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        released = release_hold(db_session=db_session, actor=_operator(tenant), hold_id=hold_id)
    console.print(f"hold {released.id} released at {released.released_at}", highlight=False)


@app.command("overdue")
@handle_errors
def overdue(tenant: str = TenantOption) -> None:
    """Data-subject requests past their legal deadline."""
    from callvault.core.db import tenant_session
    from callvault.lifecycle.dsar import get_requests

    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        rows = get_requests(db_session=db_session, actor=_operator(tenant), overdue=True)
    for row in rows:
        console.print(f"{row.id} {row.kind} {row.regime} due {row.due_at.isoformat()}", highlight=False)
    console.print(f"{len(rows)} overdue", highlight=False)


@app.command("erase")
@handle_errors
def erase(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="Subject ids, one a line."),
    tenant: str = TenantOption,
) -> None:
    """Erase approved subjects in bulk (crypto-shred, delete, ledger, certificates); held ones are skipped."""
    from callvault.lifecycle.flows import erase_many

    ids = [uuid.UUID(line.strip()) for line in file.read_text().splitlines() if line.strip()]
    with runtime() as built:
        counts = erase_many(built, _operator(tenant), ids)
    console.print(f"erased={counts['erased']} held={counts['held']} missing={counts['missing']}", highlight=False)
