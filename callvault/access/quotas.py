"""Per-actor quotas and rate limits named by policy rules, on the shared counters.

Counter keys hold the tenant and the actor id, never personal data. ``charge`` counts an
access against its quota (whether or not it succeeds: probing spends quota too) and
returns the 429 to raise once the quota is spent; ``note_search_miss`` counts searches
that found nothing and raises one ``search.enumeration_suspected`` audit event when a
burst of them crosses the tenant's threshold — the signature of someone walking the
number space to unmask the digits a mask hides.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.decision import Decision, Resource
from callvault.access.policy import PolicyDocument, effective_policy
from callvault.audit import log
from callvault.core import clock
from callvault.core.counters import retry_after
from callvault.core.errors import QuotaExceeded
from callvault.core.runtime import runtime_of

__all__ = ["charge", "note_search_miss"]

_DAY = 86_400


def _limits(name: str, policy: PolicyDocument, actor: Actor) -> list[tuple[int, int, str]]:
    limits = policy.limits
    person = actor.kind == "user"
    if name == "reveal":
        return [(limits.reveal_per_day if person else limits.service_reveal_per_day, _DAY, "day")]
    if name == "search":
        if person:
            return [(limits.search_per_minute, 60, "minute"), (limits.search_per_day, _DAY, "day")]
        return [(limits.service_search_per_minute, 60, "minute"), (limits.service_search_per_day, _DAY, "day")]
    return []


def charge(db_session: Session, actor: Actor, name: str, policy: PolicyDocument, now: datetime) -> QuotaExceeded | None:
    """Count one use of quota ``name``; the error to raise if a limit is passed."""
    counters = runtime_of(db_session).counters
    if actor.kind == "operator":  # the local operator holds the keyring: limits would not bind it
        return None
    limits = _limits(name, policy, actor)
    hits = [(f"quota:{name}:{label}:{actor.tenant_id}:{actor.actor_id}", window) for _, window, label in limits]
    totals = counters.hit_many(hits, now=now)  # every window counts the use, in one round trip
    for (limit, window, label), total in zip(limits, totals, strict=True):
        if total > limit:
            return QuotaExceeded(
                f"The {name} quota of {limit} per {label} is spent; retry later",
                code=f"quota.{name}_exceeded",
                retry_after=retry_after(now, window),
            )
    return None


def note_search_miss(db_session: Session, actor: Actor) -> None:
    """Count a search that matched nothing; at the threshold, record one alert event."""
    policy = effective_policy(db_session, actor.tenant_id)
    limits = policy.limits
    now = clock.now()
    key = f"search-miss:{actor.tenant_id}:{actor.actor_id}"
    misses = runtime_of(db_session).counters.hit(key, window_seconds=limits.enumeration_window_seconds, now=now)
    if misses == limits.enumeration_misses:
        alert = Decision(
            True,
            "none",
            "monitor.search_enumeration",
            f"{misses} searches without a match within {limits.enumeration_window_seconds} s",
        )
        log.record(
            db_session,
            actor=actor,
            action="search.enumeration_suspected",
            resource=Resource(type="customer", tenant_id=actor.tenant_id),
            decision=alert,
        )
