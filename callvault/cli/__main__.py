"""``python -m callvault.cli``."""

from callvault.cli.main import app

app()
