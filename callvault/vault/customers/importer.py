"""Bulk import of customers from CSV or JSON lines, streamed.

Rows are validated one by one and written in batches, one transaction per batch (or one
for the whole file with ``strict``), so a crash never leaves a half-written row and a
re-run of the same file skips every external reference already stored. Bad rows are
reported by line, field and code and never stop the good ones unless ``strict``.
"""

from __future__ import annotations

import csv
import functools
import itertools
import operator
import os
import re
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import AbstractContextManager, ExitStack, closing, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Literal, NoReturn, cast

import orjson
import phonenumbers
from pydantic import ValidationError
from sqlalchemy import Connection, Table, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.identity.service import get_tenant_or_raise
from callvault.access.pdp import Decision, Resource, enforce
from callvault.audit.log import build_event, create_query_indexes, drop_query_indexes, writer_for
from callvault.audit.models import AuditEvent
from callvault.core import clock
from callvault.core.checks import PROVINCES
from callvault.core.db import insert_tuples, is_postgres, set_tenant
from callvault.core.errors import Invalid
from callvault.core.processes import start_fork_server, worker_context
from callvault.core.runtime import Runtime, runtime_of
from callvault.crypto import DataKey, Keyring, new_data_key, open_index_root
from callvault.vault.customers import scratch
from callvault.vault.customers.models import ENCRYPTED_FIELDS, Customer
from callvault.vault.customers.schemas import CustomerCreate, ImportError_, ImportReport
from callvault.vault.fields import validators as v
from callvault.vault.fields.models import SubjectKey
from callvault.vault.fields.service import TenantKeys, tenant_keys

__all__ = ["MAX_REPORTED_ERRORS", "ImportFormat", "import_customers"]

ImportFormat = Literal["csv", "jsonl"]
MAX_REPORTED_ERRORS = 1000
_FIELDS = frozenset(CustomerCreate.model_fields)
_PLAIN_FIELDS = ("membership_level", "assigned_agent", "region", "external_ref")


class _RowError(Exception):
    def __init__(self, field: str | None, code: str) -> None:
        self.field = field
        self.code = code

    def __reduce__(self) -> tuple[type[_RowError], tuple[str | None, str]]:
        return (_RowError, (self.field, self.code))


_RawRow = str | dict[str, Any] | _RowError
"""A JSON line (validated later, maybe in a worker), a CSV row, or a parse error."""


def _decoded(lines: Iterable[bytes], errors: list[tuple[int, _RowError]]) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            errors.append((number, _RowError(None, "encoding.invalid")))
            continue
        yield number, text


_Lines = tuple[int, list[bytes]]
"""JSON lines as read, with the number of the first: workers decode and number them, so
the process holding the transaction only reads lines and hands them on."""

_Batch = list[tuple[int, _RawRow]] | _Lines


def _jsonl_batches(lines: Iterable[bytes], size: int) -> Iterator[_Lines]:
    """Batches of ``size`` lines (blank ones included: ``_jsonl_items`` drops them)."""
    iterator, first = iter(lines), 1
    while chunk := list(itertools.islice(iterator, size)):
        yield first, chunk
        first += len(chunk)


def _jsonl_items(batch: _Lines) -> list[tuple[int, _RawRow]]:
    """A batch's rows by line number: the text of each non-blank line (validated later),
    or its encoding error."""
    first, lines = batch
    items: list[tuple[int, _RawRow]] = []
    for number, raw in enumerate(lines, start=first):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            items.append((number, _RowError(None, "encoding.invalid")))
            continue
        if text.strip():
            items.append((number, text))
    return items


_COLUMN_NAME = re.compile(r"[a-z][a-z_]{0,39}")


def _csv_rows(lines: Iterable[bytes]) -> Iterator[tuple[int, _RawRow]]:
    pending: list[tuple[int, _RowError]] = []
    numbered = _decoded(lines, pending)
    current = [0]

    def texts() -> Iterator[str]:
        for number, text in numbered:
            current[0] = number
            yield text

    reader = csv.reader(texts())
    header = next(reader, None)
    if header is None or pending:
        # no header line, or one that is not text: never "0 rows, 0 errors" for a file we could not read
        raise Invalid(
            "The file has no CSV header line naming its columns (e.g. external_ref,name,mobile)",
            code="import.no_header",
        )
    header = [name.strip() for name in header]
    unknown = sorted(set(header) - _FIELDS)
    if unknown:
        # name the columns only when they look like column names: a headerless file's first
        # row is personal data, which an error message must never repeat
        named = [name for name in unknown if _COLUMN_NAME.fullmatch(name)]
        detail = "Unknown CSV columns: " + ", ".join(named) if len(named) == len(unknown) else "Unknown CSV columns"
        raise Invalid(detail + " (is the header line missing?)", code="import.unknown_columns")
    if "external_ref" not in header:
        raise Invalid("The CSV header must name an external_ref column", code="import.no_external_ref")
    for values in reader:
        while pending:
            yield pending.pop(0)
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            yield current[0], _RowError(None, "csv.column_count")
            continue
        yield current[0], {name: value for name, value in zip(header, values, strict=True) if value.strip()}
    while pending:
        yield pending.pop(0)


