"""``callvault``: the command line (Typer root).

Only Typer and the ``callvault.cli`` modules load for ``--help``; each command imports the
layers it needs when it runs (see ``cli/common.py``).
"""

from __future__ import annotations

import json
import os
import secrets

import typer

from callvault.cli import (
    approvals,
    audit,
    customers,
    demo,
    exports,
    keys,
    lifecycle,
    monitoring,
    pii,
    recordings,
    tenants,
    users,
)
from callvault.cli.common import allow_colocated_key, console, handle_errors, runtime, warn_colocated_key

app = typer.Typer(
    help="CallVault: data-security and privacy layer for cloud call centers.",
    no_args_is_help=True,
    # A crash must not print local variables: they hold master keys, API keys and rows.
    pretty_exceptions_show_locals=False,
)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(tenants.app, name="tenants")
app.add_typer(tenants.accounts_app, name="service-accounts")
app.add_typer(keys.app, name="keys")
app.add_typer(customers.app, name="customers")
app.add_typer(demo.app, name="demo")
app.add_typer(audit.app, name="audit")
app.add_typer(pii.app, name="pii")
app.add_typer(users.app, name="users")
app.add_typer(approvals.app, name="approvals")
app.add_typer(recordings.app, name="recordings")
app.add_typer(exports.app, name="exports")
app.add_typer(monitoring.app, name="monitoring")
app.add_typer(monitoring.app, name="monitor", hidden=True)  # the name issue 15 uses: `callvault monitor replay`
app.add_typer(lifecycle.app, name="lifecycle")

INSECURE_KEY_HELP = (
    "Accept a master key file inside the data folder although the database is not the embedded SQLite "
    "(a copy of the folder then decrypts everything). Same as CALLVAULT_INSECURE_COLOCATED_KEY=1."
)


@app.callback()
def main(
    insecure_colocated_key: bool = typer.Option(False, "--insecure-colocated-key", help=INSECURE_KEY_HELP),
) -> None:
    """CallVault: data-security and privacy layer for cloud call centers."""
    # Everything this process writes (database, keyring, blobs, exports) is for the
    # service user only; the data folder itself is made 0700 by the runtime.
    os.umask(0o077)
    allow_colocated_key(insecure_colocated_key)


@config_app.command("show")
def config_show() -> None:
    """Print the effective configuration, secrets hidden."""
    from callvault.core.config import get_settings

    console.print_json(json.dumps(get_settings().redacted(), default=str))


@app.command()
@handle_errors
def init(
    insecure_colocated_key: bool = typer.Option(False, "--insecure-colocated-key", help=INSECURE_KEY_HELP),
) -> None:
    """Create the instance: data folder (0700), master key, keyring, database schema.

    The master key file is written beside the keyring only for the embedded SQLite demo;
    with PostgreSQL pass CALLVAULT_MASTER_KEY, CALLVAULT_MASTER_KEY_FILE (outside the data
    folder) or use CALLVAULT_KEYRING=pkcs11.
    """
    from callvault.core.config import get_settings
    from callvault.core.runtime import prepare_data_dir

    allow_colocated_key(insecure_colocated_key)
    settings = get_settings()
    if settings.keyring == "local" and settings.master_key is None:
        master = settings.master_key_path  # refuses a colocated key with a non-embedded database
        assert master is not None
        prepare_data_dir(settings)
        if not master.exists():
            master.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(master, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
            console.print(f"created master key {master}", highlight=False)
        warn_colocated_key(settings)
    with runtime() as built:
        built.keyring.public_key("audit")  # creates the keyring and the audit signing key
        console.print(f"database ready: {built.settings.redacted()['database_url']}", highlight=False)
    console.print(f"CallVault initialised in {settings.home.resolve()}", highlight=False)


@app.command()
@handle_errors
def serve(
    host: str | None = typer.Option(None, help="Bind address (default from settings)."),
    port: int | None = typer.Option(None, help="Port (default from settings)."),
    insecure_colocated_key: bool = typer.Option(False, "--insecure-colocated-key", help=INSECURE_KEY_HELP),
    workers: int | None = typer.Option(
        None, min=1, max=64, help="API processes (settings: api_workers, default 1); one per core, PostgreSQL only."
    ),
) -> None:
    """Apply migrations and serve the HTTP API."""
    import uvicorn

    from callvault.api.app import create_app
    from callvault.api.serving import start_background
    from callvault.core.config import get_settings
    from callvault.core.errors import Invalid

    allow_colocated_key(insecure_colocated_key)
    settings = get_settings()
    bind_host, bind_port = host or settings.api_host, port or settings.api_port
    workers = workers or settings.api_workers
    if workers > 1 and settings.is_embedded:
        raise Invalid(
            "Several API processes need PostgreSQL: on SQLite (one writer at a time) their audit appends "
            "conflict. Serve SQLite with one worker.",
            code="serve.workers_need_postgresql",
        )
    with runtime() as built:
        warn_colocated_key(settings)
        console.print(
            f"CallVault API on http://{bind_host}:{bind_port}  docs: http://{bind_host}:{bind_port}/docs",
            highlight=False,
        )
        credentials = settings.home / "demo-credentials.txt"
        if credentials.exists():
            # The keys were shown once, by `demo seed`; never again on a console or in a log.
            console.print(f"demo API keys: {credentials.resolve()} (readable by this user only)", highlight=False)
        start_background(built)  # once, in this process; stopped by runtime close
        if workers == 1:
            uvicorn.run(create_app(built), host=bind_host, port=bind_port, log_config=None)
        else:  # each worker process builds its own runtime (callvault.api.serving.served_app)
            uvicorn.run(
                "callvault.api.serving:served_app",
                factory=True,
                workers=workers,
                host=bind_host,
                port=bind_port,
                log_config=None,
            )


__all__ = ["app"]
