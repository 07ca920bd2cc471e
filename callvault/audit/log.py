"""``record``: the one way to write an audit event, and the writer behind it.

Events from every request and command go through one ``AuditWriter`` per runtime: a
background thread that takes whatever is queued (up to ``_MAX_BATCH``), gives the events
the next gapless sequence numbers, hashes them into the Merkle tree and commits events and
tree nodes in one transaction. ``record`` returns only after that commit, so an event
acknowledged to a caller is durable; concurrent callers share one commit (group commit).
If the log cannot be written the caller's action fails: no access goes unrecorded.

Events hold ids, actions and decisions, never personal data: free-text reasons are
passed through the PII redactor before they are stored.
"""

from __future__ import annotations

import hashlib
import operator
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from sqlalchemy import Connection, Table, func, select, text
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callvault.audit import merkle
from callvault.audit.models import AuditEvent, AuditNode, TreeHead
from callvault.core import clock
from callvault.core.clock import format_time
from callvault.core.db import bulk_insert, insert_tuples, is_postgres, system_scope, system_session
from callvault.core.errors import IntegrityViolation

if TYPE_CHECKING:
    from callvault.access.actor import Actor
    from callvault.access.decision import Decision, Outcome, Resource
    from callvault.core.runtime import Runtime

__all__ = [
    "EVENT_FIELDS",
    "AuditWriter",
    "create_query_indexes",
    "drop_query_indexes",
    "event_json",
    "event_leaf_hash",
    "format_time",
    "head_message",
    "leaf_document",
    "node_source",
    "record",
    "record_many_in",
    "redact_reason",
    "signing_key_id",
    "subscribe",
    "writer_for",
]

_log = structlog.get_logger("callvault.audit")
_MAX_BATCH = 5000
SIGNING_KEY_REF = "audit"
EVENT_FIELDS = (
    "seq", "time", "tenant_id", "actor_id", "actor_kind", "actor_role", "session_id", "action",
    "resource_type", "resource_id", "subject_id", "purpose", "decision", "mask", "rule", "reason",
    "request_id", "client_ip", "outcome",
)  # fmt: skip
"""What a leaf commits to, in canonical JSON (``leaf_hash`` itself is derived).

``outcome`` came after the first release: a leaf commits to it only when it is set, so
events written before it keep their hashes (``leaf_document``)."""


