"""Access policy as data: the shipped default document plus per-tenant overrides.

The document (``policies/default.yaml``) holds the rules, the role × field mask matrix
and the limits. A tenant's override is stored, versioned and never edited in place:
``update`` writes version n+1 and the effective policy is the newest. Its rules are
evaluated before the defaults (so a tenant can add a deny, or allow what the defaults do
not), its masks and limits replace the keys they name. The evaluation itself is in
``pdp.authorize``.
"""

from __future__ import annotations

import functools
import time
from datetime import datetime
from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import JSON, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from callvault.core import clock
from callvault.core.db import Base, UtcDateTime
from callvault.core.errors import Invalid

__all__ = [
    "CONDITIONS",
    "EffectivePolicyRead",
    "FieldMask",
    "Limits",
    "PolicyDocument",
    "PolicyOverride",
    "PolicyRule",
    "PolicyVersionRead",
    "TenantPolicy",
    "default_policy",
    "effective_policy",
    "get_versions",
    "read_policy",
    "read_versions",
    "replace_policy",
    "update_tenant_policy",
]

FieldMask = Literal["clear", "masked", "hidden"]
CONDITIONS = ("assigned", "live_call", "reason", "step_up", "grant", "break_glass")
"""Conditions a rule can name; ``approval:<kind>`` is the one parameterised form."""

_Name = Annotated[str, StringConstraints(pattern=r"^[a-z_*][a-z0-9_.:*]{0,63}$")]
_Condition = Annotated[
    str,
    StringConstraints(
        pattern=r"^(assigned|live_call|reason|step_up|grant|break_glass|approval:[a-z_]{1,32}|consent:[a-z_]{1,32})$"
    ),
]
_Field = Literal["name", "mobile", "landline", "id_number", "bank_card", "email", "address"]
_STRICT = ConfigDict(extra="forbid")


class PolicyRule(BaseModel):
    model_config = _STRICT

    id: _Name
    actions: list[_Name] = Field(min_length=1)
    roles: list[_Name] = Field(default_factory=list)
    scopes: list[Annotated[str, StringConstraints(pattern=r"^([a-z]+:[a-z]+|\*)$")]] = Field(default_factory=list)
    when: list[_Condition] = Field(default_factory=list)
    effect: Literal["allow", "deny"] = "allow"
    mask: Literal["masked", "clear", "none"] = "masked"
    rows: Literal["all", "assigned"] = "all"
    quota: Literal["search", "reveal"] | None = None

    def matches(self, action: str, role: str | None, scopes: frozenset[str]) -> bool:
        if not any(_match(pattern, action) for pattern in self.actions):
            return False
        by_role = role is not None and ("*" in self.roles or role in self.roles)
        by_scope = bool(scopes) and ("*" in self.scopes or any(scope in scopes for scope in self.scopes))
        return by_role or by_scope


def _match(pattern: str, action: str) -> bool:
    if pattern.endswith(".*"):
        return action.startswith(pattern[:-1])
    return pattern == action


class Limits(BaseModel):
    model_config = _STRICT

    reveal_per_day: int = Field(default=20, ge=0, le=100_000)
    search_per_minute: int = Field(default=30, ge=1, le=100_000)
    search_per_day: int = Field(default=2000, ge=1, le=10_000_000)
    service_reveal_per_day: int = Field(default=5000, ge=0, le=10_000_000)
    service_search_per_minute: int = Field(default=600, ge=1, le=1_000_000)
    service_search_per_day: int = Field(default=200_000, ge=1, le=100_000_000)
    enumeration_misses: int = Field(default=20, ge=1, le=100_000)
    enumeration_window_seconds: int = Field(default=300, ge=10, le=86_400)


class PolicyDocument(BaseModel):
    """A whole policy; tenant overrides use the same shape with every part optional."""

    model_config = _STRICT

    version: int = Field(default=1, ge=1)
    reason_min_length: int = Field(default=10, ge=1, le=200)
    break_glass_min_length: int = Field(default=30, ge=10, le=500)
    step_up_minutes: int = Field(default=5, ge=1, le=60)
    limits: Limits = Field(default_factory=Limits)
    masks: dict[_Name, dict[_Field, FieldMask]] = Field(default_factory=dict)
    rules: list[PolicyRule] = Field(default_factory=list, max_length=500)

    def field_masks(self, role: str | None) -> dict[str, FieldMask]:
        return {str(field): level for field, level in self.masks.get(role or "", {}).items()}


class TenantPolicy(Base):
    """One version of a tenant's override; rows are only ever added."""

    __tablename__ = "tenant_policy"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(128))


@functools.cache
def default_policy() -> PolicyDocument:
    """``policies/default.yaml`` plus each capability's ``policies/<capability>.yaml``.

    A capability file holds ``rules`` (appended after the default rules, files in name
    order) and optionally ``limits`` (defaults for limits it added): each capability keeps
    its rules beside its code instead of in one file everybody edits.
    """
    folder = resources.files("callvault.access").joinpath("policies")
    document: dict[str, Any] = yaml.safe_load(folder.joinpath("default.yaml").read_text(encoding="utf-8"))
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".yaml"))
    for name in names:
        if name == "default.yaml":
            continue
        part = yaml.safe_load(folder.joinpath(name).read_text(encoding="utf-8")) or {}
        unknown = set(part) - {"rules", "limits"}
        if unknown:
            raise ValueError(f"policies/{name}: a capability file holds rules and limits, not {sorted(unknown)}")
        document["rules"] = [*document.get("rules", []), *(part.get("rules") or [])]
        document["limits"] = {**document.get("limits", {}), **(part.get("limits") or {})}
    return PolicyDocument.model_validate(document)


