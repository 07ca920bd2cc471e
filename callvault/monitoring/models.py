"""Anomaly rules (tenant overrides of the shipped defaults), alerts, incidents and their timelines.

Rows hold ids, codes, counts and times. The one piece of free text, an incident's title and
the comments on its timeline, is passed through the PII redactor before it is stored.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, ForeignKeyConstraint, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.db import Base, UtcDateTime

__all__ = ["Alert", "Incident", "IncidentEvent", "MonitoringRule"]


class MonitoringRule(Base):
    """A tenant's version of one rule: replaces the shipped rule of the same id, or adds one."""

    __tablename__ = "monitoring_rule"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Alert(Base):
    """One detection: the rule, the actor, the evidence (audit sequence numbers) and what
    was done (``response_taken``: ``alert``, ``step_up``, ``frozen``, or ``none`` on replay).

    ``dedup_key`` (rule, actor, first evidence seq) makes a replay over a stretch the live
    engine already saw store nothing twice."""

    __tablename__ = "monitoring_alert"
    __table_args__ = (
        Index("ix_monitoring_alert_status", "tenant_id", "status", "created_at"),
        Index("ix_monitoring_alert_actor", "tenant_id", "actor_id", "created_at"),
        Index("ix_monitoring_alert_dedup", "tenant_id", "dedup_key", unique=True),
    )

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    response: Mapped[str] = mapped_column(String(16))
    response_taken: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(100))
    actor_kind: Mapped[str] = mapped_column(String(32))
    evidence: Mapped[list[int]] = mapped_column(JSON)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16))  # live | replay
    status: Mapped[str] = mapped_column(String(16))  # open | acknowledged | closed
    dedup_key: Mapped[str] = mapped_column(String(200))
    detected_at: Mapped[datetime] = mapped_column(UtcDateTime)  # time of the offending event
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    incident_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    alert_seq: Mapped[int | None] = mapped_column(Integer, default=None)  # the monitoring.alert audit event


class Incident(Base):
    """A security incident: its grade, the window and actors it covers, its notification clocks."""

    __tablename__ = "monitoring_incident"
    __table_args__ = (Index("ix_monitoring_incident_status", "tenant_id", "status", "opened_at"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # open | contained | closed
    grade: Mapped[str] = mapped_column(String(16))
    grade_basis: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor_ids: Mapped[list[str]] = mapped_column(JSON)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    window_end: Mapped[datetime] = mapped_column(UtcDateTime)
    subject_count: Mapped[int] = mapped_column(Integer)
    data_types: Mapped[list[str]] = mapped_column(JSON)
    aware_at: Mapped[datetime] = mapped_column(UtcDateTime)  # the clocks start here
    authority_due_at: Mapped[datetime] = mapped_column(UtcDateTime)  # GDPR art. 33: 72 h
    pipl_due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    authority_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    subjects_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    opened_by: Mapped[str] = mapped_column(String(100))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    personal_data_breach: Mapped[bool] = mapped_column(Boolean, default=True)


class IncidentEvent(Base):
    """One entry of an incident's timeline: opened, alert linked, graded, a containment
    action, a notification, a note, closed."""

    __tablename__ = "monitoring_incident_event"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "incident_id"],
            ["monitoring_incident.tenant_id", "monitoring_incident.id"],
            name="fk_monitoring_incident_event_incident",
        ),
        Index("ix_monitoring_incident_event_incident", "tenant_id", "incident_id", "at"),
    )

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(48))
    actor_id: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    audit_seq: Mapped[int | None] = mapped_column(Integer, default=None)
