"""The DPO's whole path over HTTP with real people (passwords, TOTP, step-up): a DSAR,
the access report as a page in Chinese and English, an erasure approved by a tenant admin,
the certificate checked against the published key; then nothing about the subject reads back."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from callvault.lifecycle.flows import CERTIFICATE_KIND
from callvault.lifecycle.signing import verify_document
from tests.access.approvals.conftest import Staff, make_staff, member  # noqa: F401 - make_staff: a fixture
from tests.access.identity.conftest import (  # noqa: F401 - fixtures, registered by import
    FakeClock,
    _test_login_settings,
    fake_clock,
    make_person,
)
from tests.conftest import TenantHandle, auth, remember_pii


def test_dpo_reports_and_erases_a_subject_over_http(
    client: TestClient,
    tenant: TenantHandle,
    make_staff: Callable[[str], Staff],  # noqa: F811 - the fixture imported above
    make_person: Callable[..., object],  # noqa: F811
    fake_clock: FakeClock,  # noqa: F811
) -> None:
    staff = make_staff(tenant.id)
    dpo = member(client, make_person(tenant.id, "dpo"), fake_clock)  # type: ignore[arg-type]
    row = {"name": "欧阳娜娜", "mobile": "13912345678", "address": "上海市浦东新区世纪大道100号"}
    remember_pii(*row.values())
    created = client.post("/v1/customers", json=row, headers=auth(tenant.api_key))
    assert created.status_code == 201
    subject = created.json()["id"]

    registered = client.post(
        f"/v1/subjects/{subject}/requests", json={"kind": "access", "regime": "pipl"}, headers=dpo.headers
    )
    assert registered.status_code == 201 and registered.json()["overdue"] is False
    page = client.get(f"/v1/subjects/{subject}/report", params={"format": "html"}, headers=dpo.headers)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "欧阳娜娜" in page.text and "Personal data access report" in page.text and "访问记录" in page.text
    report = client.get(f"/v1/subjects/{subject}/report", headers=dpo.headers).json()
    assert report["fields"]["mobile"] == "+8613912345678"
    assert any(a["action"] == "customer.create" for a in report["accesses"])
    # an agent, a supervisor-less backend key: no report
    assert client.get(f"/v1/subjects/{subject}/report", headers=staff.agent.headers).status_code == 403

    assert client.post(f"/v1/subjects/{subject}/erasure", headers=dpo.headers).json()["code"] == "approval.required"
    request = client.post(
        f"/v1/subjects/{subject}/erasure-requests",
        json={"justification": "the customer asked to be forgotten (PIPL art. 47)"},
        headers=dpo.headers,
    )
    assert request.status_code == 201, request.text
    approval_id = request.json()["id"]
    assert client.post(f"/v1/approvals/{approval_id}:approve", json={}, headers=staff.admin.headers).status_code == 200
    erased = client.post(f"/v1/subjects/{subject}/erasure", headers=dpo.headers)
    assert erased.status_code == 200, erased.text
    certificate = erased.json()
    key = client.get("/v1/lifecycle/signing-key", headers=dpo.headers).json()
    assert key["key_id"] == certificate["signing_key_id"]
    assert verify_document(key["public_key"], CERTIFICATE_KIND, certificate["certificate"], certificate["signature"])
    assert certificate["certificate"]["approvers"] == [staff.admin.actor_id]

    assert client.get(f"/v1/customers/{subject}", headers=auth(tenant.api_key)).status_code == 404
    assert client.get(f"/v1/subjects/{subject}/report", headers=dpo.headers).status_code == 404
    again = client.post(f"/v1/subjects/{subject}/erasure", headers=dpo.headers)
    assert again.status_code == 404 and again.headers["content-type"].startswith("application/problem+json")
    cert_id = certificate["certificate"]["certificate_id"]
    fetched = client.get(f"/v1/erasure-certificates/{cert_id}", headers=dpo.headers)
    assert fetched.status_code == 200 and fetched.json()["signature"] == certificate["signature"]
