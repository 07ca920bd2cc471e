"""Shared fixed-window counters: rate limits, daily quotas, login lockouts.

Several API replicas must see one count, so counters live outside the process: in the
database on the embedded default (``DatabaseCounters``), in Redis when
``CALLVAULT_REDIS_URL`` is set (``RedisCounters``). ``Runtime.counters`` picks one.

A counter is a ``key`` plus a fixed window: ``hit(key, window_seconds=60, now=t)`` adds to
the window ``[floor(t / 60) * 60, +60)`` (epoch seconds, UTC) and returns that window's
total after the add, atomically across processes and replicas. Time always comes from the
caller (``now``), never from the backend, so a pinned test clock works the same on both.

**Keys never contain personal data.** They end up in a table, in Redis and in its
monitoring: callers build them from ids (``search:<tenant id>:<key id>``), never from a
phone number, a name or an e-mail. ``_check_key`` allows only ``[A-Za-z0-9_.:/=-]`` (no
``@``, no spaces, no CJK) and at most 200 characters, so a leak fails loudly instead.
Keys carry the tenant id; the counter table has no ``tenant_id`` column of its own.
"""

from __future__ import annotations

import math
import random
import re
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from sqlalchemy import BigInteger, String, Table, bindparam, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.db import Base
from callvault.core.errors import QuotaExceeded

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "MAX_WINDOW_SECONDS",
    "CounterWindow",
    "Counters",
    "DatabaseCounters",
    "RedisCounters",
    "check_limit",
    "open_counters",
    "retry_after",
    "window_reset_at",
]

MAX_WINDOW_SECONDS = 31 * 24 * 3600
"""Longest window (a month): bounds how long Redis keeps a reset generation."""

_KEY = re.compile(r"[A-Za-z0-9_.:/=\-]{1,200}")


class Counters(Protocol):
    """The one interface every limit, quota and lockout is written against."""

    def hit(self, key: str, *, window_seconds: int, now: datetime, cost: int = 1) -> int:
        """Add `cost` to the fixed window of `window_seconds` that contains `now`; return that window's total after the add. Atomic across processes/replicas."""  # noqa: E501
        ...

    def hit_many(self, hits: Sequence[tuple[str, int]], *, now: datetime, cost: int = 1) -> list[int]:
        """``hit`` for each ``(key, window_seconds)``, in one round trip; totals in order."""
        ...

    def peek(self, key: str, *, window_seconds: int, now: datetime) -> int:
        """The total of the window containing ``now`` (0 when nothing was hit), without adding."""
        ...

    def reset(self, key: str) -> None:
        """Forget every window of ``key`` (e.g. failed logins after a successful one)."""
        ...


