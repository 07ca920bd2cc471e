"""Votes that arrive at once: two approvers both count (the request ends approved with
two approvals), and one approver's double click counts once."""

from __future__ import annotations

import threading
import uuid

from callvault.access.actor import Actor
from callvault.access.approvals import service
from callvault.access.identity import service as identity
from callvault.core.db import tenant_session
from callvault.core.errors import Conflict
from callvault.core.runtime import Runtime


def _tenant(runtime: Runtime) -> str:
    tenant_id = f"c-{uuid.uuid4().hex[:8]}"
    with runtime.sessions() as db_session, db_session.begin():
        identity.create_tenant(db_session=db_session, tenant_id=tenant_id, name="Concurrency")
    return tenant_id


def _person(tenant_id: str, role: str) -> Actor:  # stepped up just now: approvers vote after a TOTP
    from callvault.core import clock

    return Actor(tenant_id, f"user:{uuid.uuid4()}", "user", role=role, step_up_at=clock.now())


def _request(runtime: Runtime, requester: Actor) -> uuid.UUID:
    with tenant_session(runtime.sessions, requester.tenant_id) as db_session:
        created = service.create_request(
            db_session=db_session,
            actor=requester,
            kind="bulk_read",
            target={"scope": "tenant"},
            justification="Month-end reconciliation of all call records",
        )
    return created.id


def _at_once(runtime: Runtime, votes: list[tuple[Actor, uuid.UUID]]) -> list[object]:
    barrier = threading.Barrier(len(votes))
    results: list[object] = [None] * len(votes)

    def vote(index: int, actor: Actor, approval_id: uuid.UUID) -> None:
        barrier.wait(timeout=30)
        try:
            with tenant_session(runtime.sessions, actor.tenant_id) as db_session:
                results[index] = service.decide(
                    db_session=db_session, actor=actor, approval_id=approval_id, approve=True
                ).status
        except Exception as error:  # collected and asserted on below
            results[index] = error

    threads = [threading.Thread(target=vote, args=(i, actor, aid)) for i, (actor, aid) in enumerate(votes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _stored(runtime: Runtime, tenant_id: str, approval_id: uuid.UUID) -> tuple[str, int]:
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        approval = service.get_or_raise(db_session=db_session, tenant_id=tenant_id, approval_id=approval_id)
        return approval.status, approval.approvals


def test_two_approvers_at_once_both_count(runtime: Runtime) -> None:
    tenant_id = _tenant(runtime)
    approval_id = _request(runtime, _person(tenant_id, "tenant_admin"))
    approvers = [_person(tenant_id, "tenant_admin"), _person(tenant_id, "security_officer")]
    results = _at_once(runtime, [(approver, approval_id) for approver in approvers])
    assert sorted(map(str, results)) == ["approved", "pending"], results
    assert _stored(runtime, tenant_id, approval_id) == ("approved", 2)


def test_a_double_click_counts_once(runtime: Runtime) -> None:
    tenant_id = _tenant(runtime)
    approval_id = _request(runtime, _person(tenant_id, "tenant_admin"))
    approver = _person(tenant_id, "security_officer")
    results = _at_once(runtime, [(approver, approval_id), (approver, approval_id)])
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(conflicts) == 1 and conflicts[0].code == "approval.already_decided", results
    assert "pending" in results
    assert _stored(runtime, tenant_id, approval_id) == ("pending", 1)