def event_json(document: dict[str, Any]) -> bytes:
    """``merkle.canonical_json`` of an event document, via orjson: byte-identical for the
    values events hold (str, int, bool, None; a property test holds it so) and ~15× faster,
    which is most of the cost of appending and of verifying."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def leaf_document(document: dict[str, Any]) -> dict[str, Any]:
    """Drop the fields a leaf commits to only when set (see ``EVENT_FIELDS``)."""
    if document.get("outcome") is None:
        document.pop("outcome", None)
    return document


def event_leaf_hash(event: Mapping[str, Any]) -> bytes:
    """RFC 6962 leaf hash of an event: SHA-256(0x00 ‖ canonical JSON of its fields)."""
    document = {name: event.get(name) for name in EVENT_FIELDS}
    if isinstance(document["time"], datetime):
        document["time"] = format_time(document["time"])
    return merkle.leaf_hash(event_json(leaf_document(document)))


_SORTED_FIELDS = tuple(sorted(EVENT_FIELDS))


def _leaf_of_row(row: dict[str, Any]) -> bytes:
    """``event_leaf_hash`` for a row that already holds exactly ``EVENT_FIELDS``."""
    document = {name: row[name] for name in _SORTED_FIELDS}
    document["time"] = format_time(document["time"])
    return merkle.leaf_hash(event_json(leaf_document(document)))


def head_message(size: int, root: bytes, moment: datetime) -> bytes:
    """The exact bytes a tree-head signature covers."""
    return f"callvault/tree-head/v1\n{size}\n{root.hex()}\n{format_time(moment)}\n".encode()


def signing_key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


STORED_LEVEL_STEP = 4
"""Perfect subtrees are stored every 4 levels (level 0 is ``audit_event.leaf_hash``): about
n/15 node rows instead of n, and any node is at most 8 stored hashes away."""


_CACHED_FROM_LEVEL = 6


def node_source(db_session: Session) -> merkle.NodeSource:
    """``get_node`` over the stored sparse levels, one range read per requested node."""

    from callvault.core.runtime import runtime_of

    cache: dict[tuple[int, int], bytes] = runtime_of(db_session).caches.setdefault("audit_nodes", {})

    def get_node(level: int, index: int) -> bytes:
        cached = cache.get((level, index))
        if cached is not None:
            return cached
        base = level - level % STORED_LEVEL_STEP
        width = 1 << (level - base)
        first, last = index * width, (index + 1) * width - 1
        if base == 0:
            # leaf hashes of every tenant's events (hashes only: they reveal nothing)
            with system_scope(db_session):
                hashes = [
                    bytes(digest)
                    for digest in db_session.execute(
                        select(AuditEvent.leaf_hash)
                        .where(AuditEvent.seq >= first + 1, AuditEvent.seq <= last + 1)
                        .order_by(AuditEvent.seq)
                    ).scalars()
                ]
        else:
            hashes = [
                bytes(digest)
                for digest in db_session.execute(
                    select(AuditNode.hash)
                    .where(AuditNode.level == base, AuditNode.index >= first, AuditNode.index <= last)
                    .order_by(AuditNode.index)
                ).scalars()
            ]
        if len(hashes) != width:
            raise IntegrityViolation("The audit log's Merkle nodes are incomplete", code="audit.node_missing")
        while len(hashes) > 1:
            hashes = [merkle.node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        if level >= _CACHED_FROM_LEVEL:  # perfect subtrees never change: upper ones are shared by every proof
            if len(cache) > 100_000:
                cache.clear()
            cache[(level, index)] = hashes[0]
        return hashes[0]

    return get_node


def redact_reason(reason: str | None) -> str | None:
    """Free text typed by a person may quote the very data it justifies seeing: the
    form every purpose is stored in (tagged, at most 200 characters), clear or sealed."""
    if reason is None:
        return None
    from callvault.pii.service import redact_text

    return redact_text(reason, mode="tag")[:200]


class AuditWriter:
    """Group-committing, gapless appender of one runtime's audit events."""

    def __init__(self, runtime: Runtime, *, head_every: int = 1000, head_seconds: float = 10.0) -> None:
        self._runtime = runtime
        self._head_every = head_every
        self._head_seconds = head_seconds
        self._queue: queue.Queue[tuple[list[dict[str, Any]], Future[list[int]]]] = queue.Queue()
        self._tree: merkle.CompactTree | None = None
        self._last_head_size = -1
        self._last_head_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="callvault-audit-writer", daemon=True)
        self._started = False
        self._start_lock = threading.Lock()
        self._appended = False
        self._committed_tree: merkle.CompactTree | None = None

    # -- public ------------------------------------------------------------------------
    def append(self, events: Sequence[dict[str, Any]]) -> list[int]:
        """Append events; returns their sequence numbers once they are committed."""
        if not events:
            return []
        self._ensure_started()
        self._appended = True
        done: Future[list[int]] = Future()
        self._queue.put((list(events), done))
        return done.result()

    def append_in(self, db_session: Session, events: Sequence[dict[str, Any]]) -> list[int]:
        """Append events inside the caller's transaction: they commit or roll back with
        whatever else it wrote, so a bulk import's customers and their ``customer.create``
        events are durable together (a ``kill -9`` can lose neither without the other).

        Takes the log's lock (PostgreSQL advisory lock; SQLite's write lock, which the
        caller's writes already hold) until the caller commits: keep that transaction
        short. The tree is reloaded from committed rows every time: state cached across a
        transaction the caller may still roll back could fork the log.
        """
        if not events:
            return []
        with system_scope(db_session):  # the log's size and tree count every tenant's events
            tree = self._locked_tree(db_session)
            seqs = _insert_events(db_session, events, tree)
            self._maybe_sign(db_session, force=False, tree=tree)
        self._appended = True
        self._publish_on_commit(db_session, events, seqs)
        return seqs

    def append_like_in(self, db_session: Session, template: dict[str, Any], subject_ids: Sequence[str]) -> list[int]:
        """``append_in`` of one event per subject: ``template`` with ``resource_id`` and
        ``subject_id`` set to that subject (a bulk import's ``customer.create`` events).

        Encoding a document per event was most of an import's audit cost; here the
        canonical JSON of the template is cut around the two ids and the sequence number
        once, and each event's leaf is assembled from the pieces. The first event of every
        call is also encoded the reference way and must come out byte-identical, else the
        events go through ``append_in``."""
        if not subject_ids:
            return []
        pieces = _like_pieces(template)
        first = {**template, "resource_id": subject_ids[0], "subject_id": subject_ids[0], "seq": 1}
        if pieces is None or _assemble(pieces, subject_ids[0], 1) != _leaf_json(first):
            events = [{**template, "resource_id": subject, "subject_id": subject} for subject in subject_ids]
            return self.append_in(db_session, events)
        with system_scope(db_session):  # the log's size and tree count every tenant's events
            tree = self._locked_tree(db_session, reuse_committed=True)
            seqs = _insert_like(db_session, template, pieces, subject_ids, tree)
            self._maybe_sign(db_session, force=False, tree=tree)
        self._remember_on_commit(db_session, tree)
        self._appended = True
        if self._runtime.caches.get(_SUBSCRIBERS):  # the events as dicts only for a listener
            events = [{**template, "resource_id": subject, "subject_id": subject} for subject in subject_ids]
            self._publish_on_commit(db_session, events, seqs)
        return seqs

    # -- subscribers (see ``subscribe``) ---------------------------------------------------
    def _publish(self, events: Sequence[Mapping[str, Any]], seqs: Sequence[int]) -> None:
        for subscriber in self._runtime.caches.get(_SUBSCRIBERS, ()):
            try:
                subscriber(events, seqs)
            except Exception as error:  # a subscriber never breaks the log
                _log.error("audit.subscriber_failed", error_type=type(error).__name__)

    def _publish_on_commit(self, db_session: Session, events: Sequence[Mapping[str, Any]], seqs: list[int]) -> None:
        """Events appended in the caller's transaction reach subscribers when it commits,
        never if it rolls back."""
        if not self._runtime.caches.get(_SUBSCRIBERS):
            return
        pending: list[tuple[Sequence[Mapping[str, Any]], list[int]]] | None = db_session.info.get(_UNPUBLISHED)
        if pending is None:
            pending = db_session.info[_UNPUBLISHED] = []

            def committed(session: Session) -> None:
                for batch in session.info[_UNPUBLISHED]:
                    self._publish(*batch)
                session.info[_UNPUBLISHED].clear()

            sa_event.listen(db_session, "after_commit", committed)
            sa_event.listen(db_session, "after_rollback", lambda session: session.info[_UNPUBLISHED].clear())
        pending.append((list(events), seqs))

    def _locked_tree(self, db_session: Session, *, reuse_committed: bool = False) -> merkle.CompactTree:
        """Take the log's lock in the caller's transaction and load the committed tree
        (call it in system scope).

        ``reuse_committed``: when the log's size (read under the lock) is that of the tree
        a bulk append of this writer left at its commit (``_remember_on_commit``), a copy
        of that tree instead of rebuilding its right edge from stored nodes and leaves
        (each batch of an import rebuilt it). The log is append-only and appends are
        serialised by the lock, so a committed size names one tree; a tree from a
        transaction that rolled back is never remembered."""
        if is_postgres(db_session):
            db_session.execute(text("SELECT pg_advisory_xact_lock(7262746)"))
        size = int(db_session.scalar(select(func.coalesce(func.max(AuditEvent.seq), 0))) or 0)
        committed = self._committed_tree
        if reuse_committed and committed is not None and committed.size == size:
            return committed.copy()
        return self._load_tree(db_session, size)

    def _remember_on_commit(self, db_session: Session, tree: merkle.CompactTree) -> None:
        """Keep ``tree`` (not changed after this) as ``_committed_tree`` once the caller's
        transaction commits; forget it on any rollback, a savepoint's included."""
        if _PENDING_TREE not in db_session.info:

            def committed(session: Session) -> None:
                pending = session.info.get(_PENDING_TREE)
                if pending is not None:
                    self._committed_tree = pending
                session.info[_PENDING_TREE] = None

            def rolled_back(session: Session, _transaction: Any) -> None:
                session.info[_PENDING_TREE] = None

            sa_event.listen(db_session, "after_commit", committed)
            sa_event.listen(db_session, "after_soft_rollback", rolled_back)
        db_session.info[_PENDING_TREE] = tree

    def close(self) -> None:
        """Stop the writer thread (after everything queued so far is committed), then sign
        a head over what this process appended: a short-lived process (a CLI import) must
        not leave events outside every signed head, which ``verify`` reports."""
        if self._started:
            self._queue.put(_STOP)  # type: ignore[arg-type]
            self._thread.join(timeout=30)
            self._started = False
        if self._appended:
            self._appended = False
            self._sign_if_due(force=True)

    def sign_head(self) -> TreeHead | None:
        """Write a signed tree head now (if the log grew since the last one)."""
        done: Future[list[int]] = Future()
        self._ensure_started()
        self._queue.put(([], done))
        done.result()
        with system_session(self._runtime.side_sessions) as db_session:
            return self._maybe_sign(db_session, force=True)

    # -- writer thread --------------------------------------------------------------------
    def _ensure_started(self) -> None:
        with self._start_lock:
            if not self._started:
                self._thread.start()
                self._started = True

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self._head_seconds)
            except queue.Empty:
                self._sign_if_due()
                continue
            if first is _STOP:
                return
            batch = [first]
            count = len(first[0])
            while count < _MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(item)  # handled after this batch
                    break
                batch.append(item)
                count += len(item[0])
            committed = [event for events, _ in batch for event in events]
            try:
                seqs = self._commit(committed)
            except BaseException as error:
                self._tree = None
                _log.error("audit.append_failed", error_type=type(error).__name__)
                for _, done in batch:
                    done.set_exception(error)
                continue
            position = 0
            for events, done in batch:
                done.set_result(seqs[position : position + len(events)])
                position += len(events)
            self._publish(committed, seqs)

    def _sign_if_due(self, *, force: bool = False) -> None:
        try:
            with system_session(self._runtime.side_sessions) as db_session:
                self._maybe_sign(db_session, force=force)
        except Exception as error:
            _log.error("audit.head_failed", error_type=type(error).__name__)

    def _load_tree(self, db_session: Session, size: int) -> merkle.CompactTree:
        """Rebuild the right edge of the tree (one perfect subtree per set bit of ``size``)."""
        get_node = node_source(db_session)
        frontier = [get_node(level, index) for level, index in merkle.frontier_coordinates(size)]
        return merkle.CompactTree.from_frontier(size, frontier)

    def _commit(self, events: list[dict[str, Any]]) -> list[int]:
        for attempt in range(5):
            try:
                return self._commit_once(events)
            except IntegrityError:  # another process appended first: reload and retry
                self._tree = None
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def _commit_once(self, events: list[dict[str, Any]]) -> list[int]:
        with system_session(self._runtime.side_sessions) as db_session:
            if is_postgres(db_session):
                db_session.execute(text("SELECT pg_advisory_xact_lock(7262746)"))
            size = int(db_session.scalar(select(func.coalesce(func.max(AuditEvent.seq), 0))) or 0)
            if self._tree is None or self._tree.size != size:
                self._tree = self._load_tree(db_session, size)
            tree = self._tree.copy()
            seqs = _insert_events(db_session, events, tree)
            self._maybe_sign(db_session, force=False, tree=tree)
        self._tree = tree
        return seqs

    def _maybe_sign(
        self, db_session: Session, *, force: bool, tree: merkle.CompactTree | None = None
    ) -> TreeHead | None:
        if tree is None:
            size = int(db_session.scalar(select(func.coalesce(func.max(AuditEvent.seq), 0))) or 0)
            tree = self._load_tree(db_session, size)
        if self._last_head_size < 0:
            self._last_head_size = int(db_session.scalar(select(func.coalesce(func.max(TreeHead.size), 0))) or 0)
        grown = tree.size - self._last_head_size
        due = grown >= self._head_every or (time.monotonic() - self._last_head_at >= self._head_seconds)
        if tree.size == 0 or grown <= 0 or not (force or due):
            return None
        if db_session.get(TreeHead, tree.size) is not None:  # another process signed it
            self._last_head_size = tree.size
            return None
        keyring = self._runtime.keyring
        moment = clock.now()
        root = tree.root()
        head = TreeHead(
            size=tree.size,
            root=root,
            time=moment,
            key_id=signing_key_id(keyring.public_key(SIGNING_KEY_REF)),
            signature=keyring.sign(SIGNING_KEY_REF, head_message(tree.size, root, moment)),
        )
        db_session.add(head)
        db_session.flush()
        self._last_head_size = tree.size
        self._last_head_at = time.monotonic()
        return head