def _window_start(now: datetime, window_seconds: int) -> int:
    """Epoch second at which the window containing ``now`` starts."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not 1 <= window_seconds <= MAX_WINDOW_SECONDS:
        raise ValueError(f"window_seconds must be between 1 and {MAX_WINDOW_SECONDS}")
    return math.floor(now.timestamp()) // window_seconds * window_seconds


def window_reset_at(now: datetime, window_seconds: int) -> datetime:
    """when the window containing now ends (for Retry-After)"""
    return datetime.fromtimestamp(_window_start(now, window_seconds) + window_seconds, UTC)


def check_limit(counters: Counters, key: str, *, limit: int, window_seconds: int, now: datetime, cost: int = 1) -> int:
    """hit, and raise core.errors.QuotaExceeded(retry_after=<int seconds>) if the total passes limit; returns the total.

    The hit counts even when refused, so hammering a closed window keeps it closed and
    concurrent callers can never get more than ``limit`` through between them.
    """
    total = counters.hit(key, window_seconds=window_seconds, now=now, cost=cost)
    if total > limit:
        raise QuotaExceeded("Rate limit or quota exceeded; retry later", retry_after=retry_after(now, window_seconds))
    return total


def retry_after(now: datetime, window_seconds: int) -> int:
    """Whole seconds (at least 1) until the window containing ``now`` ends."""
    return max(1, math.ceil((window_reset_at(now, window_seconds) - now).total_seconds()))


def _check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValueError("counter keys are ids only: [A-Za-z0-9_.:/=-], 1-200 characters")
    return key


def _check_cost(cost: int) -> int:
    if isinstance(cost, bool) or not isinstance(cost, int) or cost < 1:
        raise ValueError("cost must be a positive integer")
    return cost


# -- database ----------------------------------------------------------------------------
class CounterWindow(Base):
    """One fixed window of one counter key.

    No ``tenant_id`` column and so no row-level security: the tenant id is part of ``key``
    (callers build keys from ids), and the table never holds personal data. Rows whose
    ``expires_at`` (epoch seconds) has passed are dead and pruned opportunistically.
    """

    __tablename__ = "counter"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_seconds: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


_TABLE = cast(Table, CounterWindow.__table__)


class DatabaseCounters:
    """Counters in the ``counter`` table (SQLite or PostgreSQL), the embedded default.

    Every call runs in its own short transaction on its own connection, so a hit stays
    counted when the caller's transaction rolls back (a refused request must still count).
    On SQLite, which has one writer at a time, call it before the caller's transaction
    writes anything: otherwise this connection waits for the caller's write lock.
    """

    PRUNE_EVERY = 200
    """About one hit in this many also deletes expired windows (bounded, cheap)."""

    def __init__(self, engine: Engine, *, prune_every: int = PRUNE_EVERY) -> None:
        self._engine = engine
        self._prune_every = prune_every
        self._random = random.Random()  # sampling, not security
        self._lock = threading.Lock()
        self._hit_statement = self._build_hit()

    def _upsert(self) -> Any:
        if self._engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        return insert

    def _build_hit(self) -> Any:
        """The upsert, built once with bound parameters: every quota-checked read hits two
        counters, and building and cache-keying the statement per call cost more than
        running it (bench/masked_read.py profile)."""
        table = _TABLE
        names = ("key", "window_seconds", "window_start", "count", "expires_at")
        statement = self._upsert()(table).values({name: bindparam(f"p_{name}") for name in names})
        return statement.on_conflict_do_update(
            index_elements=["key", "window_seconds", "window_start"],
            set_={"count": table.c.count + statement.excluded.count},
        ).returning(table.c.count)

    def hit(self, key: str, *, window_seconds: int, now: datetime, cost: int = 1) -> int:
        return self.hit_many([(key, window_seconds)], now=now, cost=cost)[0]

    def hit_many(self, hits: Sequence[tuple[str, int]], *, now: datetime, cost: int = 1) -> list[int]:
        _check_cost(cost)
        rows = []
        for key, window_seconds in hits:
            _check_key(key)
            start = _window_start(now, window_seconds)
            rows.append(
                {
                    "p_key": key,
                    "p_window_seconds": window_seconds,
                    "p_window_start": start,
                    "p_count": cost,
                    "p_expires_at": start + window_seconds,
                }
            )
        with self._engine.begin() as connection:  # one transaction: on SQLite, one write lock
            totals = [int(connection.execute(self._hit_statement, values).scalar_one()) for values in rows]
        with self._lock:
            prune = self._random.randrange(self._prune_every) == 0
        if prune:
            self.prune(now)
        return totals

    def peek(self, key: str, *, window_seconds: int, now: datetime) -> int:
        _check_key(key)
        start = _window_start(now, window_seconds)
        table = _TABLE
        query = select(table.c.count).where(
            table.c.key == key, table.c.window_seconds == window_seconds, table.c.window_start == start
        )
        with self._engine.connect() as connection:
            value = connection.execute(query).scalar_one_or_none()
        return int(value or 0)

    def reset(self, key: str) -> None:
        _check_key(key)
        table = _TABLE
        with self._engine.begin() as connection:
            connection.execute(delete(table).where(table.c.key == key))

    def prune(self, now: datetime) -> int:
        """Delete windows that ended before ``now``; returns how many."""
        table = _TABLE
        with self._engine.begin() as connection:
            result = connection.execute(delete(table).where(table.c.expires_at <= math.floor(now.timestamp())))
        return int(result.rowcount or 0)

    def close(self) -> None:
        """Nothing to release: the engine belongs to the runtime."""


# -- Redis -------------------------------------------------------------------------------
# One counter key owns: "callvault:{<key>}:gen" (reset generation, absent = 0) and
# "callvault:{<key>}:<window_seconds>:<gen>:<window_start>" (the count). The braces are a
# Redis Cluster hash tag, so a script touches one slot. A reset bumps the generation, which
# orphans every live window at once; orphans expire with their own TTL.
_HIT = """
local gen = redis.call('GET', KEYS[1]) or '0'
local window = KEYS[2] .. ':' .. gen .. ':' .. ARGV[1]
local total = redis.call('INCRBY', window, ARGV[2])
if redis.call('TTL', window) < 0 then redis.call('EXPIRE', window, ARGV[3]) end
if gen ~= '0' then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
return total
"""
_PEEK = """
local gen = redis.call('GET', KEYS[1]) or '0'
return tonumber(redis.call('GET', KEYS[2] .. ':' .. gen .. ':' .. ARGV[1]) or '0')
"""
_RESET = """
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""


