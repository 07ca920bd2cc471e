"""Blobs as files under one folder (the embedded default: ``<home>/blobs``)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path

from callvault.blobs.base import check_key
from callvault.core.errors import NotFound

__all__ = ["LocalBlobStore"]

_READ_BYTES = 1024 * 1024
_DIR_MODE = 0o700
_FILE_MODE = 0o600
_TEMP_PREFIX = ".partial-"


def _not_found() -> NotFound:
    return NotFound("Blob not found", code="blob.not_found")


class LocalBlobStore:
    """Files 0600 in folders 0700. ``put`` writes a hidden temporary file beside the target,
    fsyncs it and renames it over the target, so a crash or an interrupted upload leaves
    at most a ``.partial-*`` file that no key names (``sweep_partials`` removes them)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True, mode=_DIR_MODE)
        temp = target.with_name(f"{_TEMP_PREFIX}{secrets.token_hex(8)}")
        size = 0
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                for chunk in chunks:
                    view = memoryview(chunk)
                    while view:
                        written = out.write(view)
                        view = view[written or 0 :]
                    size += len(chunk)
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return size

    def get(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        path = self._path(key)
        try:
            handle = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the generator
        except FileNotFoundError:
            raise _not_found() from None
        return self._read(handle, start, end)

    @staticmethod
    def _read(handle, start: int, end: int | None) -> Iterator[bytes]:  # type: ignore[no-untyped-def]
        with handle:
            handle.seek(start)
            remaining = None if end is None else max(0, end - start)
            while remaining is None or remaining > 0:
                block = handle.read(_READ_BYTES if remaining is None else min(_READ_BYTES, remaining))
                if not block:
                    return
                if remaining is not None:
                    remaining -= len(block)
                yield block

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise _not_found() from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def sweep_partials(self) -> int:
        """Remove temporary files left by a crash; returns how many."""
        removed = 0
        for path in self.root.rglob(f"{_TEMP_PREFIX}*"):
            path.unlink(missing_ok=True)
            removed += 1
        return removed