def _merge(base: PolicyDocument, override: dict[str, Any]) -> PolicyDocument:
    merged = base.model_dump()
    for key in ("reason_min_length", "break_glass_min_length", "step_up_minutes"):
        if key in override:
            merged[key] = override[key]
    merged["limits"] = {**merged["limits"], **override.get("limits", {})}
    for role, fields in override.get("masks", {}).items():
        merged["masks"][role] = {**merged["masks"].get(role, {}), **fields}
    merged["rules"] = [*override.get("rules", []), *merged["rules"]]
    return PolicyDocument.model_validate(merged)


def _latest(db_session: Session, tenant_id: str) -> TenantPolicy | None:
    return db_session.scalars(
        select(TenantPolicy).where(TenantPolicy.tenant_id == tenant_id).order_by(TenantPolicy.version.desc()).limit(1)
    ).first()


POLICY_TTL_SECONDS = 2.0
"""How long a replica keeps using the tenant policy it read before asking again: a new
version applies at once in the replica that stored it, within this long elsewhere. The
lookup was one query per decision, 14 % of a masked read (bench/masked_read.py)."""


def effective_policy(db_session: Session, tenant_id: str) -> PolicyDocument:
    """The default merged with the tenant's newest override (cached, ``POLICY_TTL_SECONDS``)."""
    from callvault.core.runtime import runtime_of

    cache: dict[str, tuple[float, PolicyDocument]] = runtime_of(db_session).caches.setdefault("policies", {})
    now = time.monotonic()
    cached = cache.get(tenant_id)
    if cached is not None and now - cached[0] < POLICY_TTL_SECONDS:
        return cached[1]
    latest = _latest(db_session, tenant_id)
    policy = default_policy() if latest is None else _merge(default_policy(), latest.document)
    if len(cache) > 10_000:
        cache.clear()
    cache[tenant_id] = (now, policy)
    return policy


class PolicyOverride(BaseModel):
    """What a tenant may change (the shape of ``PUT /v1/policy``)."""

    model_config = _STRICT

    reason_min_length: int | None = Field(default=None, ge=1, le=200)
    break_glass_min_length: int | None = Field(default=None, ge=10, le=500)
    step_up_minutes: int | None = Field(default=None, ge=1, le=60)
    limits: dict[
        Literal[
            "reveal_per_day", "search_per_minute", "search_per_day", "service_reveal_per_day",
            "service_search_per_minute", "service_search_per_day", "enumeration_misses", "enumeration_window_seconds",
        ],
        Annotated[int, Field(ge=0, le=100_000_000)],
    ] = Field(default_factory=dict)  # fmt: skip
    masks: dict[_Name, dict[_Field, FieldMask]] = Field(default_factory=dict)
    rules: list[PolicyRule] = Field(default_factory=list, max_length=200)


def update_tenant_policy(db_session: Session, *, tenant_id: str, override: PolicyOverride, by: str) -> TenantPolicy:
    """Store a new version of the tenant's override (after checking it merges cleanly)."""
    document = override.model_dump(exclude_none=True)
    try:
        _merge(default_policy(), document)
    except ValueError as error:
        raise Invalid("The policy does not validate", code="policy.invalid") from error
    latest = _latest(db_session, tenant_id)
    row = TenantPolicy(
        tenant_id=tenant_id,
        version=(latest.version + 1) if latest else 1,
        document=document,
        created_at=clock.now(),
        created_by=by,
    )
    db_session.add(row)
    db_session.flush()
    from callvault.core.runtime import runtime_of

    runtime_of(db_session).caches.setdefault("policies", {}).pop(tenant_id, None)
    return row


def get_versions(db_session: Session, tenant_id: str) -> list[TenantPolicy]:
    return list(
        db_session.scalars(
            select(TenantPolicy).where(TenantPolicy.tenant_id == tenant_id).order_by(TenantPolicy.version)
        )
    )


class PolicyVersionRead(BaseModel):
    version: int
    created_at: datetime
    created_by: str
    document: dict[str, Any]


class EffectivePolicyRead(BaseModel):
    tenant_version: int | None = Field(description="The tenant override in force (null: the shipped default).")
    policy: PolicyDocument


def read_policy(*, db_session: Session, actor: Any) -> EffectivePolicyRead:
    """The effective policy of the actor's tenant (defaults merged with its override)."""
    from callvault.access.pdp import Resource, enforce

    enforce(db_session, actor, "policy.read", Resource(type="policy", tenant_id=actor.tenant_id))
    latest = _latest(db_session, actor.tenant_id)
    return EffectivePolicyRead(
        tenant_version=None if latest is None else latest.version,
        policy=effective_policy(db_session, actor.tenant_id),
    )


def read_versions(*, db_session: Session, actor: Any) -> list[PolicyVersionRead]:
    from callvault.access.pdp import Resource, enforce

    enforce(db_session, actor, "policy.read", Resource(type="policy", tenant_id=actor.tenant_id))
    return [
        PolicyVersionRead(
            version=row.version, created_at=row.created_at, created_by=row.created_by, document=row.document
        )
        for row in get_versions(db_session, actor.tenant_id)
    ]


def replace_policy(*, db_session: Session, actor: Any, override: PolicyOverride) -> EffectivePolicyRead:
    """Store ``override`` as the tenant's next version (the audit event names it)."""
    from callvault.access.pdp import Resource, enforce

    latest = _latest(db_session, actor.tenant_id)
    next_version = 1 if latest is None else latest.version + 1
    enforce(
        db_session, actor, "policy.update", Resource(type="policy", tenant_id=actor.tenant_id, id=str(next_version))
    )
    row = update_tenant_policy(db_session, tenant_id=actor.tenant_id, override=override, by=actor.actor_id)
    return EffectivePolicyRead(tenant_version=row.version, policy=effective_policy(db_session, actor.tenant_id))
