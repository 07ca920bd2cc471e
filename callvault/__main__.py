"""``python -m callvault``: the command line."""

from callvault.cli.main import app

app(prog_name="callvault")
