"""Incidents: open (from alerts or by hand), grade, contain, list the affected customers,
run the notification clocks, draft the notifications.

**Grade** (documented in docs/monitoring.md), from the audit events of the incident's
actors in its window (allowed and done, naming a customer):

- exposure ``sensitive`` if any was a recording or an export, else ``clear`` if any
  revealed a field in clear, else ``masked``;
- ``critical``: 10,000 subjects or more, or ``sensitive`` and 1,000 or more;
- ``high``: 1,000 or more, or ``clear``/``sensitive`` and 100 or more, or ``sensitive``;
- ``medium``: 100 or more, or any ``clear``;
- ``low``: anything else.

**Clocks** start at ``aware_at`` (the first linked alert, or the opening): GDPR art. 33,
the supervisory authority within 72 hours; PIPL art. 57 says "immediately" without a
number: the tenant's deadline (``PIPL_HOURS``, 24 by default) is the one shown.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import distinct, select
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.decision import Resource
from callvault.access.pdp import enforce
from callvault.core import clock
from callvault.core.errors import Conflict, Invalid, NotFound
from callvault.core.runtime import runtime_of
from callvault.monitoring.models import Alert, Incident, IncidentEvent

__all__ = [
    "AUTHORITY_HOURS",
    "PIPL_HOURS",
    "Clock",
    "affected_subjects",
    "clocks_of",
    "contain",
    "create_incident",
    "draft",
    "get_all_incidents",
    "get_incident_or_raise",
    "grade",
    "mark_notified",
    "subjects_export",
    "timeline_of",
]

AUTHORITY_HOURS = 72
PIPL_HOURS = 24
DUE_SOON = timedelta(hours=12)
_SENSITIVE_PREFIXES = ("recording.", "export.")
_EXPOSURE_ORDER = ("masked", "clear", "sensitive")


def grade(subjects: int, exposure: str) -> str:
    """The documented grading rule (see the module docstring)."""
    rank = _EXPOSURE_ORDER.index(exposure)
    if subjects >= 10_000 or (rank == 2 and subjects >= 1_000):
        return "critical"
    if subjects >= 1_000 or (rank >= 1 and subjects >= 100) or rank == 2:
        return "high"
    if subjects >= 100 or rank >= 1:
        return "medium"
    return "low"


def _resource(actor: Actor, incident_id: uuid.UUID | None = None) -> Resource:
    return Resource(type="incident", tenant_id=actor.tenant_id, id=str(incident_id) if incident_id else None)


def _window_events(db_session: Session, incident: Incident) -> Any:
    from callvault.audit.models import AuditEvent

    return (
        select(AuditEvent.subject_id, AuditEvent.action, AuditEvent.mask)
        .where(
            AuditEvent.tenant_id == incident.tenant_id,
            AuditEvent.actor_id.in_(incident.actor_ids),
            AuditEvent.time >= incident.window_start,
            AuditEvent.time <= incident.window_end,
            AuditEvent.decision == "allow",
            AuditEvent.subject_id.is_not(None),
        )
        .where((AuditEvent.outcome == "done") | AuditEvent.outcome.is_(None))
    )


def affected_subjects(db_session: Session, incident: Incident) -> list[str]:
    """Every customer an incident's actors read (or revealed, played, exported) in its window."""
    query = _window_events(db_session, incident).with_only_columns(distinct(_subject_column()))
    return sorted(str(value) for value in db_session.scalars(query))


def _subject_column() -> Any:
    from callvault.audit.models import AuditEvent

    return AuditEvent.subject_id


def _assess(db_session: Session, incident: Incident) -> None:
    subjects: set[str] = set()
    types: set[str] = set()
    for row in db_session.execute(_window_events(db_session, incident)):
        subject_id, action, mask = str(row[0]), str(row[1]), row[2]
        subjects.add(subject_id)
        if action.startswith(_SENSITIVE_PREFIXES):
            types.add("recording" if action.startswith("recording.") else "export")
        elif mask == "clear":
            types.add("clear_fields")
        else:
            types.add("masked_fields")
    exposure = "sensitive" if types & {"recording", "export"} else "clear" if "clear_fields" in types else "masked"
    incident.subject_count = len(subjects)
    incident.data_types = sorted(types)
    incident.grade = grade(len(subjects), exposure)
    incident.grade_basis = {"subjects": len(subjects), "exposure": exposure, "rule": "docs/monitoring.md#grading"}


