"""Anomaly rules as data: one ``RuleSpec`` per rule, the shipped defaults, a tenant's overrides.

A rule names a detector ``kind``, which events it looks at (``match``), its thresholds and
windows, a ``severity`` and a ``response`` (``alert``, ``step_up``, ``freeze``). Tenants
replace a shipped rule by storing one with the same ``id`` (``enabled: false`` switches it
off) or add their own. A spec with an unknown field, a field its kind does not use, or a
threshold out of range is refused (422 ``monitoring.rule_invalid``).

Kinds (``count > threshold`` means "more than ``threshold``"):

=============  ==================================================================================
``rate``       more than ``threshold`` matching events (or distinct ``distinct`` values) per actor
               within ``window_seconds``
``off_shift``  more than ``threshold`` matching events outside the shift (``shift_start`` to
               ``shift_end``, local hours at ``utc_offset_minutes``; ``shifts``: actor id ->
               ``{start, end}``)
               within ``window_seconds``
``networks``   logins from more than ``max_networks`` networks (IPv4 /24, IPv6 /48) in the window
``travel``     two logins whose known ``locations`` are further apart than ``max_speed_kmh`` allows
``new_network``  an actor (a service account) seen from a network it did not use during its
               first ``learn_seconds``
``baseline``   this hour's count of matching events against the actor's EWMA of active hours:
               ``z`` standard deviations above (sigma at least ``floor_ratio`` × mean) and at least
               ``min_count``, after ``warmup_hours`` of history
=============  ==================================================================================
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from callvault.core.errors import Invalid

__all__ = [
    "DEFAULT_RULES",
    "KIND_FIELDS",
    "Location",
    "Match",
    "RuleBody",
    "RuleSpec",
    "Shift",
    "default_rules",
    "effective_rules",
    "parse_rule",
]

Kind = Literal["rate", "off_shift", "networks", "travel", "new_network", "baseline"]
Severity = Literal["low", "medium", "high", "critical"]
Response = Literal["alert", "step_up", "freeze"]
SEVERITIES = ("low", "medium", "high", "critical")
_ActionName = Annotated[str, Field(pattern=r"^(?:[a-z_][a-z0-9_.]{0,63}(?:\.\*)?|\*)$")]
_Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")]
_IPV4_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_CIDR = rf"^{_IPV4_OCTET}(?:\.{_IPV4_OCTET}){{3}}/(?:3[0-2]|[12]?[0-9])$"


def _integral(value: Any) -> Any:
    """JSON Schema's ``integer`` includes 3.0; strict mode (no ``true`` for 1) would refuse it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_INTEGRAL = BeforeValidator(_integral)
_Hour = Annotated[int, Field(ge=0, le=23), _INTEGRAL]
_EndHour = Annotated[int, Field(ge=0, le=24), _INTEGRAL]

# Every constraint is a schema keyword (patterns, ranges, lengths, one model per kind), so
# the OpenAPI document states all of it: a body that matches the schema is a valid rule.


