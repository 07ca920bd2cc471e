"""SIEM formats for audit events: JSON lines, OCSF API Activity, RFC 5424 syslog. Pure.

An event is the plain dict of ``audit.service.event_dict``: ``seq``, ``time`` (ISO 8601
UTC), ``tenant_id``, ``actor_id``, ``actor_kind``, ``actor_role``, ``session_id``,
``action``, ``resource_type``, ``resource_id``, ``subject_id``, ``purpose``, ``decision``
(``"allow"``/``"deny"``), ``mask``, ``rule``, ``reason``, ``request_id``, ``client_ip``,
``leaf_hash`` (hex). It holds ids, codes and masked values only, never personal data, so
every format may leave the building. Formatters do no I/O and keep no state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from callvault import __version__
from callvault.audit.merkle import canonical_json

__all__ = [
    "FACILITY_AUTHPRIV",
    "FACILITY_LOG_AUDIT",
    "FORMATS",
    "OCSF_VERSION",
    "SD_ID",
    "render",
    "to_jsonl",
    "to_ocsf",
    "to_syslog",
]

FORMATS: Final = ("jsonl", "ocsf", "syslog")

OCSF_VERSION: Final = "1.3.0"
_OCSF_CLASS_UID: Final = 6003  # API Activity
_OCSF_CATEGORY_UID: Final = 6  # Application Activity
_ACTIVITY_NAMES: Final = {1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"}
# The verb is the last dot-separated part of an action ("customer.reveal" -> "reveal").
# Reading personal data in any form (reveal, play, export, download) is a Read.
_ACTIVITY_BY_VERB: Final = {
    **dict.fromkeys(("create", "add", "import", "insert", "register", "upload", "issue", "enroll"), 1),
    **dict.fromkeys(
        ("read", "get", "list", "search", "view", "reveal", "play", "download", "export", "query", "report"), 2
    ),
    **dict.fromkeys(("update", "edit", "modify", "patch", "set", "rotate", "rewrap", "assign", "approve"), 3),
    **dict.fromkeys(("delete", "erase", "remove", "purge", "shred", "destroy", "revoke"), 4),
}
_OCSF_SEVERITY: Final = {"allow": (1, "Informational"), "deny": (3, "Medium")}
_OCSF_STATUS: Final = {"allow": (1, "Success"), "deny": (2, "Failure")}
# Event keys that have a home in the OCSF document; everything else goes to ``unmapped``.
_OCSF_MAPPED: Final = frozenset(
    {"seq", "time", "tenant_id", "actor_id", "actor_kind", "session_id", "action", "resource_type",
     "resource_id", "decision", "rule", "reason", "request_id", "client_ip"}
)  # fmt: skip
_USER_TYPE_ID: Final = {"user": 1, "admin": 2, "service_account": 3, "service": 3, "operator": 2}

FACILITY_LOG_AUDIT: Final = 13
FACILITY_AUTHPRIV: Final = 10
_SEVERITY_INFO: Final = 6
_SEVERITY_WARNING: Final = 4
SD_ID: Final = "callvault@32473"
"""SD-ID of our structured data: 32473 is the example Private Enterprise Number that
RFC 5612 reserves for documentation; swap in a registered PEN before production use."""
_SD_PARAMS: Final = (
    "seq", "tenant_id", "actor_id", "actor_kind", "actor_role", "session_id", "action", "resource_type",
    "resource_id", "subject_id", "purpose", "decision", "mask", "rule", "reason", "request_id", "client_ip",
    "leaf_hash",
)  # fmt: skip
# C0/C1 controls, DEL and the Unicode line/paragraph separators: they would split or
# corrupt a line in a collector, and RFC 5424 has no escape for them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NOT_PRINTUSASCII = re.compile(r"[^!-~]")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)


def _decision(event: Mapping[str, Any]) -> str:
    decision = event.get("decision")
    if decision not in ("allow", "deny"):
        raise ValueError("audit event decision must be 'allow' or 'deny'")
    return str(decision)


def _parse_time(value: object) -> datetime:
    """Event time as an aware UTC datetime; a naive time is taken as UTC (events are
    written in UTC) rather than in the exporting host's local zone."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# -- JSON lines ----------------------------------------------------------------------------


def to_jsonl(event: Mapping[str, Any]) -> str:
    """The event as one canonical JSON line (no trailing newline).

    Same bytes as the leaf commitment (sorted keys, compact, UTF-8), except that U+2028,
    U+2029 and U+0085 are written as ``\\u`` escapes: still the same JSON value, but no
    splitter that treats them as line breaks can cut the line.
    """
    text = canonical_json(dict(event)).decode("utf-8")
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085")


# -- OCSF ----------------------------------------------------------------------------------


def _activity_id(action: str) -> int:
    return _ACTIVITY_BY_VERB.get(action.rsplit(".", 1)[-1].lower(), 99)


def _without_none(value: dict[str, Any]) -> dict[str, Any]:
    """OCSF omits unknown attributes rather than sending nulls."""
    return {key: item for key, item in value.items() if item is not None}


