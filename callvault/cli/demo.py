"""``callvault demo seed``: a demo tenant full of realistic (generated) customers."""

from __future__ import annotations

import os

import typer

from callvault.access.actor import Actor
from callvault.access.identity import service as identity
from callvault.cli.common import console, handle_errors, runtime
from callvault.demo.generator import CustomerGenerator
from callvault.vault.customers import importer

app = typer.Typer(help="Demo data.", no_args_is_help=True)


@app.command("seed")
@handle_errors
def seed(
    customers: int = typer.Option(1000, "--customers", min=0, max=10_000_000),
    tenant: str = typer.Option("demo", "--tenant"),
) -> None:
    """Create the demo tenant (if missing), two service accounts, and N customers."""
    with runtime() as built:
        credentials = built.settings.home / "demo-credentials.txt"
        with built.sessions() as db_session, db_session.begin():
            if identity.get_tenant(db_session=db_session, tenant_id=tenant) is None:
                identity.create_tenant(db_session=db_session, tenant_id=tenant, name="Demo Call Center")
                _, backend_key = identity.create_service_account(
                    db_session=db_session, tenant_id=tenant, name="demo-backend"
                )
                _, reveal_key = identity.create_service_account(
                    db_session=db_session,
                    tenant_id=tenant,
                    name="demo-supervisor",
                    scopes=[*identity.DEFAULT_SCOPES, "customers:reveal"],
                )
                text = (
                    f"demo tenant: {tenant}\n"
                    f"  backend key (masked reads):  {backend_key}\n"
                    f"  supervisor key (may reveal): {reveal_key}\n"
                    "  use it in /docs -> Authorize, or: curl -H 'Authorization: Bearer <key>' ...\n"
                )
                fd = os.open(credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(text)
        report = importer.import_customers(
            runtime=built,
            actor=Actor.operator(tenant, "demo"),
            lines=CustomerGenerator().jsonl_lines(customers),
            fmt="jsonl",
        )
    console.print(
        f"demo tenant {tenant}: imported={report.imported} skipped_existing={report.skipped_existing} "
        f"failed={report.failed}; credentials in {credentials}",
        highlight=False,
    )
