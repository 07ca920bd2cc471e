"""``verify``: recompute the audit log from its rows and name the first thing wrong.

The signed tree heads are the anchor of trust: every leaf hash is recomputed from the
event columns (the stored ``leaf_hash`` is only used to tell *what* went wrong), the tree
is rebuilt, and at each head the root must equal the signed root. Because all heads are
checked against one sequence of leaves, consistency between consecutive heads holds by
construction. A file of exported heads (``--anchor``) extends the trust to a copy kept
outside the database.

Two modes (docs/audit.md says which tampering each detects):

* **full**: every event from seq 1. Large logs are cut into ranges aligned on perfect
  subtrees of ``_CHUNK`` leaves; worker processes read, hash and fold their range and hand
  back only the subtree hashes a head needs, so the parent does O(log n) work per head.
* **incremental** (``resume=``): from the newest *verified head*, a record that an earlier
  run wrote after checking a signed head, signed by the audit key. The stored Merkle nodes
  must still fold to that head's root (so the right edge of the tree is authentic), the
  events up to it must all be there, and then only the events after it are read: O(new
  events).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from callvault.audit import merkle
from callvault.audit.log import (
    EVENT_FIELDS,
    SIGNING_KEY_REF,
    STORED_LEVEL_STEP,
    event_json,
    format_time,
    head_message,
    leaf_document,
    signing_key_id,
)
from callvault.audit.models import TreeHead, VerifiedHead
from callvault.core import clock
from callvault.core.db import SYSTEM_SCOPE_FOR_CONNECTION
from callvault.core.errors import IntegrityViolation, Invalid
from callvault.core.processes import worker_context
from callvault.crypto import Keyring, verify_signature

__all__ = [
    "Finding",
    "HeadRecord",
    "VerifiedRecord",
    "VerifyReport",
    "key_fingerprint",
    "latest_verified",
    "load_anchor",
    "record_verified",
    "trusted_public_key",
    "verify_log",
]

_FETCH = 20_000
_PARALLEL_FROM = 200_000
_CHUNK = 1 << 16
"""Events per worker range: a power of two, so every range is one perfect subtree."""


@dataclass(frozen=True, slots=True)
class Finding:
    seq: int | None
    kind: str
    detail: str

    def line(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "log"
        return f"{where}: {self.kind}: {self.detail}"


@dataclass(frozen=True, slots=True)
class HeadRecord:
    size: int
    root: bytes
    time: str
    key_id: str
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "size": self.size, "root": self.root.hex(), "time": self.time,
            "key_id": self.key_id, "signature": self.signature.hex(),
        }  # fmt: skip

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> HeadRecord:
        return cls(int(doc["size"]), bytes.fromhex(doc["root"]), str(doc["time"]), str(doc["key_id"]),
                   bytes.fromhex(doc["signature"]))  # fmt: skip


@dataclass
class VerifyReport:
    events: int = 0
    heads: int = 0
    anchored: int = 0
    start: int = 0
    """Events up to this seq were taken from a verified head, not re-read (incremental)."""
    verified: HeadRecord | None = None
    """The newest signed head whose root matched the events (to record when ``ok``)."""
    findings: list[Finding] = field(default_factory=list)
    worker_cpu_seconds: float = 0.0
    """CPU time the worker processes of a parallel full verify spent (they are children of
    the fork server, so the caller's ``RUSAGE_CHILDREN`` does not see them)."""

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None


@dataclass(frozen=True, slots=True)
class VerifiedRecord:
    """A head an earlier verify found consistent with the events (``audit_verified_head``)."""

    size: int
    root: bytes
    verified_at: datetime
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        return verified_message(self.size, self.root, self.verified_at)


def verified_message(size: int, root: bytes, verified_at: datetime) -> bytes:
    """The exact bytes a verified-head signature covers (distinct from a tree head's)."""
    return f"callvault/verified-head/v1\n{size}\n{root.hex()}\n{format_time(verified_at)}\n".encode()


def latest_verified(connection: Connection) -> VerifiedRecord | None:
    """The newest verified head, if any (its signature is checked by ``verify_log``)."""
    _system_scope(connection)
    row = connection.execute(
        select(VerifiedHead).order_by(VerifiedHead.size.desc(), VerifiedHead.verified_at.desc()).limit(1)
    ).first()
    if row is None:
        return None
    return VerifiedRecord(row.size, bytes(row.root), row.verified_at, row.key_id, bytes(row.signature))


def record_verified(db_session: Session, keyring: Keyring, head: HeadRecord) -> VerifiedRecord:
    """Sign and store "``head`` was found consistent with the events now"."""
    moment = clock.now()
    public_key = keyring.public_key(SIGNING_KEY_REF)
    signature = keyring.sign(SIGNING_KEY_REF, verified_message(head.size, head.root, moment))
    record = VerifiedRecord(head.size, head.root, moment, signing_key_id(public_key), signature)
    db_session.add(
        VerifiedHead(size=record.size, root=record.root, verified_at=moment, key_id=record.key_id, signature=signature)
    )
    db_session.flush()
    return record


def key_fingerprint(public_key: bytes) -> str:
    """``SHA256:<hex>`` of the raw Ed25519 public key: what an operator pins."""
    return "SHA256:" + hashlib.sha256(public_key).hexdigest()


def trusted_public_key(pin: str | None, keyring_key: bytes) -> bytes:
    """The key heads must be signed with.

    ``pin`` is the public key (64 hex digits) or its fingerprint (``SHA256:<hex>``), kept
    outside the data folder. Without a pin the keyring's own key is trusted, which proves
    nothing against someone who holds the keyring (docs/audit.md). A pinned fingerprint
    the keyring's key does not match raises: the key itself was swapped.
    """
    if pin is None or not pin.strip():
        return keyring_key
    text = pin.strip()
    if text.lower().startswith("sha256:"):
        if key_fingerprint(keyring_key).lower() != "sha256:" + text[7:].lower():
            raise IntegrityViolation(
                "The keyring's audit signing key does not match the pinned fingerprint", code="audit.key_mismatch"
            )
        return keyring_key
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise Invalid("A pinned audit key is 64 hex digits or SHA256:<fingerprint>", code="audit.public_key_invalid")
    return key


def load_anchor(path: Path) -> list[HeadRecord]:
    heads = []
    for line in path.read_text().splitlines():
        if line.strip():
            heads.append(HeadRecord.from_json(json.loads(line)))
    return heads


def _system_scope(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":  # every tenant's rows (row-level security)
        connection.exec_driver_sql(SYSTEM_SCOPE_FOR_CONNECTION)


def _head_records(connection: Connection, from_size: int = 0) -> list[HeadRecord]:
    rows = connection.execute(select(TreeHead).where(TreeHead.size >= from_size).order_by(TreeHead.size))
    return [HeadRecord(row.size, row.root, format_time(row.time), row.key_id, row.signature) for row in rows]


_TIME_SQL = {
    # the leaf's time text, built by the database: no per-row datetime work in Python
    # (a time on a whole second may be stored without its fraction: ".000000" is what the leaf holds)
    "sqlite": "substr(time, 1, 10) || 'T' || substr(time, 12, 8) || "
    "CASE WHEN substr(time, 20, 1) = '.' THEN substr(time, 20, 7) ELSE '.000000' END || 'Z'",
    "postgresql": "to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
}
_SORTED = tuple(sorted(EVENT_FIELDS))
"""Columns are read in key order: the document is built already sorted, so the encoder
need not sort (orjson and ``sorted`` both order keys by code point)."""
_OPTIONAL = tuple(name for name in _SORTED if name not in leaf_document(dict.fromkeys(_SORTED)))
"""Fields a leaf commits to only when set (``leaf_document``): dropped when null. If the
fast encoding ever disagreed with ``leaf_document`` + ``event_json``, ``_what_changed``
would say so ("verifier") instead of blaming the event."""


def _select_events(dialect: str, first: int, last: int | None = None) -> str:
    """Event columns (sorted by name) + the stored leaf hash, for seq ``first..last``."""
    time_sql = _TIME_SQL.get(dialect, "time")
    columns = ", ".join(time_sql if name == "time" else name for name in _SORTED)
    where = f"seq >= {int(first)}" + ("" if last is None else f" AND seq <= {int(last)}")
    return f"SELECT {columns}, leaf_hash FROM audit_event WHERE {where} ORDER BY seq"  # noqa: S608 - ints


def _document_sql(dialect: str) -> tuple[str, bool] | None:
    """An expression computing each event's leaf in the database, or ``None`` where there
    is none: ``(sql, hashed)``, where the expression gives the leaf hash itself
    (``hashed``, PostgreSQL) or the canonical leaf document for Python to hash (SQLite).

    Both build exactly the bytes ``event_json(leaf_document(...))`` gives for the values
    events hold: keys in sorted order, compact separators, strings escaped as orjson does
    (SQLite's ``json_object``, PostgreSQL's ``to_json``; tests/audit/test_verify_fast.py
    holds it so), so a row crosses into Python as one or two ``bytes`` instead of 20
    objects. The encoding is injective, so a leaf that matches the stored one proves the
    columns are what was committed. It is only a faster way to the same leaf: an event whose
    leaf does not match is recomputed from its columns the reference way before anything
    is reported, so this can make a check slower, never more lenient or more alarmed."""
    if _OPTIONAL != ("outcome",):
        return None
    if dialect == "sqlite":
        pairs = {name: f"'{name}', " + (_TIME_SQL["sqlite"] if name == "time" else name) for name in _SORTED}
        every = ", ".join(pairs.values())
        settled = ", ".join(pair for name, pair in pairs.items() if name != "outcome")
        return (
            f"CAST(CASE WHEN outcome IS NULL THEN json_object({settled}) ELSE json_object({every}) END AS BLOB)",
            False,
        )
    if dialect == "postgresql":
        parts = []
        for position, name in enumerate(_SORTED):
            key = ("{" if position == 0 else ",") + f'"{name}":'
            if name == "outcome":
                parts.append(f"CASE WHEN outcome IS NULL THEN '' ELSE '{key}' || to_json(outcome)::text END")
                continue
            value = (
                "seq::text"
                if name == "seq"
                else f"to_json({_TIME_SQL['postgresql'] if name == 'time' else name})::text"
            )
            parts.append(f"'{key}' || coalesce({value}, 'null')")
        document = " || ".join(parts) + " || '}'"
        return f"sha256('\\x00'::bytea || convert_to({document}, 'UTF8'))", True
    return None


def _select_documents(dialect: str, first: int, last: int | None = None) -> tuple[str, bool] | None:
    """``seq``, the leaf or its document (``_document_sql``) and the stored leaf hash."""
    document = _document_sql(dialect)
    if document is None:
        return None
    where = f"seq >= {int(first)}" + ("" if last is None else f" AND seq <= {int(last)}")
    sql = f"SELECT seq, {document[0]}, leaf_hash FROM audit_event WHERE {where} ORDER BY seq"  # noqa: S608 - ints
    return sql, document[1]


def _time_text(value: Any) -> str:
    from datetime import UTC

    if isinstance(value, str) and len(value) == 27 and value[10] == "T" and value[-1] == "Z":
        return value  # already formatted by the query
    if isinstance(value, str) and value[10:11] == " ":  # SQLite's stored form
        if len(value) == 26:
            return value[:10] + "T" + value[11:] + "Z"
        if len(value) == 32 and value.endswith("+00:00"):
            return value[:10] + "T" + value[11:26] + "Z"
    if isinstance(value, datetime):
        return format_time(value if value.tzinfo else value.replace(tzinfo=UTC))
    parsed = datetime.fromisoformat(str(value))
    return format_time(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _leaf(values: Sequence[Any]) -> bytes:
    """The authoritative leaf of an event given its columns in ``_SORTED`` order."""
    document = dict(zip(_SORTED, values, strict=False))
    document["time"] = _time_text(document["time"])
    return merkle.leaf_hash(event_json(leaf_document(document)))


@dataclass
class _Range:
    """What a pass over a range of events found: rows read, gaps, changed events, and the
    frontier of the tree it folded at each size asked for (and at its end)."""

    first_seq: int = 0
    last_seq: int = 0
    rows: int = 0
    gap_free: bool = True
    findings: list[Finding] = field(default_factory=list)
    frontiers: dict[int, list[bytes]] = field(default_factory=dict)
    final: list[bytes] = field(default_factory=list)
    cpu_seconds: float = 0.0  # of the worker process that folded it (parallel verify)


def _fold_rows(
    rows: Iterable[Sequence[Any]], tree: merkle.CompactTree, offset: int, marks: set[int], max_findings: int
) -> _Range:
    """Hash events and append their leaves to ``tree``, whose leaf 0 is event ``offset + 1``.

    Returns the tree's frontier at every global size in ``marks``. After a gap the leaves
    no longer sit at their positions, so folding stops (the gap is the finding)."""
    result = _Range()
    sha256, dumps = hashlib.sha256, orjson.dumps
    seq_at, time_at, width = _SORTED.index("seq"), _SORTED.index("time"), len(_SORTED)
    names, optional = _SORTED, _OPTIONAL
    frontier = tree._frontier
    size = tree.size
    expected = offset + size + 1
    for row in rows:
        seq = row[seq_at]
        if seq != expected:
            if len(result.findings) < max_findings:
                result.findings.append(Finding(expected, "missing", f"events {expected}..{seq - 1} are missing"))
            result.gap_free = False
        if not result.rows:
            result.first_seq = seq
        result.rows += 1
        expected = seq + 1
        document = dict(zip(names, row, strict=False))
        moment = document["time"]
        if len(moment) != 27 or moment[-1] != "Z":
            document["time"] = _time_text(row[time_at])
        for name in optional:
            if document[name] is None:
                del document[name]
        stored = bytes(row[width])
        try:
            leaf = sha256(b"\x00" + dumps(document)).digest()
        except TypeError:  # a value no event holds (bytes in a text column): changed
            leaf = _reference_leaf(row, seq, result, max_findings)
        else:
            if leaf != stored and len(result.findings) < max_findings:
                result.findings.append(_what_changed(row[:width], seq, stored))
        if not result.gap_free:
            continue
        current, index = leaf, size
        while index & 1:  # CompactTree.append, inlined: this loop runs once per event
            current = sha256(b"\x01" + frontier.pop() + current).digest()
            index >>= 1
        frontier.append(current)
        size += 1
        if offset + size in marks:
            result.frontiers[offset + size] = list(frontier)
    result.last_seq = expected - 1
    tree._size = size
    result.final = list(frontier)
    return result


def _fold_documents(
    rows: Iterable[Sequence[Any]],
    tree: merkle.CompactTree,
    offset: int,
    marks: set[int],
    max_findings: int,
    columns_of: Callable[[int], Sequence[Any] | None],
    hashed: bool = False,
) -> _Range:
    """``_fold_rows`` for ``(seq, leaf document or leaf, stored leaf hash)`` rows
    (``_select_documents``; ``hashed``: the database computed the leaf). Where the leaf is
    not the stored one, the event's columns are read again (``columns_of(seq)``, in
    ``_SORTED`` order + the stored hash) and its leaf is recomputed the reference way: that
    leaf is folded, and only if it too differs from the stored one is the event reported."""
    result = _Range()
    sha256 = hashlib.sha256
    frontier = tree._frontier
    size = tree.size
    expected = offset + size + 1
    for seq, document, stored in rows:
        if seq != expected:
            if len(result.findings) < max_findings:
                result.findings.append(Finding(expected, "missing", f"events {expected}..{seq - 1} are missing"))
            result.gap_free = False
        if not result.rows:
            result.first_seq = seq
        result.rows += 1
        expected = seq + 1
        leaf = bytes(document) if hashed else sha256(b"\x00" + document).digest() if document is not None else b""
        if leaf != stored:
            leaf = _reference_leaf(columns_of(seq), seq, result, max_findings)
        if not result.gap_free:
            continue
        current, index = leaf, size
        while index & 1:  # CompactTree.append, inlined: this loop runs once per event
            current = sha256(b"\x01" + frontier.pop() + current).digest()
            index >>= 1
        frontier.append(current)
        size += 1
        if offset + size in marks:
            result.frontiers[offset + size] = list(frontier)
    result.last_seq = expected - 1
    tree._size = size
    result.final = list(frontier)
    return result


def _reference_leaf(row: Sequence[Any] | None, seq: int, result: _Range, max_findings: int) -> bytes:
    """The leaf of event ``seq`` from its columns (``_leaf``), a finding if it is not the
    stored one. A row whose columns cannot even be encoded (a type no event holds) is
    changed too; its leaf is then the hash of nothing, which no head's root can hold."""
    width = len(_SORTED)
    if row is None:  # gone between two reads of one verification: say so
        result.findings.append(Finding(seq, "changed", "event changed while it was being verified"))
        return hashlib.sha256(b"").digest()
    stored = bytes(row[width])
    try:
        leaf = _leaf(row[:width])
    except (TypeError, ValueError, orjson.JSONEncodeError):
        leaf = hashlib.sha256(b"").digest()
    if leaf != stored and len(result.findings) < max_findings:
        try:
            result.findings.append(_what_changed(row[:width], seq, stored))
        except (TypeError, ValueError, orjson.JSONEncodeError):
            result.findings.append(Finding(seq, "changed", "event content does not match its leaf hash"))
    return leaf


def _fold_range(url: str, first: int, last: int, marks: set[int], max_findings: int) -> _Range:
    """Worker: events ``first..last`` (one perfect subtree) over its own connection."""
    began = time.process_time()
    part = _fold_range_in_worker(url, first, last, marks, max_findings)
    part.cpu_seconds = time.process_time() - began
    return part


def _fold_range_in_worker(url: str, first: int, last: int, marks: set[int], max_findings: int) -> _Range:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        raw = engine.raw_connection()  # plain DB-API rows: no per-row wrapping
        try:
            cursor = raw.cursor()
            if engine.dialect.name == "postgresql":
                cursor.execute(SYSTEM_SCOPE_FOR_CONNECTION)
            else:  # pages mapped instead of read one syscall at a time: ~1 µs less per event
                cursor.execute("PRAGMA mmap_size = 1073741824")
            documents = _select_documents(engine.dialect.name, first, last)
            if documents is not None:
                try:
                    cursor.execute(documents[0])
                    rows = cursor.fetchall()
                except sqlite3.Error:  # a column no event holds (a BLOB): the reference path reads it
                    rows = None
                if rows is not None:
                    lookup = raw.cursor()

                    def columns_of(seq: int) -> Sequence[Any] | None:
                        lookup.execute(_select_events(engine.dialect.name, seq, seq))
                        found: Sequence[Any] | None = lookup.fetchone()
                        return found

                    tree = merkle.CompactTree()
                    return _fold_documents(rows, tree, first - 1, marks, max_findings, columns_of, documents[1])
            cursor.execute(_select_events(engine.dialect.name, first, last))
            rows = cursor.fetchall()
        finally:
            raw.close()
        return _fold_rows(rows, merkle.CompactTree(), first - 1, marks, max_findings)
    finally:
        engine.dispose()


def _root(*frontiers: Sequence[bytes]) -> bytes:
    """Root of a tree given its frontier, left to right (possibly in pieces)."""
    hashes = [digest for part in frontiers for digest in part]
    if not hashes:
        return merkle.EMPTY_ROOT
    current = hashes[-1]
    for left in reversed(hashes[:-1]):
        current = merkle.node_hash(left, current)
    return current


def _stored_node(connection: Connection, level: int, index: int) -> bytes | None:
    """Hash of the perfect subtree at ``(level, index)`` from the stored nodes (``None``
    if any is missing). Untrusted until checked against a verified root."""
    base = level - level % STORED_LEVEL_STEP
    width = 1 << (level - base)
    first, last = index * width, (index + 1) * width - 1
    if base == 0:
        sql = f"SELECT leaf_hash FROM audit_event WHERE seq BETWEEN {first + 1} AND {last + 1} ORDER BY seq"  # noqa: S608
    else:
        sql = (
            f'SELECT hash FROM audit_node WHERE level = {base} AND "index" BETWEEN {first} AND {last} '  # noqa: S608
            'ORDER BY "index"'
        )
    hashes = [bytes(row[0]) for row in connection.exec_driver_sql(sql)]
    if len(hashes) != width:
        return None
    while len(hashes) > 1:
        hashes = [merkle.node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


def _resume(
    connection: Connection, public_key: bytes, record: VerifiedRecord, report: VerifyReport
) -> merkle.CompactTree | None:
    """The tree at a verified head, rebuilt from stored nodes and checked against the
    record's root; ``None`` (with a finding) if the record or the stored tree is not good,
    and the caller then verifies everything, which names the first bad event."""
    size = record.size
    if record.key_id != signing_key_id(public_key) or not verify_signature(
        public_key, record.message(), record.signature
    ):
        report.findings.append(
            Finding(size, "bad signature", f"verified-head record of size {size} is not validly signed")
        )
        return None
    frontier = [_stored_node(connection, level, index) for level, index in merkle.frontier_coordinates(size)]
    if any(node is None for node in frontier) or _root([n for n in frontier if n is not None]) != record.root:
        report.findings.append(
            Finding(size, "stored tree", f"the stored Merkle nodes no longer match the verified head of size {size}")
        )
        return None
    counted = connection.exec_driver_sql(f"SELECT count(*) FROM audit_event WHERE seq <= {int(size)}")  # noqa: S608
    present = int(counted.scalar() or 0)
    if present != size:
        report.findings.append(
            Finding(size, "missing", f"{size - present} of the events up to the verified head of size {size} are gone")
        )
        return None
    return merkle.CompactTree.from_frontier(size, [n for n in frontier if n is not None])


def verify_log(
    connection: Connection,
    public_key: bytes,
    *,
    anchor: Sequence[HeadRecord] = (),
    max_findings: int = 20,
    workers: int | None = None,
    max_unsigned_age: float | None = None,
    now: datetime | None = None,
    resume: VerifiedRecord | None = None,
) -> VerifyReport:
    """Check events, nodes, heads (and an anchor file); findings in sequence order.

    Heads are what a signature protects, so a log must have them: events without any
    signed head fail (whoever can edit the table can also delete the heads and rewrite
    the leaves), and with ``max_unsigned_age`` (seconds) so do events left outside the
    newest head for longer than heads are due. ``public_key`` is the key the caller
    trusts (pinned); heads signed by any other key fail. With ``resume`` only what came
    after that verified head is read (see the module docstring).
    """
    report = VerifyReport()
    _system_scope(connection)
    top = int(connection.exec_driver_sql("SELECT coalesce(max(seq), 0) FROM audit_event").scalar() or 0)
    tree = merkle.CompactTree()
    if resume is not None and resume.size <= top:
        resumed = _resume(connection, public_key, resume, report)
        if resumed is not None:
            tree, report.start = resumed, resume.size
    start = report.start
    heads = _head_records(connection, start)
    report.heads = len(heads)
    expected_key = signing_key_id(public_key)
    checkpoints: dict[int, list[tuple[str, HeadRecord]]] = {}
    for head in heads:
        message = head_message(head.size, head.root, _parse(head.time))
        if head.key_id != expected_key or not verify_signature(public_key, message, head.signature):
            report.findings.append(
                Finding(head.size, "bad signature", f"tree head of size {head.size} is not validly signed")
            )
        checkpoints.setdefault(head.size, []).append(("tree head", head))
    if start and not any(head.size == start and head.root == tree.root() for head in heads):
        report.findings.append(Finding(start, "missing", f"the verified tree head of size {start} is gone or changed"))
    for head in anchor:
        message = head_message(head.size, head.root, _parse(head.time))
        if not verify_signature(public_key, message, head.signature):
            report.findings.append(
                Finding(head.size, "bad signature", f"anchored head of size {head.size} is not validly signed")
            )
        if head.size > start:
            checkpoints.setdefault(head.size, []).append(("anchored head", head))
        elif not _consistent(connection, head, start, tree.root()):
            detail = f"anchored head of size {head.size} is not consistent with the verified head of size {start}"
            report.findings.append(Finding(head.size, "root mismatch", detail))
    report.anchored = len(anchor)

    broken = False
    for part, coarse in _ranges(connection, tree, start, top, set(checkpoints), workers, max_findings):
        for finding in part.findings:
            if len(report.findings) < max_findings:
                report.findings.append(finding)
        report.events += part.rows
        report.worker_cpu_seconds += part.cpu_seconds
        for size, frontier in part.frontiers.items():
            root = _root(coarse, frontier)
            for label, head in checkpoints.get(size, ()):
                if root != head.root and not _explained(report, head.size):
                    detail = f"{label} of size {head.size} does not match the events"
                    report.findings.append(Finding(head.size, "root mismatch", detail))
                elif root == head.root and label == "tree head" and not broken:
                    report.verified = head
        broken = broken or not part.gap_free
    report.events += start
    largest = max(checkpoints, default=0)
    if largest > top:
        report.findings.append(Finding(top + 1, "missing", f"log ends at {top} but a head covers {largest} events"))
    if top and not start and not heads:
        report.findings.append(Finding(1, "unsigned", f"the log holds {top} events but no signed tree head"))
    else:
        newest = max([start, *(head.size for head in heads)])
        report.findings.extend(_unsigned_tail(connection, top, newest, max_unsigned_age, now))
    report.findings.sort(key=lambda f: f.seq if f.seq is not None else 0)
    if report.findings:
        report.verified = None
    return report


def _consistent(connection: Connection, head: HeadRecord, size: int, root: bytes) -> bool:
    """Is the anchored ``head`` (at most ``size``) a prefix of the verified tree of ``size``
    and ``root``? A consistency proof from the stored nodes: O(log n) reads, and any
    tampered node makes it fail rather than pass."""
    if head.size == size:
        return head.root == root
    missing: list[int] = []

    def get_node(level: int, index: int) -> bytes:
        node = _stored_node(connection, level, index)
        if node is None:
            missing.append(level)
            return merkle.EMPTY_ROOT
        return node

    proof = merkle.consistency_proof(head.size, size, get_node)
    return not missing and merkle.verify_consistency(head.size, size, head.root, root, proof)


def _ranges(
    connection: Connection,
    tree: merkle.CompactTree,
    start: int,
    top: int,
    marks: set[int],
    workers: int | None,
    max_findings: int,
) -> Iterator[tuple[_Range, list[bytes]]]:
    """Fold events ``start + 1..top`` into ``tree``: ``(range result, frontier of the
    tree before the range)`` pairs, so a head's root is ``_root(coarse, range frontier)``.
    A full verify of a large log runs aligned ranges in worker processes."""
    count = workers if workers is not None else (os.cpu_count() or 1)
    url = connection.engine.url
    serial = (
        start > 0
        or top - start < _PARALLEL_FROM
        or count < 2
        or (url.get_backend_name() == "sqlite" and not url.database)
    )
    if serial:
        dialect = connection.dialect.name
        documents = _select_documents(dialect, start + 1)
        if documents is not None:

            def columns_of(seq: int) -> Sequence[Any] | None:
                return connection.exec_driver_sql(_select_events(dialect, seq, seq)).first()

            before = merkle.CompactTree.from_frontier(tree.size, tree.frontier())
            try:
                rows = _fetched(connection.exec_driver_sql(documents[0]))
                yield _fold_documents(rows, tree, 0, marks, max_findings, columns_of, documents[1]), []
                return
            except DBAPIError:
                if dialect != "sqlite":
                    raise
                tree = before  # a column no event holds (a BLOB): the reference path reads it
        result = connection.exec_driver_sql(_select_events(dialect, start + 1))
        yield _fold_rows(_fetched(result), tree, 0, marks, max_findings), []
        return
    assert _CHUNK & (_CHUNK - 1) == 0, "ranges must be perfect subtrees"
    ranges = [(first, min(first + _CHUNK - 1, top)) for first in range(1, top + 1, _CHUNK)]
    plain_url = url.render_as_string(hide_password=False)
    coarse = merkle.CompactTree()  # one leaf per complete range: its perfect subtree's root
    with ProcessPoolExecutor(max_workers=count, mp_context=worker_context(__name__)) as pool:
        parts = pool.map(
            _fold_range,
            [plain_url] * len(ranges),
            [first for first, _ in ranges],
            [last for _, last in ranges],
            [{m for m in marks if first <= m <= last} for first, last in ranges],
            [max_findings] * len(ranges),
        )
        expected = 1
        for (first, last), part in zip(ranges, parts, strict=True):
            if part.rows and part.first_seq != expected:
                part.findings.insert(
                    0, Finding(expected, "missing", f"events {expected}..{part.first_seq - 1} are missing")
                )
                part.gap_free = False
            if part.rows:
                expected = part.last_seq + 1
            yield part, coarse.frontier()
            if not (part.gap_free and part.rows == last - first + 1):
                return  # past a gap nothing sits where its head says: the gap is the finding
            coarse.append(part.final[0])


def _fetched(result: Any) -> Iterator[Sequence[Any]]:
    while True:
        chunk = result.fetchmany(_FETCH)
        if not chunk:
            return
        yield from chunk


def _unsigned_tail(
    connection: Connection, top: int, newest: int, max_age: float | None, now: datetime | None
) -> list[Finding]:
    """Events after the newest signed head that have waited longer than heads are due."""
    if max_age is None or newest >= top:
        return []
    text = connection.exec_driver_sql(
        f"SELECT {_TIME_SQL.get(connection.dialect.name, 'time')} FROM audit_event WHERE seq = {int(newest) + 1}"  # noqa: S608
    ).scalar()
    if text is None:
        return []
    age = ((now or clock.now()) - _parse(_time_text(text))).total_seconds()
    if age <= max_age:
        return []
    detail = (
        f"events {newest + 1}..{top} are not covered by a signed tree head; the oldest is {age:.0f} s old "
        f"(allowed {max_age:.0f} s)"
    )
    return [Finding(newest + 1, "unsigned", detail)]


def _what_changed(values: Sequence[Any], seq: int, stored_leaf: bytes) -> Finding:
    """Tell an edited event from one moved here from a nearby position (its stored leaf
    hash still commits to the sequence number it was written with)."""
    seq_index = _SORTED.index("seq")
    for distance in range(1, 65):
        for origin in (seq - distance, seq + distance):
            if origin < 1:
                continue
            moved = list(values)
            moved[seq_index] = origin
            if _leaf(moved) == stored_leaf:
                return Finding(seq, "reordered", f"event committed at seq {origin} appears here")
    if _leaf(values) == stored_leaf:  # the fast path and the reference disagree: trust the reference
        return Finding(seq, "verifier", "the fast leaf encoding disagrees with the reference one")
    return Finding(seq, "changed", "event content does not match its leaf hash")


def _explained(report: VerifyReport, size: int) -> bool:
    """A root mismatch is already named if a finding points at an event it covers."""
    return any(
        f.seq is not None and f.seq <= size and f.kind in ("changed", "missing", "reordered") for f in report.findings
    )


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
