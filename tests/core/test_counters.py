"""One contract, two backends: the database counters and the Redis counters must behave
the same, including under concurrent hits from threads and from separate processes.

Redis: ``CALLVAULT_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``), flushed before
each test. Under pytest-xdist each worker takes its own database number (15, 14, ...) so a
flush never wipes a test running in the other worker.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import func, select

from callvault.core.config import Settings
from callvault.core.counters import (
    Counters,
    CounterWindow,
    DatabaseCounters,
    RedisCounters,
    check_limit,
    window_reset_at,
)
from callvault.core.db import create_db_engine
from callvault.core.errors import QuotaExceeded
from callvault.core.runtime import Runtime

T0 = datetime.combine(datetime.now(UTC).date() + timedelta(days=2), datetime.min.time(), UTC).replace(
    hour=10, second=45
)
"""10:00:45 UTC, the day after tomorrow: every window the tests make (even a day before T0)
ends in the future, so no prune by a concurrent test (at the real now) or Redis TTL
removes it mid-test; a fixed date did once the real clock passed it. Spawned processes
import the same value unless the run spans midnight UTC."""


def redis_test_url() -> str:
    parts = urlsplit(os.environ.get("CALLVAULT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    offset = int(worker[2:]) if worker[2:].isdigit() else 0
    db = (int(parts.path.strip("/") or 0) - offset) % 16
    return urlunsplit(parts._replace(path=f"/{db}"))


@pytest.fixture
def redis_url() -> str:
    import redis

    url = redis_test_url()
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    except redis.ConnectionError as error:  # CI starts Redis (.ci/run); a missing server is a failure
        pytest.fail(f"Redis is not reachable at {url}: {error}")
    finally:
        client.close()
    return url


@pytest.fixture(params=["database", "redis"])
def backend(request: pytest.FixtureRequest, runtime: Runtime) -> Iterator[tuple[str, Counters]]:
    if request.param == "database":
        yield "database", DatabaseCounters(runtime.engine)
        return
    counters = RedisCounters(request.getfixturevalue("redis_url"))
    yield "redis", counters
    counters.close()


@pytest.fixture
def counters(backend: tuple[str, Counters]) -> Counters:
    return backend[1]


def _key(name: str = "search") -> str:
    return f"{name}:t-{uuid.uuid4().hex[:8]}:key-{uuid.uuid4().hex[:8]}"


def test_hit_adds_cost_and_returns_the_window_total(counters: Counters) -> None:
    key = _key()
    assert counters.peek(key, window_seconds=60, now=T0) == 0
    assert counters.hit(key, window_seconds=60, now=T0) == 1
    assert counters.hit(key, window_seconds=60, now=T0 + timedelta(seconds=10)) == 2
    assert counters.hit(key, window_seconds=60, now=T0, cost=5) == 7
    assert counters.peek(key, window_seconds=60, now=T0) == 7
    assert counters.peek(key, window_seconds=60, now=T0) == 7  # peek never adds


def test_hit_many_adds_to_each_window_in_order(counters: Counters) -> None:
    minute, day = _key(), _key()
    counters.hit(day, window_seconds=86_400, now=T0, cost=3)
    assert counters.hit_many([(minute, 60), (day, 86_400)], now=T0) == [1, 4]
    assert counters.hit_many([(minute, 60), (day, 86_400)], now=T0 + timedelta(seconds=61), cost=2) == [2, 6]
    assert counters.peek(minute, window_seconds=60, now=T0) == 1  # the first minute kept its own total
    assert counters.hit_many([(minute, 60), (minute, 3600)], now=T0) == [2, 1]  # same key, other window
    with pytest.raises(ValueError):
        counters.hit_many([("quota:13812345678 name", 60)], now=T0)


def test_windows_are_fixed_and_independent(counters: Counters) -> None:
    key = _key()
    counters.hit(key, window_seconds=60, now=T0, cost=3)  # window 10:00:00-10:01:00
    next_window = T0 + timedelta(seconds=15)  # 10:01:00 exactly: a new window
    assert counters.hit(key, window_seconds=60, now=next_window) == 1
    assert counters.peek(key, window_seconds=60, now=T0) == 3
    # The same key with another window size is another counter.
    assert counters.hit(key, window_seconds=86_400, now=T0) == 1
    assert counters.peek(key, window_seconds=3600, now=T0) == 0
    # Other keys are untouched.
    assert counters.peek(_key(), window_seconds=60, now=T0) == 0


def test_reset_forgets_every_window_of_that_key_only(counters: Counters) -> None:
    key = _key("login")
    longer = f"{key}:x"  # a key that merely starts with the other must survive
    counters.hit(key, window_seconds=60, now=T0, cost=4)
    counters.hit(key, window_seconds=86_400, now=T0, cost=9)
    counters.hit(longer, window_seconds=60, now=T0, cost=2)
    counters.reset(key)
    assert counters.peek(key, window_seconds=60, now=T0) == 0
    assert counters.peek(key, window_seconds=86_400, now=T0) == 0
    assert counters.peek(longer, window_seconds=60, now=T0) == 2
    assert counters.hit(key, window_seconds=60, now=T0) == 1
    counters.reset(_key())  # resetting an unknown key is fine


def test_check_limit_raises_with_retry_after_to_the_window_end(counters: Counters) -> None:
    key = _key()
    for expected in (1, 2, 3):
        assert check_limit(counters, key, limit=3, window_seconds=60, now=T0) == expected
    with pytest.raises(QuotaExceeded) as raised:
        check_limit(counters, key, limit=3, window_seconds=60, now=T0)
    assert raised.value.status == 429 and raised.value.code == "quota.exceeded"
    assert raised.value.retry_after == 15  # 10:00:45 -> 10:01:00
    with pytest.raises(QuotaExceeded) as daily:
        check_limit(counters, _key(), limit=1, window_seconds=86_400, now=T0, cost=2)
    assert daily.value.retry_after == 14 * 3600 - 45
    # The next window opens again.
    assert check_limit(counters, key, limit=3, window_seconds=60, now=window_reset_at(T0, 60)) == 1


def test_window_reset_at_and_retry_after_at_a_boundary() -> None:
    fixed = datetime(2026, 11, 26, 10, 0, 45, tzinfo=UTC)  # pure arithmetic: a fixed date
    assert window_reset_at(fixed, 60) == datetime(2026, 11, 26, 10, 1, tzinfo=UTC)
    assert window_reset_at(fixed, 86_400) == datetime(2026, 11, 27, tzinfo=UTC)
    boundary = datetime(2026, 11, 26, 10, 1, tzinfo=UTC)
    assert window_reset_at(boundary, 60) == datetime(2026, 11, 26, 10, 2, tzinfo=UTC)
    almost = datetime(2026, 11, 26, 10, 0, 59, 999_000, tzinfo=UTC)
    assert window_reset_at(almost, 60) == boundary


@pytest.mark.parametrize(
    "key", ["", "search:t1:13812345678@example.com", "search:陈英", "a b", "x" * 201, "search:{t1}", "k\n"]
)
def test_keys_must_be_ids_not_personal_data(counters: Counters, key: str) -> None:
    with pytest.raises(ValueError):
        counters.hit(key, window_seconds=60, now=T0)
    with pytest.raises(ValueError):
        counters.peek(key, window_seconds=60, now=T0)
    with pytest.raises(ValueError):
        counters.reset(key)


def test_bad_arguments_are_refused(counters: Counters) -> None:
    key = _key()
    with pytest.raises(ValueError):
        counters.hit(key, window_seconds=60, now=T0.replace(tzinfo=None))
    with pytest.raises(ValueError):
        counters.hit(key, window_seconds=0, now=T0)
    with pytest.raises(ValueError):
        counters.hit(key, window_seconds=60, now=T0, cost=0)
    assert counters.peek(key, window_seconds=60, now=T0) == 0


def test_threads_hitting_one_key_never_pass_the_limit(counters: Counters) -> None:
    key, limit = _key(), 40

    def attempt(_: int) -> tuple[bool, int]:
        try:
            return True, check_limit(counters, key, limit=limit, window_seconds=3600, now=T0)
        except QuotaExceeded:
            return False, -1

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(120)))
    allowed = sorted(total for ok, total in results if ok)
    assert allowed == list(range(1, limit + 1))
    assert counters.peek(key, window_seconds=3600, now=T0) == 120


def _hit_in_process(kind: str, url: str, app_role: str | None, key: str, times: int) -> list[int]:
    """Runs in a fresh (spawned) process: its own engine or Redis connection."""
    if kind == "redis":
        counters: DatabaseCounters | RedisCounters = RedisCounters(url)
    else:
        counters = DatabaseCounters(create_db_engine(url, app_role=app_role))
    try:
        return [counters.hit(key, window_seconds=3600, now=T0) for _ in range(times)]
    finally:
        counters.close()


def test_two_processes_hitting_one_key_are_atomic(backend: tuple[str, Counters], runtime: Runtime) -> None:
    kind, counters = backend
    key, times = _key(), 60
    if kind == "redis":
        url, role = redis_test_url(), None
    else:
        url, role = runtime.settings.resolved_database_url, runtime.settings.db_app_role
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_hit_in_process, kind, url, role, key, times) for _ in range(2)]
        totals = [total for future in futures for total in future.result(timeout=240)]
    # Every add saw a distinct total: no lost update, no double count.
    assert sorted(totals) == list(range(1, 2 * times + 1))
    assert counters.peek(key, window_seconds=3600, now=T0) == 2 * times


def test_database_hit_survives_the_callers_rollback(runtime: Runtime) -> None:
    counters, key = DatabaseCounters(runtime.engine), _key()
    with runtime.sessions() as db_session:
        db_session.begin()
        counters.hit(key, window_seconds=60, now=T0)
        db_session.rollback()
    assert counters.peek(key, window_seconds=60, now=T0) == 1


def test_database_prunes_expired_windows(runtime: Runtime) -> None:
    counters, key = DatabaseCounters(runtime.engine, prune_every=10**9), _key()
    counters.hit(key, window_seconds=60, now=T0 - timedelta(days=1))
    counters.hit(key, window_seconds=86_400, now=T0 - timedelta(hours=1))

    def rows() -> int:
        with runtime.engine.connect() as connection:
            query = select(func.count()).select_from(CounterWindow).where(CounterWindow.key == key)
            return int(connection.execute(query).scalar_one())

    assert rows() == 2
    assert counters.prune(T0 - timedelta(days=2)) >= 0
    assert rows() == 2  # nothing of this key had ended two days ago
    DatabaseCounters(runtime.engine, prune_every=1).hit(_key(), window_seconds=60, now=T0)  # this hit prunes
    assert rows() == 1  # the day-old minute window is gone, today's daily window stays
    assert counters.peek(key, window_seconds=86_400, now=T0) == 1


def test_redis_keys_are_prefixed_and_expire(redis_url: str) -> None:
    import redis

    counters, key = RedisCounters(redis_url), _key()
    counters.hit(key, window_seconds=60, now=T0)
    counters.hit(key, window_seconds=86_400, now=T0)
    counters.reset(_key())
    client = redis.Redis.from_url(redis_url)
    try:
        names = [name.decode() for name in client.keys("*")]
        assert names and all(name.startswith("callvault:") for name in names)
        windows = [name for name in names if not name.endswith(":gen")]
        ttls = {name.split(":")[-3]: client.ttl(name) for name in windows}
        assert 0 < ttls["60"] <= 17  # 15 s left in the window, plus slack
        assert 0 < ttls["86400"] <= 14 * 3600 - 45 + 2
        assert all(client.ttl(name) > 0 for name in names)
    finally:
        client.close()
        counters.close()


def test_runtime_counters_follow_the_redis_setting(runtime: Runtime, redis_url: str) -> None:
    assert isinstance(runtime.counters, DatabaseCounters)
    assert runtime.counters is runtime.counters
    settings = Settings(**{**runtime.settings.model_dump(), "redis_url": redis_url})
    engine = create_db_engine(settings.resolved_database_url, app_role=settings.db_app_role)
    other = Runtime(settings=settings, engine=engine, sessions=runtime.sessions, keyring=runtime.keyring)
    counters = other.counters
    assert isinstance(counters, RedisCounters)
    key = _key()
    assert counters.hit(key, window_seconds=60, now=T0) == 1
    assert DatabaseCounters(runtime.engine).peek(key, window_seconds=60, now=T0) == 0
    other.close()
    assert other._counters is None