_JSON_CODES = {
    "json_invalid": "json.invalid",
    "model_type": "json.not_object",
    "model_attributes_type": "json.not_object",
}


# -- validation fast path -----------------------------------------------------------------
# Pydantic costs ~15 µs a row before any field rule runs, and libphonenumber ~40 µs a
# landline. The fast path below accepts a row only when it can prove that ``CustomerCreate``
# accepts it with the very same values; anything else (a non-string, an edge of a rule, a
# bad value) goes through ``CustomerCreate``, which names the error. So it only decides
# *how fast* a good row is accepted, never *whether* a row is accepted
# (tests/vault/customers/test_import_fast.py compares both on generated and mutated rows).
_FIELD_NAMES = tuple(CustomerCreate.model_fields)
_ASCII_LABEL = re.compile(r"[A-Za-z0-9_.\-:@/ ]{1,64}")
"""``Label`` restricted to ASCII, where Python's and Pydantic's (Rust) regex classes agree."""
_ASCII_REF = re.compile(r"[A-Za-z0-9_.\-:@/]{1,128}")
_ID_WEIGHTS = bytes((7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2))
_ID_CHECK = "10X98765432"
_LUHN_DOUBLE = bytes.maketrans(b"0123456789", bytes((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)))
_DIGIT_VALUE = bytes.maketrans(b"0123456789", bytes(range(10)))
_LANDLINE = re.compile(r"0([1-9]\d{1,2})-?(\d{7,8})")
_SIMPLE_EMAIL = v._SIMPLE_EMAIL


class _Slow(Exception):
    """The fast path cannot vouch for this row: validate it with ``CustomerCreate``."""


