"""``callvault exports``: export requests and their files."""

from __future__ import annotations

import typer

app = typer.Typer(help="Exports: export requests and their files.", no_args_is_help=True)
