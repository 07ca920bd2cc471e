"""Monitoring: anomaly rules, alerts, freezes, incidents, and the Prometheus metrics.

Security officers read alerts (with their evidence: audit sequence numbers), lift freezes
with a comment, open and contain incidents and watch their notification clocks. `GET
/metrics` answers only a key with the `metrics:read` scope (see docs/monitoring.md).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Response

from callvault.api.deps import CurrentActor, DbSession
from callvault.api.problem import problem_responses
from callvault.monitoring import incidents, service
from callvault.monitoring.metrics import CONTENT_TYPE
from callvault.monitoring.models import Alert, Incident
from callvault.monitoring.rules import RuleBody
from callvault.monitoring.schemas import (
    AlertPage,
    AlertRead,
    AlertUpdate,
    ClockRead,
    CloseBody,
    ContainBody,
    IncidentCreate,
    IncidentRead,
    NotifyBody,
    RuleRead,
    SubjectsRead,
    TimelineRead,
    UnfreezeBody,
    UnfreezeRead,
)

__all__ = ["router"]

router = APIRouter(tags=["monitoring"])
_PREFIX = "/v1/monitoring"


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
def metrics(actor: CurrentActor, db_session: DbSession) -> Response:
    """Prometheus exposition: decisions, alerts, freezes, the engine's queue and lag (scope `metrics:read`)."""
    return Response(service.metrics_exposition(db_session=db_session, actor=actor), media_type=CONTENT_TYPE)


# -- rules ----------------------------------------------------------------------------------
@router.get(f"{_PREFIX}/rules", response_model=list[RuleRead])
def list_rules(actor: CurrentActor, db_session: DbSession) -> list[RuleRead]:
    """The tenant's effective rules: the shipped ones and the tenant's versions."""
    found = service.get_rules(db_session=db_session, actor=actor)
    return [RuleRead(source=source, rule=rule.model_dump(mode="json", exclude_none=True)) for rule, source in found]


@router.put(f"{_PREFIX}/rules/{{rule_id:id}}", response_model=RuleRead, responses=problem_responses(422))
def put_rule(
    rule_id: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")],
    document: Annotated[RuleBody, Body()],
    actor: CurrentActor,
    db_session: DbSession,
) -> RuleRead:
    """Store the tenant's version of a rule (same id as a shipped one replaces it). Unknown
    fields, fields the kind does not use, and thresholds out of range are refused (422)."""
    body = document.model_dump(mode="json", exclude_unset=True)
    spec = service.put_rule(db_session=db_session, actor=actor, rule_id=rule_id, document=body)
    return RuleRead(source="tenant", rule=spec.model_dump(mode="json", exclude_none=True))


@router.delete(f"{_PREFIX}/rules/{{rule_id:id}}", status_code=204, responses=problem_responses(404))
def delete_rule(rule_id: str, actor: CurrentActor, db_session: DbSession) -> Response:
    """Drop the tenant's version; the shipped rule of that id applies again."""
    service.delete_rule(db_session=db_session, actor=actor, rule_id=rule_id[:64])
    return Response(status_code=204)


# -- alerts ---------------------------------------------------------------------------------
def _alert(alert: Alert) -> AlertRead:
    return AlertRead.model_validate(alert, from_attributes=True)


