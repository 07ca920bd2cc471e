"""``callvault pii scan`` / ``callvault pii redact``: JSON lines in, JSON lines out.

Formats (stable, other tools depend on them):
  in:          {"id": ..., "text": "..."}
  scan out:    {"id": ..., "entities": [{"type", "start", "end", "score"}]}
  redact out:  {"id": ..., "text": "..."}
A bad input line is reported on stderr with its line number; the exit code is then 2.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

import typer

from callvault.cli.common import err_console
from callvault.core.errors import CallVaultError

if TYPE_CHECKING:
    from callvault.pii.engine import Analyzer
    from callvault.pii.redact import Mode

app = typer.Typer(help="Find and redact personal data in transcripts (JSON lines).", no_args_is_help=True)


def _open_input(path: Path | None) -> BinaryIO:
    """The input file, or one error line and exit 2 if it cannot be read (no traceback)."""
    if path is None or str(path) == "-":
        return sys.stdin.buffer
    try:
        return path.open("rb")
    except OSError as error:
        _unreadable(path, error)
        raise  # unreachable: _unreadable exits


def _unreadable(path: Path, error: OSError) -> NoReturn:
    reason = error.strerror or type(error).__name__
    err_console.print(f"error pii.input_unreadable: cannot read {path}: {reason}", highlight=False)
    raise typer.Exit(2) from None


def _records(path: Path | None, bad: list[int]) -> Iterator[tuple[Any, str]]:
    handle = _open_input(path)
    try:
        yield from _parsed(handle, bad)
    except OSError as error:  # the file went away or the disk failed while reading
        _unreadable(path or Path("-"), error)
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def _parsed(handle: BinaryIO, bad: list[int]) -> Iterator[tuple[Any, str]]:
    for number, raw in enumerate(handle, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
            text = record["text"]
            if not isinstance(record, dict) or not isinstance(text, str):
                raise ValueError
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            bad.append(number)
            err_console.print(f'line {number}: expected {{"id": ..., "text": "..."}}', highlight=False)
            continue
        yield record.get("id"), text


def _engine(recognizers: Path | None) -> Analyzer:
    from callvault.pii.service import engine_for

    if recognizers is not None and not recognizers.is_file():
        err_console.print("error pii.config_missing: the --recognizers file does not exist")
        raise typer.Exit(2)
    try:
        return engine_for(recognizers=recognizers)
    except CallVaultError as error:
        err_console.print(f"error {error.code}: {error.detail}", highlight=False)
        raise typer.Exit(2) from None


def _write(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")


@app.command()
def scan(
    file: Path | None = typer.Argument(None, help="JSON lines file (default stdin)."),
    recognizers: Path | None = typer.Option(None, "--recognizers", help="Tenant recognizers (YAML)."),
) -> None:
    """Write the entities found in each text."""
    engine = _engine(recognizers)
    bad: list[int] = []
    for record_id, text in _records(file, bad):
        _write({"id": record_id, "entities": [e.as_json() for e in engine.analyze(text)]})
    if bad:
        raise typer.Exit(2)


@app.command()
def redact(
    file: Path | None = typer.Argument(None, help="JSON lines file (default stdin)."),
    mode: str = typer.Option("mask", "--mode", help="mask | tag | hash | token"),
    recognizers: Path | None = typer.Option(None, "--recognizers", help="Tenant recognizers (YAML)."),
) -> None:
    """Write each text with its personal data replaced."""
    if mode not in ("mask", "tag", "hash", "token", "remove"):
        err_console.print("error pii.mode_invalid: --mode must be mask, tag, hash or token")
        raise typer.Exit(2)
    from callvault.pii.redact import MemoryTokenizer, apply_operators

    engine = _engine(recognizers)
    key = os.environ.get("CALLVAULT_PII_HASH_KEY", "").encode()
    tokenizer = MemoryTokenizer()
    bad: list[int] = []
    chosen: Mode = mode  # type: ignore[assignment]
    for record_id, text in _records(file, bad):
        redacted = apply_operators(text, engine.analyze(text), chosen, hash_key=key, tokenizer=tokenizer)
        _write({"id": record_id, "text": redacted})
    if bad:
        raise typer.Exit(2)
