"""The detection engine proper: audit events in, ``Detection``s out. Pure: no database,
no clock, no threads, so the live engine, ``replay`` and the benchmark run the same code
and tests feed it generated streams.

Time is the events' own (``time``), never the wall clock: a replay of last week sees the
windows the live engine saw.

Inside, an event is a row: ``(seq, time_us, *ROW_FIELDS)`` with the time as integer
microseconds since the epoch (UTC). ``process`` turns one audit event (a mapping) into a
row; ``process_rows`` takes rows as a database cursor returns them (``replay`` selects
exactly this layout), so a replay builds no object per event and both paths run the same
loop: the same rows give the same detections. State lives per tenant, rule and actor, in memory; a restart
forgets it (windows refill within one window length; a new-network rule starts learning
again, so it is quiet for ``learn_seconds``: run ``replay`` over that span to warm it up).
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from callvault.monitoring.rules import RuleSpec

__all__ = ["MONITOR_ACTOR", "ROW_FIELDS", "Detection", "DetectionEngine", "Row", "fields_read", "micros", "network_of"]

MONITOR_ACTOR = "operator:monitoring"
"""The engine's own actor: its events (alerts, freezes) are never fed back into the rules."""
_EVIDENCE_MAX = 1000

ROW_FIELDS = (
    "action", "decision", "actor_kind", "actor_role", "actor_id", "outcome", "rule", "mask", "client_ip",
    "subject_id", "resource_id",
)  # fmt: skip
"""What the rules read of an audit event, in row order after ``seq`` and ``time_us``."""
Row = tuple[Any, ...]
"""``(seq, time_us, action, decision, actor_kind, actor_role, actor_id, outcome, rule, mask,
client_ip, subject_id, resource_id)``; ``time_us``: integer microseconds since the epoch."""
_SEQ, _MICROS, _ACTION, _DECISION, _KIND, _ROLE, _ACTOR, _OUTCOME, _RULE, _MASK, _CLIENT_IP = range(11)
_INDEX = {name: position for position, name in enumerate(ROW_FIELDS, start=2)}
_KEY = slice(_ACTION, _ROLE + 1)  # (action, decision, actor kind, role): what picks the candidate rules
_ALWAYS = frozenset({"action", "decision", "actor_kind", "actor_role", "actor_id"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """``moment`` as integer microseconds since the epoch (naive: UTC). Exact, and
    ``micros(m) / 1_000_000 == m.timestamp()`` (both a correctly rounded quotient)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def fields_read(specs: Iterable[RuleSpec]) -> frozenset[str]:
    """The ``ROW_FIELDS`` these rules look at: a replay reads only these columns (the
    others are ``None`` in its rows)."""
    used = set(_ALWAYS)
    for spec in specs:
        match = spec.match
        if match.outcomes:
            used.add("outcome")
        if match.rules:
            used.add("rule")
        if match.masks:
            used.add("mask")
        if spec.distinct:
            used.add(spec.distinct)
        if spec.kind in ("networks", "travel", "new_network"):
            used.add("client_ip")
    return frozenset(used)


@dataclass(frozen=True, slots=True)
class Detection:
    """What a rule found: the offending actor, the time of the last event that made the
    rule fire, the evidence (audit sequence numbers, oldest first) and counts."""

    tenant_id: str
    rule: RuleSpec
    actor_id: str
    actor_kind: str
    at: datetime
    evidence: tuple[int, ...]
    summary: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    """The event that made the rule fire."""

    @property
    def dedup_key(self) -> str:
        return f"{self.rule.id}:{self.actor_id}:{self.evidence[0] if self.evidence else 0}"[:200]


def _evidence(seqs: Sequence[int]) -> tuple[int, ...]:
    if len(seqs) <= _EVIDENCE_MAX:
        return tuple(seqs)
    half = _EVIDENCE_MAX // 2
    items = list(seqs)
    return (*items[:half], *items[-half:])


def network_of(client_ip: str | None, store: dict[str, str | None]) -> str | None:
    """The network an address belongs to for counting purposes: IPv4 /24, IPv6 /48
    (``store`` caches the answers)."""
    if client_ip is None:
        return None
    found = store.get(client_ip, "")
    if found != "":
        return found
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        network = None
    else:
        prefix = 24 if address.version == 4 else 48
        network = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    if len(store) > 100_000:
        store.clear()
    store[client_ip] = network
    return network


def _action_matcher(actions: Sequence[str]) -> Callable[[str], bool]:
    exact = frozenset(a for a in actions if not a.endswith("*"))
    prefixes = tuple(a[:-1] for a in actions if a.endswith(".*"))
    if "*" in actions:
        return lambda action: True
    return lambda action: action in exact or action.startswith(prefixes) if prefixes else action in exact


class _Detector:
    """One rule of one tenant, with its per-actor state."""

    def __init__(self, rule: RuleSpec) -> None:
        self.rule = rule
        self.matches_action = _action_matcher(rule.match.actions)
        match = rule.match
        self._decision = match.decision
        self._outcomes = frozenset(match.outcomes) if match.outcomes else None
        self._roles = frozenset(match.roles) if match.roles else None
        self._kinds = frozenset(match.actor_kinds) if match.actor_kinds else None
        self._rules = frozenset(match.rules) if match.rules else None
        self._masks = frozenset(match.masks) if match.masks else None
        window = rule.window_seconds
        self.cooldown = float(rule.cooldown_seconds if rule.cooldown_seconds is not None else (window or 3600))
        self._last_alert: dict[str, float] = {}

    def accepts_kind(self, decision: str, actor_kind: str, role: str | None) -> bool:
        """The filters that depend only on what ``_TenantRules`` groups events by."""
        if self._decision is not None and decision != self._decision:
            return False
        if self._kinds is not None and actor_kind not in self._kinds:
            return False
        return self._roles is None or role in self._roles

    @property
    def checks_more(self) -> bool:
        return self._outcomes is not None or self._rules is not None or self._masks is not None

    def accepts_rest(self, row: Row) -> bool:
        if self._outcomes is not None and row[_OUTCOME] not in self._outcomes:
            return False
        if self._rules is not None and row[_RULE] not in self._rules:
            return False
        return not (self._masks is not None and row[_MASK] not in self._masks)

    def cooling(self, actor: str, t: float) -> bool:
        last = self._last_alert.get(actor)
        return last is not None and t - last < self.cooldown

    def fired(self, actor: str, t: float) -> None:
        self._last_alert[actor] = t

    def observe(self, row: Row, t: float) -> tuple[tuple[int, ...], dict[str, Any]] | None:
        """Take one matching event (``t``: its time in seconds); what to report, if the rule fires."""
        raise NotImplementedError


class _Rate(_Detector):
    def __init__(self, rule: RuleSpec) -> None:
        super().__init__(rule)
        self.window = float(rule.param("window_seconds", 600))
        self.threshold = int(rule.param("threshold", 0))
        self.distinct = rule.distinct
        self._value_at = _INDEX[rule.distinct] if rule.distinct else 0
        self._events: dict[str, deque[tuple[Any, ...]]] = {}  # (t, seq) or, distinct, (t, seq, value)
        self._values: dict[str, Counter[Any]] = {}

    def observe(self, row: Row, t: float) -> tuple[tuple[int, ...], dict[str, Any]] | None:
        if self._value_at:
            return self._observe_distinct(row, t)
        actor = row[_ACTOR]
        window = self._events.get(actor)
        if window is None:
            window = self._events[actor] = deque()
        window.append((t, row[_SEQ]))
        horizon = t - self.window
        while window[0][0] <= horizon:
            window.popleft()
        count = len(window)
        if count <= self.threshold or self.cooling(actor, t):
            return None
        evidence = _evidence([item[1] for item in window])
        window.clear()
        return evidence, {"count": count, "threshold": self.threshold, "window_seconds": int(self.window)}

    def _observe_distinct(self, row: Row, t: float) -> tuple[tuple[int, ...], dict[str, Any]] | None:
        value = row[self._value_at]
        if value is None:
            return None
        actor = row[_ACTOR]
        window = self._events.get(actor)
        if window is None:
            window = self._events[actor] = deque()
        window.append((t, row[_SEQ], value))
        horizon = t - self.window
        values = self._values.setdefault(actor, Counter())
        while window[0][0] <= horizon:
            old = window.popleft()[2]
            values[old] -= 1
            if not values[old]:
                del values[old]
        values[value] += 1
        count = len(values)
        if count <= self.threshold or self.cooling(actor, t):
            return None
        evidence = _evidence([item[1] for item in window])
        window.clear()
        values.clear()
        return evidence, {"count": count, "threshold": self.threshold, "window_seconds": int(self.window)}


class _OffShift(_Rate):
    def __init__(self, rule: RuleSpec) -> None:
        super().__init__(rule)
        self.window = float(rule.param("window_seconds", 3600))
        self.shift = (int(rule.param("shift_start", 8)), int(rule.param("shift_end", 22)))
        self.offset = 60.0 * int(rule.param("utc_offset_minutes", 0))
        self.shifts = {actor: (shift.start, shift.end) for actor, shift in (rule.shifts or {}).items()}

    def observe(self, row: Row, t: float) -> tuple[tuple[int, ...], dict[str, Any]] | None:
        start, end = self.shifts.get(row[_ACTOR], self.shift)
        hour = int((t + self.offset) // 3600 % 24)
        if start == end or (start <= hour < end if start < end else (hour >= start or hour < end)):
            return None
        found = super().observe(row, t)
        if found is not None:
            found[1].update(local_hour=hour, shift_start=start, shift_end=end)
        return found


class _Networks(_Detector):
    def __init__(self, rule: RuleSpec) -> None:
        super().__init__(rule)
        self.window = float(rule.param("window_seconds", 3600))
        self.max_networks = int(rule.param("max_networks", 2))
        self._logins: dict[str, deque[tuple[float, int, str]]] = {}
        self._cache: dict[str, str | None] = {}

    def observe(self, row: Row, t: float) -> tuple[tuple[int, ...], dict[str, Any]] | None:
        network = network_of(row[_CLIENT_IP], self._cache)
        if network is None:
            return None
        actor = row[_ACTOR]
        logins = self._logins.setdefault(actor, deque())
        logins.append((t, row[_SEQ], network))
        while logins[0][0] <= t - self.window:
            logins.popleft()
        networks = {n for _, _, n in logins}
        if len(networks) <= self.max_networks or self.cooling(actor, t):
            return None
        evidence = _evidence([s for _, s, _ in logins])
        logins.clear()
        summary = {"networks": len(networks), "max_networks": self.max_networks, "window_seconds": int(self.window)}
        return evidence, summary


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


class _Travel(_Detector):
    def __init__(self, rule: RuleSpec) -> None:
        super().__init__(rule)
        self.window = float(rule.param("window_seconds", 86400))
        self.max_speed = float(rule.param("max_speed_kmh", 900))
        self.min_km = float(rule.param("min_distance_km", 100))
        self.places = [
            (ipaddress.ip_network(place.network, strict=False), place.city, (place.lat, place.lon))
            for place in rule.locations or []
        ]
        self._where: dict[str, tuple[str, tuple[float, float]] | None] = {}
        self._last: dict[str, tuple[float, int, str, tuple[float, float]]] = {}

    def _place(self, client_ip: str | None) -> tuple[str, tuple[float, float]] | None:
        if client_ip is None or not self.places:
            return None
        if client_ip in self._where:
            return self._where[client_ip]
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            found = None
        else:
            found = next(((city, point) for net, city, point in self.places if address in net), None)
        if len(self._where) > 100_000:
            self._where.clear()
        self._where[client_ip] = found
        return found

    def observe(self, row: Row, t: float) -> tuple[tuple[int, ...], dict[str, Any]] | None:
        place = self._place(row[_CLIENT_IP])
        if place is None:
            return None
        actor, seq = row[_ACTOR], row[_SEQ]
        previous = self._last.get(actor)
        self._last[actor] = (t, seq, *place)
        if previous is None or t - previous[0] > self.window:
            return None
        km = _km(previous[3], place[1])
        hours = max(t - previous[0], 1.0) / 3600
        if km < self.min_km or km / hours <= self.max_speed or self.cooling(actor, t):
            return None
        summary = {"from": previous[2], "to": place[0], "km": round(km), "minutes": round(hours * 60, 1)}
        return (previous[1], seq), summary


class _NewNetwork(_Detector):
    def __init__(self, rule: RuleSpec) -> None:
        super().__init__(rule)
        self.cooldown = float(rule.cooldown_seconds or 0)
        self.learn = float(rule.param("learn_seconds", 7 * 86400))
        self._seen: dict[str, tuple[float, set[str]]] = {}
        self._cache: dict[str, str | None] = {}

    def observe(self, row: Row, t: float) -> tuple[tuple[int, ...], dict[str, Any]] | None:
        network = network_of(row[_CLIENT_IP], self._cache)
        if network is None:
            return None
        actor = row[_ACTOR]
        state = self._seen.get(actor)
        if state is None:
            self._seen[actor] = (t, {network})
            return None
        first, networks = state
        if network in networks:
            return None
        networks.add(network)
        if t - first < self.learn or self.cooling(actor, t):
            return None
        return (row[_SEQ],), {"known_networks": len(networks) - 1}


class _Baseline(_Detector):
    """EWMA of an actor's hourly count over the hours it was active, and a z-score on
    the hour in progress (checked on every event, so it fires within the hour)."""

    def __init__(self, rule: RuleSpec) -> None:
        super().__init__(rule)
        self.cooldown = float(rule.cooldown_seconds or 0)
        self.alpha = float(rule.param("alpha", 0.1))
        self.z = float(rule.param("z", 4.0))
        self.min_count = int(rule.param("min_count", 100))
        self.floor_ratio = float(rule.param("floor_ratio", 0.25))
        self.warmup = int(rule.param("warmup_hours", 8))
        # actor -> [hour, count, mean, var, hours seen, alerted hour, this hour's seqs]
        self._state: dict[str, list[Any]] = {}

    def observe(self, row: Row, t: float) -> tuple[tuple[int, ...], dict[str, Any]] | None:
        actor = row[_ACTOR]
        hour = int(t // 3600)
        state = self._state.get(actor)
        if state is None:
            state = self._state[actor] = [hour, 0, 0.0, 0.0, 0, -1, deque(maxlen=_EVIDENCE_MAX)]
        seqs: deque[int] = state[6]
        if hour != state[0]:
            count, mean, var, seen = state[1], state[2], state[3], state[4]
            if seen == 0:
                mean, var = float(count), 0.0
            else:
                delta = count - mean
                mean += self.alpha * delta
                var = (1 - self.alpha) * (var + self.alpha * delta * delta)
            state[:5] = [hour, 0, mean, var, seen + 1]
            seqs.clear()
        count = state[1] = state[1] + 1
        seqs.append(row[_SEQ])
        if count < self.min_count or state[4] < self.warmup or state[5] == hour:
            return None
        mean, var = state[2], state[3]
        sigma = max(math.sqrt(var), self.floor_ratio * mean, 1.0)
        score = (count - mean) / sigma
        if score <= self.z:
            return None
        state[5] = hour
        return tuple(seqs), {"count": count, "mean": round(mean, 2), "sigma": round(sigma, 2), "z": round(score, 2)}


_KINDS: dict[str, type[_Detector]] = {
    "rate": _Rate,
    "off_shift": _OffShift,
    "networks": _Networks,
    "travel": _Travel,
    "new_network": _NewNetwork,
    "baseline": _Baseline,
}


@dataclass
class _TenantRules:
    specs: Sequence[RuleSpec]
    detectors: list[_Detector]
    by_key: dict[tuple[str, str, str, str | None], tuple[tuple[_Detector, bool], ...]] = field(default_factory=dict)

    def candidates(self, key: tuple[str, str, str, str | None]) -> tuple[tuple[_Detector, bool], ...]:
        """Detectors for events of this (action, decision, actor kind, role), and whether
        each still needs ``accepts_rest``."""
        found = self.by_key.get(key)
        if found is None:
            action, decision, kind, role = key
            found = tuple(
                (d, d.checks_more)
                for d in self.detectors
                if d.matches_action(action) and d.accepts_kind(decision, kind, role)
            )
            if len(self.by_key) > 10_000:
                self.by_key.clear()
            self.by_key[key] = found
        return found


class DetectionEngine:
    """Feeds each event to the rules of its tenant. ``rules_for(tenant_id)`` returns the
    tenant's effective rules; returning the same sequence object means "unchanged", a new
    one rebuilds the tenant's detectors, keeping the state of rules whose spec is equal."""

    def __init__(self, rules_for: Callable[[str], Sequence[RuleSpec]]) -> None:
        self._rules_for = rules_for
        self._tenants: dict[str, _TenantRules] = {}
        self.events = 0

    def _tenant(self, tenant_id: str) -> _TenantRules:
        specs = self._rules_for(tenant_id)
        current = self._tenants.get(tenant_id)
        if current is not None and current.specs is specs:
            return current
        kept = {d.rule.model_dump_json(): d for d in current.detectors} if current is not None else {}
        detectors = [kept.get(spec.model_dump_json()) or _KINDS[spec.kind](spec) for spec in specs]
        built = _TenantRules(specs, detectors)
        self._tenants[tenant_id] = built
        return built

    def process(self, event: Mapping[str, Any], seq: int) -> list[Detection]:
        """Run one committed event through its tenant's rules."""
        row = (seq, micros(event["time"]), *map(event.get, ROW_FIELDS))
        return self.process_rows(event["tenant_id"], (row,))

    def process_rows(self, tenant_id: str, rows: Sequence[Row]) -> list[Detection]:
        """Run one tenant's events, as rows in ``seq`` order, through its rules (read once
        for the batch)."""
        self.events += len(rows)
        tenant = self._tenant(tenant_id)
        by_key, candidates = tenant.by_key, tenant.candidates
        found: list[Detection] = []
        for row in rows:
            key = row[_KEY]
            detectors = by_key.get(key)
            if detectors is None:
                detectors = candidates(key)
            if not detectors:
                continue
            actor = row[_ACTOR]
            if actor == MONITOR_ACTOR or actor is None:
                continue
            t = row[_MICROS] / 1_000_000
            for detector, more in detectors:
                if more and not detector.accepts_rest(row):
                    continue
                result = detector.observe(row, t)
                if result is None:
                    continue
                detector.fired(actor, t)
                evidence, summary = result
                at = _EPOCH + timedelta(microseconds=row[_MICROS])
                found.append(Detection(tenant_id, detector.rule, actor, row[_KIND], at, evidence, summary, row[_SEQ]))
        return found
