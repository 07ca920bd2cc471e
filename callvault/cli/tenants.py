"""``callvault tenants`` and ``callvault service-accounts``."""

from __future__ import annotations

import typer

from callvault.cli.common import console, handle_errors, runtime

app = typer.Typer(help="Tenants (client companies).", no_args_is_help=True)
accounts_app = typer.Typer(help="Service accounts and their API keys.", no_args_is_help=True)


@app.command("create")
@handle_errors
def create(tenant_id: str, name: str = typer.Option(..., help="Display name."), region: str = "cn") -> None:
    """Create a tenant with its own KEK and blind-index key."""
    from callvault.access.identity import service as identity

    with runtime() as built, built.sessions() as db_session, db_session.begin():
        identity.create_tenant(db_session=db_session, tenant_id=tenant_id, name=name, region=region)
    console.print(f"tenant {tenant_id} created")


@app.command("list")
@handle_errors
def list_tenants() -> None:
    from rich.table import Table

    from callvault.access.identity import service as identity

    with runtime() as built, built.sessions() as db_session:
        table = Table("id", "name", "region", "status", "created")
        for tenant in identity.get_all_tenants(db_session=db_session):
            table.add_row(tenant.id, tenant.name, tenant.region, tenant.status, tenant.created_at.isoformat())
    console.print(table)


def _set_status(tenant_id: str, status: str) -> None:
    from callvault.access.identity import service as identity

    with runtime() as built, built.sessions() as db_session, db_session.begin():
        identity.set_tenant_status(db_session=db_session, tenant_id=tenant_id, status=status)
    console.print(f"tenant {tenant_id} {status}")


@app.command("suspend")
@handle_errors
def suspend(tenant_id: str) -> None:
    """Suspend a tenant: its API keys stop working at once."""
    _set_status(tenant_id, "suspended")


@app.command("activate")
@handle_errors
def activate(tenant_id: str) -> None:
    _set_status(tenant_id, "active")


@accounts_app.command("create")
@handle_errors
def create_account(
    name: str,
    tenant: str = typer.Option(..., "--tenant", help="Tenant id."),
    scope: list[str] | None = typer.Option(
        None,
        "--scope",
        help="Repeat for each scope (default: customers:read, customers:write, customers:import, pii:scan).",
    ),
) -> None:
    """Create a service account; its API key is printed once and never stored."""
    from callvault.access.identity import service as identity

    with runtime() as built, built.sessions() as db_session, db_session.begin():
        account, api_key = identity.create_service_account(
            db_session=db_session, tenant_id=tenant, name=name, scopes=scope or identity.DEFAULT_SCOPES
        )
    console.print(f"service account {account.name} ({account.key_id}) scopes: {' '.join(account.scopes)}")
    console.print(f"API key (shown once): {api_key}", highlight=False)


@accounts_app.command("list")
@handle_errors
def list_accounts(tenant: str = typer.Option(..., "--tenant")) -> None:
    from rich.table import Table

    from callvault.access.identity import service as identity

    with runtime() as built, built.sessions() as db_session:
        table = Table("key id", "name", "scopes", "revoked")
        for account in identity.get_all_service_accounts(db_session=db_session, tenant_id=tenant):
            revoked = account.revoked_at.isoformat() if account.revoked_at else ""
            table.add_row(account.key_id, account.name, " ".join(account.scopes), revoked)
    console.print(table)


@accounts_app.command("revoke")
@handle_errors
def revoke(key_id: str, tenant: str = typer.Option(..., "--tenant")) -> None:
    from callvault.access.identity import service as identity

    with runtime() as built, built.sessions() as db_session, db_session.begin():
        identity.revoke_service_account(db_session=db_session, tenant_id=tenant, key_id=key_id)
    console.print(f"service account {key_id} revoked")