def _timeline(
    db_session: Session, incident: Incident, kind: str, actor: Actor, detail: dict[str, Any], seq: int | None = None
) -> None:
    from sqlalchemy import func

    from callvault.vault.fields.service import time_ordered_uuid

    # strictly increasing per incident, so the timeline reads in the order things happened
    # even when several entries share a clock tick (a pinned clock, a coarse one)
    last_at: dict[uuid.UUID, datetime] = db_session.info.setdefault("incident_last_at", {})
    previous = last_at.get(incident.id) or db_session.scalar(
        select(func.max(IncidentEvent.at)).where(
            IncidentEvent.tenant_id == incident.tenant_id, IncidentEvent.incident_id == incident.id
        )
    )
    moment = clock.now()
    if previous is not None and moment <= previous:
        moment = previous + timedelta(microseconds=1)
    last_at[incident.id] = moment
    db_session.add(
        IncidentEvent(
            tenant_id=incident.tenant_id,
            id=time_ordered_uuid(),
            incident_id=incident.id,
            at=moment,
            kind=kind,
            actor_id=actor.actor_id,
            detail=detail,
            audit_seq=seq,
        )
    )


def _redacted_title(title: str) -> str:
    from callvault.audit.log import redact_reason

    return (redact_reason(title) or "")[:200]


def create_incident(
    *,
    db_session: Session,
    actor: Actor,
    title: str,
    alert_ids: list[uuid.UUID] | None = None,
    actor_ids: list[str] | None = None,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
) -> Incident:
    """Open an incident from alerts (their actors, from their first evidence) and/or by
    hand (actors and window given); grade it and start its clocks."""
    from callvault.audit.models import AuditEvent
    from callvault.vault.fields.service import time_ordered_uuid

    incident_id = time_ordered_uuid()
    decision = enforce(db_session, actor, "incident.create", _resource(actor, incident_id))
    alerts = []
    for alert_id in alert_ids or []:
        alert = db_session.get(Alert, (actor.tenant_id, alert_id))
        if alert is None:
            raise NotFound("Alert not found", code="monitoring.alert_not_found")
        alerts.append(alert)
    # no actor yet is allowed (a leak reported from outside): add them as they are found
    actors = sorted({*(actor_ids or []), *(alert.actor_id for alert in alerts)})
    now = clock.now()
    if window_start is None:
        seqs = [alert.evidence[0] for alert in alerts if alert.evidence]
        first = db_session.scalar(select(AuditEvent.time).where(AuditEvent.seq == min(seqs))) if seqs else None
        window_start = first or now - timedelta(hours=24)
    window_end = window_end or max(now, window_start)
    window_start, window_end = min(window_start, window_end), max(window_start, window_end)  # the span between
    aware_at = min([alert.created_at for alert in alerts], default=now)
    incident = Incident(
        tenant_id=actor.tenant_id,
        id=incident_id,
        title=_redacted_title(title),
        status="open",
        grade="low",
        grade_basis={},
        actor_ids=actors,
        window_start=window_start,
        window_end=window_end,
        subject_count=0,
        data_types=[],
        aware_at=aware_at,
        authority_due_at=aware_at + timedelta(hours=AUTHORITY_HOURS),
        pipl_due_at=aware_at + timedelta(hours=PIPL_HOURS),
        opened_by=actor.actor_id,
        opened_at=now,
        personal_data_breach=True,
    )
    _assess(db_session, incident)
    db_session.add(incident)
    db_session.flush()
    del decision
    _timeline(db_session, incident, "opened", actor, {"actors": len(actors), "alerts": len(alerts)})
    for alert in alerts:
        alert.incident_id = incident.id
        alert.status = "acknowledged" if alert.status == "open" else alert.status
        _timeline(db_session, incident, "alert_linked", actor, {"alert_id": str(alert.id), "rule_id": alert.rule_id})
    _timeline(db_session, incident, "graded", actor, dict(incident.grade_basis, grade=incident.grade))
    db_session.flush()
    return incident


def get_all_incidents(
    *, db_session: Session, actor: Actor, status: str | None = None, limit: int = 100, offset: int = 0
) -> list[Incident]:
    enforce(db_session, actor, "incident.read", _resource(actor))
    query = select(Incident).where(Incident.tenant_id == actor.tenant_id)
    if status is not None:
        query = query.where(Incident.status == status)
    return list(db_session.scalars(query.order_by(Incident.opened_at.desc()).limit(limit).offset(offset)))


def get_incident_or_raise(
    *,
    db_session: Session,
    actor: Actor,
    incident_id: uuid.UUID,
    action: str = "incident.read",
    purpose: str | None = None,
) -> Incident:
    incident = db_session.get(Incident, (actor.tenant_id, incident_id))
    if incident is None:
        enforce(db_session, actor, action, _resource(actor, incident_id), purpose=purpose, outcome="not_found")
        raise NotFound("Incident not found", code="incident.not_found")
    enforce(db_session, actor, action, _resource(actor, incident_id), purpose=purpose)
    return incident


