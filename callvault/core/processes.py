"""Worker processes for CPU-bound bulk work (import preparation, full audit verification).

One way to start them: the ``forkserver`` method where the platform has it, ``spawn``
elsewhere. Never a plain ``fork`` of the calling process: that process (an API server, a
CLI run, a test worker) has threads (the audit writer, the monitoring engine, sweepers)
that may hold a lock at the moment of the fork, and open SQLite connections whose
in-memory lock bookkeeping the child would inherit. A child that then opens the same
database file (the verifier's ranges do) reads with locks it does not hold, and one that
closes an inherited handle can drop the parent's. SQLite's "how to corrupt" §2.6 names
it; Python 3.14 made ``forkserver`` its default on Linux for the same reasons.

The fork server is one clean, single-threaded process started on first use; it imports
``preload`` once, so each worker forked from it starts in milliseconds.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext

__all__ = ["start_fork_server", "worker_context"]


def worker_context(*preload: str, keyring: object | None = None) -> BaseContext:
    """The start method for worker pools; ``preload``: modules the fork server imports once
    (the workers' entry points), so workers do not import them each.

    ``keyring``: the one the workers will open. One whose ``WORKERS_NEED_ENVIRONMENT`` is
    true needs this process's environment as it is now (a PKCS#11 module reads its
    configuration from variables such as ``SOFTHSM2_CONF`` when it loads); a fork server
    keeps the environment it started with, so its workers are spawned."""
    current_environment = bool(getattr(keyring, "WORKERS_NEED_ENVIRONMENT", False))
    if current_environment or "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    return context


def start_fork_server(context: BaseContext) -> None:
    """Start ``context``'s fork server now, if it has one and it is not running: a process
    that imports its preload modules on another core while the caller goes on, so that the
    first worker asked for later does not wait for those imports (1.5 s for the importer's).
    Returns at once; nothing for ``spawn``."""
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()