def _insert_events(db_session: Session, events: Sequence[dict[str, Any]], tree: merkle.CompactTree) -> list[int]:
    """Number events after ``tree.size``, hash them into ``tree`` and insert them with the
    perfect subtrees they complete; returns their sequence numbers."""
    size = tree.size
    rows: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    for offset, event in enumerate(events, start=1):
        row = {name: event.get(name) for name in EVENT_FIELDS}
        row["seq"] = size + offset
        digest = _leaf_of_row(row)
        row["leaf_hash"] = digest
        rows.append(row)
        for level, index, node_hash in tree.append(digest):
            if level and not level % STORED_LEVEL_STEP:
                nodes.append({"level": level, "index": index, "hash": node_hash})
    if rows:
        bulk_insert(db_session, _table(AuditEvent), rows)
    if nodes:
        bulk_insert(db_session, _table(AuditNode), nodes)
    return [row["seq"] for row in rows]


_PENDING_TREE = "callvault.audit.pending_tree"
"""``session.info`` key: the tree a bulk append left in the session's open transaction."""
_SEQ_MARK = 7_919_191_919_191_919_191
_ID_MARK = "callvault:subject-id-marker"
_EVENT_COLUMNS = (*EVENT_FIELDS, "leaf_hash")


def _leaf_json(event: Mapping[str, Any]) -> bytes:
    """The canonical JSON a leaf hashes (``event_leaf_hash`` without the hash)."""
    document = {name: event.get(name) for name in EVENT_FIELDS}
    if isinstance(document["time"], datetime):
        document["time"] = format_time(document["time"])
    return event_json(leaf_document(document))


