"""Bulk appends reuse the tree their last committed batch left, and only that one: a batch
rolled back (whole, or in a savepoint) is never taken for the log, even when other appends
bring the log back to the size it would have had."""

from __future__ import annotations

import uuid
from typing import Any

from callvault.access.actor import Actor
from callvault.access.decision import Decision, Resource
from callvault.audit.log import build_event, writer_for
from callvault.audit.verify import verify_log
from callvault.core.runtime import Runtime


def _template(action: str = "customer.create") -> dict[str, Any]:
    return build_event(
        actor=Actor.operator("acme"),
        action=action,
        resource=Resource(type="customer", tenant_id="acme"),
        decision=Decision(True, "none", "test", "allowed"),
        purpose="bulk import",
    )


def _subjects(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


class _Abandon(Exception):
    pass


def test_bulk_appends_after_rollbacks_and_other_writers_verify(isolated_runtime: Runtime) -> None:
    writer = writer_for(isolated_runtime)
    template = _template()
    other = {**_template("customer.read"), "resource_id": "x", "subject_id": "x"}
    with isolated_runtime.sessions() as db_session:
        with db_session.begin():
            first = writer.append_like_in(db_session, template, _subjects(7))
        with db_session.begin():  # reuses the committed tree
            second = writer.append_like_in(db_session, template, _subjects(6))
        assert second[0] == first[-1] + 1
        try:
            with db_session.begin():
                writer.append_like_in(db_session, template, _subjects(5))
                raise _Abandon
        except _Abandon:
            pass
        writer.append([dict(other) for _ in range(5)])  # the log grows to the size the abandoned batch had
        with db_session.begin():
            third = writer.append_like_in(db_session, template, _subjects(4))
        assert third[0] == second[-1] + 6
        with db_session.begin():  # a savepoint rolled back inside a committed transaction
            savepoint = db_session.begin_nested()
            writer.append_like_in(db_session, template, _subjects(3))
            savepoint.rollback()
        writer.append([dict(other) for _ in range(3)])
        with db_session.begin():
            fourth = writer.append_like_in(db_session, template, _subjects(9))
        assert fourth[0] == third[-1] + 4
    writer.sign_head()
    with isolated_runtime.engine.connect() as conn:
        report = verify_log(conn, isolated_runtime.keyring.public_key("audit"))
    assert report.ok, [f.line() for f in report.findings]
    assert report.events == 7 + 6 + 5 + 4 + 3 + 9