@router.get(f"{_PREFIX}/alerts", response_model=AlertPage)
def list_alerts(
    actor: CurrentActor,
    db_session: DbSession,
    status: Annotated[Literal["open", "acknowledged", "closed"] | None, Query()] = None,
    actor_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> AlertPage:
    """The in-app alert list, newest first."""
    rows, total = service.get_all_alerts(
        db_session=db_session, actor=actor, status=status, actor_id=actor_id, limit=limit, offset=offset
    )
    return AlertPage(items=[_alert(row) for row in rows], total=total, limit=limit, offset=offset)


@router.get(f"{_PREFIX}/alerts/{{alert_id:id}}", response_model=AlertRead, responses=problem_responses(404))
def get_alert(alert_id: uuid.UUID, actor: CurrentActor, db_session: DbSession) -> AlertRead:
    """One alert with its evidence (audit sequence numbers: `GET /v1/audit/events?after_seq=`)."""
    return _alert(service.get_alert_or_raise(db_session=db_session, actor=actor, alert_id=alert_id))


@router.patch(f"{_PREFIX}/alerts/{{alert_id:id}}", response_model=AlertRead, responses=problem_responses(404))
def update_alert(alert_id: uuid.UUID, body: AlertUpdate, actor: CurrentActor, db_session: DbSession) -> AlertRead:
    """Acknowledge or close an alert, with a comment (kept, redacted, in the audit log)."""
    alert = service.update_alert(
        db_session=db_session, actor=actor, alert_id=alert_id, status=body.status, comment=body.comment
    )
    return _alert(alert)


@router.post(
    f"{_PREFIX}/users/{{user_id:id}}:unfreeze", response_model=UnfreezeRead, responses=problem_responses(404, 409)
)
def unfreeze(user_id: uuid.UUID, body: UnfreezeBody, actor: CurrentActor, db_session: DbSession) -> UnfreezeRead:
    """Lift a freeze (security officer after a step-up) with a comment of at least 10 characters."""
    closed = service.unfreeze_user(db_session=db_session, actor=actor, user_id=user_id, comment=body.comment)
    return UnfreezeRead(user_id=user_id, status="active", alerts_closed=closed)


# -- incidents ------------------------------------------------------------------------------
def _incident(db_session: DbSession, incident: Incident, *, full: bool = True) -> IncidentRead:
    read = IncidentRead.model_validate(incident, from_attributes=True)
    if full:
        clocks = incidents.clocks_of(incident)
        read.clocks = [ClockRead.model_validate(item, from_attributes=True) for item in clocks]
        read.warnings = [f"{item.regime}: {item.state}" for item in clocks if item.state in ("due_soon", "overdue")]
        read.timeline = [
            TimelineRead.model_validate(event, from_attributes=True)
            for event in incidents.timeline_of(db_session, incident)
        ]
    return read


@router.post(f"{_PREFIX}/incidents", response_model=IncidentRead, status_code=201, responses=problem_responses(404))
def create_incident(body: IncidentCreate, actor: CurrentActor, db_session: DbSession) -> IncidentRead:
    """Open an incident from alerts and/or actors: graded, affected customers counted, clocks started."""
    incident = incidents.create_incident(
        db_session=db_session,
        actor=actor,
        title=body.title,
        alert_ids=body.alert_ids,
        actor_ids=body.actor_ids,
        window_start=body.window_start,
        window_end=body.window_end,
    )
    return _incident(db_session, incident)


@router.get(f"{_PREFIX}/incidents", response_model=list[IncidentRead])
def list_incidents(
    actor: CurrentActor,
    db_session: DbSession,
    status: Annotated[Literal["open", "contained", "closed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[IncidentRead]:
    """Incidents, newest first, with their clocks."""
    rows = incidents.get_all_incidents(db_session=db_session, actor=actor, status=status, limit=limit, offset=offset)
    return [_incident(db_session, row, full=False) for row in rows]


@router.get(f"{_PREFIX}/incidents/{{incident_id:id}}", response_model=IncidentRead, responses=problem_responses(404))
def get_incident(incident_id: uuid.UUID, actor: CurrentActor, db_session: DbSession) -> IncidentRead:
    """One incident: grade and its basis, clocks and warnings, timeline."""
    incident = incidents.get_incident_or_raise(db_session=db_session, actor=actor, incident_id=incident_id)
    return _incident(db_session, incident)


@router.post(
    f"{_PREFIX}/incidents/{{incident_id:id}}:contain",
    response_model=IncidentRead,
    responses=problem_responses(404, 409),
)
def contain(incident_id: uuid.UUID, body: ContainBody, actor: CurrentActor, db_session: DbSession) -> IncidentRead:
    """Freeze an account, revoke an API key or rotate the tenant key; on the timeline."""
    incident = incidents.contain(
        db_session=db_session, actor=actor, incident_id=incident_id, action=body.action, target=body.target
    )
    return _incident(db_session, incident)


@router.post(
    f"{_PREFIX}/incidents/{{incident_id:id}}:notify", response_model=IncidentRead, responses=problem_responses(404)
)
def notify(incident_id: uuid.UUID, body: NotifyBody, actor: CurrentActor, db_session: DbSession) -> IncidentRead:
    """Record that the authority or the data subjects were notified (stops the clock)."""
    incident = incidents.mark_notified(
        db_session=db_session, actor=actor, incident_id=incident_id, audience=body.audience
    )
    return _incident(db_session, incident)


@router.post(
    f"{_PREFIX}/incidents/{{incident_id:id}}:close", response_model=IncidentRead, responses=problem_responses(404)
)
def close(incident_id: uuid.UUID, body: CloseBody, actor: CurrentActor, db_session: DbSession) -> IncidentRead:
    """Close the incident with a comment."""
    incident = incidents.close_incident(
        db_session=db_session, actor=actor, incident_id=incident_id, comment=body.comment
    )
    return _incident(db_session, incident)


@router.get(
    f"{_PREFIX}/incidents/{{incident_id:id}}/subjects",
    response_model=SubjectsRead,
    responses={**problem_responses(404), 200: {"content": {"text/csv": {}}}},
)
def subjects(
    incident_id: uuid.UUID,
    actor: CurrentActor,
    db_session: DbSession,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """Every customer the incident's actors accessed in its window (ids), for notification."""
    ids, text = incidents.subjects_export(db_session=db_session, actor=actor, incident_id=incident_id)
    if format == "csv":
        return Response(text, media_type="text/csv")
    return SubjectsRead(incident_id=incident_id, count=len(ids), customer_ids=ids)


@router.get(
    f"{_PREFIX}/incidents/{{incident_id:id}}/drafts/{{audience}}",
    response_class=Response,
    responses={**problem_responses(404), 200: {"content": {"text/plain": {}}}},
)
def draft(
    incident_id: uuid.UUID,
    audience: Literal["authority", "subjects"],
    actor: CurrentActor,
    db_session: DbSession,
    lang: Annotated[Literal["en", "zh"], Query()] = "en",
) -> Response:
    """A notification draft (Chinese or English) filled from the incident."""
    text = incidents.draft(db_session=db_session, actor=actor, incident_id=incident_id, audience=audience, lang=lang)
    return Response(text, media_type="text/plain; charset=utf-8")