def _like_pieces(template: Mapping[str, Any]) -> tuple[bytes, tuple[int, ...]] | None:
    """``template``'s canonical JSON as a ``%b`` format with the slots in order (0: the
    quoted subject id, 1: the sequence number); ``None`` if the markers do not come out
    as exactly two ids and one number."""
    marked = {**template, "resource_id": _ID_MARK, "subject_id": _ID_MARK, "seq": _SEQ_MARK}
    text = _leaf_json(marked).replace(b"%", b"%%")
    quoted_id, number = orjson.dumps(_ID_MARK), str(_SEQ_MARK).encode()
    if text.count(quoted_id) != 2 or text.count(number) != 1:
        return None
    first = text.index(quoted_id)
    slots = sorted([(text.index(number), 1), (first, 0), (text.index(quoted_id, first + 1), 0)])
    return text.replace(quoted_id, b"%b").replace(number, b"%b"), tuple(slot for _, slot in slots)


def _assemble(pieces: tuple[bytes, tuple[int, ...]], subject: str, seq: int) -> bytes:
    form, slots = pieces
    values = (orjson.dumps(subject), str(seq).encode())
    return form % tuple([values[slot] for slot in slots])


def _insert_like(
    db_session: Session,
    template: Mapping[str, Any],
    pieces: tuple[bytes, tuple[int, ...]],
    subject_ids: Sequence[str],
    tree: merkle.CompactTree,
) -> list[int]:
    """``_insert_events`` for events that differ only in their subject (see ``append_like_in``)."""
    form, slots = pieces
    leaf_form, pick, sha256 = b"\x00" + form, operator.itemgetter(*slots), hashlib.sha256
    frontier, size = tree._frontier, tree.size
    # the leaves in one comprehension: (quoted subject, sequence number) into the slots
    leaves = [
        sha256(leaf_form % pick((quoted, b"%d" % seq))).digest()
        for seq, quoted in enumerate(map(orjson.dumps, subject_ids), start=size + 1)
    ]
    nodes: list[tuple[int, int, bytes]] = []
    for position, leaf in enumerate(leaves, start=size):  # CompactTree.append, inlined, keeping the stored levels
        current, level = leaf, 0
        while position >> level & 1:
            current = sha256(b"\x01" + frontier.pop() + current).digest()
            level += 1
            if not level % STORED_LEVEL_STEP:
                nodes.append((level, position >> level, current))
        frontier.append(current)
    tree._size = size + len(subject_ids)
    _insert_like_rows(db_session, template, size + 1, subject_ids, leaves)
    insert_tuples(db_session, "audit_node", ("level", '"index"', "hash"), nodes)
    return list(range(size + 1, size + len(subject_ids) + 1))


