"""Shared fixtures: a real database (SQLite, or PostgreSQL when CALLVAULT_TEST_PG_URL is set),
a real keyring, the real app over HTTP, and a suite-wide scan of every log line for the
plaintext personal data the tests used.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from callvault.core.config import Settings, reset_settings
from callvault.core.logging import configure_logging
from callvault.core.runtime import Runtime, build_runtime
from callvault.crypto.keyrings.local import LocalKeyring

PG_URL = os.environ.get("CALLVAULT_TEST_PG_URL")
APP_ROLE = "callvault_app"

# -- suite-wide log capture ---------------------------------------------------------------
CAPTURED_LOGS: list[str] = []
PII_SEEN: set[str] = set()
"""Every plaintext personal value a test stored; no log line may contain any of them."""


class _CaptureHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            CAPTURED_LOGS.append(self.format(record))
        except Exception:
            CAPTURED_LOGS.append(repr(record.__dict__))


def pytest_configure(config: pytest.Config) -> None:
    configure_logging("DEBUG", json=True)
    handler = _CaptureHandler()
    handler.setFormatter(logging.getLogger().handlers[-1].formatter)
    logging.getLogger().addHandler(handler)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not PII_SEEN or not CAPTURED_LOGS:
        return
    text = "\n".join(CAPTURED_LOGS)
    leaked = sorted(value for value in PII_SEEN if len(value) >= 6 and value in text)
    if leaked:
        print(f"\nPLAINTEXT PII FOUND IN LOGS: {len(leaked)} values, e.g. {leaked[0][:3]}...")
        session.exitstatus = 1


def remember_pii(*values: object) -> None:
    for value in values:
        if isinstance(value, str) and value:
            PII_SEEN.add(value)
        elif isinstance(value, dict):
            remember_pii(*value.values())


# -- database and runtime -----------------------------------------------------------------
def _pg_admin_connect(dbname: str | None = None):  # type: ignore[no-untyped-def]
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL)  # type: ignore[arg-type]
    return psycopg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=dbname or url.database,
        autocommit=True,
    )


@contextmanager
def fresh_database() -> Iterator[tuple[str, str, str | None]]:
    """``(app url, owner url, app role)`` of a new PostgreSQL database, dropped afterwards;
    empty values for SQLite (each settings home holds its own file)."""
    if not PG_URL:
        yield "", "", None
        return
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"callvault_test_{secrets.token_hex(4)}"
    with _pg_admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone()
        if not exists:
            # another test worker may create it between the check and here (a fresh server)
            with suppress(psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                conn.execute(f'CREATE ROLE "{APP_ROLE}" NOLOGIN')
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url, url, APP_ROLE
    finally:
        with _pg_admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def db_urls() -> Iterator[tuple[str, str, str | None]]:
    with fresh_database() as urls:
        yield urls


def make_settings(home: Path, db_urls: tuple[str, str, str | None]) -> Settings:
    app_url, owner_url, role = db_urls
    return Settings(
        home=home,
        database_url=app_url or None,
        migration_database_url=owner_url or None,
        db_app_role=role,
        master_key="test-master-key",  # type: ignore[arg-type]
        import_batch_size=500,
    )


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="session")
def settings(home: Path, db_urls: tuple[str, str, str | None]) -> Settings:
    return make_settings(home, db_urls)


@pytest.fixture(scope="session")
def cli_env(home: Path, settings: Settings) -> dict[str, str]:
    """Environment for running ``callvault`` in a subprocess against the test instance."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
    env.update(
        CALLVAULT_HOME=str(home),
        CALLVAULT_MASTER_KEY="test-master-key",
        CALLVAULT_IMPORT_BATCH_SIZE="500",
    )
    if settings.database_url:
        env["CALLVAULT_DATABASE_URL"] = settings.database_url
        env["CALLVAULT_MIGRATION_DATABASE_URL"] = settings.resolved_migration_url
        env["CALLVAULT_DB_APP_ROLE"] = settings.db_app_role or ""
    return env


@pytest.fixture(scope="session")
def runtime(settings: Settings) -> Iterator[Runtime]:
    keyring = LocalKeyring(settings.resolved_keyring_path, "test-master-key", scrypt_n=2**12)
    built = build_runtime(settings, keyring=keyring)
    yield built
    built.close()


