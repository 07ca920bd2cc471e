"""Request and response bodies of the monitoring API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from callvault.audit.schemas import UtcInstant

__all__ = [
    "AlertPage",
    "AlertRead",
    "AlertUpdate",
    "ClockRead",
    "CloseBody",
    "ContainBody",
    "IncidentCreate",
    "IncidentRead",
    "NotifyBody",
    "ReplayRead",
    "RuleRead",
    "SubjectsRead",
    "TimelineRead",
    "UnfreezeBody",
    "UnfreezeRead",
]

_Comment = Field(min_length=10, max_length=2000)  # the default policy's reason length


class RuleRead(BaseModel):
    source: Literal["default", "tenant"]
    rule: dict[str, Any]


class AlertRead(BaseModel):
    id: uuid.UUID
    rule_id: str
    kind: str
    severity: str
    response: str
    response_taken: str
    actor_id: str
    actor_kind: str
    evidence: list[int]
    summary: dict[str, Any]
    source: str
    status: str
    detected_at: datetime
    created_at: datetime
    incident_id: uuid.UUID | None
    alert_seq: int | None


class AlertPage(BaseModel):
    items: list[AlertRead]
    total: int
    limit: int
    offset: int


class AlertUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["open", "acknowledged", "closed"]
    comment: str = _Comment


class UnfreezeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = _Comment


class UnfreezeRead(BaseModel):
    user_id: uuid.UUID
    status: str
    alerts_closed: int


class IncidentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=3, max_length=200)
    alert_ids: list[uuid.UUID] = Field(default_factory=list, max_length=500)
    actor_ids: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=500)
    window_start: UtcInstant | None = None
    window_end: UtcInstant | None = None


class ClockRead(BaseModel):
    regime: str
    due_at: datetime
    notified_at: datetime | None
    state: str
    seconds_left: int


class TimelineRead(BaseModel):
    at: datetime
    kind: str
    actor_id: str
    detail: dict[str, Any]


class IncidentRead(BaseModel):
    id: uuid.UUID
    title: str
    status: str
    grade: str
    grade_basis: dict[str, Any]
    actor_ids: list[str]
    window_start: datetime
    window_end: datetime
    subject_count: int
    data_types: list[str]
    aware_at: datetime
    authority_due_at: datetime
    pipl_due_at: datetime
    authority_notified_at: datetime | None
    subjects_notified_at: datetime | None
    opened_by: str
    opened_at: datetime
    closed_at: datetime | None
    clocks: list[ClockRead] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    timeline: list[TimelineRead] = Field(default_factory=list)


class ContainBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["freeze_user", "revoke_api_key", "rotate_tenant_key"]
    target: str | None = Field(default=None, max_length=100)


class NotifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    audience: Literal["authority", "subjects"]


class CloseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = _Comment


class SubjectsRead(BaseModel):
    incident_id: uuid.UUID
    count: int
    customer_ids: list[str]


class ReplayRead(BaseModel):
    events: int
    seconds: float
    alerts: list[dict[str, Any]]
    stored: int
