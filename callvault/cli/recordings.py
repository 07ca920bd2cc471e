"""``callvault recordings``: recordings and transcripts."""

from __future__ import annotations

import typer

app = typer.Typer(help="Recordings: recordings and transcripts.", no_args_is_help=True)
