"""What ``callvault serve`` runs: background services once, the API in one or more processes.

One Python process serves about one core's worth of requests (the GIL), so
``--workers N`` (``api_workers``) starts N uvicorn worker processes on one socket, each with
its own runtime (engine pools, keyring handle, audit writer, caches). Everything a replica
shares with the others already lives in the database or Redis: the audit log (the writer
reloads its tree when another process appended), counters, sessions, policies. The
background services (offboarding sweep, approvals and webhooks, anomaly detection,
lifecycle sweep, exports) run once, in the parent process, never in the workers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from callvault.core.runtime import Runtime

__all__ = ["served_app", "start_background"]


def start_background(runtime: Runtime) -> None:
    """Start the background services on ``runtime``; each stops when it is closed."""
    from callvault.access.approvals.webhooks import start_worker
    from callvault.access.identity.feed import start_sweeper
    from callvault.exports.service import start_sweeper as start_exports_sweeper
    from callvault.lifecycle.retention import start_sweeper as start_lifecycle_sweeper
    from callvault.monitoring.engine import start_engine

    start_sweeper(runtime)  # offboarding sweep every user_sweep_minutes
    start_worker(runtime)  # approval expiry and webhook deliveries
    start_engine(runtime)  # anomaly rules on the audit stream (freezes, alerts)
    start_lifecycle_sweeper(runtime)  # replays the erasure ledger, then retention sweeps
    start_exports_sweeper(runtime)  # resumes queued exports, deletes expired files


def served_app() -> FastAPI:
    """The app of one worker process (uvicorn factory): its own runtime, closed at
    shutdown (which flushes its audit writer and signs a head over what it appended).
    Migrations were applied by the parent before any worker started."""
    from callvault.api.app import create_app
    from callvault.core.config import get_settings
    from callvault.core.logging import configure_logging
    from callvault.core.runtime import build_runtime

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    runtime = build_runtime(settings, migrate=False)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            runtime.close()

    app = create_app(runtime)
    app.router.lifespan_context = lifespan
    return app
