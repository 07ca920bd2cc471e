"""Who is acting: the one identity type every service receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = ["ROLES", "SCOPES", "Actor", "ActorKind"]

ActorKind = Literal["service_account", "user", "operator"]

SCOPES = frozenset(
    {
        "monitoring:manage",  # a SOAR: anomaly rules, alerts, incidents (policies/monitoring.yaml)
        "metrics:read",  # a Prometheus scraper: GET /metrics
        "customers:read",
        "customers:write",
        "customers:import",
        "customers:reveal",
        "pii:scan",
        "audit:read",
        "users:manage",
        "calls:write",
        "security:freeze",
        "exports:trace",  # leak tracing of export files (the CLI operator; a SIEM or DLP integration)
        "lifecycle:manage",  # retention, legal holds, sweeps, DSAR deadlines (the CLI operator, the sweeper)
        "recordings:write",  # the recorder / ASR pipeline: upload audio and transcripts, secure pause (recordings.yaml)
        "recordings:read",  # recording metadata and redacted transcripts (a QA tool's backend)
        "recordings:admin",  # per-tenant recording settings (redacted-only policy)
    }
)
"""Scopes a service account can hold; ``customers:reveal`` is never granted by default."""

ROLES = frozenset({"agent", "intern", "qa", "supervisor", "tenant_admin", "security_officer", "dpo", "auditor"})
"""Roles a person (a user of one tenant) can hold; see DESIGN.md "Users"."""


@dataclass(frozen=True, slots=True)
class Actor:
    tenant_id: str
    actor_id: str
    kind: ActorKind
    scopes: frozenset[str] = field(default_factory=frozenset)
    role: str | None = None
    session_id: str | None = None
    request_id: str | None = None
    client_ip: str | None = None
    user_id: str | None = None
    username: str | None = None  # people: matched against a customer's ``assigned_agent``
    step_up_at: datetime | None = None  # last TOTP confirmation in this session (users only)

    @classmethod
    def operator(cls, tenant_id: str, name: str = "cli") -> Actor:
        """The local operator: holds the keyring, so holds every scope of the tenant."""
        return cls(tenant_id=tenant_id, actor_id=f"operator:{name}", kind="operator", scopes=SCOPES, role="operator")
