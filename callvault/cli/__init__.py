"""The `callvault` command line (Typer); `main.app` is the root."""

__all__: list[str] = []
