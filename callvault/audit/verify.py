"""``verify``: recompute the audit log from its rows and name the first thing wrong.

The signed tree heads are the anchor of trust: every leaf hash is recomputed from the
event columns (the stored ``leaf_hash`` is only used to tell *what* went wrong), the tree
is rebuilt leaf by leaf, and at each head the root must equal the signed root. Because all
heads are checked against one sequence of leaves, consistency between consecutive heads
holds by construction. A file of exported heads (``--anchor``) extends the trust to a copy
kept outside the database.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from callvault.audit import merkle
from callvault.audit.log import EVENT_FIELDS, event_json, format_time, head_message, leaf_document, signing_key_id
from callvault.audit.models import TreeHead
from callvault.core import clock
from callvault.core.errors import IntegrityViolation, Invalid
from callvault.crypto import verify_signature

__all__ = [
    "Finding",
    "HeadRecord",
    "VerifyReport",
    "key_fingerprint",
    "load_anchor",
    "trusted_public_key",
    "verify_log",
]

_FETCH = 20_000


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
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None


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


def _head_records(connection: Connection) -> list[HeadRecord]:
    rows = connection.execute(select(TreeHead).order_by(TreeHead.size))
    return [HeadRecord(row.size, row.root, format_time(row.time), row.key_id, row.signature) for row in rows]


def _event_rows(connection: Connection) -> Iterator[tuple[Any, ...]]:
    """Event columns (EVENT_FIELDS order) + the stored leaf hash."""
    result = connection.exec_driver_sql(_select_events(connection.dialect.name, "") + " ORDER BY seq")
    while True:
        chunk = result.fetchmany(_FETCH)
        if not chunk:
            return
        yield from chunk


_TIME_SQL = {
    # the leaf's time text, built by the database: no per-row datetime work in Python
    "sqlite": "substr(time, 1, 10) || 'T' || substr(time, 12, 15) || 'Z'",
    "postgresql": "to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
}


def _select_events(dialect: str, where: str) -> str:
    """Event columns (EVENT_FIELDS order) + the stored leaf hash."""
    time_sql = _TIME_SQL.get(dialect, "time")
    columns = ", ".join(time_sql if name == "time" else name for name in EVENT_FIELDS)
    return f"SELECT {columns}, leaf_hash FROM audit_event {where}"  # noqa: S608 - constant column list


def _time_text(value: Any) -> str:
    from datetime import UTC, datetime

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


_TIME = EVENT_FIELDS.index("time")


def _leaf(values: Sequence[Any]) -> bytes:
    document = dict(zip(EVENT_FIELDS, values, strict=False))  # the encoder sorts the keys
    document["time"] = _time_text(values[_TIME])
    return merkle.leaf_hash(event_json(leaf_document(document)))


def verify_log(
    connection: Connection,
    public_key: bytes,
    *,
    anchor: Sequence[HeadRecord] = (),
    max_findings: int = 20,
    workers: int | None = None,
    max_unsigned_age: float | None = None,
    now: datetime | None = None,
) -> VerifyReport:
    """Check events, nodes, heads (and an anchor file); findings in sequence order.

    Heads are what a signature protects, so a log must have them: events without any
    signed head fail (whoever can edit the table can also delete the heads and rewrite
    the leaves), and with ``max_unsigned_age`` (seconds) so do events left outside the
    newest head for longer than heads are due. ``public_key`` is the key the caller
    trusts (pinned); heads signed by any other key fail.
    """
    report = VerifyReport()
    if connection.dialect.name == "postgresql":  # every tenant's rows (row-level security)
        connection.exec_driver_sql("SELECT set_config('callvault.scope', 'system', false)")
    heads = _head_records(connection)
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
    for head in anchor:
        message = head_message(head.size, head.root, _parse(head.time))
        if not verify_signature(public_key, message, head.signature):
            report.findings.append(
                Finding(head.size, "bad signature", f"anchored head of size {head.size} is not validly signed")
            )
        checkpoints.setdefault(head.size, []).append(("anchored head", head))
    report.anchored = len(anchor)

    tree = merkle.CompactTree()
    expected_seq = 1
    for seqs, leaves, changed in _leaf_chunks(connection, workers):
        for finding in changed:
            if len(report.findings) < max_findings:
                report.findings.append(finding)
        for position, seq in enumerate(seqs):
            if seq != expected_seq and len(report.findings) < max_findings:
                report.findings.append(
                    Finding(expected_seq, "missing", f"events {expected_seq}..{seq - 1} are missing")
                )
            tree.append(leaves[position * 32 : position * 32 + 32])
            report.events += 1
            expected_seq = seq + 1
            for label, head in checkpoints.get(tree.size, ()):
                if tree.root() != head.root and not _explained(report, head.size):
                    detail = f"{label} of size {head.size} does not match the events"
                    report.findings.append(Finding(head.size, "root mismatch", detail))
    largest = max(checkpoints, default=0)
    if largest > report.events:
        report.findings.append(
            Finding(report.events + 1, "missing", f"log ends at {report.events} but a head covers {largest} events")
        )
    report.findings.extend(_unsigned_tail(connection, report.events, heads, max_unsigned_age, now))
    report.findings.sort(key=lambda f: f.seq if f.seq is not None else 0)
    return report


def _unsigned_tail(
    connection: Connection, events: int, heads: Sequence[HeadRecord], max_age: float | None, now: datetime | None
) -> list[Finding]:
    """Events no signed head covers: any at all without a head, or too old a tail."""
    if events == 0:
        return []
    if not heads:
        return [Finding(1, "unsigned", f"the log holds {events} events but no signed tree head")]
    newest = heads[-1].size
    if max_age is None or newest >= events:
        return []
    text = connection.exec_driver_sql(
        _select_time(connection.dialect.name) + f" WHERE seq = {int(newest) + 1}"
    ).scalar()
    if text is None:
        return []
    age = ((now or clock.now()) - _parse(_time_text(text))).total_seconds()
    if age <= max_age:
        return []
    detail = (
        f"events {newest + 1}..{events} are not covered by a signed tree head; the oldest is {age:.0f} s old "
        f"(allowed {max_age:.0f} s)"
    )
    return [Finding(newest + 1, "unsigned", detail)]


def _select_time(dialect: str) -> str:
    return f"SELECT {_TIME_SQL.get(dialect, 'time')} FROM audit_event"  # noqa: S608 - constant


_Chunk = tuple[list[int], bytes, list[Finding]]
_PARALLEL_FROM = 200_000
_CHUNK = 100_000


def _hash_rows(rows: Iterable[Sequence[Any]]) -> _Chunk:
    seqs: list[int] = []
    leaves = bytearray()
    changed: list[Finding] = []
    seq_index = EVENT_FIELDS.index("seq")
    width = len(EVENT_FIELDS)
    for row in rows:
        values, stored_leaf = row[:width], bytes(row[width])
        seq = int(values[seq_index])
        recomputed = _leaf(values)
        if recomputed != stored_leaf:
            changed.append(_what_changed(values, seq, stored_leaf))
        seqs.append(seq)
        leaves += recomputed
    return seqs, bytes(leaves), changed


def _hash_range(url: str, first: int, last: int) -> _Chunk:
    """Worker: read and hash events ``first..last`` over its own connection."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        raw = engine.raw_connection()  # plain DB-API rows: no per-row wrapping
        try:
            cursor = raw.cursor()
            if engine.dialect.name == "postgresql":  # every tenant's rows (row-level security)
                cursor.execute("SELECT set_config('callvault.scope', 'system', false)")
            cursor.execute(
                _select_events(engine.dialect.name, f"WHERE seq BETWEEN {int(first)} AND {int(last)}") + " ORDER BY seq"
            )
            rows = cursor.fetchall()
        finally:
            raw.close()
        return _hash_rows(rows)
    finally:
        engine.dispose()