def to_ocsf(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event as an OCSF 1.x API Activity (class 6003, category 6) document.

    ``activity_id`` comes from the action's verb (Create 1, Read 2, Update 3, Delete 4,
    Other 99), ``status_id`` from the decision (1 Success / 2 Failure), ``time`` is epoch
    milliseconds. Fields OCSF has no attribute for (purpose, mask, subject, role, leaf
    hash and anything unknown) go under ``unmapped``; null fields are left out.
    """
    decision = _decision(event)
    action = str(event["action"])
    activity_id = _activity_id(action)
    severity_id, severity = _OCSF_SEVERITY[decision]
    status_id, status = _OCSF_STATUS[decision]
    moment = _parse_time(event["time"])
    kind = event.get("actor_kind")
    user = _without_none(
        {
            "uid": str(event["actor_id"]),
            "type": None if kind is None else str(kind),
            "type_id": None if kind is None else _USER_TYPE_ID.get(str(kind), 99),
        }
    )
    actor: dict[str, Any] = {"user": user}
    if event.get("session_id") is not None:
        actor["session"] = {"uid": str(event["session_id"])}
    if event.get("rule") is not None or event.get("reason") is not None:
        policy = _without_none({"name": event.get("rule"), "desc": event.get("reason")})
        actor["authorizations"] = [{"decision": decision, "policy": policy}]
    api: dict[str, Any] = {"operation": action}
    if event.get("request_id") is not None:
        api["request"] = {"uid": str(event["request_id"])}
    resource = _without_none({"uid": event.get("resource_id"), "type": event.get("resource_type")})
    tenant = str(event["tenant_id"])
    seq = event.get("seq")
    metadata = _without_none(
        {
            "product": {"name": "CallVault", "vendor_name": "CallVault", "version": __version__},
            "version": OCSF_VERSION,
            "profiles": ["cloud"],
            "log_name": "audit",
            "uid": None if seq is None else str(seq),
            "sequence": seq,
            "tenant_uid": tenant,
            "original_time": event["time"] if isinstance(event["time"], str) else moment.isoformat(),
        }
    )
    document: dict[str, Any] = {
        "class_uid": _OCSF_CLASS_UID,
        "class_name": "API Activity",
        "category_uid": _OCSF_CATEGORY_UID,
        "category_name": "Application Activity",
        "activity_id": activity_id,
        "activity_name": _ACTIVITY_NAMES[activity_id],
        "type_uid": _OCSF_CLASS_UID * 100 + activity_id,
        "type_name": f"API Activity: {_ACTIVITY_NAMES[activity_id]}",
        "time": (moment - _EPOCH) // _MS,  # integer arithmetic: no float rounding of microseconds
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "message": f"{action} {decision}",
        "actor": actor,
        "api": api,
        "src_endpoint": _without_none({"ip": event.get("client_ip")}),
        "resources": [resource],
        "cloud": {"provider": "CallVault", "account": {"uid": tenant}},
        "metadata": metadata,
        "unmapped": {key: value for key, value in event.items() if key not in _OCSF_MAPPED and value is not None},
    }
    if event.get("reason") is not None:
        document["status_detail"] = str(event["reason"])
    return document


# -- syslog (RFC 5424) ---------------------------------------------------------------------


def _sd_escape(value: object) -> str:
    """PARAM-VALUE per RFC 5424 §6.3.3: escape ``\\``, ``"`` and ``]`` (backslash first);
    control characters, which the RFC cannot escape, become U+FFFD."""
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")
    return _CONTROL.sub("\ufffd", text)


def _header_field(value: str, limit: int) -> str:
    """HOSTNAME / APP-NAME / PROCID / MSGID: 1..limit printable US-ASCII, else ``-``."""
    return _NOT_PRINTUSASCII.sub("", value)[:limit] or "-"


def _syslog_time(value: object) -> str:
    """RFC 5424 TIMESTAMP: UTC, ``Z``, at most 6 fraction digits (RFC 3339 profile)."""
    return _parse_time(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_syslog(
    event: Mapping[str, Any],
    *,
    hostname: str = "-",
    app_name: str = "callvault",
    procid: str = "-",
    facility: int = FACILITY_LOG_AUDIT,
) -> str:
    """The event as one RFC 5424 line (no trailing newline)::

        <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [callvault@32473 k="v" ...] MSG

    Facility 13 (log audit) by default, or 10 (authpriv); severity 6 (info) for an
    allowed access and 4 (warning) for a denied one. MSGID is the action (the message
    type a collector filters on), structured data carries every non-null field, MSG is a
    short sentence for humans (UTF-8 with a BOM when not ASCII, as §6.4 asks).
    """
    if not 0 <= facility <= 23:
        raise ValueError("syslog facility must be 0..23")
    decision = _decision(event)
    severity = _SEVERITY_INFO if decision == "allow" else _SEVERITY_WARNING
    params = "".join(f' {key}="{_sd_escape(event[key])}"' for key in _SD_PARAMS if event.get(key) is not None)
    action = str(event["action"])
    resource = " ".join(str(event[key]) for key in ("resource_type", "resource_id") if event.get(key) is not None)
    message = _CONTROL.sub("\ufffd", f"{decision} {action} on {resource or '-'} by {event['actor_id']}")
    if not message.isascii():
        message = "\ufeff" + message
    header = " ".join(
        (
            f"<{facility * 8 + severity}>1",
            _syslog_time(event["time"]),
            _header_field(hostname, 255),
            _header_field(app_name, 48),
            _header_field(procid, 128),
            _header_field(action, 32),
        )
    )
    return f"{header} [{SD_ID}{params}] {message}"


def render(event: Mapping[str, Any], fmt: str, *, hostname: str = "-") -> str:
    """One line of ``fmt`` (one of ``FORMATS``) for streaming exports."""
    if fmt == "jsonl":
        return to_jsonl(event)
    if fmt == "ocsf":
        return to_jsonl(to_ocsf(event))
    if fmt == "syslog":
        return to_syslog(event, hostname=hostname)
    raise ValueError(f"unknown format {fmt!r}")
