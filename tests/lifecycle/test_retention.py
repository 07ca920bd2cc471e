"""Retention and legal hold: the sweeper deletes exactly what expired and nothing on hold
(fake clock), reports before it deletes, is idempotent and resumes where it stopped."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from callvault.calls.models import LiveCall
from callvault.lifecycle.models import SweepRun
from callvault.lifecycle.retention import create_hold, release_hold, set_policy, sweep
from callvault.lifecycle.schemas import HoldCreate
from callvault.lifecycle.signing import public_key, verify_document
from callvault.vault.customers.models import Customer
from tests.lifecycle.conftest import FakeClock, Lc


def _calls(lc: Lc) -> set[str]:
    with lc.session() as db_session:
        return set(db_session.scalars(select(LiveCall.id).where(LiveCall.tenant_id == lc.id)))


def _class(report, name: str):  # type: ignore[no-untyped-def]
    return next(c for c in report.classes if c.data_class == name)


def test_sweeper_deletes_exactly_what_expired_and_nothing_on_hold(lc: Lc, fake_clock: FakeClock) -> None:
    a, _ = lc.customer()
    b, _ = lc.customer()
    old_a, old_b = lc.call(a), lc.call(b)
    live = lc.call(a, end=False)  # never ended: not call history yet
    with lc.session() as db_session:
        set_policy(db_session=db_session, actor=lc.operator(), data_class="call_metadata", days=30)
    with lc.session() as db_session:  # one write per transaction: the audit append runs beside it
        create_hold(db_session=db_session, actor=lc.operator(), hold_in=HoldCreate(subject_id=b, case_ref="C-1"))
    fake_clock.advance(days=29, hours=23)
    recent = lc.call(a)
    assert _class(sweep(lc.runtime, lc.id, dry_run=True), "call_metadata").expired == 0
    fake_clock.advance(hours=2)  # old_a and old_b are now 30 days + 1 hour old; recent is 2 hours old

    dry = sweep(lc.runtime, lc.id, dry_run=True)
    calls = _class(dry, "call_metadata")
    assert (calls.status, calls.expired, calls.held, calls.deleted) == ("dry_run", 2, 1, 0)
    assert _calls(lc) == {old_a, old_b, live, recent}  # the dry run deleted nothing
    assert _class(dry, "audit_log").status == "kept"

    report = sweep(lc.runtime, lc.id)
    assert report.complete and _class(report, "call_metadata").deleted == 1
    assert _calls(lc) == {old_b, live, recent}  # only old_a went; the held subject's call stays
    assert _class(report, "customer_profile").deleted == 0  # profiles last three years
    # the run's certificate is signed
    _, key = public_key(lc.runtime.keyring)
    assert report.certificate and report.signature
    assert verify_document(key, "sweep-certificate", report.certificate, report.signature)

    again = sweep(lc.runtime, lc.id)  # idempotent: nothing more to delete
    assert _class(again, "call_metadata").deleted == 0 and _calls(lc) == {old_b, live, recent}

    with lc.session() as db_session:
        from callvault.lifecycle.retention import get_holds

        (hold,) = get_holds(db_session=db_session, actor=lc.operator())
    with lc.session() as db_session:
        release_hold(db_session=db_session, actor=lc.operator(), hold_id=hold.id)
    assert _class(sweep(lc.runtime, lc.id), "call_metadata").deleted == 1
    assert _calls(lc) == {live, recent}


def test_a_case_hold_suspends_the_whole_class_and_is_reported(lc: Lc, fake_clock: FakeClock) -> None:
    a, _ = lc.customer()
    lc.call(a)
    with lc.session() as db_session:
        set_policy(db_session=db_session, actor=lc.operator(), data_class="call_metadata", days=1)
    with lc.session() as db_session:
        create_hold(
            db_session=db_session,
            actor=lc.operator(),
            hold_in=HoldCreate(case_ref="LITIGATION-9", data_classes=["call_metadata"]),
        )
    fake_clock.advance(days=2)
    report = sweep(lc.runtime, lc.id)
    calls = _class(report, "call_metadata")
    assert calls.status == "suspended" and calls.deleted == 0 and "LITIGATION-9" in (calls.note or "")
    assert len(_calls(lc)) == 1


def test_an_interrupted_sweep_resumes_with_its_cutoff(lc: Lc, fake_clock: FakeClock) -> None:
    a, _ = lc.customer()
    first = {lc.call(a) for _ in range(7)}
    with lc.session() as db_session:
        set_policy(db_session=db_session, actor=lc.operator(), data_class="call_metadata", days=10)
    fake_clock.advance(days=11)
    partial = sweep(lc.runtime, lc.id, batch_size=3, max_batches=2)  # two for calls (no profile expired: no batch)
    assert not partial.complete and _class(partial, "call_metadata").deleted == 6
    assert len(_calls(lc) & first) == 1
    fake_clock.advance(days=5)  # later calls expire after the run's cut-off: the resumed run leaves them
    later = lc.call(a)
    fake_clock.advance(days=11)
    resumed = sweep(lc.runtime, lc.id, batch_size=3)
    assert resumed.resumed and resumed.complete and resumed.run_id == partial.run_id
    assert resumed.as_of == partial.as_of
    assert _class(resumed, "call_metadata").deleted == 7
    assert _calls(lc) == {later}
    with lc.session() as db_session:
        runs = db_session.scalars(select(SweepRun).where(SweepRun.tenant_id == lc.id)).all()
        assert [r.status for r in runs] == ["done"]
    assert _class(sweep(lc.runtime, lc.id), "call_metadata").deleted == 1  # a new run, a new cut-off
    assert _calls(lc) == set()


def test_expired_profiles_are_crypto_shredded_unless_held(lc: Lc, fake_clock: FakeClock) -> None:
    stale, _ = lc.customer()
    held, _ = lc.customer()
    with lc.session() as db_session:
        set_policy(db_session=db_session, actor=lc.operator(), data_class="customer_profile", days=365)
    with lc.session() as db_session:
        create_hold(db_session=db_session, actor=lc.operator(), hold_in=HoldCreate(subject_id=held, case_ref="C-2"))
    fake_clock.advance(days=366)
    fresh, _ = lc.customer()
    report = sweep(lc.runtime, lc.id)
    profiles = _class(report, "customer_profile")
    assert (profiles.deleted, profiles.held) == (1, 1)
    with lc.session() as db_session:
        left = set(db_session.scalars(select(Customer.id).where(Customer.tenant_id == lc.id)))
        assert left == {held, fresh}
        assert db_session.scalar(select(func.count()).select_from(Customer).where(Customer.id == stale)) == 0
    assert lc.client.get(f"/v1/customers/{stale}", headers=lc.headers).status_code == 404
    assert uuid.UUID(str(held)) in left


def test_sweep_over_http_defaults_to_a_dry_run_and_needs_the_dpo(lc: Lc) -> None:
    refused = lc.client.post("/v1/retention/sweeps", headers=lc.headers)
    assert refused.status_code == 403


def test_serve_schedules_the_sweep_after_replaying_the_ledger(isolated_runtime) -> None:  # type: ignore[no-untyped-def]
    from callvault.access.identity import service as identity
    from callvault.lifecycle.retention import start_sweeper

    with isolated_runtime.sessions() as db_session, db_session.begin():
        identity.create_tenant(db_session=db_session, tenant_id="sched-1", name="sched")
    sweeper = start_sweeper(isolated_runtime, interval_seconds=3600)
    assert start_sweeper(isolated_runtime) is sweeper  # once per runtime
    assert sweeper.passed.wait(120) and sweeper.passes >= 1
    from callvault.core.db import tenant_session

    with tenant_session(isolated_runtime.sessions, "sched-1") as db_session:
        runs = db_session.scalars(select(SweepRun).where(SweepRun.tenant_id == "sched-1")).all()
    assert [r.status for r in runs] == ["done"]
    sweeper.close()