def _leaf_chunks(connection: Connection, workers: int | None) -> Iterator[_Chunk]:
    """Recomputed leaves in sequence order; large logs are hashed by worker processes."""
    top = int(connection.exec_driver_sql("SELECT coalesce(max(seq), 0) FROM audit_event").scalar() or 0)
    count = workers if workers is not None else (os.cpu_count() or 1)
    url = connection.engine.url
    if top < _PARALLEL_FROM or count < 2 or (url.get_backend_name() == "sqlite" and not url.database):
        rows = _event_rows(connection)
        while True:
            chunk = list(itertools.islice(rows, _CHUNK))
            if not chunk:
                return
            yield _hash_rows(chunk)
    ranges = [(start, start + _CHUNK - 1) for start in range(1, top + 1, _CHUNK)]
    plain_url = url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
        yield from pool.map(_hash_range, [plain_url] * len(ranges), *zip(*ranges, strict=True))
    # events below 1 or above the max cannot exist: seq is the primary key from 1 upwards


def _what_changed(values: Sequence[Any], seq: int, stored_leaf: bytes) -> Finding:
    """Tell an edited event from one moved here from a nearby position (its stored leaf
    hash still commits to the sequence number it was written with)."""
    seq_index = EVENT_FIELDS.index("seq")
    for distance in range(1, 65):
        for origin in (seq - distance, seq + distance):
            if origin < 1:
                continue
            moved = list(values)
            moved[seq_index] = origin
            if _leaf(moved) == stored_leaf:
                return Finding(seq, "reordered", f"event committed at seq {origin} appears here")
    return Finding(seq, "changed", "event content does not match its leaf hash")


def _explained(report: VerifyReport, size: int) -> bool:
    """A root mismatch is already named if a finding points at an event it covers."""
    return any(
        f.seq is not None and f.seq <= size and f.kind in ("changed", "missing", "reordered") for f in report.findings
    )


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