@pytest.fixture(autouse=True)
def _fresh_settings_cache() -> Iterator[None]:
    reset_settings()
    yield
    reset_settings()


# -- tenants and clients -----------------------------------------------------------------
_counter = itertools.count()


@dataclass
class TenantHandle:
    id: str
    api_key: str
    reveal_key: str
    readonly_key: str


@pytest.fixture
def make_tenant(runtime: Runtime):  # type: ignore[no-untyped-def]
    from callvault.access.identity import service as identity

    def make() -> TenantHandle:
        tenant_id = f"t{next(_counter)}-{uuid.uuid4().hex[:8]}"
        with runtime.sessions() as db_session, db_session.begin():
            identity.create_tenant(db_session=db_session, tenant_id=tenant_id, name=f"Tenant {tenant_id}")
            _, api_key = identity.create_service_account(db_session=db_session, tenant_id=tenant_id, name="backend")
            _, reveal_key = identity.create_service_account(
                db_session=db_session,
                tenant_id=tenant_id,
                name="supervisor",
                scopes=[*identity.DEFAULT_SCOPES, "customers:reveal"],
            )
            _, readonly_key = identity.create_service_account(
                db_session=db_session, tenant_id=tenant_id, name="reader", scopes=["customers:read"]
            )
        return TenantHandle(tenant_id, api_key, reveal_key, readonly_key)

    return make


@pytest.fixture
def tenant(make_tenant) -> TenantHandle:  # type: ignore[no-untyped-def]
    return make_tenant()  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def client(runtime: Runtime) -> Iterator[TestClient]:
    from callvault.api.app import create_app

    with TestClient(create_app(runtime), raise_server_exceptions=False) as test_client:
        yield test_client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def isolated_runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on its own fresh database (for tests that tamper with shared state)."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        urls = stack.enter_context(fresh_database())
        settings = make_settings(tmp_path / "home", urls)
        keyring = LocalKeyring(settings.resolved_keyring_path, "test-master-key", scrypt_n=2**12)
        built = build_runtime(settings, keyring=keyring)
        stack.callback(built.close)
        yield built


def forget_cached_keys(runtime: Runtime) -> None:
    """Drop the unwrapped keys ``runtime`` keeps (data keys, tenant indexers), so the next
    read unwraps them from the database again. Not ``runtime.caches.clear()``: the caches
    also hold the runtime's background workers (audit writer, sweepers), which would then
    run on, unclosed, after the runtime closes."""
    for name in ("dek", "tenant_keys"):
        runtime.caches.pop(name, None)


def raw_database_bytes(runtime: Runtime) -> bytes:
    """Every byte the database holds on disk, as an attacker with a copy would see it.

    SQLite: checkpointed, then the files are read by a *child process*. Opening and closing
    the database file in this process would drop every POSIX lock SQLite holds on it (a
    ``close()`` releases all of a process's ``fcntl`` locks on that file), so another process
    could take this one's WAL for unused and delete it: SQLite's "how to corrupt" §2.2.
    PostgreSQL: ``pg_dump --data-only``."""
    import subprocess
    import sys

    url = runtime.engine.url
    if url.get_backend_name() == "sqlite":
        from sqlalchemy import text

        with runtime.engine.begin() as connection:
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        assert url.database
        reader = (
            "import pathlib, sys\n"
            "for suffix in ('', '-wal'):\n"
            "    path = pathlib.Path(sys.argv[1] + suffix)\n"
            "    if path.exists(): sys.stdout.buffer.write(path.read_bytes())\n"
        )
        return subprocess.run([sys.executable, "-c", reader, url.database], capture_output=True, check=True).stdout
    dump = subprocess.run(
        ["pg_dump", "--data-only", "-h", url.host or "127.0.0.1", "-U", url.username or "postgres", url.database or ""],
        capture_output=True,
        check=True,
    )
    return dump.stdout


def owner_engine(runtime: Runtime):  # type: ignore[no-untyped-def]
    """An engine connected as the schema owner (a DBA), bypassing the app role."""
    from callvault.core.db import create_db_engine

    return create_db_engine(runtime.settings.resolved_migration_url)
