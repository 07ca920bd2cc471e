"""``callvault approvals``: an approver's inbox and vote from a terminal.

Approving is a person's act, so these commands do not run as the local operator: they
log in as ``--user`` (password from the prompt or ``--password-stdin``, TOTP code with
``--totp`` for roles that have it), act through the same services and policy decision
point as the API, and log out again. The operator holding the keyring still cannot vote
on anyone's behalf without that person's password and second factor.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from callvault.cli.common import console, handle_errors, runtime

if TYPE_CHECKING:
    from callvault.access.actor import Actor
    from callvault.core.runtime import Runtime

app = typer.Typer(
    help="Approvals: list what waits for you, approve or deny (as a logged-in person).", no_args_is_help=True
)

_TENANT = typer.Option(..., "--tenant", help="Tenant id.")
_USER = typer.Option(..., "--user", help="Your username (you log in as yourself).")
_TOTP = typer.Option(None, "--totp", help="Current TOTP code (or a recovery code) if your account has TOTP.")
_STDIN = typer.Option(False, "--password-stdin", help="Read the password from stdin instead of prompting.")


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True))


@contextmanager
def _person(built: Runtime, tenant: str, username: str, password: str, totp: str | None) -> Iterator[Actor]:
    """A session for the person, ended when the command is done."""
    from callvault.access.identity import sessions
    from callvault.core.db import tenant_session

    with built.sessions() as db_session, db_session.begin():
        result = sessions.login(
            db_session=db_session, tenant_id=tenant, username=username, password=password, totp_code=totp
        )
        token = result.token
    with built.sessions() as db_session, db_session.begin():
        found = sessions.authenticate_session(db_session=db_session, token=token)
    if found.enrol_only:
        from callvault.core.errors import Unauthenticated

        raise Unauthenticated(
            "Enrol TOTP first: this role requires two-factor authentication", code="auth.totp_enrolment_required"
        )
    try:
        yield found.actor
    finally:
        with tenant_session(built.sessions, tenant) as db_session:
            sessions.logout(db_session=db_session, actor=found.actor)


@app.command("list")
@handle_errors
def list_(
    tenant: str = _TENANT,
    user: str = _USER,
    status: str | None = typer.Option(
        "pending", "--status", help="pending, approved, denied, expired, revoked or all."
    ),
    totp: str | None = _TOTP,
    password_stdin: bool = _STDIN,
) -> None:
    """What you requested and what you may decide (default: pending)."""
    from callvault.access.approvals import service
    from callvault.core.db import tenant_session
    from callvault.core.errors import Invalid

    chosen = None if status in (None, "all") else status
    if chosen not in (None, "pending", "approved", "denied", "expired", "revoked"):
        raise Invalid("Status must be pending, approved, denied, expired, revoked or all", code="request.invalid")
    password = _password(password_stdin)
    with (
        runtime() as built,
        _person(built, tenant, user, password, totp) as actor,
        tenant_session(built.sessions, tenant) as db_session,
    ):  # the vote's transaction commits before the session is ended
        page = service.get_all(db_session=db_session, actor=actor, status=chosen, limit=500)  # type: ignore[arg-type]
    for item in page.items:
        mark = "*" if item.may_decide else " "
        console.print(
            f"{mark} {item.id}  {item.kind:<20} {item.status:<9} {item.approvals}/{item.required}  "
            f"requester={item.requester_id}  expires={item.expires_at.isoformat()}",
            highlight=False,
        )
    console.print(f"{page.total} request(s); * = waiting for your decision", highlight=False)


def _decide(
    approve: bool, approval_id: str, tenant: str, user: str, comment: str | None, totp: str | None, stdin: bool
) -> None:
    from callvault.access.approvals import service
    from callvault.core.db import tenant_session
    from callvault.core.errors import Invalid

    try:
        parsed = uuid.UUID(approval_id)
    except ValueError:
        raise Invalid("Approval id must be a UUID", code="approval.id_invalid") from None
    password = _password(stdin)
    with (
        runtime() as built,
        _person(built, tenant, user, password, totp) as actor,
        tenant_session(built.sessions, tenant) as db_session,
    ):  # the vote's transaction commits before the session is ended
        result = service.decide(
            db_session=db_session, actor=actor, approval_id=parsed, approve=approve, comment=comment
        )
    console.print(f"{result.id}: {result.status} ({result.approvals}/{result.required} approvals)", highlight=False)
    if result.valid_until is not None:
        console.print(f"usable by the requester until {result.valid_until.isoformat()}", highlight=False)


@app.command("approve")
@handle_errors
def approve(
    approval_id: str,
    tenant: str = _TENANT,
    user: str = _USER,
    comment: str | None = typer.Option(None, "--comment", help="Shown to the requester."),
    totp: str | None = _TOTP,
    password_stdin: bool = _STDIN,
) -> None:
    """Approve a request (one vote; never your own)."""
    _decide(True, approval_id, tenant, user, comment, totp, password_stdin)


@app.command("deny")
@handle_errors
def deny(
    approval_id: str,
    tenant: str = _TENANT,
    user: str = _USER,
    comment: str | None = typer.Option(None, "--comment", help="Why (shown to the requester)."),
    totp: str | None = _TOTP,
    password_stdin: bool = _STDIN,
) -> None:
    """Deny a request: one "no" closes it."""
    _decide(False, approval_id, tenant, user, comment, totp, password_stdin)


__all__ = ["app"]
