"""SIEM formats for audit events: JSON lines, OCSF API Activity, RFC 5424 syslog. Pure.

An event is the plain dict of ``audit.service.event_dict`` (ids, codes and masked values
only, never personal data), so every format can leave the building.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

__all__ = ["FORMATS", "render", "to_jsonl", "to_ocsf", "to_syslog"]

FORMATS = ("jsonl", "ocsf", "syslog")
_PRODUCT = {"name": "CallVault", "vendor_name": "CallVault", "version": "0.1.0"}
_OCSF_VERSION = "1.3.0"
_ACTIVITY = {"create": 1, "read": 2, "reveal": 2, "search": 2, "list": 2, "update": 3, "delete": 4}
_PEN = 32473  # the example Private Enterprise Number of RFC 5612


def to_jsonl(event: dict[str, Any]) -> str:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _epoch_ms(moment: str) -> int:
    return int(datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp() * 1000)


def to_ocsf(event: dict[str, Any]) -> dict[str, Any]:
    """OCSF API Activity (class 6003) with CallVault's extra fields under ``unmapped``."""
    verb = str(event["action"]).rsplit(".", 1)[-1]
    activity = _ACTIVITY.get(verb, 99)
    allowed = event["decision"] == "allow"
    mapped = {"seq", "time", "actor_id", "actor_kind", "actor_role", "session_id", "action", "resource_type",
              "resource_id", "request_id", "client_ip", "decision", "tenant_id"}  # fmt: skip
    ocsf: dict[str, Any] = {
        "category_uid": 6,
        "class_uid": 6003,
        "activity_id": activity,
        "type_uid": 6003 * 100 + activity,
        "time": _epoch_ms(event["time"]),
        "severity_id": 1 if allowed else 3,
        "status_id": 1 if allowed else 2,
        "status": "Success" if allowed else "Failure",
        "message": f"{event['action']} {event['decision']}",
        "actor": {
            "user": {
                "uid": event["actor_id"],
                "type": event.get("actor_kind"),
                "groups": [{"name": event.get("actor_role")}],
            },
            "session": {"uid": event.get("session_id")},
        },
        "api": {"operation": event["action"], "request": {"uid": event.get("request_id")}},
        "src_endpoint": {"ip": event.get("client_ip")},
        "resources": [{"uid": event.get("resource_id"), "type": event["resource_type"]}],
        "cloud": {"account": {"uid": event["tenant_id"]}, "provider": "CallVault"},
        "metadata": {
            "product": _PRODUCT,
            "version": _OCSF_VERSION,
            "uid": str(event["seq"]),
            "sequence": event["seq"],
        },
        "unmapped": {key: value for key, value in event.items() if key not in mapped},
    }
    return ocsf


def _sd_escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def to_syslog(event: dict[str, Any], *, hostname: str = "-", app_name: str = "callvault") -> str:
    """One RFC 5424 line: facility 13 (log audit), info for allow, warning for deny."""
    severity = 6 if event["decision"] == "allow" else 4
    priority = 13 * 8 + severity
    params = " ".join(
        f'{key}="{_sd_escape(event[key])}"'
        for key in (
            "seq",
            "tenant_id",
            "actor_id",
            "action",
            "resource_type",
            "resource_id",
            "subject_id",
            "decision",
            "rule",
            "request_id",
            "client_ip",
        )
        if event.get(key) is not None
    )
    host = (hostname or "-").replace(" ", "")[:255] or "-"
    message = f"{event['actor_id']} {event['action']} {event['resource_type']} {event['decision']}"
    return f"<{priority}>1 {event['time']} {host} {app_name} - audit [callvault@{_PEN} {params}] {message}"


def render(event: dict[str, Any], fmt: str, *, hostname: str = "-") -> str:
    if fmt == "jsonl":
        return to_jsonl(event)
    if fmt == "ocsf":
        return json.dumps(to_ocsf(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if fmt == "syslog":
        return to_syslog(event, hostname=hostname)
    raise ValueError(f"unknown format {fmt!r}")
