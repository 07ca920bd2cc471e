"""Data-subject access requests: deadlines, the overdue list, and the access report.

Deadlines: GDPR one calendar month from receipt (Art. 12(3)); PIPL 15 working days
(Monday to Friday; public holidays are not modelled, so the date errs early). The report
holds everything stored about the subject (fields decrypted, for the DPO only), its
consents and holds, its call metadata, and every access to it from the audit log (who,
when, why), as JSON or as an HTML page in Chinese and English.
"""

from __future__ import annotations

import calendar
import html
import json
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.decision import Resource
from callvault.access.pdp import enforce
from callvault.calls.models import LiveCall
from callvault.core import clock
from callvault.lifecycle.consent import customer_or_raise, history_of, subject_resource
from callvault.lifecycle.models import DsarRequest
from callvault.lifecycle.retention import holds_on_subject
from callvault.lifecycle.schemas import DsarCreate, DsarRead, SubjectDataReport
from callvault.vault.customers.models import ENCRYPTED_FIELDS
from callvault.vault.fields.service import open_subject_key, tenant_keys, time_ordered_uuid

__all__ = ["create_request", "due_date", "get_requests", "render_html", "report"]

_PLAIN = ("membership_level", "region", "assigned_agent", "external_ref", "created_at", "updated_at")


def _add_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def due_date(regime: str, received_at: datetime) -> datetime:
    if regime == "gdpr":
        return _add_month(received_at)
    moment, left = received_at, 15
    while left:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            left -= 1
    return moment


def _read(row: DsarRequest, now: datetime) -> DsarRead:
    return DsarRead(
        id=row.id,
        subject_id=row.subject_id,
        kind=row.kind,
        regime=row.regime,
        received_at=row.received_at,
        due_at=row.due_at,
        completed_at=row.completed_at,
        overdue=row.completed_at is None and row.due_at < now,
    )


def create_request(*, db_session: Session, actor: Actor, subject_id: uuid.UUID, request_in: DsarCreate) -> DsarRead:
    customer_or_raise(db_session, actor, "dsar.create", subject_id)
    enforce(db_session, actor, "dsar.create", subject_resource(actor.tenant_id, subject_id))
    now = clock.now()
    row = DsarRequest(
        tenant_id=actor.tenant_id,
        id=time_ordered_uuid(),
        subject_id=subject_id,
        kind=request_in.kind,
        regime=request_in.regime,
        received_at=now,
        due_at=due_date(request_in.regime, now),
        requested_by=actor.actor_id,
    )
    db_session.add(row)
    db_session.flush()
    return _read(row, now)


def get_requests(*, db_session: Session, actor: Actor, overdue: bool = False) -> list[DsarRead]:
    enforce(db_session, actor, "dsar.read", Resource(type="dsar_request", tenant_id=actor.tenant_id))
    now = clock.now()
    query = select(DsarRequest).where(DsarRequest.tenant_id == actor.tenant_id)
    if overdue:
        query = query.where(DsarRequest.completed_at.is_(None), DsarRequest.due_at < now)
    return [_read(row, now) for row in db_session.scalars(query.order_by(DsarRequest.due_at).limit(10_000))]


def report(*, db_session: Session, actor: Actor, subject_id: uuid.UUID) -> SubjectDataReport:
    """Everything held about the subject; completes its open access requests."""
    from callvault.audit.service import subject_report
    from callvault.lifecycle.flows import _recordings_of

    customer = customer_or_raise(db_session, actor, "subject.report", subject_id)
    enforce(
        db_session,
        actor,
        "subject.report",
        subject_resource(actor.tenant_id, subject_id, customer.assigned_agent),
        purpose="data subject access request",
    )
    keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
    dek = open_subject_key(db_session=db_session, keys=keys, key_id=customer.subject_key_id)
    fields: dict[str, str | None] = {}
    for field in ENCRYPTED_FIELDS:
        sealed = getattr(customer, f"{field}_ct")
        fields[field] = None if sealed is None else dek.open(sealed, keys.context("customer", field, customer.id))
    attributes = {name: getattr(customer, name) for name in _PLAIN}
    calls = [
        {
            "id": call.id,
            "direction": call.direction,
            "agent": call.agent,
            "started_at": call.started_at,
            "ended_at": call.ended_at,
        }
        for call in db_session.scalars(
            select(LiveCall)
            .where(LiveCall.tenant_id == actor.tenant_id, LiveCall.customer_id == subject_id)
            .order_by(LiveCall.started_at)
        )
    ]
    accesses = [
        access.model_dump(mode="json")
        for access in subject_report(db_session=db_session, actor=actor, subject_id=str(subject_id)).accesses
    ]
    now = clock.now()
    requests = list(
        db_session.scalars(
            select(DsarRequest)
            .where(DsarRequest.tenant_id == actor.tenant_id, DsarRequest.subject_id == subject_id)
            .order_by(DsarRequest.received_at)
        )
    )
    for request in requests:
        if request.kind == "access" and request.completed_at is None:
            request.completed_at = now
    db_session.flush()
    return SubjectDataReport(
        tenant_id=actor.tenant_id,
        subject_id=subject_id,
        generated_at=now,
        fields=fields,
        attributes=attributes,
        consents=history_of(db_session, actor.tenant_id, subject_id).history,
        legal_holds=holds_on_subject(db_session, actor.tenant_id, subject_id),
        calls=calls,
        recordings=_recordings_of(db_session, actor.tenant_id, subject_id),
        accesses=accesses,
        requests=[_read(row, now) for row in requests],
    )


