"""Database engine, sessions and the tenant scope.

The same code runs on SQLite (embedded default, WAL mode) and PostgreSQL. On PostgreSQL the
application connects as a non-owner role and every transaction that touches tenant data
sets ``callvault.tenant_id``; row-level security policies then hide other tenants' rows,
a second wall behind the ``tenant_id`` filter every query carries anyway.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    Connection,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

__all__ = [
    "SYSTEM_SCOPE_FOR_CONNECTION",
    "Base",
    "UtcDateTime",
    "bind_tenant_on_begin",
    "bulk_insert",
    "create_db_engine",
    "insert_tuples",
    "is_postgres",
    "session_factory",
    "set_lookup_key",
    "set_system_scope",
    "set_tenant",
    "system_scope",
    "system_session",
    "tenant_policy_sql",
    "tenant_session",
]

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which stores naive) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            from datetime import UTC

            return value.replace(tzinfo=UTC)
        return value


def is_postgres(engine_or_session: Engine | Session) -> bool:
    bind = engine_or_session.get_bind() if isinstance(engine_or_session, Session) else engine_or_session
    return bind.dialect.name == "postgresql"


_POOL_SIZE = 40
"""Connections kept open: AnyIO's default worker-thread count, so a loaded server that
runs every thread at once does not open and close connections per request."""
_PG_POOL_SIZE = 20


def create_db_engine(url: str, *, app_role: str | None = None, echo: bool = False) -> Engine:
    """Engine with the pragmas / role CallVault relies on.

    ``app_role``: on PostgreSQL, ``SET ROLE`` on every new connection, so a deployment (or
    the test suite) that logs in as the owner still runs queries as the non-owner role that
    row-level security binds.

    Pools: SQLite connections are file handles, so its pool has no limit (``_POOL_SIZE``
    kept open); PostgreSQL's has ``_PG_POOL_SIZE`` connections, the server's
    ``max_connections`` being shared. The API keeps fewer request transactions open than
    the pool holds (``api.deps._session_slots``), else a loaded server stalls.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30}, pool_size=_POOL_SIZE, max_overflow=-1)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            # WAL persists in the file: set it once. Setting it on every connect takes a lock
            # that a busy database refuses ("database is locked"), timeout or not.
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            # Blind indexes are random keys: B-tree inserts touch pages all over the index,
            # so a page cache far above the 2 MiB default pays for itself on bulk imports.
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.close()

        return engine
    engine = create_engine(url, echo=echo, pool_pre_ping=True, pool_size=_PG_POOL_SIZE, max_overflow=0)
    if app_role:

        @event.listens_for(engine, "connect")
        def _set_role(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute(f'SET ROLE "{app_role}"')
            cursor.close()
            dbapi_conn.commit()

    return engine


def bulk_insert(db_session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows with one ``executemany``, skipping per-value type processing for
    columns whose values the driver takes as they are (bytes, str, int, bool).

    Every row must have the same keys. This is the bulk-import hot path: SQLAlchemy's
    generic bind processing costs more than the encryption it would surround.
    """
    if not rows:
        return
    connection = db_session.connection()
    dialect = connection.dialect
    keys = tuple(rows[0])
    cache_key = (dialect.name, table.name, keys)
    prepared = _BULK_CACHE.get(cache_key)
    if prepared is None:
        compiled = table.insert().compile(dialect=dialect, column_keys=list(keys))
        processors = {}
        for key in keys:
            column_type = table.c[key].type
            if isinstance(column_type, LargeBinary | String | Integer | Boolean):
                continue
            processor = column_type.bind_processor(dialect)
            if processor is not None:
                processors[key] = processor
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        prepared = (compiled.string, processors, order or None)
        _BULK_CACHE[cache_key] = prepared
    sql, processors, order = prepared
    if processors:
        rows = [{**row, **{k: p(row[k]) for k, p in processors.items()}} for row in rows]
    params: list[Any] = [tuple(row[k] for k in order) for row in rows] if order else rows
    connection.exec_driver_sql(sql, params)


_BULK_CACHE: dict[tuple[str, str, tuple[str, ...]], tuple[str, dict[str, Any], tuple[str, ...] | None]] = {}


def insert_tuples(
    db_session: Session, table: str, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...] | bytes]
) -> None:
    """Insert rows already in the driver's form (tuples in ``columns`` order: UUIDs as the
    column stores them, aware datetimes, bytes) in the session's transaction; on
    PostgreSQL the rows may instead be ready lines of ``COPY``'s text format (``bytes``,
    made where the CPU is cheaper, e.g. the importer's workers).

    The bulk paths' fast lane. SQLite: one ``executemany``. PostgreSQL: ``COPY`` into a
    temporary staging table and one ``INSERT ... SELECT``, since ``COPY FROM`` refuses
    tables under row-level security while the set-based insert is checked by the policy
    like any other. The staging table empties itself at commit.
    """
    if not rows:
        return
    names = ", ".join(columns)
    connection = db_session.connection()
    if connection.dialect.name != "postgresql":
        marks = ", ".join("?" for _ in columns)
        connection.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608 - names
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    stage = f"{table}_stage"
    with driver.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        with cursor.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
            if isinstance(rows[0], bytes):
                copy.write(b"".join(cast(list[bytes], rows)))
            else:
                for row in rows:
                    copy.write_row(row)
        cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage}")  # noqa: S608 - names
        cursor.execute(f"TRUNCATE {stage}")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def set_tenant(session: Session, tenant_id: str) -> None:
    """Bind the current transaction to ``tenant_id`` for row-level security (PostgreSQL)."""
    if is_postgres(session):
        session.execute(text("SELECT set_config('callvault.tenant_id', :t, true)"), {"t": tenant_id})


_BIND_TENANT = "callvault.bind_tenant"


def bind_tenant_on_begin(session: Session, tenant_id: str) -> None:
    """``set_tenant`` for each transaction ``session`` begins, when it begins: a session
    made without touching the database (request transactions, see ``api.deps``)."""
    session.info[_BIND_TENANT] = tenant_id


@event.listens_for(Session, "after_begin")
def _bind_tenant(session: Session, _transaction: Any, connection: Connection) -> None:
    tenant_id = session.info.get(_BIND_TENANT)
    if tenant_id is not None and connection.dialect.name == "postgresql":
        connection.execute(text("SELECT set_config('callvault.tenant_id', :t, true)"), {"t": tenant_id})


def set_system_scope(session: Session) -> None:
    """Let this transaction see every tenant's rows (PostgreSQL row-level security).

    For the few paths that are cross-tenant by nature: the audit writer (one global log),
    log verification and proofs, scheduled sweeps. Row-level security guards against a
    request-path query that forgets its tenant filter; it is not a wall against code that
    runs as the application role and chooses to set this (see docs/access.md).
    """
    if is_postgres(session):
        session.execute(text("SELECT set_config('callvault.scope', 'system', true)"))


SYSTEM_SCOPE_FOR_CONNECTION = "SELECT set_config('callvault.scope', 'system', false)"
"""``set_system_scope`` for a whole connection (verification reads outside a transaction)."""


@contextmanager
def system_scope(session: Session) -> Iterator[None]:
    """System scope for a few statements inside a tenant transaction, then the scope the
    transaction had before (the audit log's cross-tenant reads within a request)."""
    if not is_postgres(session):
        yield
        return
    previous = session.scalar(text("SELECT current_setting('callvault.scope', true)"))
    set_system_scope(session)
    yield  # not restored after an error: the transaction is then failed anyway (and the error stays the one raised)
    session.execute(text("SELECT set_config('callvault.scope', :s, true)"), {"s": str(previous or "")})


def set_lookup_key(session: Session, key_id: str) -> None:
    """Let this transaction read the one credential row named ``key_id`` before its tenant
    is known (authentication), and no other row of the credential tables."""
    if is_postgres(session):
        session.execute(text("SELECT set_config('callvault.key_id', :k, true)"), {"k": key_id})


@contextmanager
def system_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in one transaction that sees every tenant (``set_system_scope``)."""
    with factory() as session, session.begin():
        set_system_scope(session)
        yield session


@contextmanager
def tenant_session(factory: sessionmaker[Session], tenant_id: str) -> Iterator[Session]:
    """A session in one transaction scoped to ``tenant_id``; commits on success."""
    with factory() as session, session.begin():
        set_tenant(session, tenant_id)
        yield session


_TENANT_CLAUSE = (
    "(tenant_id = current_setting('callvault.tenant_id', true) OR current_setting('callvault.scope', true) = 'system')"
)


def tenant_policy_sql(table: str, *, key_column: str | None = None) -> list[str]:
    """PostgreSQL statements (for migrations) that put ``table`` under the tenant policy:
    rows of the transaction's tenant, or every row in system scope; with ``key_column``,
    also the one row named by ``set_lookup_key``. Every table with a ``tenant_id`` gets it
    (a test walks the metadata)."""
    clause = _TENANT_CLAUSE
    if key_column:
        clause = f"({clause} OR {key_column} = current_setting('callvault.key_id', true))"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS tenant_isolation ON {table}",
        f"CREATE POLICY tenant_isolation ON {table} USING {clause} WITH CHECK {clause}",
    ]
