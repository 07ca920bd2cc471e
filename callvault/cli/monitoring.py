"""``callvault monitoring``: anomaly rules, alerts and incidents."""

from __future__ import annotations

import typer

app = typer.Typer(help="Monitoring: anomaly rules, alerts and incidents.", no_args_is_help=True)
