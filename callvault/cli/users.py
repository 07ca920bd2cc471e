"""``callvault users``: people of a tenant, staff feeds, the offboarding sweep, SCIM tokens.

Commands act as the local operator of the tenant (``Actor.operator``), through the same
services and policy decision point as the API; passwords and tokens are printed once.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import typer

from callvault.cli.common import console, handle_errors, runtime

app = typer.Typer(help="People: users, staff feeds (CSV), offboarding sweep, SCIM tokens.", no_args_is_help=True)

ROLE_HELP = "agent, intern, qa, supervisor, tenant_admin, security_officer, dpo or auditor."


def _read_password(stdin: bool) -> str | None:
    if not stdin:
        return None
    return sys.stdin.readline().rstrip("\n")


@app.command("create")
@handle_errors
def create(
    username: str,
    tenant: str = typer.Option(..., "--tenant", help="Tenant id."),
    role: str = typer.Option(..., "--role", help=ROLE_HELP),
    display_name: str | None = typer.Option(None, "--display-name"),
    email: str | None = typer.Option(None, "--email"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Create a user; without --password-stdin a password is generated and printed once."""
    from callvault.access.actor import Actor
    from callvault.access.identity import users
    from callvault.core.db import tenant_session

    password = _read_password(password_stdin)
    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        user, generated = users.create_user(
            db_session=db_session,
            actor=Actor.operator(tenant),
            username=username,
            role=role,
            display_name=display_name,
            email=email,
            password=password,
            generate=password is None,
        )
        user_id, name = user.id, user.username
    console.print(f"user {name} ({user_id}) created with role {role}", highlight=False)
    if generated:
        console.print(f"initial password (shown once): {generated}", highlight=False)


@app.command("list")
@handle_errors
def list_users(
    tenant: str = typer.Option(..., "--tenant"),
    status: str | None = typer.Option(None, "--status", help="active, frozen or disabled."),
) -> None:
    from rich.table import Table

    from callvault.access.actor import Actor
    from callvault.access.identity import users
    from callvault.core.db import tenant_session

    table = Table("id", "username", "role", "status", "source", "totp", "last login")
    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        rows, _ = users.get_all_users(db_session=db_session, actor=Actor.operator(tenant), status=status, limit=100_000)
        for user in rows:
            table.add_row(
                str(user.id),
                user.username,
                user.role,
                user.status,
                user.source,
                "yes" if user.totp_confirmed_at else "",
                user.last_login_at.isoformat() if user.last_login_at else "",
            )
    console.print(table)


def _user_id(db_session: object, tenant: str, user: str) -> uuid.UUID:
    """A user given by id or username."""
    from sqlalchemy.orm import Session

    from callvault.access.identity import users
    from callvault.core.errors import NotFound

    assert isinstance(db_session, Session)
    try:
        return uuid.UUID(user)
    except ValueError:
        found = users.get_user_by_username(db_session=db_session, tenant_id=tenant, username=user)
        if found is None:
            raise NotFound("User not found", code="user.not_found") from None
        return found.id


@app.command("disable")
@handle_errors
def disable(user: str, tenant: str = typer.Option(..., "--tenant")) -> None:
    """Offboard a user (id or username): every session and grant ends at once."""
    from callvault.access.actor import Actor
    from callvault.access.identity import users
    from callvault.core.db import tenant_session

    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        user_id = _user_id(db_session, tenant, user)
        users.disable_user(db_session=db_session, actor=Actor.operator(tenant), user_id=user_id)
    console.print(f"user {user_id} disabled; sessions revoked", highlight=False)


@app.command("reset-password")
@handle_errors
def reset_password(
    user: str,
    tenant: str = typer.Option(..., "--tenant"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Set a new password (generated and printed once unless read from stdin); ends the
    user's sessions and clears a lockout."""
    from callvault.access.actor import Actor
    from callvault.access.identity import users
    from callvault.core.db import tenant_session

    password = _read_password(password_stdin)
    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        user_id = _user_id(db_session, tenant, user)
        _, generated = users.reset_password(
            db_session=db_session, actor=Actor.operator(tenant), user_id=user_id, password=password
        )
    console.print(f"password of {user_id} reset; sessions ended", highlight=False)
    if generated:
        console.print(f"new password (shown once): {generated}", highlight=False)


@app.command("sync")
@handle_errors
def sync(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV: username,role,display_name[,email]"),
    tenant: str = typer.Option(..., "--tenant"),
    max_age_hours: float | None = typer.Option(
        None,
        "--max-age-hours",
        help="Disable feed users not seen for this long (default 23, at most 24 h minus the sweep interval).",
    ),
) -> None:
    """Apply the complete list of active staff: create/update those listed, disable
    feed-managed users who are absent."""
    from datetime import timedelta

    from callvault.access.identity import feed

    rows, errors = feed.parse_staff_csv(file.read_text(encoding="utf-8-sig"))
    with runtime() as built:
        if max_age_hours is not None:
            feed.set_feed_max_age(built, tenant, timedelta(hours=max_age_hours))
        report = feed.sync_staff(built, tenant, rows)
    for line in [*errors, *report.errors]:
        console.print(f"  {line}", highlight=False)
    console.print(
        f"created={report.created} updated={report.updated} unchanged={report.unchanged} "
        f"disabled={report.disabled} errors={len(errors) + len(report.errors)}",
        highlight=False,
    )
    if errors or report.errors:
        raise typer.Exit(2)


@app.command("sweep")
@handle_errors
def sweep() -> None:
    """Disable feed users not seen within their tenant's max age, end leftover sessions
    of inactive users, delete expired sessions (also runs inside `callvault serve`)."""
    from callvault.access.identity import feed

    with runtime() as built:
        report = feed.sweep(built)
    console.print(
        f"disabled={report.disabled_stale} revoked={report.revoked_inactive} "
        f"expired_sessions={report.expired_sessions}",
        highlight=False,
    )


@app.command("scim-token")
@handle_errors
def scim_token(
    tenant: str = typer.Option(..., "--tenant"),
    name: str = typer.Option("idp", "--name", help="Label, e.g. okta or entra."),
) -> None:
    """Create the SCIM bearer token an identity provider uses for /scim/v2 (printed once)."""
    from callvault.access.identity import scim

    with runtime() as built, built.sessions() as db_session, db_session.begin():
        row, token = scim.create_token(db_session=db_session, tenant_id=tenant, name=name)
        token_id = row.id
    console.print(f"SCIM token {token_id} for tenant {tenant}", highlight=False)
    console.print(f"bearer token (shown once): {token}", highlight=False)
