"""The display values of an export, a batch of rows at a time, ready to write.

Each personal field is opened with its customer's data key (unwrapped once per row: every
customer has a key of its own), masked and fingerprinted, or left clear where the
approval covered it; every value is made safe for a spreadsheet (``safe_cell``). A batch
comes back already written: CSV lines and/or the sheet's ``<row>`` bodies, as bytes, so
the process that writes the file only concatenates.

Batches run in this process for small exports, and in worker processes (one per core,
started through ``core.processes.worker_context``, as the importer's are) for large ones:
opening, masking and fingerprinting are CPU-bound and independent per row. A worker gets
the keyring once (at start) and, per batch, the export's description and the raw rows as
the database returned them (ids, wrapped data key, ciphertexts); it never touches the
database.
"""

from __future__ import annotations

import csv
import io
import operator
import os
import resource
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callvault.access.masking import MASKS
from callvault.core.clock import format_time
from callvault.core.errors import DecryptionFailed
from callvault.crypto import BlindIndexer, Keyring, open_index_root, open_subject_columns
from callvault.exports import watermark
from callvault.exports.files import safe_cell, sheet_cell

__all__ = ["Batch", "CellSpec", "ExportCells", "fingerprinter", "worker_batch", "worker_init", "worker_ready"]

_REPEATING = frozenset({"name", "address", "email", "bank_card"})
"""Fields whose masks repeat across customers (surname and stars, district, mail domain,
card prefix and last four): their display values are cached per export."""
_CACHE_LIMIT = 20_000
"""Entries per cached field (cleared when full: what repeats comes back at once)."""


