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
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from callvault.core.errors import Invalid

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "CsvWriter",
    "Pipe",
    "Watermark",
    "XlsxWriter",
    "leaked_texts",
    "safe_cell",
    "sheet_cell",
]

FORMATS = ("csv", "xlsx")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


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
_SIGNED_NUMBER = re.compile(r"[+-][0-9 ().-]*")
"""A ``+``/``-`` value a spreadsheet can at most compute as arithmetic (``+86 138 1234 5678``,
``-12.5``): no letters, ``|`` or ``!``, so no function call and no DDE."""


def safe_cell(value: str) -> str:
    """A value a spreadsheet will not run as a formula (CSV injection): one starting with
    ``=``, ``@``, a tab or a carriage return, or with ``+``/``-`` and anything but digits,
    spaces, dots, dashes and parentheses after it (``-1+cmd|' /C calc'!A0``), gets a
    leading apostrophe."""
    if value.startswith(_FORMULA_START) or (value[:1] in ("+", "-") and _SIGNED_NUMBER.fullmatch(value) is None):
        return "'" + value
    return value


class CsvWriter:
    """UTF-8 CSV (with BOM, so spreadsheet programs read the Chinese right): the watermark
    line and the header row, the rows (written by ``cells`` a batch at a time), the
    closing watermark line."""

    def __init__(self, watermark: Watermark, header: Sequence[str]) -> None:
        self._watermark = watermark
        self._header = list(header)

    def start(self) -> bytes:
        buffer = io.StringIO()
        buffer.write("\ufeff# " + self._watermark.header + "\r\n")
        csv.writer(buffer, lineterminator="\r\n").writerow(self._header)
        return buffer.getvalue().encode("utf-8")

    def finish(self, rows: int) -> bytes:
        return ("# " + self._watermark.footer(rows) + "\r\n").encode("utf-8")


_SHEET = "xl/worksheets/sheet1.xml"
_SHEET_DATA = re.compile(rb"<sheetData\s*/>|<sheetData>\s*</sheetData>")
_ZIP_LEVEL = 1
"""zlib level of the XLSX parts: 1 is several times faster than the default 6 on sheet
XML, for a file a few tens of percent larger."""