_LIKE_VARYING = ("seq", "resource_id", "subject_id", "leaf_hash")
_LIKE_CONSTANT = tuple(name for name in _EVENT_COLUMNS if name not in _LIKE_VARYING)


def _insert_like_rows(
    db_session: Session, template: Mapping[str, Any], first: int, subject_ids: Sequence[str], leaves: list[bytes]
) -> None:
    """One statement for all the events: the template's columns bound once, the subjects
    and leaves as two arrays, the sequence numbers counted from ``first``. Binding ~20
    values per event was most of the insert's cost; the rows stored are the same
    (``tests/audit/test_log.py`` compares them with ``insert_tuples``')."""
    connection = db_session.connection()
    constants = [template.get(name) for name in _LIKE_CONSTANT]
    names = ", ".join((*_LIKE_VARYING, *_LIKE_CONSTANT))
    if connection.dialect.name != "postgresql":
        # json_each: key = 0-based position, value = the subject id (text); the leaves are
        # one blob, 32 bytes each (substr of a blob is a blob)
        marks = ", ".join(f"?{number}" for number in range(4, 4 + len(constants)))
        connection.exec_driver_sql(
            f"INSERT INTO audit_event ({names}) SELECT ?1 + j.key, j.value, j.value, "  # noqa: S608 - names
            f"substr(?2, j.key * 32 + 1, 32), {marks} FROM json_each(?3) AS j",
            (first, b"".join(leaves), _json_array(subject_ids), *constants),
        )
        return
    columns = _table(AuditEvent).columns
    casts = ", ".join(
        f"CAST(%(c{number})s AS {columns[name].type.compile(connection.dialect)})"
        for number, name in enumerate(_LIKE_CONSTANT)
    )
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO audit_event ({names}) SELECT %(first)s + u.ord - 1, u.subject, u.subject, u.leaf, "  # noqa: S608
            f"{casts} FROM unnest(CAST(%(subjects)s AS varchar[]), CAST(%(leaves)s AS bytea[])) "
            "WITH ORDINALITY AS u(subject, leaf, ord)",
            {"first": first, "subjects": list(subject_ids), "leaves": leaves}
            | {f"c{number}": value for number, value in enumerate(constants)},
        )


