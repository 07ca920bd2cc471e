"""DSAR: the access report lists the data (decrypted, DPO only), consents and every access;
deadlines (GDPR one month, PIPL 15 working days) and the overdue list. Minimization: the
tenant's data schema rejects other fields (422 naming the field) and reports unneeded ones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from callvault.core.errors import Forbidden, StepUpRequired
from callvault.lifecycle import dsar
from callvault.lifecycle.minimization import report as minimization_report
from callvault.lifecycle.minimization import update_schema
from callvault.lifecycle.schemas import DataSchemaUpdate, DsarCreate
from tests.conftest import auth
from tests.lifecycle.conftest import NOTICE, FakeClock, Lc, stepped_up


def test_access_report_holds_data_consents_and_who_saw_it(lc: Lc) -> None:
    subject, row = lc.customer()
    lc.call(subject)
    assert lc.client.get(f"/v1/customers/{subject}", headers=lc.headers).status_code == 200
    reveal = lc.client.post(
        f"/v1/customers/{subject}:reveal",
        json={"fields": ["mobile"], "reason": "回拨核实订单信息与地址变更"},
        headers=auth(lc.tenant.reveal_key),
    )
    assert reveal.status_code == 200
    body = {"purpose": "marketing_call", "channel": "agent_script", "notice_version": "v3", "notice_hash": NOTICE}
    assert lc.client.post(f"/v1/subjects/{subject}/consents", json=body, headers=lc.headers).status_code == 201
    dpo = lc.person("dpo")
    with lc.session() as db_session:
        request = dsar.create_request(
            db_session=db_session, actor=dpo, subject_id=subject, request_in=DsarCreate(kind="access", regime="pipl")
        )
    with lc.session() as db_session:
        data = dsar.report(db_session=db_session, actor=stepped_up(dpo), subject_id=subject)
    assert data.fields["name"] == row["name"] and data.fields["mobile"] == "+86" + row["mobile"]
    assert [c.purpose for c in data.consents] == ["marketing_call"]
    assert len(data.calls) == 1
    actions = [(a["actor_id"], a["action"]) for a in data.accesses]
    assert any(action == "customer.read" for _, action in actions)
    revealed = [a for a in data.accesses if a["action"] == "customer.reveal"]
    assert revealed and revealed[0]["purpose"] == "回拨核实订单信息与地址变更"  # why, opened for the DPO
    assert [r.id for r in data.requests] == [request.id] and data.requests[0].completed_at is not None
    page = dsar.render_html(data)
    assert "个人信息查阅报告" in page and "Personal data access report" in page
    assert "访问记录" in page and "customer.reveal" in page
    assert "<script" not in page


def test_report_needs_a_stepped_up_dpo(lc: Lc, fake_clock: FakeClock) -> None:
    subject, _ = lc.customer()
    with pytest.raises(Forbidden), lc.session() as db_session:
        dsar.report(db_session=db_session, actor=lc.person("supervisor"), subject_id=subject)
    dpo = lc.person("dpo")
    fake_clock.advance(minutes=10)
    with pytest.raises(StepUpRequired), lc.session() as db_session:
        dsar.report(db_session=db_session, actor=dpo, subject_id=subject)
    assert lc.client.get(f"/v1/subjects/{subject}/report", headers=lc.headers).status_code == 403
    assert lc.client.get(f"/v1/subjects/{uuid.uuid4()}/report", headers=lc.headers).status_code == 403


def test_deadlines_and_overdue_list(lc: Lc, fake_clock: FakeClock) -> None:
    friday = datetime(2026, 1, 30, 10, 0, 0, 500, tzinfo=UTC)
    assert dsar.due_date("gdpr", friday) == datetime(2026, 2, 28, 10, 0, 0, 500, tzinfo=UTC)
    assert dsar.due_date("pipl", friday) == datetime(2026, 2, 20, 10, 0, 0, 500, tzinfo=UTC)  # 15 working days
    subject, _ = lc.customer()
    dpo = lc.person("dpo")
    with lc.session() as db_session:
        pipl = dsar.create_request(
            db_session=db_session, actor=dpo, subject_id=subject, request_in=DsarCreate(kind="access", regime="pipl")
        )
    with lc.session() as db_session:  # one write per transaction: the audit append runs beside it
        dsar.create_request(
            db_session=db_session, actor=dpo, subject_id=subject, request_in=DsarCreate(kind="erasure", regime="gdpr")
        )
    fake_clock.advance(days=22)  # past 15 working days, inside one month
    with lc.session() as db_session:
        overdue = dsar.get_requests(db_session=db_session, actor=dpo, overdue=True)
    assert [r.id for r in overdue] == [pipl.id] and overdue[0].overdue


def test_data_schema_rejects_fields_outside_it_with_the_field_name(lc: Lc) -> None:
    kept, _ = lc.customer()  # stored before the schema: has an e-mail
    dpo = lc.person("dpo")
    with lc.session() as db_session:
        update_schema(
            db_session=db_session,
            actor=dpo,
            schema_in=DataSchemaUpdate(
                fields={
                    "name": ["service"],
                    "mobile": ["service"],
                    "address": ["marketing_call"],
                    "region": ["service"],
                }
            ),
        )
    refused = lc.client.post(
        "/v1/customers", json={"name": "李雷", "mobile": "13800138000", "email": "li@example.com"}, headers=lc.headers
    )
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["code"] == "schema.field_not_allowed" and "email" in problem["detail"]
    assert [e["field"] for e in problem["errors"]] == ["email"]
    assert "li@example.com" not in refused.text
    accepted = lc.client.post("/v1/customers", json={"name": "李雷", "mobile": "13800138000"}, headers=lc.headers)
    assert accepted.status_code == 201
    patched = lc.client.patch(f"/v1/customers/{kept}", json={"email": "x@example.com"}, headers=lc.headers)
    assert patched.status_code == 422 and patched.json()["errors"][0]["field"] == "email"
    with lc.session() as db_session:
        found = minimization_report(db_session=db_session, actor=dpo)
    unneeded = {u.field: u for u in found.unneeded}
    assert unneeded["email"].reason == "not in the data schema" and unneeded["email"].stored == 1
    assert unneeded["address"].reason == "no purpose that needs it is active"  # nobody consented to marketing
    assert "name" not in unneeded
