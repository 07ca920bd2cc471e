"""``callvault customers``: import, create, get, search, list (masked output)."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from callvault.access.actor import Actor
from callvault.cli.common import console, err_console, handle_errors, runtime
from callvault.core.errors import Invalid

if TYPE_CHECKING:
    from rich.progress import Progress

    from callvault.vault.customers.importer import ImportFormat
    from callvault.vault.customers.schemas import ImportReport

app = typer.Typer(help="Customers of a tenant.", no_args_is_help=True)
TenantOption = typer.Option(..., "--tenant", help="Tenant id.")


def _format_of(path: Path, given: str | None) -> ImportFormat:
    fmt = given or {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(path.suffix.lower())
    if fmt not in ("csv", "jsonl"):
        raise Invalid("Cannot tell the format: use --format csv|jsonl", code="import.format_unknown")
    return fmt  # type: ignore[return-value]


class _CountingFile:
    """Iterates a binary file by line, reporting bytes read for the progress bar."""

    def __init__(self, path: Path, progress: Progress, task: object) -> None:
        self._path, self._progress, self._task = path, progress, task

    def __iter__(self):  # type: ignore[no-untyped-def]
        with self._path.open("rb") as handle:
            for line in handle:
                self._progress.advance(self._task, len(line))  # type: ignore[arg-type]
                yield line


@app.command("import")
@handle_errors
def import_file(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    tenant: str = TenantOption,
    fmt: str | None = typer.Option(None, "--format", help="csv or jsonl (default: from the extension)."),
    strict: bool = typer.Option(False, help="Reject the whole file on the first bad row."),
    batch_size: int | None = typer.Option(None, min=1, max=100_000),
) -> None:
    """Import customers; re-running the same file skips what is already stored."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from callvault.vault.customers import importer

    actor = Actor.operator(tenant, os.environ.get("USER", "cli"))
    with (
        runtime() as built,
        Progress(
            TextColumn("importing"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[rows]} rows"),
            TimeRemainingColumn(),
            console=err_console,
        ) as progress,
    ):
        task = progress.add_task("import", total=file.stat().st_size, rows=0)

        def on_progress(report: ImportReport) -> None:
            progress.update(task, rows=report.imported + report.skipped_existing)

        report = importer.import_customers(
            runtime=built,
            actor=actor,
            lines=_CountingFile(file, progress, task),
            fmt=_format_of(file, fmt),
            strict=strict,
            batch_size=batch_size,
            on_progress=on_progress,
        )
    for error in report.errors:
        err_console.print(f"line {error.line}: {error.field or '-'}: {error.code}", highlight=False)
    console.print(
        f"imported={report.imported} skipped_existing={report.skipped_existing} failed={report.failed}",
        highlight=False,
    )
    if report.failed:
        raise typer.Exit(2)


def _print(model: object) -> None:
    console.print_json(model.model_dump_json())  # type: ignore[attr-defined]


@app.command("create")
@handle_errors
def create(tenant: str = TenantOption, data: str = typer.Option(..., "--json", help="Customer as JSON.")) -> None:
    """Create one customer from a JSON object (output masked)."""
    from callvault.core.db import tenant_session
    from callvault.vault.customers import service
    from callvault.vault.customers.schemas import CustomerCreate

    customer_in = _parse(CustomerCreate, data)
    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        _print(service.create(db_session=db_session, actor=Actor.operator(tenant), customer_in=customer_in))


@app.command("get")
@handle_errors
def get(customer_id: uuid.UUID, tenant: str = TenantOption) -> None:
    from callvault.core.db import tenant_session
    from callvault.vault.customers import service

    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        _print(service.get_or_raise(db_session=db_session, actor=Actor.operator(tenant), customer_id=customer_id))


@app.command("search")
@handle_errors
def search(
    tenant: str = TenantOption,
    mobile: str | None = typer.Option(None),
    id_number: str | None = typer.Option(None),
    email: str | None = typer.Option(None),
    external_ref: str | None = typer.Option(None),
    mobile_last4: str | None = typer.Option(None),
    limit: int = typer.Option(20, min=1, max=500),
) -> None:
    """Find customers by exact value (blind index); prints masked records."""
    from callvault.core.db import tenant_session
    from callvault.vault.customers import service
    from callvault.vault.customers.schemas import CustomerSearch

    given = {
        k: v
        for k, v in {
            "mobile": mobile,
            "id_number": id_number,
            "email": email,
            "external_ref": external_ref,
            "mobile_last4": mobile_last4,
        }.items()
        if v
    }
    query = _parse(CustomerSearch, json.dumps({**given, "limit": limit}))
    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        for customer in service.search(db_session=db_session, actor=Actor.operator(tenant), query=query):
            _print(customer)


@app.command("list")
@handle_errors
def list_customers(tenant: str = TenantOption, limit: int = typer.Option(20, min=1, max=500)) -> None:
    from callvault.core.db import tenant_session
    from callvault.vault.customers import service

    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        _print(service.get_all(db_session=db_session, actor=Actor.operator(tenant), limit=limit))


def _parse(model: type, raw: str):  # type: ignore[no-untyped-def]
    from pydantic import ValidationError

    try:
        return model.model_validate_json(raw)  # type: ignore[attr-defined]
    except ValidationError as error:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or None, "code": e["type"], "message": e["msg"]}
            for e in error.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise Invalid("Invalid input", errors=errors) from None
