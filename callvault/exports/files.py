"""Export files: the visible watermark, CSV and XLSX writers fed by one pass over the rows,
and reading a leaked file (CSV, XLSX or pasted text) back into cells for tracing.

Nothing here touches the database or keys: ``service`` hands in rows of display values
(already masked and fingerprinted) and gets bytes back.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from callvault.core.errors import Invalid

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "CsvWriter",
    "Watermark",
    "XlsxWriter",
    "leaked_texts",
    "safe_cell",
]

FORMATS = ("csv", "xlsx")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Watermark:
    """The visible mark: on the first and last line of a CSV, the first and last row of the
    sheet, the printed page header and footer, and the workbook's properties."""

    tenant_id: str
    requester: str
    requester_id: str
    export_id: str
    generated_at: str

    @property
    def header(self) -> str:
        return (
            f"CONFIDENTIAL - CallVault export {self.export_id} - tenant {self.tenant_id} - "
            f"requested by {self.requester} ({self.requester_id}) - generated {self.generated_at} - do not forward"
        )

    def footer(self, rows: int) -> str:
        return f"CONFIDENTIAL - end of CallVault export {self.export_id} - {rows} rows"


_FORMULA_START = ("=", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """A value a spreadsheet will not run as a formula (CSV injection): a leading ``=``,
    ``@``, tab, or a ``+``/``-`` not followed by a digit gets a leading apostrophe."""
    if value.startswith(_FORMULA_START) or (
        value[:1] in ("+", "-") and not (len(value) > 1 and (value[1].isdigit() or value[1] == " "))
    ):
        return "'" + value
    return value


class CsvWriter:
    """UTF-8 CSV (with BOM, so spreadsheet programs read the Chinese right) in chunks."""

    def __init__(self, watermark: Watermark, header: Sequence[str]) -> None:
        self._watermark = watermark
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self._buffer.write("\ufeff# " + watermark.header + "\r\n")
        self._writer.writerow(header)
        self.rows = 0

    def write(self, row: Sequence[str]) -> None:
        self._writer.writerow(row)
        self.rows += 1

    def take(self, force: bool = False) -> bytes:
        """What has accumulated, once it is worth a chunk (or ``force``)."""
        if not force and self._buffer.tell() < _CHUNK_BYTES:
            return b""
        data = self._buffer.getvalue().encode("utf-8")
        self._buffer.seek(0)
        self._buffer.truncate()
        return data

    def finish(self) -> bytes:
        self._buffer.write("# " + self._watermark.footer(self.rows) + "\r\n")
        return self.take(force=True)


class XlsxWriter:
    """An openpyxl write-only workbook (rows go to its temporary file as they come); the
    finished file is read back in chunks by ``chunks``."""

    def __init__(self, watermark: Watermark, header: Sequence[str], folder: str | None = None) -> None:
        from openpyxl import Workbook

        self._watermark = watermark
        self._workbook = Workbook(write_only=True)
        properties = self._workbook.properties
        properties.title = f"CallVault export {watermark.export_id}"
        properties.subject = "CONFIDENTIAL"
        properties.creator = "CallVault"
        properties.keywords = f"callvault-export:{watermark.export_id}"
        properties.description = watermark.header
        self._sheet = self._workbook.create_sheet("export")
        if folder is not None:
            self._keep_rows_in(folder)
        self._sheet.oddHeader.center.text = watermark.header
        self._sheet.oddFooter.center.text = f"CONFIDENTIAL - CallVault export {watermark.export_id} - page &P of &N"
        self._sheet.append([watermark.header])
        self._sheet.append(list(header))
        self._folder = folder
        self.rows = 0

    def _keep_rows_in(self, folder: str) -> None:
        """openpyxl spools a write-only sheet's rows to a temporary file in the system's
        temporary folder; put it in ``folder`` (the data folder, 0700) instead, so masked
        (and approved clear) values never sit in a shared ``/tmp``. Uses openpyxl's sheet
        writer directly (pinned ``openpyxl<4``)."""
        from openpyxl.worksheet import _writer

        handle, path = tempfile.mkstemp(prefix="export-sheet.", suffix=".xml", dir=folder)
        os.close(handle)
        _writer.ALL_TEMP_FILES.append(path)  # openpyxl removes it after saving (cleanup)
        writer = _writer.WorksheetWriter(self._sheet, out=path)
        writer.write_top()
        self._sheet._writer = writer

    def write(self, row: Sequence[str]) -> None:
        self._sheet.append(list(row))
        self.rows += 1

    def chunks(self) -> Iterator[bytes]:
        """Close the sheet (footer row), save to a private temporary file, stream it, delete it."""
        self._sheet.append([self._watermark.footer(self.rows)])
        handle, path = tempfile.mkstemp(suffix=".xlsx", dir=self._folder)
        os.close(handle)
        try:
            self._workbook.save(path)
            with open(path, "rb") as saved:
                while chunk := saved.read(_CHUNK_BYTES):
                    yield chunk
        finally:
            os.unlink(path)


# -- reading a leaked file -----------------------------------------------------------------
_REFUSED_MAGIC = (b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\xd0\xcf\x11\xe0", b"\x1f\x8b", b"7z\xbc\xaf")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPLIT = re.compile(r"\s+")


def _not_supported() -> Invalid:
    error = Invalid("The file is not CSV, XLSX or text", code="export.trace_format")
    error.status = 400
    return error


def _xlsx_rows(data: bytes) -> list[list[str]]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (BadZipFile, KeyError, ValueError, OSError, TypeError) as error:
        raise _not_supported() from error
    rows: list[list[str]] = []
    try:
        for sheet in workbook.worksheets:
            for row in sheet.iter_rows(values_only=True):
                cells = ["" if value is None else str(value) for value in row]
                if any(cells):
                    rows.append(cells)
    finally:
        workbook.close()
    return rows


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise _not_supported() from error
    if b"\x00" in data:
        raise _not_supported()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if len(_CONTROL.findall(text)) * 100 > max(1, len(text)):  # more than 1 %: binary
            raise _not_supported()
        return text
    raise _not_supported()


def _text_rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.strip()]
    sample = "\n".join(lines[:50])
    delimiter = "\t" if "\t" in sample else ","
    with contextlib.suppress(csv.Error):
        delimiter = csv.Sniffer().sniff(sample, delimiters="\t,;|").delimiter
    rows: list[list[str]] = []
    for line in lines:
        try:
            rows.append(next(csv.reader([line], delimiter=delimiter)))
        except (csv.Error, StopIteration):
            rows.append([line])
    return rows


def leaked_texts(data: bytes) -> tuple[list[str], str]:
    """Every cell of a leaked file, and every whitespace-separated token of every line (a
    paste whose tabs became spaces still yields the cells), plus the whole text (for the
    visible watermark). XLSX is read as a workbook; anything else must decode as text.
    Raises ``Invalid`` (400 ``export.trace_format``) for anything else."""
    if not data.strip():
        raise _not_supported()
    if data.startswith(b"PK\x03\x04"):
        rows = _xlsx_rows(data)
        whole = "\n".join("\t".join(row) for row in rows)
    elif data.startswith(_REFUSED_MAGIC):
        raise _not_supported()
    else:
        whole = _decode(data)
        rows = _text_rows(whole)
    texts: list[str] = []
    for row in rows:
        texts.extend(cell for cell in row if "*" in cell)
        for cell in row:
            if "*" in cell:
                texts.extend(token for token in _SPLIT.split(cell) if "*" in token)
    for line in whole.splitlines():
        if "*" in line:
            texts.extend(token for token in _SPLIT.split(line) if "*" in token)
    return texts, whole


def chunked(parts: Iterable[bytes]) -> Iterator[bytes]:
    """Drop empty pieces (a writer's ``take`` answers ``b""`` until a chunk is full)."""
    for part in parts:
        if part:
            yield part
