"""Batch hand-over through scratch SQLite files (the embedded database's bulk import).

A worker writes a prepared batch's rows into a file of its own (``write_batch``); the
process holding the import's transaction attaches the file to its connection and copies
the rows with one ``INSERT ... SELECT`` per table (``copy_rows``). Binding the values
row by row with ``executemany`` was the largest serial cost of an import (≈ 21-35 µs a
customer on the development machine, against ≈ 10 µs copied from an attached file), and
the rows no longer cross the process boundary as pickled tuples.

The files hold what the database will hold (ciphertexts, blind indexes, wrapped keys,
the plain labels): never plaintext personal data. They live in a private temporary
directory (``private_directory``: mode 0700, named after the importing process) removed
at the end of the import; one is deleted as soon as its batch is stored or abandoned. An
import killed with ``kill -9`` cannot remove its directory: the next import removes the
directories whose process is gone. ``ATTACH``/``DETACH`` cannot run inside a
transaction, so the caller attaches before the batch's transaction and detaches after it
(``attached``), on a connection it keeps for the whole import.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.orm import Session

__all__ = ["SCHEMA", "attached", "copy_rows", "private_directory", "write_batch"]

SCHEMA = "import_batch"
"""The name the batch's file is attached under."""


_PREFIX = "callvault-import-"


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: running
        return False
    return False


def private_directory() -> tempfile.TemporaryDirectory[str]:
    """A new private directory (0700) in the system's temporary directory for one import's
    batch files, named ``callvault-import-<pid>-...`` after this process. First removes
    this user's directories of imports whose process is gone: a ``kill -9`` leaves one
    behind (ciphertexts, blind indexes and wrapped keys only, but nothing else would ever
    remove them). A directory whose process id was reused since is left for a later run."""
    parent = tempfile.gettempdir()
    try:
        entries = list(os.scandir(parent))
    except OSError:
        entries = []
    for entry in entries:
        owner = entry.name[len(_PREFIX) :].split("-", 1)[0]
        if not (entry.name.startswith(_PREFIX) and owner.isdigit()) or int(owner) == os.getpid():
            continue
        try:
            mine = entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_uid == os.getuid()
        except OSError:
            continue
        if mine and _process_gone(int(owner)):
            shutil.rmtree(entry.path, ignore_errors=True)
    return tempfile.TemporaryDirectory(prefix=f"{_PREFIX}{os.getpid()}-", dir=parent, ignore_cleanup_errors=True)


def write_batch(path: str, tables: Sequence[tuple[str, tuple[str, ...], Sequence[tuple[Any, ...]]]]) -> None:
    """Write ``(table, columns, rows)`` into a new file at ``path``: untyped columns, so
    each value keeps the storage class it was bound with (as ``executemany`` into the
    real table would bind it); rows in order, so a row's ``rowid`` is its position + 1.
    No journal and no sync: the file is rewritten from the source if it is ever lost."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("BEGIN")
        for table, columns, rows in tables:
            names = ", ".join(f'"{name}"' for name in columns)
            connection.execute(f"CREATE TABLE {table} ({names})")
            marks = ", ".join("?" for _ in columns)
            connection.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)  # noqa: S608 - our names
        connection.execute("COMMIT")
    finally:
        connection.close()


@contextmanager
def attached(connection: Connection, path: str) -> Iterator[None]:
    """``path`` attached as ``SCHEMA`` to ``connection`` for the block, then detached and
    deleted. Call it outside a transaction; run the batch's transaction inside the block
    on a session bound to ``connection`` (``ATTACH`` lasts as long as the connection,
    not the transaction)."""
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    if driver.in_transaction:
        raise RuntimeError("a scratch batch is attached outside a transaction")
    driver.execute(f"ATTACH DATABASE ? AS {SCHEMA}", (path,))
    try:
        yield
    finally:
        try:
            driver.execute(f"DETACH DATABASE {SCHEMA}")
        finally:
            os.remove(path)


def copy_rows(db_session: Session, table: str, columns: tuple[str, ...], positions: Sequence[int] | None) -> None:
    """Insert the attached batch's rows of ``table`` (all of them, or those at
    ``positions``, 0-based) into the main database's ``table``, in the session's
    transaction."""
    names = ", ".join(columns)
    sql = f"INSERT INTO main.{table} ({names}) SELECT {names} FROM {SCHEMA}.{table}"  # noqa: S608 - our names
    connection = db_session.connection()
    if positions is None:
        connection.exec_driver_sql(sql)
    elif positions:
        rowids = orjson.dumps([position + 1 for position in positions]).decode()
        # one bound JSON array of rowids (positions + 1): no statement built per batch
        connection.exec_driver_sql(f"{sql} WHERE rowid IN (SELECT value FROM json_each(?))", (rowids,))  # noqa: S608
