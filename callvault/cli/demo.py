"""``callvault demo seed``: a demo tenant full of realistic (generated) customers.

Generating customers needs Faker, an optional extra (``pip install 'callvault[demo]'``,
which ``make run`` does): a production install carries no demo code's dependencies.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import typer

from callvault.cli.common import console, err_console, handle_errors, runtime

if TYPE_CHECKING:
    from callvault.core.runtime import Runtime
    from callvault.demo.generator import CustomerGenerator

app = typer.Typer(help="Demo data.", no_args_is_help=True)

DEMO_ACCOUNTS = (
    # (account name, what the key may do, extra scopes beyond the defaults, or None for exactly these)
    ("demo-backend", "backend key (masked reads)", (), None),
    ("demo-supervisor", "supervisor key (may reveal)", ("customers:reveal",), None),
    ("demo-auditor", "auditor key (audit log, read-only)", (), ("audit:read",)),
    ("demo-cti", "CTI key (starts and ends live calls)", (), ("calls:write",)),
)

DEMO_PEOPLE = (
    # (username, role): the generated customers are assigned to agent-001 ... agent-199
    ("agent-001", "agent"),
    ("agent-002", "intern"),
    ("qa-demo", "qa"),
    ("supervisor-demo", "supervisor"),
    ("admin-demo", "tenant_admin"),
    ("security-demo", "security_officer"),
    ("auditor-demo", "auditor"),
)
"""The demo's people, each with a generated password shown once (and kept in the
credentials file). Roles above agent must enrol TOTP at their first login."""
"""The demo's service accounts; every key is shown once by ``demo seed`` and kept in
``$CALLVAULT_HOME/demo-credentials.txt`` (0600), never printed again."""


def _generator() -> CustomerGenerator:
    try:
        from callvault.demo.generator import CustomerGenerator
    except ModuleNotFoundError as error:
        if error.name != "faker" and not (error.name or "").startswith("faker."):
            raise
        err_console.print(
            "error demo.faker_missing: demo data needs Faker; install the demo extra: pip install 'callvault[demo]'",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(2) from None
    return CustomerGenerator()


@app.command("seed")
@handle_errors
def seed(
    customers: int = typer.Option(1000, "--customers", min=0, max=10_000_000),
    tenant: str = typer.Option("demo", "--tenant"),
) -> None:
    """Create the demo tenant (if missing), its service accounts, and N customers.

    The API keys are printed here, once; afterwards only the credentials file has them.
    """
    generator = _generator()  # before anything is created: no half-seeded tenant without Faker

    from callvault.access.actor import Actor
    from callvault.access.identity import service as identity
    from callvault.vault.customers import importer

    with runtime() as built:
        credentials = built.settings.home / "demo-credentials.txt"
        created: list[tuple[str, str]] = []
        with built.sessions() as db_session, db_session.begin():
            if identity.get_tenant(db_session=db_session, tenant_id=tenant) is None:
                identity.create_tenant(db_session=db_session, tenant_id=tenant, name="Demo Call Center")
            existing = {
                account.name
                for account in identity.get_all_service_accounts(db_session=db_session, tenant_id=tenant)
                if account.revoked_at is None
            }
            for name, label, extra, only in DEMO_ACCOUNTS:
                if name in existing:
                    continue
                scopes = list(only) if only is not None else [*identity.DEFAULT_SCOPES, *extra]
                _, api_key = identity.create_service_account(
                    db_session=db_session, tenant_id=tenant, name=name, scopes=scopes
                )
                created.append((label, api_key))
        created.extend(_create_people(built, tenant))
        if created:
            _write_credentials(credentials, tenant, created)
        report = importer.import_customers(
            runtime=built,
            actor=Actor.operator(tenant, "demo"),
            lines=generator.jsonl_lines(customers),
            fmt="jsonl",
        )
    if created:
        # Shown this once; `callvault serve` only points to the file.
        console.print(f"demo tenant {tenant}: new API keys (shown once, also in {credentials}):", highlight=False)
        for label, api_key in created:
            console.print(f"  {label + ':':<38} {api_key}", highlight=False)
        console.print("  use one in /docs -> Authorize, or: curl -H 'Authorization: Bearer <key>' ...", highlight=False)
    console.print(
        f"demo tenant {tenant}: imported={report.imported} skipped_existing={report.skipped_existing} "
        f"failed={report.failed}; credentials in {credentials}",
        highlight=False,
    )


def _create_people(built: Runtime, tenant: str) -> list[tuple[str, str]]:
    """The demo people not yet there, as (label, "username / password") lines; one
    transaction each (on SQLite the audit writer must not wait on our own write lock)."""
    from callvault.access.actor import Actor
    from callvault.access.identity import users
    from callvault.core.db import tenant_session

    created = []
    for username, role in DEMO_PEOPLE:
        with tenant_session(built.sessions, tenant) as db_session:
            if users.get_user_by_username(db_session=db_session, tenant_id=tenant, username=username) is not None:
                continue
            _, password = users.create_user(
                db_session=db_session, actor=Actor.operator(tenant, "demo"), username=username, role=role, generate=True
            )
        created.append((f"{role} login", f"{username} / {password}"))
    return created


def _write_credentials(path: os.PathLike[str], tenant: str, created: list[tuple[str, str]]) -> None:
    """Append the new keys to the credentials file, created 0600 (keys of earlier runs stay)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "a") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            handle.write(f"demo tenant: {tenant}\n")
        for label, api_key in created:
            handle.write(f"  {label + ':':<38} {api_key}\n")
        handle.write("  use one in /docs -> Authorize, or: curl -H 'Authorization: Bearer <key>' ...\n")