class _FastValidator:
    """Equivalent to ``CustomerCreate`` + ``model_dump()`` for the rows it accepts.

    Each rule restates the schema's for the common, ASCII case and defers to the schema
    elsewhere: whitespace at either end (Pydantic strips by a different definition),
    non-ASCII labels (``\\w`` differs between the regex engines), numbers in other shapes
    (the validators' own functions then decide, exactly as the schema would call them)."""

    def __init__(self, today: date) -> None:
        self._today = today.isoformat().replace("-", "")
        self._mobile = v._cn_mobile_pattern().fullmatch
        metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
        general = metadata.general_desc if metadata else None
        fixed = metadata.fixed_line if metadata else None
        assert general and fixed and general.national_number_pattern and fixed.national_number_pattern
        self._landline_general = re.compile(general.national_number_pattern).fullmatch
        self._landline_lengths = frozenset(general.possible_length)
        self._landline_fixed = re.compile(fixed.national_number_pattern).fullmatch
        self._fixed_lengths = frozenset(fixed.possible_length or general.possible_length)
        self._dates: dict[str, bool] = {}

    def row(self, raw: str | dict[str, Any]) -> dict[str, Any]:
        data = orjson.loads(raw) if isinstance(raw, str) else raw
        if type(data) is not dict:
            raise _Slow
        out = dict.fromkeys(_FIELD_NAMES)
        for name, value in data.items():
            if value is None:
                if name not in out:
                    raise _Slow
                continue
            if type(value) is not str or not value or value[0].isspace() or value[-1].isspace():
                raise _Slow
            check = self._checks.get(name)
            if check is None:
                raise _Slow
            out[name] = check(self, value)
        if out["external_ref"] is None:  # the importer's rule; with it the row identifies someone
            raise _Slow
        return out

    def _name(self, value: str) -> str:
        if len(value) > 100:
            raise _Slow
        return value

    def _address(self, value: str) -> str:
        if len(value) > 300:
            raise _Slow
        return value

    def _label(self, value: str) -> str:
        if not _ASCII_LABEL.fullmatch(value):
            raise _Slow
        return value

    def _external_ref(self, value: str) -> str:
        if not _ASCII_REF.fullmatch(value):
            raise _Slow
        return value

    def _mobile_number(self, value: str) -> str:
        # v.normalize_mobile on 11 ASCII digits: no separators, no country prefix
        if len(value) == 11 and value.isascii() and value.isdigit() and value[0] == "1" and value[1] in "3456789":
            if self._mobile(value):
                return "+86" + value
            raise _Slow
        return _by_rule(v.normalize_mobile, value, 32)

    def _landline_number(self, value: str) -> str:
        # libphonenumber on a CN trunk-prefixed number ``0AA(A)-LLLLLLL(L)``: the trunk 0 is
        # stripped, the rest is valid when it fits the general and the fixed-line patterns
        match = _LANDLINE.fullmatch(value) if value.isascii() else None
        if match is not None:
            national = match.group(1) + match.group(2)
            if (
                len(national) in self._landline_lengths
                and len(national) in self._fixed_lengths
                and self._landline_general(national)
                and self._landline_fixed(national)
            ):
                return "+86" + national
        return _by_rule(v.normalize_landline, value, 32)

    def _id_number(self, value: str) -> str:
        # v.normalize_id_number on 17 ASCII digits and an upper-case check character
        if len(value) == 18 and value.isascii() and value[:17].isdigit() and value[17] in "0123456789X":
            born = value[6:14]
            plausible = self._dates.get(born)
            if plausible is None:
                plausible = _plausible_birth(born, self._today)
                if len(self._dates) < 100_000:
                    self._dates[born] = plausible
            if value[:2] in PROVINCES and plausible:
                digits = value.encode()[:17].translate(_DIGIT_VALUE)
                if _ID_CHECK[sum(map(operator.mul, digits, _ID_WEIGHTS)) % 11] == value[17]:
                    return value
            raise _Slow
        return _by_rule(v.normalize_id_number, value, 32)

    def _bank_card(self, value: str) -> str:
        # v.normalize_bank_card on 16-19 ASCII digits without separators
        if 16 <= len(value) <= 19 and value.isascii() and value.isdigit():
            digits = value.encode()
            if (sum(digits[-1::-2].translate(_DIGIT_VALUE)) + sum(digits[-2::-2].translate(_LUHN_DOUBLE))) % 10 == 0:
                return value
            raise _Slow
        return _by_rule(v.normalize_bank_card, value, 32)

    def _email(self, value: str) -> str:
        # v.normalize_email's own fast path, for ASCII (which NFKC leaves as it is)
        if len(value) <= 254 and value.isascii():
            candidate = value.lower()
            if _SIMPLE_EMAIL.fullmatch(candidate) and ".." not in candidate and not candidate.startswith("."):
                return candidate
        return _by_rule(v.normalize_email, value, 254)

    _checks: ClassVar[dict[str, Callable[[_FastValidator, str], str]]] = {
        "name": _name, "address": _address, "mobile": _mobile_number, "landline": _landline_number,
        "id_number": _id_number, "bank_card": _bank_card, "email": _email, "membership_level": _label,
        "assigned_agent": _label, "region": _label, "external_ref": _external_ref,
    }  # fmt: skip


def _by_rule(normalize: Callable[[str], str], value: str, max_length: int) -> str:
    """The schema's own validator for the field, as the schema calls it."""
    if len(value) > max_length:
        raise _Slow
    try:
        return normalize(value)
    except ValueError:  # FieldError, or anything the schema would report
        raise _Slow from None


def _plausible_birth(born: str, today: str) -> bool:
    """``normalize_id_number``'s date rule: a real date, from 1900 to today."""
    try:
        date(int(born[:4]), int(born[4:6]), int(born[6:8]))
    except ValueError:
        return False
    return "19000101" <= born <= today


def _validate(row: str | dict[str, Any]) -> CustomerCreate | _RowError:
    """The reference: ``CustomerCreate`` decides, and names the first error."""
    try:
        customer = (
            CustomerCreate.model_validate_json(row) if isinstance(row, str) else CustomerCreate.model_validate(row)
        )
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False, include_context=False)[0]
        loc = first["loc"]
        code = str(first["type"])
        if code in _JSON_CODES and not loc:
            return _RowError(None, _JSON_CODES[code])
        return _RowError(str(loc[0]) if loc else None, code)
    if customer.external_ref is None:
        return _RowError("external_ref", "import.external_ref_required")
    return customer


def _validated(fast: _FastValidator, row: str | dict[str, Any]) -> dict[str, Any] | _RowError:
    """The row's values as ``CustomerCreate(...).model_dump()`` gives them, or its error."""
    try:
        return fast.row(row)
    except (_Slow, orjson.JSONDecodeError):
        pass
    result = _validate(row)
    return result if isinstance(result, _RowError) else result.model_dump()


