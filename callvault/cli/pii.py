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
from typing import Any

import typer

from callvault.cli.common import err_console
from callvault.pii.redact import MemoryTokenizer, Mode, apply_operators
from callvault.pii.registry import analyzer

app = typer.Typer(help="Find and redact personal data in transcripts (JSON lines).", no_args_is_help=True)


def _records(path: Path | None, bad: list[int]) -> Iterator[tuple[Any, str]]:
    handle = sys.stdin.buffer if path is None or str(path) == "-" else path.open("rb")
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


def _write(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")


@app.command()
def scan(file: Path | None = typer.Argument(None, help="JSON lines file (default stdin).")) -> None:
    """Write the entities found in each text."""
    engine = analyzer()
    bad: list[int] = []
    for record_id, text in _records(file, bad):
        _write({"id": record_id, "entities": [e.as_json() for e in engine.analyze(text)]})
    if bad:
        raise typer.Exit(2)


@app.command()
def redact(
    file: Path | None = typer.Argument(None, help="JSON lines file (default stdin)."),
    mode: str = typer.Option("mask", "--mode", help="mask | tag | hash | token"),
) -> None:
    """Write each text with its personal data replaced."""
    if mode not in ("mask", "tag", "hash", "token", "remove"):
        err_console.print("error pii.mode_invalid: --mode must be mask, tag, hash or token")
        raise typer.Exit(2)
    engine = analyzer()
    key = os.environ.get("CALLVAULT_PII_HASH_KEY", "").encode()
    tokenizer = MemoryTokenizer()
    bad: list[int] = []
    chosen: Mode = mode  # type: ignore[assignment]
    for record_id, text in _records(file, bad):
        redacted = apply_operators(text, engine.analyze(text), chosen, hash_key=key, tokenizer=tokenizer)
        _write({"id": record_id, "text": redacted})
    if bad:
        raise typer.Exit(2)
