"""``callvault lifecycle``: consent, retention, legal hold, erasure."""

from __future__ import annotations

import typer

app = typer.Typer(help="Lifecycle: consent, retention, legal hold, erasure.", no_args_is_help=True)