def timeline_of(db_session: Session, incident: Incident) -> list[IncidentEvent]:
    query = select(IncidentEvent).where(
        IncidentEvent.tenant_id == incident.tenant_id, IncidentEvent.incident_id == incident.id
    )
    return list(db_session.scalars(query.order_by(IncidentEvent.at, IncidentEvent.id)))


@dataclass(frozen=True, slots=True)
class Clock:
    regime: str
    due_at: datetime
    notified_at: datetime | None
    state: Literal["met", "late", "open", "due_soon", "overdue"]
    seconds_left: int


def clocks_of(incident: Incident, *, now: datetime | None = None) -> list[Clock]:
    """The notification deadlines and where each stands."""
    moment = now or clock.now()
    found = []
    for regime, due, notified in (
        ("gdpr_art33_authority", incident.authority_due_at, incident.authority_notified_at),
        ("pipl_art57", incident.pipl_due_at, incident.authority_notified_at),
    ):
        left = int((due - moment).total_seconds())
        state: Literal["met", "late", "open", "due_soon", "overdue"]
        if notified is not None:
            state = "met" if notified <= due else "late"
        elif left < 0:
            state = "overdue"
        elif left <= DUE_SOON.total_seconds():
            state = "due_soon"
        else:
            state = "open"
        found.append(Clock(regime, due, notified, state, left))
    return found


ContainmentAction = Literal["freeze_user", "revoke_api_key", "rotate_tenant_key"]


def contain(
    *, db_session: Session, actor: Actor, incident_id: uuid.UUID, action: ContainmentAction, target: str | None
) -> Incident:
    """Apply one containment action and put it on the timeline (each is also audited by
    the service that does it). ``rotate_tenant_key`` makes a new KEK version and rewraps
    every data key in its own transactions."""
    from callvault.access.identity import service as identity
    from callvault.access.identity import users

    incident = get_incident_or_raise(
        db_session=db_session, actor=actor, incident_id=incident_id, action="incident.contain"
    )
    if incident.status == "closed":
        raise Conflict("The incident is closed", code="incident.closed")
    detail: dict[str, Any] = {"action": action}
    if action == "freeze_user":
        try:
            user_id = uuid.UUID(str(target))
        except ValueError:  # no such user, like any id that is not one of the tenant's
            raise NotFound("User not found", code="user.not_found") from None
        users.update_user(
            db_session=db_session,
            actor=actor,
            user_id=user_id,
            changes=users.UserChanges(status="frozen"),
            by="incident",
        )
        detail["user_id"] = str(user_id)
    elif action == "revoke_api_key":
        if not target:
            raise NotFound("Service account not found", code="service_account.not_found")
        enforce(
            db_session,
            actor,
            "service_account.revoke",
            Resource(type="service_account", tenant_id=actor.tenant_id, id=target[:64]),
        )
        identity.revoke_service_account(db_session=db_session, tenant_id=actor.tenant_id, key_id=target)
        detail["key_id"] = target
    elif action == "rotate_tenant_key":
        from callvault.vault.fields.service import rotate_tenant_kek

        enforce(
            db_session,
            actor,
            "tenant.key_rotate",
            Resource(type="tenant", tenant_id=actor.tenant_id, id=actor.tenant_id),
        )
        version, rewrapped = rotate_tenant_kek(runtime_of(db_session), actor.tenant_id)
        detail.update(kek_version=version, rewrapped=rewrapped)
    else:
        raise Invalid("Unknown containment action", code="incident.action_invalid")
    incident.status = "contained" if incident.status == "open" else incident.status
    _timeline(db_session, incident, f"containment.{action}", actor, detail)
    db_session.flush()
    return incident


def mark_notified(
    *, db_session: Session, actor: Actor, incident_id: uuid.UUID, audience: Literal["authority", "subjects"]
) -> Incident:
    """Record that the authority (stops both clocks) or the data subjects were notified."""
    incident = get_incident_or_raise(
        db_session=db_session, actor=actor, incident_id=incident_id, action="incident.notify"
    )
    now = clock.now()
    if audience == "authority":
        incident.authority_notified_at = incident.authority_notified_at or now
    else:
        incident.subjects_notified_at = incident.subjects_notified_at or now
    _timeline(db_session, incident, f"notified.{audience}", actor, {"subjects": incident.subject_count})
    db_session.flush()
    return incident


def close_incident(*, db_session: Session, actor: Actor, incident_id: uuid.UUID, comment: str) -> Incident:
    incident = get_incident_or_raise(
        db_session=db_session, actor=actor, incident_id=incident_id, action="incident.close", purpose=comment
    )
    incident.status, incident.closed_at = "closed", clock.now()
    _timeline(db_session, incident, "closed", actor, {})
    db_session.flush()
    return incident


