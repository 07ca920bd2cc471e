"""What every CLI command shares: the runtime, error mapping, console."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from callvault.core.config import get_settings
from callvault.core.errors import CallVaultError
from callvault.core.logging import configure_logging
from callvault.core.runtime import Runtime, build_runtime

__all__ = ["console", "err_console", "handle_errors", "runtime"]

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
P = ParamSpec("P")
R = TypeVar("R")


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Map CallVault errors to one stderr line and the error's exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except CallVaultError as error:
            err_console.print(f"[red]error[/red] {error.code}: {error.detail}", highlight=False)
            for item in error.errors[:20]:
                err_console.print(f"  {item}", highlight=False)
            raise typer.Exit(error.exit_code) from None

    return wrapper


@contextmanager
def runtime(*, migrate: bool = True) -> Iterator[Runtime]:
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    built = build_runtime(settings, migrate=migrate)
    try:
        yield built
    finally:
        built.close()
