"""``callvault keys``: KEK rotation."""

from __future__ import annotations

import typer

from callvault.cli.common import console, handle_errors, runtime

app = typer.Typer(help="Key management.", no_args_is_help=True)


@app.command("rotate")
@handle_errors
def rotate(
    tenant: str = typer.Option(..., "--tenant", help="Tenant whose KEK is rotated."),
    batch_size: int = typer.Option(1000, min=1, max=100_000),
) -> None:
    """New KEK version; rewrap every data key (reads keep working); retire old versions."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from callvault.vault.fields.service import rotate_tenant_kek

    with (
        runtime() as built,
        Progress(
            TextColumn("rewrapping data keys"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        ) as progress,
    ):
        task = progress.add_task("rewrap", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=max(total, done))

        version, count = rotate_tenant_kek(built, tenant, batch_size=batch_size, on_progress=on_progress)
    console.print(f"tenant {tenant}: KEK version {version}, {count} data keys rewrapped, old versions retired")
