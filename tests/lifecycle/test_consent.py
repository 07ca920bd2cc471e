"""Consent ledger: receipts verify, withdrawal is as easy as consent and idempotent, the
PDP's decisions follow the ledger, and evidence outlives withdrawal by the configured time."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from callvault.audit.models import AuditEvent
from callvault.core.db import system_session
from callvault.lifecycle.consent import RECEIPT_KIND
from callvault.lifecycle.models import Consent
from callvault.lifecycle.retention import set_policy, sweep
from callvault.lifecycle.signing import canonical, public_key, verify_document
from tests.conftest import auth
from tests.lifecycle.conftest import NOTICE, FakeClock, Lc


def _give(lc: Lc, subject: uuid.UUID, purpose: str = "marketing_call", **extra: object) -> dict:  # type: ignore[type-arg]
    body = {"purpose": purpose, "channel": "ivr", "notice_version": "v3", "notice_hash": NOTICE, **extra}
    response = lc.client.post(f"/v1/subjects/{subject}/consents", json=body, headers=lc.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _withdraw(lc: Lc, subject: uuid.UUID, purpose: str = "marketing_call", **extra: object) -> dict:  # type: ignore[type-arg]
    body = {"purpose": purpose, "channel": "web_form", **extra}
    response = lc.client.post(f"/v1/subjects/{subject}/consents:withdraw", json=body, headers=lc.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _check(lc: Lc, subject: uuid.UUID, action: str = "marketing_call", partner: str | None = None) -> int:
    body = {"action": action, **({"partner": partner} if partner else {})}
    return lc.client.post(f"/v1/subjects/{subject}/purpose-checks", json=body, headers=auth(lc.calls_key)).status_code


def test_receipt_is_signed_and_names_purpose_channel_notice_and_evidence(lc: Lc) -> None:
    subject, _ = lc.customer()
    given = _give(lc, subject, evidence_ref="ivr-rec-0001", evidence_hash="ab" * 32)
    receipt = given["receipt"]
    assert receipt["version"] == "callvault-consent-receipt/1"
    assert receipt["piiPrincipalId"] == str(subject)
    assert receipt["collectionMethod"] == "ivr"
    assert receipt["services"][0]["purposes"][0]["noticeHash"] == NOTICE
    assert receipt["evidence"] == {"ref": "ivr-rec-0001", "sha256": "ab" * 32}
    key_id, key = public_key(lc.runtime.keyring)
    assert receipt["signingKeyId"] == key_id
    assert verify_document(key, RECEIPT_KIND, receipt, given["signature"])
    forged = {**receipt, "collectionMethod": "web_form"}
    assert not verify_document(key, RECEIPT_KIND, forged, given["signature"])
    with lc.session() as db_session:  # the stored receipt is the signed bytes
        row = db_session.get(Consent, (lc.id, uuid.UUID(given["id"])))
        assert row is not None and row.receipt.encode() == canonical(receipt)


def test_consent_given_and_withdrawn_changes_pdp_decisions(lc: Lc) -> None:
    subject, _ = lc.customer()
    request_id = f"mkt-{uuid.uuid4().hex[:8]}"
    denied = lc.client.post(
        f"/v1/subjects/{subject}/purpose-checks",
        json={"action": "marketing_call"},
        headers={**auth(lc.calls_key), "x-request-id": request_id},
    )
    assert denied.status_code == 403
    with system_session(lc.runtime.sessions) as db_session:
        event = db_session.scalars(select(AuditEvent).where(AuditEvent.request_id == request_id)).one()
        assert (event.action, event.decision) == ("outbound.marketing_call", "deny")
    _give(lc, subject)
    assert _check(lc, subject) == 200
    _withdraw(lc, subject)
    assert _check(lc, subject) == 403
    _give(lc, subject)  # given again: allowed again, history kept
    assert _check(lc, subject) == 200
    history = lc.client.get(f"/v1/subjects/{subject}/consents", headers=lc.headers).json()
    assert [h["status"] for h in history["history"]] == ["given", "withdrawn", "given"]
    assert history["current"] == {"marketing_call": "given"}


def test_partner_transfer_needs_consent_for_that_partner(lc: Lc) -> None:
    subject, _ = lc.customer()
    # the backend's customers:write scope may transfer; the CTI key may not
    headers = lc.headers

    def check(partner: str) -> int:
        body = {"action": "partner_transfer", "partner": partner}
        return lc.client.post(f"/v1/subjects/{subject}/purpose-checks", json=body, headers=headers).status_code

    assert check("insurer-a") == 403
    _give(lc, subject, "partner_sharing", partner="insurer-a")
    assert check("insurer-a") == 200
    assert check("insurer-b") == 403
    _withdraw(lc, subject, "partner_sharing", partner="insurer-a")
    assert check("insurer-a") == 403


def test_withdrawing_twice_is_idempotent(lc: Lc) -> None:
    subject, _ = lc.customer()
    _give(lc, subject, "analytics")
    first = _withdraw(lc, subject, "analytics")
    second = _withdraw(lc, subject, "analytics")
    assert first["changed"] and not second["changed"]
    assert second["id"] == first["id"]
    history = lc.client.get(f"/v1/subjects/{subject}/consents", headers=lc.headers).json()["history"]
    assert [h["status"] for h in history] == ["given", "withdrawn"]


def test_bad_consent_input(lc: Lc) -> None:
    subject, _ = lc.customer()
    base = {"channel": "ivr", "notice_version": "v3", "notice_hash": NOTICE}
    url = f"/v1/subjects/{subject}/consents"
    unknown = lc.client.post(url, json={**base, "purpose": "telepathy"}, headers=lc.headers)
    assert unknown.status_code == 422
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert lc.client.post(url, json={**base, "purpose": "partner_sharing"}, headers=lc.headers).status_code == 422
    assert (
        lc.client.post(url, json={**base, "purpose": "analytics", "channel": "fax"}, headers=lc.headers).status_code
        == 422
    )
    missing = lc.client.post(
        f"/v1/subjects/{uuid.uuid4()}/consents", json={**base, "purpose": "analytics"}, headers=lc.headers
    )
    assert missing.status_code == 404
    never = lc.client.post(
        f"/v1/subjects/{subject}/consents:withdraw",
        json={"purpose": "cross_border", "channel": "ivr"},
        headers=lc.headers,
    )
    assert never.status_code == 404 and never.json()["code"] == "consent.not_found"


def test_evidence_outlives_withdrawal_by_the_configured_time(lc: Lc, fake_clock: FakeClock) -> None:
    subject, _ = lc.customer()
    _give(lc, subject, "call_recording", evidence_ref="ivr-rec-7")
    withdrawn = _withdraw(lc, subject, "call_recording")
    assert withdrawn["evidence_until"] is not None
    with lc.session() as db_session:
        set_policy(db_session=db_session, actor=lc.operator(), data_class="consent_evidence", days=1096)

    def stored() -> int:
        with lc.session() as db_session:
            return len(db_session.scalars(select(Consent).where(Consent.tenant_id == lc.id)).all())

    fake_clock.advance(days=1095)
    report = sweep(lc.runtime, lc.id)
    assert report.complete and stored() == 2  # three years after withdrawal, the evidence is still there
    assert next(c for c in report.classes if c.data_class == "consent_evidence").deleted == 0
    fake_clock.advance(days=2)
    dry = sweep(lc.runtime, lc.id, dry_run=True)
    assert next(c for c in dry.classes if c.data_class == "consent_evidence").expired == 1
    assert stored() == 2  # a dry run deletes nothing
    report = sweep(lc.runtime, lc.id)
    assert next(c for c in report.classes if c.data_class == "consent_evidence").deleted == 1
    assert stored() == 0
