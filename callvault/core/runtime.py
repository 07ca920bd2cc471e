"""The process-wide wiring: settings, database, keyring and caches.

Every session made by ``Runtime.sessions`` carries the runtime in ``session.info`` so a
service reached with only ``db_session`` can find the keyring (``runtime_of``) without
globals; two runtimes (two test apps) never share state.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from callvault.core.config import Settings
from callvault.core.db import create_db_engine
from callvault.core.migrate import upgrade
from callvault.crypto import Keyring, open_keyring

if TYPE_CHECKING:
    from callvault.core.counters import Counters

__all__ = ["Runtime", "build_runtime", "runtime_of"]


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: Keyring
    caches: dict[str, Any] = field(default_factory=dict)
    _counters: Counters | None = field(default=None, init=False, repr=False)
    _counters_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def counters(self) -> Counters:
        """Shared fixed-window counters (rate limits, quotas, lockouts): Redis when
        ``CALLVAULT_REDIS_URL`` is set, else the database. Built on first use."""
        if self._counters is None:
            with self._counters_lock:
                if self._counters is None:
                    from callvault.core.counters import open_counters

                    self._counters = open_counters(engine=self.engine, redis_url=self.settings.redis_url)
        return self._counters

    def close(self) -> None:
        """Stop background workers held in the caches (audit writer), the counters, then the pool."""
        for value in list(self.caches.values()):
            closer = getattr(value, "close", None)
            if callable(closer):
                closer()
        counters, self._counters = self._counters, None
        closer = getattr(counters, "close", None)
        if callable(closer):
            closer()
        self.engine.dispose()


def build_runtime(settings: Settings, *, migrate: bool = True, keyring: Keyring | None = None) -> Runtime:
    """Connect, apply migrations as the owner (if asked) and open the keyring."""
    if settings.database_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    if migrate:
        owner = create_db_engine(settings.resolved_migration_url)
        try:
            upgrade(owner, app_role=settings.db_app_role)
        finally:
            owner.dispose()
    engine = create_db_engine(settings.resolved_database_url, app_role=settings.db_app_role)
    runtime = Runtime(
        settings=settings, engine=engine, sessions=sessionmaker(engine), keyring=keyring or open_keyring(settings)
    )
    runtime.sessions.configure(expire_on_commit=False, info={"runtime": runtime})
    return runtime


def runtime_of(db_session: Session) -> Runtime:
    runtime = db_session.info.get("runtime")
    if not isinstance(runtime, Runtime):
        raise RuntimeError("session was not made by a Runtime")
    return runtime