_KEY_COLUMNS = ("tenant_id", "id", "kek_version", "wrapped_dek", "created_at")
_SEALED_COLUMNS = (
    *(f"{name}_ct" for name in ENCRYPTED_FIELDS), "mobile_bidx", "mobile_last4_bidx", "id_number_bidx", "email_bidx",
)  # fmt: skip
_CUSTOMER_COLUMNS = (
    "tenant_id", "id", "subject_key_id", "retention_class", "legal_hold", "created_at", "updated_at", "version",
    *_PLAIN_FIELDS, *_SEALED_COLUMNS,
)  # fmt: skip


@dataclass
class _Prepared:
    """A batch ready to store: rows as insert-ready tuples (``_CUSTOMER_COLUMNS``,
    ``_KEY_COLUMNS``; UUIDs already in the column's stored form) plus, per customer, its
    external reference and id, and the bad lines. Workers do all per-row work, so the
    process holding the database transaction only filters and inserts.

    ``scratch``: a worker's batch on SQLite: the rows are in that file
    (``scratch.write_batch``; ``customers`` and ``keys`` are then empty), to be copied
    from it with the file attached."""

    customers: list[tuple[Any, ...] | bytes] = field(default_factory=list)
    keys: list[tuple[Any, ...] | bytes] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    errors: list[tuple[int, _RowError]] = field(default_factory=list)
    scratch: str | None = None


def _prepare(
    keys: TenantKeys, keyring: Keyring, batch: _Batch, *, uuid_hex: bool = False, copy_text: bool = False
) -> _Prepared:
    """Decode (JSON lines), validate, key and seal one batch (the CPU-heavy part; runs in
    workers when large). ``uuid_hex``: the database stores UUIDs as 32 hex digits (SQLite),
    else as UUIDs. ``copy_text`` (PostgreSQL): rows as lines of ``COPY``'s text format
    instead of tuples, so the process holding the transaction neither unpickles nor adapts
    them value by value: it writes them to the server as they are.

    On SQLite (``uuid_hex``) blobs are ``bytearray`` and the flag ``0``: the ``sqlite3``
    module binds the exact types ``int``, ``str`` and ``bytearray`` directly, but looks up
    an adapter for any other (``bytes``, ``bool``, ``None``), ≈ 1 µs a value in the
    process holding the transaction, where ``executemany`` cost ≈ 35 µs per customer
    (≈ 21 with these types). Both store the same values (blob, integer)."""
    items = _jsonl_items(batch) if isinstance(batch, tuple) else batch
    prepared = _Prepared()
    now = clock.now()
    # SQLite: the text sqlite3's datetime adapter would bind, made once per batch instead
    # of twice per row in the process holding the transaction
    stamp: Any = now.isoformat(" ") if uuid_hex else now
    tenant_id, kek_ref = keys.tenant_id, keys.kek_ref
    fast = _fast_validator(now.date())
    ids = _time_ordered_ids(now, 2 * len(items))
    add_key, add_customer = prepared.keys.append, prepared.customers.append
    add_ref, add_id, add_line = prepared.refs.append, prepared.ids.append, prepared.lines.append
    for position, (line, raw) in enumerate(items):
        values = raw if isinstance(raw, _RowError) else _validated(fast, raw)
        if isinstance(values, _RowError):
            prepared.errors.append((line, values))
            continue
        key_int, customer_int = ids[2 * position], ids[2 * position + 1]
        key_id = uuid.UUID(int=key_int)
        customer_hex = f"{customer_int:032x}"
        customer_id = (
            f"{customer_hex[:8]}-{customer_hex[8:12]}-{customer_hex[12:16]}-{customer_hex[16:20]}-{customer_hex[20:]}"
        )
        dek, wrapped = new_data_key(keyring, kek_ref, tenant_id, key_id)
        sealed = _seal(keys, dek, customer_id, values)
        key_row: tuple[Any, ...]
        if uuid_hex:
            stored_key: Any = key_id.hex
            key_row = (tenant_id, stored_key, wrapped.kek_version, bytearray(wrapped.blob), stamp)
            customer_row = (
                tenant_id, customer_hex, stored_key, "standard", 0, stamp, stamp, 1,
                values["membership_level"], values["assigned_agent"], values["region"], values["external_ref"],
                *[None if value is None else bytearray(value) for value in sealed],
            )  # fmt: skip
        else:
            stored_key = key_id
            key_row = (tenant_id, stored_key, wrapped.kek_version, wrapped.blob, stamp)
            customer_row = (
                tenant_id, customer_id, stored_key, "standard", False, stamp, stamp, 1,
                values["membership_level"], values["assigned_agent"], values["region"], values["external_ref"],
                *sealed,
            )  # fmt: skip
        add_key(_copy_line(key_row) if copy_text else key_row)
        add_customer(_copy_line(customer_row) if copy_text else customer_row)
        add_ref(values["external_ref"])
        add_id(customer_id)
        add_line(line)
    return prepared


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_FORMATS: dict[type, Callable[[Any], str]] = {
    type(None): lambda _: "\\N",
    str: lambda text: text.translate(_COPY_ESCAPES),  # the four characters the format gives a meaning
    bytes: lambda data: "\\\\x" + data.hex(),  # bytea's hex input, its backslash escaped for COPY
    bool: lambda flag: "t" if flag else "f",
    int: str,
    uuid.UUID: str,
    datetime: datetime.isoformat,  # aware: with its offset
}