_LABELS = {
    "title": ("个人信息查阅报告", "Personal data access report"),
    "fields": ("我们保存的个人信息", "Personal data we hold"),
    "attributes": ("其他信息", "Other attributes"),
    "consents": ("同意记录", "Consents"),
    "holds": ("法律保全", "Legal holds"),
    "calls": ("通话记录", "Calls"),
    "recordings": ("录音", "Recordings"),
    "accesses": ("访问记录（谁在何时为何查看）", "Access history (who saw the data, when, why)"),
    "requests": ("请求与期限", "Requests and deadlines"),
    "none": ("无", "None"),
    "generated": ("生成时间", "Generated at"),
    "subject": ("主体编号", "Subject id"),
}
_FIELD_LABELS = {
    "name": ("姓名", "Name"),
    "mobile": ("手机号", "Mobile"),
    "landline": ("固定电话", "Landline"),
    "id_number": ("身份证号", "ID number"),
    "bank_card": ("银行卡号", "Bank card"),
    "email": ("电子邮箱", "E-mail"),
    "address": ("地址", "Address"),
}


def _label(key: str) -> str:
    zh, en = _LABELS[key]
    return f"{html.escape(zh)} / {html.escape(en)}"


def _cell(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, (dict, list)):
        return html.escape(json.dumps(value, ensure_ascii=False, default=str))
    return html.escape(str(value))


def _table(rows: list[dict[str, object]]) -> str:
    if not rows:
        return f"<p>{_label('none')}</p>"
    columns = list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(data: SubjectDataReport) -> str:
    """The report as one self-contained page, every heading in Chinese and English."""
    field_rows = "".join(
        f"<tr><th>{html.escape(_FIELD_LABELS[f][0])} / {html.escape(_FIELD_LABELS[f][1])}</th>"
        f"<td>{_cell(data.fields.get(f))}</td></tr>"
        for f in ENCRYPTED_FIELDS
    )
    attribute_rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in data.attributes.items()
    )
    consents = [
        {
            "purpose": c.purpose,
            "partner": c.partner,
            "status": c.status,
            "channel": c.channel,
            "recorded_at": c.recorded_at,
            "receipt": c.receipt.get("consentReceiptID"),
        }
        for c in data.consents
    ]
    holds = [h.model_dump() for h in data.legal_holds]
    requests = [r.model_dump() for r in data.requests]
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{_label('title')}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
        "td,th{border:1px solid #999;padding:4px 8px;text-align:left}</style></head><body>"
        f"<h1>{_label('title')}</h1>"
        f"<p>{_label('subject')}: {_cell(data.subject_id)}<br>{_label('generated')}: {_cell(data.generated_at)}</p>"
        f"<h2>{_label('fields')}</h2><table>{field_rows}</table>"
        f"<h2>{_label('attributes')}</h2><table>{attribute_rows}</table>"
        f"<h2>{_label('consents')}</h2>{_table(consents)}"
        f"<h2>{_label('holds')}</h2>{_table(holds)}"
        f"<h2>{_label('calls')}</h2>{_table(data.calls)}"
        f"<h2>{_label('recordings')}</h2>{_table([{'id': r} for r in data.recordings])}"
        f"<h2>{_label('accesses')}</h2>{_table(data.accesses)}"
        f"<h2>{_label('requests')}</h2>{_table(requests)}"
        "</body></html>"
    )