def _json_array(ids: Sequence[str]) -> str:
    return orjson.dumps(list(ids)).decode()


def drop_query_indexes(connection: Connection) -> None:
    """Before a bulk load into the embedded SQLite database (the customer importer's
    initial load): drop the event indexes that only the query API reads (by tenant and
    actor, subject, action, time). Appending, signing heads, proofs and ``verify`` go by
    ``seq``, the table's own key, so the log keeps every guarantee without them; queries
    stay correct, unindexed, until ``create_query_indexes`` builds them in one sort each
    (≈ 3 µs an event for all five, against ≈ 10 µs kept row by row during the load).

    SQLite only: there the application owns the schema and is the only writer."""
    if connection.dialect.name != "sqlite":
        raise ValueError("query indexes are dropped for bulk loads on SQLite only")
    for index in _table(AuditEvent).indexes:
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS {index.name}")


def create_query_indexes(connection: Connection) -> None:
    """Build the event indexes ``drop_query_indexes`` dropped (any that are missing)."""
    for index in _table(AuditEvent).indexes:
        index.create(connection, checkfirst=True)


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


def writer_for(runtime: Runtime) -> AuditWriter:
    writer = runtime.caches.get("audit_writer")
    if writer is None:
        with _WRITER_LOCK:
            writer = runtime.caches.get("audit_writer")
            if writer is None:
                settings = runtime.settings
                writer = AuditWriter(
                    runtime, head_every=settings.audit_head_every, head_seconds=settings.audit_head_seconds
                )
                runtime.caches["audit_writer"] = writer
    assert isinstance(writer, AuditWriter)
    return writer


