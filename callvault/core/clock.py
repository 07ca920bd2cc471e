"""One clock for the whole program, so tests can pin time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["format_time", "now", "set_clock"]

_clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """Current UTC time (timezone-aware)."""
    return _clock()


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); ``None`` restores the wall clock."""
    global _clock
    _clock = clock or (lambda: datetime.now(UTC))


def format_time(moment: datetime) -> str:
    """ISO 8601 UTC with microseconds and ``Z`` (the form audit leaves commit to, and
    exports write)."""
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return f"{moment.replace(tzinfo=None).isoformat(timespec='microseconds')}Z"
