"""The process-wide wiring: settings, database, keyring and caches.

Every session made by ``Runtime.sessions`` carries the runtime in ``session.info`` so a
service reached with only ``db_session`` can find the keyring (``runtime_of``) without
globals; two runtimes (two test apps) never share state.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from callvault.core.config import Settings
from callvault.core.db import create_db_engine
from callvault.core.migrate import upgrade
from callvault.crypto import Keyring, open_keyring

if TYPE_CHECKING:
    from callvault.blobs import BlobStore
    from callvault.core.counters import Counters

__all__ = ["Runtime", "build_runtime", "prepare_data_dir", "runtime_of"]


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: Keyring
    caches: dict[str, Any] = field(default_factory=dict)
    _counters: Counters | None = field(default=None, init=False, repr=False)
    _counters_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _side: tuple[Engine, sessionmaker[Session]] | None = field(default=None, init=False, repr=False)
    _side_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def side_sessions(self) -> sessionmaker[Session]:
        """Sessions on a second connection pool, for work a request waits on while it holds
        its own connection: the audit writer's commits and the database counters.

        With one pool, as many concurrent requests as the pool has connections each hold
        one and wait for the writer (or a counter hit) to get another: the pool runs dry
        and every request fails after the pool timeout. Nothing on this pool waits for
        the request pool, so the cycle cannot form. Built on first use."""
        return self._side_pool()[1]

    def _side_pool(self) -> tuple[Engine, sessionmaker[Session]]:
        if self._side is None:
            with self._side_lock:
                if self._side is None:
                    url = self.engine.url.render_as_string(hide_password=False)
                    engine = create_db_engine(url, app_role=self.settings.db_app_role)
                    factory = sessionmaker(engine, expire_on_commit=False, info={"runtime": self})
                    self._side = (engine, factory)
        return self._side

    @property
    def counters(self) -> Counters:
        """Shared fixed-window counters (rate limits, quotas, lockouts): Redis when
        ``CALLVAULT_REDIS_URL`` is set, else the database. Built on first use."""
        if self._counters is None:
            with self._counters_lock:
                if self._counters is None:
                    from callvault.core.counters import open_counters

                    redis_url = self.settings.redis_url
                    engine = self.engine if redis_url else self._side_pool()[0]  # see side_sessions
                    self._counters = open_counters(engine=engine, redis_url=redis_url)
        return self._counters

    @property
    def blobs(self) -> BlobStore:
        """The blob store (local folder or S3, ``CALLVAULT_BLOB_STORE``); built on first use
        and kept in ``caches``."""
        store: BlobStore | None = self.caches.get("blobs")
        if store is None:
            from callvault.blobs import open_blob_store

            store = self.caches.setdefault("blobs", open_blob_store(self.settings))
        return store

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
        side, self._side = self._side, None
        if side is not None:
            side[0].dispose()


DATA_DIR_MODE = 0o700
DATA_FILE_MODE = 0o600


def prepare_data_dir(settings: Settings) -> None:
    """Create the data folder 0700 and make every file in it 0600, before anything writes.

    The folder holds the SQLite database (personal data, sealed but with its blind
    indexes), the keyring and, for the embedded demo, its master key: nobody but the
    service user may list or read it. SQLite gives its ``-wal``/``-shm`` files the mode of
    the database file, so creating that file 0600 first covers them too; files left by an
    older version are tightened on every start (the folder's top level, not the blobs
    tree, so a start stays fast).
    """
    home = settings.home
    home.mkdir(parents=True, exist_ok=True, mode=DATA_DIR_MODE)
    os.chmod(home, DATA_DIR_MODE)
    settings.resolved_blob_dir.mkdir(parents=True, exist_ok=True, mode=DATA_DIR_MODE)
    for folder in (settings.resolved_blob_dir, settings.resolved_pii_dir):
        if folder.is_dir():
            os.chmod(folder, DATA_DIR_MODE)
    database = make_url(settings.resolved_database_url)
    name = database.database
    if database.get_backend_name() == "sqlite" and name and name != ":memory:":
        path = Path(name)
        path.parent.mkdir(parents=True, exist_ok=True, mode=DATA_DIR_MODE)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, DATA_FILE_MODE))
        for suffix in ("", "-wal", "-shm", "-journal"):
            sibling = path.with_name(path.name + suffix)
            if sibling.exists():
                os.chmod(sibling, DATA_FILE_MODE)
    for entry in home.iterdir():
        if entry.is_file() and not entry.is_symlink():
            os.chmod(entry, DATA_FILE_MODE)


def build_runtime(settings: Settings, *, migrate: bool = True, keyring: Keyring | None = None) -> Runtime:
    """Check the master key policy, prepare the data folder, connect, apply migrations as
    the owner (if asked) and open the keyring."""
    if keyring is None and settings.keyring == "local":
        settings.master_key_path  # noqa: B018 - refuses a colocated key before touching anything
    if settings.is_embedded or settings.keyring == "local":
        prepare_data_dir(settings)
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