_WRITER_LOCK = threading.Lock()
_STOP = object()
_SUBSCRIBERS = "audit_subscribers"
_UNPUBLISHED = "audit_unpublished"

AuditSubscriber = Callable[[Sequence[Mapping[str, Any]], Sequence[int]], None]
"""Called with committed events (``EVENT_FIELDS`` minus ``seq``) and their sequence numbers."""


def subscribe(runtime: Runtime, subscriber: AuditSubscriber) -> Callable[[], None]:
    """Hand every event ``runtime`` commits to ``subscriber``, in commit order per writer:
    after each group commit (on the writer thread) and, for ``append_in``, after the
    caller's transaction commits (on the caller's thread). ``append_like_in`` (bulk
    import's ``customer.create``, bulk erasure's ``subject.erase``) builds the per-event
    dicts it otherwise avoids only while someone subscribes (the monitoring engine in
    ``serve``), so a bulk run inside the server is seen too. A subscriber must return at
    once (queue, process elsewhere); an exception it raises is logged and dropped.
    Returns a function that unsubscribes."""
    with _WRITER_LOCK:  # copy-on-write: the writer iterates without a lock
        runtime.caches[_SUBSCRIBERS] = (*runtime.caches.get(_SUBSCRIBERS, ()), subscriber)

    def unsubscribe() -> None:
        with _WRITER_LOCK:
            runtime.caches[_SUBSCRIBERS] = tuple(s for s in runtime.caches.get(_SUBSCRIBERS, ()) if s is not subscriber)

    return unsubscribe


def build_event(
    *,
    actor: Actor,
    action: str,
    resource: Resource,
    decision: Decision,
    purpose: str | None = None,
    outcome: Outcome | None = None,
    failure: str | None = None,
    sealed_purpose: str | None = None,
) -> dict[str, Any]:
    """One event; ``failure`` (an error code) replaces the decision's reason when the
    allowed action failed. ``sealed_purpose`` (the purpose already encrypted under the
    subject's data key, see docs/audit.md) is stored instead of a redacted ``purpose``."""
    if outcome is None:
        outcome = "done" if decision.allow else "denied"
    return {
        "time": clock.now(),
        "tenant_id": actor.tenant_id,
        "actor_id": actor.actor_id,
        "actor_kind": actor.kind,
        "actor_role": actor.role,
        "session_id": actor.session_id,
        "action": action,
        "resource_type": resource.type,
        "resource_id": resource.id,
        "subject_id": resource.subject_id,
        "purpose": sealed_purpose if sealed_purpose is not None else redact_reason(purpose),
        "decision": "allow" if decision.allow else "deny",
        "mask": decision.mask,
        "rule": decision.rule,
        "reason": failure or decision.reason,
        "request_id": actor.request_id,
        "client_ip": actor.client_ip,
        "outcome": outcome,
    }


def record(
    db_session: Session,
    *,
    actor: Actor,
    action: str,
    resource: Resource,
    decision: Decision,
    purpose: str | None = None,
    outcome: Outcome | None = None,
    failure: str | None = None,
    sealed_purpose: str | None = None,
) -> int:
    """Append one event durably; returns its sequence number.

    ``outcome`` defaults to what the decision implies (``done`` / ``denied``); callers
    that know better (not found, failed) say so."""
    from callvault.core.runtime import runtime_of

    event = build_event(
        actor=actor,
        action=action,
        resource=resource,
        decision=decision,
        purpose=purpose,
        outcome=outcome,
        failure=failure,
        sealed_purpose=sealed_purpose,
    )
    (seq,) = writer_for(runtime_of(db_session)).append([event])
    return seq


def record_many(runtime: Runtime, events: Iterable[dict[str, Any]]) -> list[int]:
    """Append prepared events (bulk paths, benchmarks)."""
    return writer_for(runtime).append(list(events))


def record_many_in(db_session: Session, events: Iterable[dict[str, Any]]) -> list[int]:
    """Append prepared events in ``db_session``'s transaction (see ``AuditWriter.append_in``)."""
    from callvault.core.runtime import runtime_of

    return writer_for(runtime_of(db_session)).append_in(db_session, list(events))