def subjects_export(
    *, db_session: Session, actor: Actor, incident_id: uuid.UUID, fmt: str = "json"
) -> tuple[list[str], str]:
    """The affected customers' ids for the notification run (the notifier looks up how to
    reach each through the vault, with its own rights): a list and its CSV."""
    incident = get_incident_or_raise(
        db_session=db_session, actor=actor, incident_id=incident_id, action="incident.subjects"
    )
    subjects = affected_subjects(db_session, incident)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["customer_id"])
    writer.writerows([subject] for subject in subjects)
    del fmt
    return subjects, buffer.getvalue()


_DRAFTS = {
    ("authority", "en"): """Personal data breach notification (GDPR Art. 33 / PIPL Art. 57)

Controller: tenant {tenant}
Incident reference: {id}
Became aware: {aware_at} (UTC); notification deadline {authority_due_at}
Nature of the breach: unauthorised access to customer records by {actors} account(s)
  between {window_start} and {window_end}
Categories of data: {data_types}
Approximate number of data subjects concerned: {subjects}
Severity grade: {grade}
Measures taken: {measures}
Likely consequences: exposure of the data categories above to an unauthorised person.
Contact: the data protection officer of the controller.
""",
    ("authority", "zh"): """个人信息安全事件报告（《个人信息保护法》第五十七条 / GDPR 第33条）

个人信息处理者：租户 {tenant}
事件编号：{id}
发现时间：{aware_at}（UTC）；报告期限 {authority_due_at}
事件性质：{actors} 个账号在 {window_start} 至 {window_end} 期间未经授权访问客户记录
涉及的个人信息种类：{data_types}
涉及的个人数量（约）：{subjects}
事件等级：{grade}
已采取的补救措施：{measures}
可能造成的危害：上述种类的个人信息可能被未经授权的人员获取。
联系方式：个人信息保护负责人。
""",
    ("subjects", "en"): """Notice about your personal information

Between {window_start} and {window_end} (UTC) an account at our service centre accessed customer
records without authorisation; your record ({data_types}) was among them. We found it on
{aware_at}, stopped the access at once ({measures}), and have reported it to the authority.
What you can do: be wary of calls or messages that quote your details and ask for codes, passwords or payments.
Reference: {id}. Contact: our data protection officer.
""",
    ("subjects", "zh"): """关于您个人信息的告知

{window_start} 至 {window_end}（UTC）期间，我们客服中心的一个账号未经授权访问了客户记录，
其中包括您的信息（{data_types}）。我们于 {aware_at} 发现该情况，
已立即采取措施（{measures}），并已向监管部门报告。
您可以采取的措施：警惕引用您个人信息并索要验证码、密码或要求付款的来电和短信。
事件编号：{id}。联系方式：个人信息保护负责人。
""",
}

_TYPE_NAMES = {
    "en": {
        "masked_fields": "masked contact fields",
        "clear_fields": "contact fields in clear",
        "recording": "call recordings",
        "export": "bulk exports",
    },
    "zh": {
        "masked_fields": "脱敏的联系信息",
        "clear_fields": "明文联系信息",
        "recording": "通话录音",
        "export": "批量导出",
    },
}
_MEASURE_NAMES = {
    "en": {
        "freeze_user": "account frozen",
        "revoke_api_key": "API key revoked",
        "rotate_tenant_key": "encryption key rotated",
    },
    "zh": {"freeze_user": "冻结账号", "revoke_api_key": "吊销 API 密钥", "rotate_tenant_key": "轮换加密密钥"},
}


def draft(
    *,
    db_session: Session,
    actor: Actor,
    incident_id: uuid.UUID,
    audience: Literal["authority", "subjects"],
    lang: Literal["en", "zh"],
) -> str:
    """A notification draft filled from the incident (ids, counts, times; no personal data)."""
    incident = get_incident_or_raise(db_session=db_session, actor=actor, incident_id=incident_id)
    measures = [
        _MEASURE_NAMES[lang].get(event.kind.removeprefix("containment."), event.kind)
        for event in timeline_of(db_session, incident)
        if event.kind.startswith("containment.")
    ]
    separator = "、" if lang == "zh" else ", "
    none = "无" if lang == "zh" else "none yet"
    return _DRAFTS[(audience, lang)].format(
        tenant=incident.tenant_id,
        id=incident.id,
        aware_at=incident.aware_at.strftime("%Y-%m-%d %H:%M"),
        authority_due_at=incident.authority_due_at.strftime("%Y-%m-%d %H:%M"),
        window_start=incident.window_start.strftime("%Y-%m-%d %H:%M"),
        window_end=incident.window_end.strftime("%Y-%m-%d %H:%M"),
        actors=len(incident.actor_ids),
        data_types=separator.join(_TYPE_NAMES[lang].get(t, t) for t in incident.data_types) or none,
        subjects=incident.subject_count,
        grade=incident.grade,
        measures=separator.join(measures) or none,
    )