def _copy_line(row: tuple[Any, ...]) -> bytes:
    """A row of insert-ready values (``insert_tuples``' form for PostgreSQL) as one line of
    ``COPY``'s text format: what psycopg's ``write_row`` sends, made in the worker."""
    return (
        "\t".join([(_COPY_FORMATS.get(type(value)) or _copy_format(value))(value) for value in row]) + "\n"
    ).encode()


def _copy_format(value: Any) -> Callable[[Any], str]:
    """The formatter of a subclass (a pinned clock's datetime, a ``str`` enum)."""
    for kind, format_value in _COPY_FORMATS.items():
        if kind is not type(None) and isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return format_value
    raise TypeError(f"no COPY text form for {type(value).__name__}")


def _seal(keys: TenantKeys, dek: DataKey, customer_id: str, values: dict[str, Any]) -> tuple[bytes | None, ...]:
    """``_SEALED_COLUMNS`` of one customer: what ``service.sealed_row`` gives for the same
    values (ciphertexts bound to the record id, blind indexes), as a tuple."""
    sealed = dek.seal_many(
        keys.tenant_id, "customer", customer_id, {f: values[f] for f in ENCRYPTED_FIELDS if values[f] is not None}
    )
    mobile, id_number, email = values["mobile"], values["id_number"], values["email"]
    return (
        *[sealed.get(f) for f in ENCRYPTED_FIELDS],
        None if mobile is None else keys.index("customer.mobile", mobile),
        None if mobile is None else keys.index_suffix("customer.mobile_last4", mobile[-4:]),
        None if id_number is None else keys.index("customer.id_number", id_number),
        None if email is None else keys.index("customer.email", email),
    )


_UUID7_RANDOM = (((1 << 12) - 1) << 64) | ((1 << 62) - 1)
_UUID7_MARKS = (0x7 << 76) | (0b10 << 62)


def _time_ordered_ids(now: datetime, count: int) -> list[int]:
    """``count`` ids in ``fields.service.time_ordered_uuid``'s layout (48-bit ms time,
    version 7, variant, 74 random bits), as integers: one clock read and one ``urandom``
    call per batch instead of per id."""
    prefix = int(now.timestamp() * 1000) << 80 | _UUID7_MARKS
    noise = os.urandom(10 * count)
    return [prefix | (int.from_bytes(noise[at : at + 10], "big") & _UUID7_RANDOM) for at in range(0, 10 * count, 10)]


@functools.lru_cache(maxsize=4)
def _fast_validator(today: date) -> _FastValidator:
    return _FastValidator(today)


