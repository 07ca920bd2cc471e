"""Prometheus metrics of one runtime (its own ``CollectorRegistry``: two apps in one
process share nothing). Labels are code-defined names only (actions, decisions, rule
kinds, severities): never a tenant, an actor, an id or a rule id a tenant chose."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from callvault.core.runtime import Runtime

__all__ = ["CONTENT_TYPE", "MonitoringMetrics", "metrics_of"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MonitoringMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.decisions = Counter(
            "callvault_decisions", "Access decisions recorded in the audit log", ["action", "decision"],
            registry=registry,
        )  # fmt: skip
        self.alerts = Counter(
            "callvault_alerts", "Alerts raised by the detection engine", ["kind", "severity", "response"],
            registry=registry,
        )  # fmt: skip
        self.freezes = Counter("callvault_freezes", "Accounts frozen by the detection engine", registry=registry)
        self.events = Counter("callvault_monitoring_events", "Audit events the engine processed", registry=registry)
        self.dropped = Counter(
            "callvault_monitoring_dropped_events", "Audit events not processed: the engine's queue was full",
            registry=registry,
        )  # fmt: skip
        self.failures = Counter(
            "callvault_monitoring_failures", "Batches or responses that failed in the engine", registry=registry
        )
        self.queued = Gauge("callvault_monitoring_queue_batches", "Batches waiting for the engine", registry=registry)
        self.lag = Histogram(
            "callvault_monitoring_lag_seconds", "From the audit commit to the end of detection",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0), registry=registry,
        )  # fmt: skip
        self._decision_children: dict[tuple[str, str], Counter] = {}

    def count_decision(self, action: str, decision: str) -> None:
        child = self._decision_children.get((action, decision))
        if child is None:
            child = self._decision_children[(action, decision)] = self.decisions.labels(action, decision)
        child.inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


_LOCK = threading.Lock()


def metrics_of(runtime: Runtime) -> MonitoringMetrics:
    found = runtime.caches.get("monitoring.metrics")
    if found is None:
        with _LOCK:
            found = runtime.caches.get("monitoring.metrics")
            if found is None:
                found = runtime.caches["monitoring.metrics"] = MonitoringMetrics()
    assert isinstance(found, MonitoringMetrics)
    return found
