"""``callvault recordings``: upload, verify, playback to a file, tenant settings."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import typer

from callvault.access.actor import Actor
from callvault.cli.common import console, handle_errors, runtime
from callvault.core.errors import Invalid

app = typer.Typer(help="Recordings: recordings and transcripts.", no_args_is_help=True)
TenantOption = typer.Option(..., "--tenant", help="Tenant id.")

_MEDIA = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".opus": "audio/opus", ".flac": "audio/flac"}


def _chunks(path: Path):  # type: ignore[no-untyped-def]
    with path.open("rb") as handle:
        yield from iter(lambda: handle.read(1024 * 1024), b"")


@app.command("upload")
@handle_errors
def upload(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    tenant: str = TenantOption,
    call: str = typer.Option(..., "--call", help="The call id the CTI gave."),
) -> None:
    """Stream a recording file into the store, sealed (as the operator)."""
    from callvault.recordings import service
    from callvault.recordings.schemas import RecordingCreate

    with runtime() as rt:
        read = service.upload(
            runtime=rt,
            actor=Actor.operator(tenant),
            recording_in=RecordingCreate(call_id=call),
            content_type=_MEDIA.get(file.suffix.lower(), "application/octet-stream"),
            chunks=_chunks(file),
        )
    console.print_json(read.model_dump_json())


@app.command("verify")
@handle_errors
def verify(recording_id: uuid.UUID = typer.Argument(...), tenant: str = TenantOption) -> None:
    """Open every stored copy whole and check its SHA-256 (exit 1 if any fails)."""
    from callvault.core.db import tenant_session
    from callvault.recordings import service

    with runtime() as rt, tenant_session(rt.sessions, tenant) as db_session:
        result = service.verify(db_session=db_session, actor=Actor.operator(tenant), recording_id=recording_id)
    console.print_json(json.dumps(result))
    if any(result[v] not in ("ok", "absent", "tenant_sealed") for v in ("original", "redacted")):
        raise typer.Exit(1)


@app.command("settings")
@handle_errors
def settings(
    tenant: str = TenantOption,
    keep_original: bool | None = typer.Option(None, "--keep-original/--redacted-only"),
    fill: str | None = typer.Option(None, "--fill", help="tone or silence"),
) -> None:
    """Show or change the tenant's recording policy."""
    from callvault.core.db import tenant_session
    from callvault.recordings import service
    from callvault.recordings.schemas import RecordingSettingsUpdate

    actor = Actor.operator(tenant)
    with runtime() as rt, tenant_session(rt.sessions, tenant) as db_session:
        if keep_original is None and fill is None:
            read = service.get_settings(db_session=db_session, actor=actor)
        else:
            if fill not in (None, "tone", "silence"):
                raise Invalid("--fill is tone or silence", code="recording.bad_fill")
            update = RecordingSettingsUpdate(keep_original=keep_original, redaction_fill=fill)
            read = service.update_settings(db_session=db_session, actor=actor, settings_in=update)
    console.print_json(read.model_dump_json())