def _existing_refs(
    db_session: Session, tenant_id: str, refs: list[str], since: datetime
) -> dict[str, tuple[str, bool]]:
    """External references of ``refs`` already stored for the tenant: their ids, and
    whether they were stored after ``since`` (by this import: a duplicate line). Strictly
    after, so that under a clock pinned by a test a re-run still skips what it finds."""
    if not refs:
        return {}
    if is_postgres(db_session):
        # A join on the unique index whatever the statistics say: during a bulk load they
        # are stale, and a plain IN list was planned as a scan of the whole tenant.
        rows = db_session.execute(
            sql_text(
                "SELECT c.external_ref, c.id, c.created_at > :since FROM unnest(CAST(:refs AS varchar[])) AS r(ref) "
                "JOIN customer c ON c.tenant_id = :tenant AND c.external_ref = r.ref"
            ),
            {"refs": refs, "tenant": tenant_id, "since": since},
        )
        return {str(ref): (str(customer_id), bool(recent)) for ref, customer_id, recent in rows}
    # One bound JSON array instead of an expanded IN list: no statement built per batch;
    # each reference is one probe of the unique index. Ids come back as stored (32 hex),
    # times as text that sorts as it reads ("YYYY-MM-DD HH:MM:SS.ffffff", then maybe "+00:00").
    found = db_session.connection().exec_driver_sql(
        "SELECT external_ref, id, substr(created_at, 1, 26) > ? FROM customer WHERE tenant_id = ? "
        "AND external_ref IN (SELECT value FROM json_each(?))",
        (since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"), tenant_id, orjson.dumps(refs).decode()),
    )
    return {str(ref): (str(uuid.UUID(hex=str(stored))), bool(recent)) for ref, stored, recent in found}


def _without_create_event(db_session: Session, tenant_id: str, customer_ids: list[str]) -> list[str]:
    """Those of ``customer_ids`` whose ``customer.create`` event is missing: customers an
    import before events committed with their batch stored but never logged (a crash
    between the two commits). Only skipped rows are checked, so a first run pays nothing."""
    if not customer_ids:
        return []
    logged = set(
        db_session.scalars(
            select(AuditEvent.subject_id).where(
                AuditEvent.tenant_id == tenant_id,
                AuditEvent.subject_id.in_(customer_ids),
                AuditEvent.action == "customer.create",
            )
        )
    )
    return [customer_id for customer_id in customer_ids if customer_id not in logged]


def _store(
    db_session: Session, tenant_id: str, prepared: _Prepared, report: ImportReport, since: datetime | None = None
) -> list[str]:
    """Insert what is not stored yet (by external reference) in the session's transaction;
    returns the ids of the customers that need a ``customer.create`` event: those created
    now, and skipped ones that never got theirs.

    A reference stored before this import began (``since``) is skipped: a re-run. One that
    occurs twice in the file (in this batch, or stored by an earlier batch of this import)
    is a bad row, ``import.duplicate_external_ref``: the first occurrence is kept (without
    ``since``, only within the batch). Memory stays bounded: the earlier batches are
    recognised by their creation time, not by a set of references."""
    existing = _existing_refs(db_session, tenant_id, prepared.refs, since or datetime.max.replace(tzinfo=UTC))
    skipped = [customer_id for customer_id, recent in existing.values() if not recent]
    positions: list[int] | None = None  # the rows to store, when not all of them
    created = prepared.ids
    if existing or len(set(prepared.refs)) != len(prepared.refs):
        positions, created = [], []
        for position, ref in enumerate(prepared.refs):
            stored = existing.get(ref)
            if stored is not None and not stored[1]:
                report.skipped_existing += 1
                continue
            if stored is not None:
                _report_error(
                    report, prepared.lines[position], _RowError("external_ref", "import.duplicate_external_ref")
                )
                continue
            existing[ref] = (prepared.ids[position], True)
            positions.append(position)
            created.append(prepared.ids[position])
    if prepared.scratch is not None:  # attached by the caller (``_attached``)
        scratch.copy_rows(db_session, "subject_key", _KEY_COLUMNS, positions)
        scratch.copy_rows(db_session, "customer", _CUSTOMER_COLUMNS, positions)
    else:
        customers, keys = prepared.customers, prepared.keys
        if positions is not None:
            customers, keys = [customers[at] for at in positions], [keys[at] for at in positions]
        insert_tuples(db_session, "subject_key", _KEY_COLUMNS, keys)
        insert_tuples(db_session, "customer", _CUSTOMER_COLUMNS, customers)
    report.imported += len(created)
    return _without_create_event(db_session, tenant_id, skipped) + created


def _report_error(report: ImportReport, line: int, error: _RowError) -> None:
    report.failed += 1
    if len(report.errors) < MAX_REPORTED_ERRORS:
        report.errors.append(ImportError_(line=line, field=error.field, code=error.code))
    else:
        report.errors_truncated = True


def _creation_template(actor: Actor, decision: Decision) -> dict[str, Any]:
    """The ``customer.create`` event every imported customer gets, without its subject.
    Built once per import: its purpose goes through the PII redactor, which is not free."""
    return build_event(
        actor=actor,
        action="customer.create",
        resource=Resource(type="customer", tenant_id=actor.tenant_id),
        decision=decision,
        purpose="bulk import",
    )


def _record_created(db_session: Session, template: dict[str, Any], customer_ids: list[str]) -> None:
    """One ``customer.create`` audit event per imported customer, so each subject's access
    report starts with its creation, timed now. Written in the batch's own transaction: the
    log never claims a customer that was rolled back, and a crash never leaves a customer
    unlogged."""
    if customer_ids:
        writer = writer_for(runtime_of(db_session))
        writer.append_like_in(db_session, {**template, "time": clock.now()}, customer_ids)


# -- worker processes -------------------------------------------------------------------
_worker_state: dict[str, Any] = {}


def _worker_init(keyring: Keyring) -> None:
    _worker_state["keyring"] = keyring


def _worker_prepare(
    tenant: tuple[str, str, bytes, bool, bool], batch: _Batch, scratch_path: str | None = None
) -> _Prepared:
    """``_prepare`` in a worker; with ``scratch_path`` (SQLite) the rows go into that file."""
    tenant_id, kek_ref, index_wrapped, uuid_hex, copy_text = tenant
    keyring: Keyring = _worker_state["keyring"]
    keys = _worker_state.get(tenant_id)
    if keys is None:
        keys = TenantKeys(tenant_id, kek_ref, open_index_root(keyring, kek_ref, tenant_id, index_wrapped))
        _worker_state[tenant_id] = keys
    prepared = _prepare(keys, keyring, batch, uuid_hex=uuid_hex, copy_text=copy_text)
    if scratch_path is not None and prepared.ids:
        rows = cast(list[tuple[Any, ...]], prepared.keys), cast(list[tuple[Any, ...]], prepared.customers)
        scratch.write_batch(
            scratch_path, [("subject_key", _KEY_COLUMNS, rows[0]), ("customer", _CUSTOMER_COLUMNS, rows[1])]
        )
        prepared.keys, prepared.customers, prepared.scratch = [], [], scratch_path
    return prepared


class _Preparer:
    """Prepares batches in order: inline for small imports, in worker processes (one per
    core) once an import proves large, with a bounded number of batches in flight.

    ``scratch_dir`` (SQLite): workers hand their batches over as files in it
    (``scratch``), which the caller attaches (``_attached``)."""

    def __init__(
        self, runtime: Runtime, keys: TenantKeys, index_wrapped: bytes, workers: int, scratch_dir: str | None = None
    ) -> None:
        self._runtime, self._keys, self._index_wrapped, self._workers = runtime, keys, index_wrapped, workers
        self._scratch_dir = scratch_dir
        self._pool: ProcessPoolExecutor | None = None
        self._seen = 0
        self._uuid_hex = runtime.engine.dialect.name == "sqlite"
        self._copy_text = runtime.engine.dialect.name == "postgresql"

    def map(self, batches: Iterable[_Batch]) -> Generator[_Prepared, None, None]:
        pending: deque[Future[_Prepared]] = deque()
        try:
            context = worker_context(__name__, keyring=self._runtime.keyring) if self._workers > 1 else None
            for batch in batches:
                self._seen += 1
                if context is not None and self._seen == 1:
                    # its imports run on the other core during the inline batches
                    start_fork_server(context)
                if self._pool is None and context is not None and self._seen > _INLINE_BATCHES:
                    self._pool = ProcessPoolExecutor(
                        max_workers=self._workers,
                        mp_context=context,
                        initializer=_worker_init,
                        initargs=(self._runtime.keyring,),
                    )
                if self._pool is None:
                    yield _prepare(
                        self._keys, self._runtime.keyring, batch, uuid_hex=self._uuid_hex, copy_text=self._copy_text
                    )
                    continue
                tenant = (
                    self._keys.tenant_id,
                    self._keys.kek_ref,
                    self._index_wrapped,
                    self._uuid_hex,
                    self._copy_text,
                )
                path = None if self._scratch_dir is None else os.path.join(self._scratch_dir, f"{self._seen}.db")
                pending.append(self._pool.submit(_worker_prepare, tenant, batch, path))
                if len(pending) >= 2 * self._workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)


