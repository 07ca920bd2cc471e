"""What every CLI command shares: the runtime, error mapping, console.

Imports stay light here and in every ``callvault.cli`` module: ``callvault --help`` and each
group's ``--help`` load Typer and these modules only (a test counts the modules). The
database, crypto, audit and PII layers are imported inside the commands that use them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer
from rich.console import Console

from callvault.core.errors import CallVaultError

if TYPE_CHECKING:
    from callvault.core.config import Settings
    from callvault.core.runtime import Runtime

__all__ = ["allow_colocated_key", "console", "err_console", "handle_errors", "runtime", "warn_colocated_key"]

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


def allow_colocated_key(allow: bool) -> None:
    """``--insecure-colocated-key``: the same as ``CALLVAULT_INSECURE_COLOCATED_KEY=1``."""
    if allow:
        from callvault.core.config import reset_settings

        os.environ["CALLVAULT_INSECURE_COLOCATED_KEY"] = "1"
        reset_settings()


def warn_colocated_key(settings: Settings) -> None:
    """Say loudly, on every start, that a copy of the data folder decrypts everything."""
    if settings.keyring != "local" or settings.master_key is not None:
        return
    path = settings.master_key_path
    if path is None or not path.exists() or not settings.master_key_colocated(path):
        return
    scope = "embedded demo only" if settings.is_embedded else "INSECURE: --insecure-colocated-key is set"
    err_console.print(
        f"[bold red]WARNING[/bold red] the master key {path} sits in the data folder beside the keyring it "
        f"unlocks: anyone with a copy of {settings.home} can decrypt every field ({scope}; in production pass "
        "CALLVAULT_MASTER_KEY from a secret manager, CALLVAULT_MASTER_KEY_FILE outside the data folder, "
        "or use the HSM)",
        highlight=False,
    )


@contextmanager
def runtime(*, migrate: bool = True) -> Iterator[Runtime]:
    from callvault.core.config import get_settings
    from callvault.core.logging import configure_logging
    from callvault.core.runtime import build_runtime

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    built = build_runtime(settings, migrate=migrate)
    try:
        yield built
    finally:
        built.close()