class Match(BaseModel):
    """Which events a rule looks at; every field given must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    actions: list[_ActionName] = Field(min_length=1, max_length=50)
    decision: Literal["allow", "deny"] | None = None
    outcomes: list[Literal["done", "not_found", "denied", "failed"]] | None = None
    roles: list[_Code] | None = Field(default=None, max_length=20)
    actor_kinds: list[Literal["user", "service_account", "operator"]] | None = None
    rules: list[_Code] | None = Field(default=None, max_length=50)  # the policy rule that decided
    masks: list[Literal["clear", "masked", "none"]] | None = None


class Location(BaseModel):
    """Where a network is (the tenant's offices, its VPN exits; IPv4 CIDR): no GeoIP
    database is shipped."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    network: str = Field(pattern=_IPV4_CIDR)
    city: str = Field(pattern=r"^[A-Za-z0-9 _.-]{1,40}$")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Shift(BaseModel):
    """One actor's working hours, local (``end`` before ``start``: a night shift)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    start: _Hour
    end: _EndHour


class RuleSpec(BaseModel):
    """One rule; fields a kind does not use must be absent (``KIND_FIELDS``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    kind: Kind
    enabled: bool = True
    severity: Severity = "medium"
    response: Response = "alert"
    match: Match
    window_seconds: Annotated[int, Field(ge=1, le=7 * 86400), _INTEGRAL] | None = None
    threshold: Annotated[int, Field(ge=0, le=10_000_000), _INTEGRAL] | None = None
    distinct: Literal["subject_id", "resource_id"] | None = None
    cooldown_seconds: Annotated[int, Field(ge=0, le=7 * 86400), _INTEGRAL] | None = None
    shift_start: Annotated[int, Field(ge=0, le=23), _INTEGRAL] | None = None
    shift_end: Annotated[int, Field(ge=0, le=24), _INTEGRAL] | None = None
    utc_offset_minutes: Annotated[int, Field(ge=-14 * 60, le=14 * 60), _INTEGRAL] | None = None
    shifts: dict[_Code, Shift] | None = Field(default=None, max_length=10_000)
    max_networks: Annotated[int, Field(ge=1, le=1000), _INTEGRAL] | None = None
    max_speed_kmh: float | None = Field(default=None, gt=0, le=100_000)
    min_distance_km: float | None = Field(default=None, ge=0, le=40_000)
    locations: list[Location] | None = Field(default=None, max_length=1000)
    learn_seconds: Annotated[int, Field(ge=0, le=90 * 86400), _INTEGRAL] | None = None
    alpha: float | None = Field(default=None, gt=0, lt=1)
    z: float | None = Field(default=None, gt=0, le=1000)
    min_count: Annotated[int, Field(ge=1, le=10_000_000), _INTEGRAL] | None = None
    floor_ratio: float | None = Field(default=None, ge=0, le=10)
    warmup_hours: Annotated[int, Field(ge=1, le=10_000), _INTEGRAL] | None = None

    @model_validator(mode="after")
    def _fields_of_kind(self) -> RuleSpec:
        allowed = KIND_FIELDS[self.kind]
        given = {name for name in self.model_fields_set if name not in _COMMON and getattr(self, name) is not None}
        extra = sorted(given - allowed[0] - allowed[1])
        if extra:
            raise ValueError(f"{', '.join(extra)}: not a field of kind {self.kind}")
        missing = sorted(name for name in allowed[0] if getattr(self, name) is None)
        if missing:
            raise ValueError(f"{', '.join(missing)}: required for kind {self.kind}")
        return self

    def param(self, name: str, default: Any) -> Any:
        value = getattr(self, name)
        return default if value is None else value


_COMMON = frozenset({"id", "kind", "enabled", "severity", "response", "match", "cooldown_seconds"})
KIND_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # kind: (required, optional)
    "rate": (frozenset({"window_seconds", "threshold"}), frozenset({"distinct"})),
    "off_shift": (
        frozenset({"shift_start", "shift_end"}),
        frozenset({"utc_offset_minutes", "shifts", "threshold", "window_seconds"}),
    ),
    "networks": (frozenset({"window_seconds", "max_networks"}), frozenset()),
    "travel": (frozenset({"max_speed_kmh", "locations"}), frozenset({"min_distance_km", "window_seconds"})),
    "new_network": (frozenset({"learn_seconds"}), frozenset()),
    "baseline": (frozenset(), frozenset({"alpha", "z", "min_count", "floor_ratio", "warmup_hours"})),
}


def _body_model(kind: str) -> type[BaseModel]:
    """``RuleSpec`` without ``id`` (it is in the path), for one kind: its own fields only."""
    required, optional = KIND_FIELDS[kind]
    fields: dict[str, Any] = {"kind": (Literal[kind], ...)}
    for name, info in RuleSpec.model_fields.items():
        if name in ("id", "kind") or (name not in _COMMON and name not in required | optional):
            continue
        if name in required:
            needed = FieldInfo.merge_field_infos(info)
            needed.default = PydanticUndefined
            fields[name] = (_not_none(info.annotation), needed)
        else:
            fields[name] = (info.annotation, info)
    return create_model(
        f"{kind.title().replace('_', '')}Rule", __config__=ConfigDict(extra="forbid", strict=True), **fields
    )


def _not_none(annotation: Any) -> Any:
    members = [member for member in get_args(annotation) if member is not type(None)]
    return members[0] if len(members) == 1 else annotation


RuleBody: Any = Annotated[
    Union[tuple(_body_model(kind) for kind in KIND_FIELDS)],  # noqa: UP007 - a union built from data
    Field(discriminator="kind"),
]
"""The body of ``PUT /v1/monitoring/rules/{id}``: one schema per kind (a JSON Schema
``oneOf`` with ``kind`` as discriminator)."""


def parse_rule(document: Any) -> RuleSpec:
    """Validate one rule document; ``Invalid`` (422) names the first problem, never a value."""
    try:
        return RuleSpec.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "rule"
        message = first["msg"].removeprefix("Value error, ")
        raise Invalid(f"Rule invalid at {where}: {message}"[:300], code="monitoring.rule_invalid") from None


_READS = ["customer.read", "customer.list", "customer.search"]
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    # fixed thresholds
    {"id": "read_velocity", "kind": "rate", "severity": "high", "response": "freeze",
     "match": {"actions": ["customer.read"], "decision": "allow", "actor_kinds": ["user"]},
     "window_seconds": 600, "threshold": 200},
    {"id": "reveal_burst", "kind": "rate", "severity": "high", "response": "freeze",
     "match": {"actions": ["customer.reveal"], "decision": "allow", "actor_kinds": ["user"]},
     "window_seconds": 600, "threshold": 10},
    {"id": "download_volume", "kind": "rate", "severity": "high", "response": "freeze",
     "match": {"actions": ["recording.download", "recording.play", "export.*"], "decision": "allow",
               "actor_kinds": ["user"]},
     "window_seconds": 3600, "threshold": 50},
    {"id": "off_shift_export", "kind": "off_shift", "severity": "high", "response": "alert",
     "match": {"actions": ["export.*", "recording.download", "customer.import"], "actor_kinds": ["user"]},
     "shift_start": 8, "shift_end": 22, "utc_offset_minutes": 480, "threshold": 0, "window_seconds": 3600},
    {"id": "off_shift_access", "kind": "off_shift", "severity": "medium", "response": "alert",
     "match": {"actions": [*_READS, "customer.reveal"], "actor_kinds": ["user"]},
     "shift_start": 8, "shift_end": 22, "utc_offset_minutes": 480, "threshold": 20, "window_seconds": 3600},
    {"id": "login_networks", "kind": "networks", "severity": "high", "response": "alert",
     "match": {"actions": ["auth.login"], "decision": "allow", "actor_kinds": ["user"]},
     "window_seconds": 3600, "max_networks": 2},
    {"id": "impossible_travel", "kind": "travel", "severity": "high", "response": "step_up",
     "match": {"actions": ["auth.login"], "decision": "allow", "actor_kinds": ["user"]},
     "max_speed_kmh": 900, "min_distance_km": 100, "locations": [], "window_seconds": 86400},
    {"id": "repeated_denials", "kind": "rate", "severity": "medium", "response": "alert",
     "match": {"actions": ["*"], "decision": "deny"},
     "window_seconds": 600, "threshold": 20},
    {"id": "search_enumeration", "kind": "rate", "severity": "high", "response": "step_up",
     "match": {"actions": ["search.enumeration_suspected"]},
     "window_seconds": 3600, "threshold": 0},
    {"id": "unassigned_access", "kind": "rate", "severity": "medium", "response": "alert",
     "match": {"actions": ["customer.read", "customer.reveal"], "decision": "deny", "roles": ["agent", "intern"],
               "rules": ["default.deny"]},
     "window_seconds": 3600, "threshold": 5, "distinct": "subject_id"},
    {"id": "service_new_network", "kind": "new_network", "severity": "high", "response": "alert",
     "match": {"actions": ["*"], "actor_kinds": ["service_account"]},
     "learn_seconds": 7 * 86400},
    # statistics: what fixed thresholds miss
    {"id": "read_baseline", "kind": "baseline", "severity": "medium", "response": "alert",
     "match": {"actions": ["customer.read"], "decision": "allow", "actor_kinds": ["user"]},
     "alpha": 0.1, "z": 4.0, "min_count": 100, "floor_ratio": 0.25, "warmup_hours": 8},
)  # fmt: skip
"""The shipped rules. ``impossible_travel`` needs the tenant's ``locations`` to do anything."""


@functools.cache
def default_rules() -> tuple[RuleSpec, ...]:
    """The shipped rules, parsed once (immutable constant data)."""
    return tuple(RuleSpec.model_validate(rule) for rule in DEFAULT_RULES)


def effective_rules(overrides: list[RuleSpec]) -> list[RuleSpec]:
    """The shipped rules with a tenant's replacing those of the same id, then its own;
    disabled rules left out."""
    by_id = {rule.id: rule for rule in default_rules()}
    for rule in overrides:
        by_id[rule.id] = rule
    return [rule for rule in by_id.values() if rule.enabled]