@dataclass(frozen=True, slots=True)
class CellSpec:
    """What a batch needs to know about its export (small: sent with every batch)."""

    tenant_id: str
    kek_ref: str
    index_wrapped: bytes
    export_id: str
    fields: tuple[str, ...]
    personal: tuple[str, ...]
    """The personal fields among ``fields``, in the order of the query's ciphertext columns."""
    plain: tuple[str, ...]
    """The other fields, in the order of the query's remaining columns (``id`` excepted)."""
    clear: frozenset[str]
    csv: bool
    xlsx: bool


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch written: CSV lines (UTF-8), the sheet's row bodies (``<c>`` elements of
    each row, UTF-8; the writer numbers the rows), how many rows were written and skipped
    (erased customers), and, for benchmarks (a worker's clock and memory are not its
    parent's), which process made it, the CPU seconds it took there and that process's
    peak RSS."""

    csv: bytes
    xlsx_rows: list[str]
    rows: int
    skipped: int
    pid: int
    cpu_s: float
    peak_rss_kb: int


def _canonical_id(raw: str | uuid.UUID) -> str:
    """The id as ``str(UUID)`` writes it, from what the driver returns: SQLite's 32 hex
    digits are hyphenated by slicing (a UUID object per row cost more than the slicing)."""
    if isinstance(raw, str) and len(raw) == 32:
        return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}".lower()
    return str(raw if isinstance(raw, uuid.UUID) else uuid.UUID(raw))


def _uuid_bytes(raw: str) -> bytes:
    """A UUID's 16 bytes from the driver's text (SQLite: 32 hex digits)."""
    return bytes.fromhex(raw) if len(raw) == 32 else uuid.UUID(raw).bytes


def fingerprinter(indexer: BlindIndexer, export_id: str) -> Callable[[str], str]:
    """masked value -> its cell in export ``export_id``'s file:
    ``safe_cell(watermark.apply_fingerprint(masked, bit))`` under the export's key. Where
    the C extension is built, ``HmacSha256.mark_star_run`` takes the commonest shape, one
    star run between ASCII letters or digits (mobiles, landlines, ID numbers), in one call
    (a value starting with a letter or digit is never a formula; tests compare the two)."""
    field_name = watermark.fingerprint_field(export_id)
    digest = indexer.digest

    def bit(unit: str) -> int:  # not memoized: most units (mobile, ID) occur once
        return digest(field_name, unit)[0] & 1

    def general(masked: str) -> str:
        return safe_cell(watermark.apply_fingerprint(masked, bit))

    marker = indexer.star_run_marker(field_name)
    if marker is None:
        return general
    context = watermark.CONTEXT_CHARS
    return lambda masked: marker(masked, context) or general(masked)


class ExportCells:
    """Per export, per process: the keys, the bit function and the caches."""

    def __init__(self, spec: CellSpec, keyring: Keyring, indexer: BlindIndexer) -> None:
        self._spec = spec
        self._keyring = keyring
        fingerprinted = fingerprinter(indexer, spec.export_id)
        self._displays = [self._display(field, fingerprinted) for field in spec.personal]
        # a row is made as [personal displays..., the id, plain columns...]; each output
        # column is then taken from its position there
        made = [*spec.personal, "id", *spec.plain]
        order = [made.index(field) for field in spec.fields]
        self._take: Callable[[list[str]], Sequence[str]] = (
            operator.itemgetter(*order) if len(order) > 1 else lambda row: (row[order[0]],)
        )
        self._plain_offset = 3 + len(spec.personal)

    def _display(self, field: str, fingerprinted: Callable[[str], str]) -> Callable[[str], str]:
        """clear value -> what the file shows for ``field``."""
        if field in self._spec.clear:
            return safe_cell
        mask = MASKS[field]
        if field not in _REPEATING:
            return lambda clear: fingerprinted(mask(clear))
        cache: dict[str, str] = {}

        def cached(clear: str) -> str:
            masked = mask(clear)
            found = cache.get(masked)
            if found is None:
                if len(cache) > _CACHE_LIMIT:
                    cache.clear()
                found = cache[masked] = fingerprinted(masked)
            return found

        return cached

    def _row(self, record: Sequence[Any]) -> Sequence[str] | None:
        """One display row, or None for a customer whose data key was destroyed."""
        spec = self._spec
        record_id = _canonical_id(record[0])
        opened: list[str] = []
        if self._displays:
            wrapped = record[2]
            if wrapped is None:
                return None
            raw_key = record[1]
            key_id = raw_key.bytes if isinstance(raw_key, uuid.UUID) else _uuid_bytes(raw_key)
            try:
                clear = open_subject_columns(
                    self._keyring,
                    spec.kek_ref,
                    spec.tenant_id,
                    key_id,
                    wrapped,
                    "customer",
                    record_id,
                    spec.personal,
                    record[3 : self._plain_offset],
                )
            except DecryptionFailed:
                return None
            opened = [
                "" if value is None else display(value) for display, value in zip(self._displays, clear, strict=True)
            ]
        opened.append(record_id)
        for value in record[self._plain_offset :]:
            if value is None:
                opened.append("")
            elif isinstance(value, datetime):
                opened.append(safe_cell(format_time(value)))
            else:
                opened.append(safe_cell(str(value)))
        return self._take(opened)

    def batch(self, records: Sequence[Sequence[Any]]) -> Batch:
        started = time.process_time()
        rows: list[Sequence[str]] = []
        skipped = 0
        for record in records:
            row = self._row(record)
            if row is None:
                skipped += 1
            else:
                rows.append(row)
        csv_bytes = b""
        if self._spec.csv:
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\r\n").writerows(rows)
            csv_bytes = buffer.getvalue().encode("utf-8")
        xlsx_rows: list[str] = []
        if self._spec.xlsx:
            cell = sheet_cell
            xlsx_rows = ["".join([cell(value) for value in row]) for row in rows]
        cpu_s = time.process_time() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return Batch(csv_bytes, xlsx_rows, len(rows), skipped, os.getpid(), cpu_s, peak)


# -- worker processes -----------------------------------------------------------------------
_worker_state: dict[str, Any] = {}


def worker_init(keyring: Keyring) -> None:
    _worker_state.clear()
    _worker_state["keyring"] = keyring


def worker_ready() -> int:
    """Nothing: sent first, to know when the workers run."""
    return os.getpid()


def worker_batch(spec: CellSpec, records: list[tuple[Any, ...]]) -> Batch:
    """A batch in a worker process (the export's keys and caches kept between batches)."""
    cells: ExportCells | None = _worker_state.get(spec.export_id)
    if cells is None:
        keyring: Keyring = _worker_state["keyring"]
        indexer = open_index_root(keyring, spec.kek_ref, spec.tenant_id, spec.index_wrapped)
        cells = _worker_state[spec.export_id] = ExportCells(spec, keyring, indexer)
    return cells.batch(records)