_INLINE_BATCHES = 3


def _batches(rows: Iterator[tuple[int, _RawRow]], size: int) -> Iterator[list[tuple[int, _RawRow]]]:
    while True:
        batch = list(itertools.islice(rows, size))
        if not batch:
            return
        yield batch


def import_customers(
    *,
    runtime: Runtime,
    actor: Actor,
    lines: Iterable[bytes],
    fmt: ImportFormat,
    strict: bool = False,
    batch_size: int | None = None,
    on_progress: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Import rows; returns counts and the bad rows (line, field, code)."""
    size = batch_size or runtime.settings.import_batch_size
    report = ImportReport()
    since = clock.now()
    batches = _batches(_csv_rows(lines), size) if fmt == "csv" else _jsonl_batches(lines, size)
    # SQLite, not strict: one connection for the whole import, so that each worker batch's
    # scratch file can be attached to it between the batch transactions (``_attached``)
    handover = runtime.engine.dialect.name == "sqlite" and not strict
    with ExitStack() as stack:
        connection = stack.enter_context(runtime.engine.connect()) if handover else None
        db_session = stack.enter_context(runtime.sessions(bind=connection) if connection else runtime.sessions())
        with db_session.begin():
            set_tenant(db_session, actor.tenant_id)
            decision = enforce(
                db_session, actor, "customer.import", Resource(type="customer", tenant_id=actor.tenant_id)
            )
            template = _creation_template(actor, decision)
            keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
            tenant = get_tenant_or_raise(db_session=db_session, tenant_id=actor.tenant_id)
            index_wrapped = tenant.index_key_wrapped
        workers = 1 if strict else (runtime.settings.import_workers or os.cpu_count() or 1)
        scratch_dir = None
        if connection is not None and workers > 1:
            scratch_dir = stack.enter_context(scratch.private_directory())
        preparer = _Preparer(runtime, keys, index_wrapped, workers, scratch_dir)
        deferred = _defer_secondary_indexes(runtime) if not strict else False
        transaction = db_session.begin() if strict else None
        try:
            if transaction is not None:
                set_tenant(db_session, actor.tenant_id)
            prepared_batches = stack.enter_context(closing(preparer.map(batches)))
            for prepared in prepared_batches:
                for line, error in prepared.errors:
                    _report_error(report, line, error)
                if strict and prepared.errors:
                    _reject(prepared.errors[0][0], report)
                if transaction is not None:
                    created = _store(db_session, actor.tenant_id, prepared, report, since)
                    if report.failed:  # a duplicate reference
                        _reject(report.errors[0].line, report)
                    _record_created(db_session, template, created)
                else:
                    with _attached(connection, prepared), db_session.begin():
                        set_tenant(db_session, actor.tenant_id)
                        created = _store(db_session, actor.tenant_id, prepared, report, since)
                        _record_created(db_session, template, created)
                if on_progress:
                    on_progress(report)
            if transaction is not None:
                transaction.commit()
        except BaseException:
            if transaction is not None and transaction.is_active:
                transaction.rollback()
            raise
        finally:
            if deferred:
                _build_secondary_indexes(runtime)
    return report


def _attached(connection: Connection | None, prepared: _Prepared) -> AbstractContextManager[None]:
    """A worker batch's scratch file attached to the import's connection (outside the
    batch's transaction, which ``ATTACH`` cannot join), then deleted."""
    if prepared.scratch is None:
        return nullcontext()
    assert connection is not None, "scratch batches come only with the import's own connection"
    return scratch.attached(connection, prepared.scratch)


def _reject(line: int, report: ImportReport) -> NoReturn:
    raise Invalid(
        f"Import rejected at line {line}: nothing was imported",
        code="import.rejected",
        errors=[error.model_dump() for error in report.errors],
    )


_DEFERRABLE = (
    *(index for index in cast(Table, Customer.__table__).indexes if not index.unique),
    *cast(Table, SubjectKey.__table__).indexes,
)
"""The blind-index and agent indexes: random keys, so loading them row by row costs random
B-tree inserts far beyond the page cache, while building them after the load is one sort.
The data keys' rewrap index (only key rotation reads it) costs one more B-tree insert per
customer for nothing during a load, and so do the audit log's query indexes for each
``customer.create`` event (``audit.log.drop_query_indexes``). The unique
external-reference index stays: it is what makes a re-run idempotent."""


def _defer_secondary_indexes(runtime: Runtime) -> bool:
    """On the embedded SQLite database, an initial load (no customer of any tenant yet)
    drops the secondary indexes; ``_build_secondary_indexes`` builds them at the end. Any
    other import first rebuilds indexes an interrupted initial load left missing.

    Only SQLite: there the application owns the schema and is the only writer, while a
    PostgreSQL application role may not drop indexes, and other tenants' searches need
    them. Searches during an initial load are correct, just unindexed."""
    if runtime.engine.dialect.name != "sqlite":
        return False
    with runtime.engine.begin() as connection:
        if connection.exec_driver_sql("SELECT 1 FROM customer LIMIT 1").first() is not None:
            _create_indexes(connection)
            return False
        for index in _DEFERRABLE:
            connection.exec_driver_sql(f"DROP INDEX IF EXISTS {index.name}")
        drop_query_indexes(connection)
    return True


def _build_secondary_indexes(runtime: Runtime) -> None:
    with runtime.engine.begin() as connection:
        _create_indexes(connection)


def _create_indexes(connection: Connection) -> None:
    for index in _DEFERRABLE:
        index.create(connection, checkfirst=True)
    create_query_indexes(connection)