_PRESERVE = '<c t="inlineStr"><is><t xml:space="preserve">'
_OPEN = '<c t="inlineStr"><is><t>'
_CLOSE = "</t></is></c>"
_XML_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def sheet_cell(value: str) -> str:
    """One string cell of a sheet row, as openpyxl writes it (an inline string, its
    surrounding whitespace preserved); ``<c/>`` for an empty value. Characters XML 1.0
    cannot carry become U+FFFD (openpyxl refused the whole row)."""
    if not value:
        return "<c/>"
    if _XML_SPECIAL.search(value) is not None:
        value = _XML_ILLEGAL.sub("\ufffd", value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if value[0].isspace() or value[-1].isspace():
        return _PRESERVE + value + _CLOSE
    return _OPEN + value + _CLOSE


class XlsxWriter:
    """An XLSX workbook streamed into ``sink`` (anything with ``write``; it need not seek).

    openpyxl (write-only) makes the workbook: properties, the sheet with its printed
    header and footer, styles, theme; those parts are copied as openpyxl saved them. The
    sheet's rows, the bulk of the file, are written straight into its ``<sheetData>`` as
    inline strings (what openpyxl writes for strings too), a batch at a time, without
    openpyxl's per-cell objects; the rows are numbered here. Nothing is spooled to disk
    unless ``sink`` is a file."""

    def __init__(self, watermark: Watermark, header: Sequence[str], sink: Any, folder: str | None = None) -> None:
        self._watermark = watermark
        self._folder = folder
        parts, head, self._tail = self._skeleton()
        self._zip = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=_ZIP_LEVEL)
        for name, data in parts:
            self._zip.writestr(name, data)
        self._sheet = self._zip.open(_SHEET, "w")
        top = "".join(
            [
                '<row r="1">',
                sheet_cell(watermark.header),
                '</row><row r="2">',
                *(sheet_cell(name) for name in header),
                "</row>",
            ]
        )
        self._sheet.write(head + b"<sheetData>" + top.encode("utf-8"))
        self.rows = 0

    def _skeleton(self) -> tuple[list[tuple[str, bytes]], bytes, bytes]:
        """The workbook's parts as openpyxl saves them with an empty sheet; the sheet's XML
        split around its (empty) ``<sheetData>``."""
        from openpyxl import Workbook

        watermark = self._watermark
        workbook = Workbook(write_only=True)
        properties = workbook.properties
        properties.title = f"CallVault export {watermark.export_id}"
        properties.subject = "CONFIDENTIAL"
        properties.creator = "CallVault"
        properties.keywords = f"callvault-export:{watermark.export_id}"
        properties.description = watermark.header
        sheet = workbook.create_sheet("export")
        if self._folder is not None:
            self._keep_sheet_in(sheet, self._folder)
        sheet.oddHeader.center.text = watermark.header
        sheet.oddFooter.center.text = f"CONFIDENTIAL - CallVault export {watermark.export_id} - page &P of &N"
        saved = io.BytesIO()
        workbook.save(saved)
        parts: list[tuple[str, bytes]] = []
        sheet_xml = b""
        with zipfile.ZipFile(saved) as archive:
            for info in archive.infolist():
                if info.filename == _SHEET:
                    sheet_xml = archive.read(info)
                else:
                    parts.append((info.filename, archive.read(info)))
        parts.sort(key=lambda part: part[0] != "[Content_Types].xml")  # the content types first
        found = _SHEET_DATA.search(sheet_xml)
        if found is None:  # pragma: no cover - openpyxl always writes the element
            raise RuntimeError("openpyxl wrote no sheetData")
        return parts, sheet_xml[: found.start()], b"</sheetData>" + sheet_xml[found.end() :]

    @staticmethod
    def _keep_sheet_in(sheet: Any, folder: str) -> None:
        """openpyxl spools a write-only sheet to a temporary file in the system's temporary
        folder; put it in ``folder`` (the data folder, 0700) instead: it holds the printed
        header (requester, export id). Uses openpyxl's sheet writer directly (pinned
        ``openpyxl<4``)."""
        from openpyxl.worksheet import _writer

        handle, path = tempfile.mkstemp(prefix="export-sheet.", suffix=".xml", dir=folder)
        os.close(handle)
        _writer.ALL_TEMP_FILES.append(path)  # openpyxl removes it after saving (cleanup)
        writer = _writer.WorksheetWriter(sheet, out=path)
        writer.write_top()
        sheet._writer = writer

    def write_rows(self, bodies: Sequence[str]) -> None:
        """Rows whose cells (``<c>`` elements) ``cells`` wrote; numbered here."""
        first = self.rows + 3  # after the watermark row and the header row
        self._sheet.write(
            "".join([f'<row r="{number}">{body}</row>' for number, body in enumerate(bodies, first)]).encode("utf-8")
        )
        self.rows += len(bodies)

    def finish(self) -> None:
        """The footer row, the rest of the sheet, the zip's directory."""
        footer = f'<row r="{self.rows + 3}">{sheet_cell(self._watermark.footer(self.rows))}</row>'
        self._sheet.write(footer.encode("utf-8") + self._tail)
        self._sheet.close()
        self._zip.close()

    def discard(self) -> None:
        """Close whatever is still open (after ``finish``, nothing; after a failure, the
        unfinished file is abandoned, so the zip is not closed on it later)."""
        with contextlib.suppress(Exception):
            self._sheet.close()
        with contextlib.suppress(Exception):
            self._zip.close()


class Pipe:
    """A write-only sink whose bytes are taken as they come (``take``), for streaming a
    file being written straight into the sealed blob."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        if data:
            self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


# -- reading a leaked file -----------------------------------------------------------------
_REFUSED_MAGIC = (b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\xd0\xcf\x11\xe0", b"\x1f\x8b", b"7z\xbc\xaf")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPLIT = re.compile(r"\s+")
_FIELD_GAP = re.compile(r"[\t\r\n]|\s{2,}")
"""What separates cells in pasted or re-typed text: a tab, a line break or a run of spaces.
Masked values hold single spaces at most (``6222 **** **** 1234``, ``J*** S****``), and a
unit read across two merged cells (``VT44568   131*****1817`` read as ``8131|1817``) is
one its export never made: noise that, pooled with the true units, pushed the true
export's match rate under the threshold (a flaky trace of whitespace-mangled pastes)."""


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
    """Every cell of a leaked file, cut at tabs and runs of spaces (``_FIELD_GAP``), and,
    when most lines hold no delimiter, every whitespace-separated token of every line (a
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
    single_cell_lines = 0
    for row in rows:
        cells = [cell for cell in row if "*" in cell]
        single_cell_lines += len(row) == 1
        for cell in cells:
            texts.extend(piece for piece in _FIELD_GAP.split(cell) if "*" in piece)
    if single_cell_lines * 2 >= len(rows):
        # no delimiter in most lines: perhaps a paste whose tabs became single spaces, so
        # whitespace-separated tokens are the cells' best guess (a value with a space inside
        # it, like a spaced card number, is then read in pieces: noise, which the score bears)
        for line in whole.splitlines():
            if "*" in line:
                texts.extend(token for token in _SPLIT.split(line) if "*" in token)
    return texts, whole


def chunked(parts: Iterable[bytes]) -> Iterator[bytes]:
    """Drop empty pieces (a writer's ``take`` answers ``b""`` until a chunk is full)."""
    for part in parts:
        if part:
            yield part
