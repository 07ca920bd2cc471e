"""``callvault``: the command line (Typer root)."""

from __future__ import annotations

import json
import os
import secrets

import typer

from callvault.cli import audit, customers, demo, keys, pii, tenants, users
from callvault.cli.common import console, handle_errors, runtime
from callvault.core.config import get_settings

app = typer.Typer(help="CallVault: data-security and privacy layer for cloud call centers.", no_args_is_help=True)
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


@config_app.command("show")
def config_show() -> None:
    """Print the effective configuration, secrets hidden."""
    console.print_json(json.dumps(get_settings().redacted(), default=str))


@app.command()
@handle_errors
def init() -> None:
    """Create the embedded instance: data folder, master key, keyring, database schema."""
    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.resolved_blob_dir.mkdir(parents=True, exist_ok=True)
    master = settings.home / "master.key"
    if settings.keyring == "local" and settings.master_key is None and not master.exists():
        fd = os.open(master, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
        console.print(f"created master key {master} (production: set CALLVAULT_MASTER_KEY or use an HSM)")
    with runtime() as built:
        built.keyring.public_key("audit")  # creates the keyring and the audit signing key
        console.print(f"database ready: {built.settings.redacted()['database_url']}")
    console.print(f"CallVault initialised in {settings.home.resolve()}")


@app.command()
@handle_errors
def serve(
    host: str | None = typer.Option(None, help="Bind address (default from settings)."),
    port: int | None = typer.Option(None, help="Port (default from settings)."),
) -> None:
    """Apply migrations and serve the HTTP API."""
    import uvicorn

    from callvault.api.app import create_app

    settings = get_settings()
    bind_host, bind_port = host or settings.api_host, port or settings.api_port
    with runtime() as built:
        credentials = settings.home / "demo-credentials.txt"
        console.print(f"CallVault API on http://{bind_host}:{bind_port}  docs: http://{bind_host}:{bind_port}/docs")
        if credentials.exists():
            console.print(credentials.read_text(), soft_wrap=True, highlight=False)
        from callvault.access.identity.feed import start_sweeper

        start_sweeper(built)  # offboarding sweep every user_sweep_minutes; stopped by runtime close
        uvicorn.run(create_app(built), host=bind_host, port=bind_port, log_config=None)