class RedisCounters:
    """Counters in Redis (INCRBY + EXPIRE in one Lua script), shared by every replica."""

    PREFIX = "callvault:"

    def __init__(self, url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url)
        self._hit = self._client.register_script(_HIT)
        self._peek = self._client.register_script(_PEEK)
        self._reset = self._client.register_script(_RESET)

    def _keys(self, key: str, window_seconds: int) -> list[str]:
        base = f"{self.PREFIX}{{{_check_key(key)}}}"
        return [f"{base}:gen", f"{base}:{window_seconds}"]

    def hit(self, key: str, *, window_seconds: int, now: datetime, cost: int = 1) -> int:
        _check_cost(cost)
        start = _window_start(now, window_seconds)
        # Relative TTL from the caller's clock (a pinned test clock may be far from Redis's):
        # the window's remaining time plus a second of slack.
        ttl = max(1, math.ceil(start + window_seconds - now.timestamp())) + 1
        return int(self._hit(keys=self._keys(key, window_seconds), args=[start, cost, ttl, MAX_WINDOW_SECONDS + 1]))

    def hit_many(self, hits: Sequence[tuple[str, int]], *, now: datetime, cost: int = 1) -> list[int]:
        _check_cost(cost)
        pipeline = self._client.pipeline(transaction=False)
        for key, window_seconds in hits:
            start = _window_start(now, window_seconds)
            ttl = max(1, math.ceil(start + window_seconds - now.timestamp())) + 1
            self._hit(
                keys=self._keys(key, window_seconds), args=[start, cost, ttl, MAX_WINDOW_SECONDS + 1], client=pipeline
            )
        return [int(total) for total in pipeline.execute()]

    def peek(self, key: str, *, window_seconds: int, now: datetime) -> int:
        start = _window_start(now, window_seconds)
        return int(self._peek(keys=self._keys(key, window_seconds), args=[start]))

    def reset(self, key: str) -> None:
        # The generation must outlive every window it orphans: the longest allowed one.
        self._reset(keys=self._keys(key, 1)[:1], args=[MAX_WINDOW_SECONDS + 1])

    def close(self) -> None:
        self._client.close()


def open_counters(*, engine: Engine, redis_url: str | None) -> Counters:
    """Redis when a URL is configured (several replicas), else the database."""
    if redis_url:
        return RedisCounters(redis_url)
    return DatabaseCounters(engine)
