"""The blob store interface."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

from callvault.core.errors import Invalid

__all__ = ["BlobStore", "check_key"]

_KEY = re.compile(r"^[A-Za-z0-9_\-]+(?:[./][A-Za-z0-9_\-]+)*$")
MAX_KEY_LENGTH = 512


def check_key(key: str) -> str:
    """``key`` if it is a safe object name: ASCII words joined by ``/`` or ``.``, no empty
    or dot-only parts (so never ``..``), no leading slash."""
    if len(key) > MAX_KEY_LENGTH or not _KEY.match(key):
        raise Invalid("Malformed blob key", code="blob.bad_key")
    return key


@runtime_checkable
class BlobStore(Protocol):
    """Where opaque objects live. Every implementation keeps these promises:

    - ``put`` is atomic: readers see the whole new object or nothing (an interrupted
      upload leaves no object and no visible partial one); it streams ``chunks`` and
      returns the stored size.
    - ``get`` streams bytes ``[start, end)`` (``end`` None: to the end of the object).
    - a missing key raises ``NotFound`` (``blob.not_found``) from ``get`` and ``size``;
      ``delete`` of a missing key does nothing.
    """

    def put(self, key: str, chunks: Iterable[bytes]) -> int: ...

    def get(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]: ...

    def size(self, key: str) -> int: ...

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...
