"""Leak tracing against adversarial transformations: among 50 exports of the very same
customers (the hardest overlap: only the fingerprint differs), each leaked fragment traces
back to the export it came from, and never to another; a file no export produced traces
to none."""

from __future__ import annotations

import csv
import io
import random
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from callvault.access.actor import Actor
from callvault.core import clock
from callvault.core.db import tenant_session
from callvault.core.runtime import Runtime
from callvault.exports import service
from callvault.exports.schemas import ExportCreate
from tests.access.identity.conftest import FakeClock, Person
from tests.conftest import TenantHandle, auth
from tests.exports.conftest import import_customers

EXPORTS = 50
CUSTOMERS = 150
FIELD_SETS = (
    ["name", "mobile", "id_number", "region"],
    ["mobile", "email", "bank_card", "membership_level"],
    ["name", "address", "mobile", "landline", "external_ref"],
)


def _actor(person: Person) -> Actor:
    return Actor(
        tenant_id=person.tenant_id,
        actor_id=f"user:{person.id}",
        kind="user",
        role=person.role,
        user_id=str(person.id),
        username=person.username,
        step_up_at=clock.now(),
    )


def _make_export(runtime: Runtime, requester: Person, approvers: list[Person], fields: list[str]) -> str:
    with tenant_session(runtime.sessions, requester.tenant_id) as db_session:
        export = service.create(
            db_session=db_session,
            actor=_actor(requester),
            export_in=ExportCreate(fields=fields, purpose="Retention campaign, branch list"),
        )
    for approver in approvers:
        with tenant_session(runtime.sessions, requester.tenant_id) as db_session:
            service.decide(db_session=db_session, actor=_actor(approver), export_id=export.id, approve=True)
    future = service.jobs_of(runtime).future(requester.tenant_id, export.id)
    assert future is not None and future.result(timeout=300) == "ready"
    return str(export.id)


def _download(runtime: Runtime, requester: Person, export_id: str, fmt: str) -> bytes:
    with tenant_session(runtime.sessions, requester.tenant_id) as db_session:
        found = service.download(
            db_session=db_session, actor=_actor(requester), export_id=uuid.UUID(export_id), fmt=fmt
        )
    return b"".join(found.chunks)


def _trace(runtime: Runtime, security: Person, data: bytes) -> Any:
    with tenant_session(runtime.sessions, security.tenant_id) as db_session:
        return service.trace(db_session=db_session, actor=_actor(security), data=data)


def _csv_rows(data: bytes) -> tuple[list[str], list[list[str]]]:
    lines = data.decode("utf-8-sig").splitlines()
    rows = list(csv.reader(io.StringIO("\n".join(line for line in lines if not line.startswith("# ")))))
    return rows[0], rows[1:]


def _xlsx_rows(data: bytes) -> tuple[list[str], list[list[Any]]]:
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    return [str(v) for v in values[1]], values[2:-1]  # watermark row, header, rows, footer row


# -- the transformations a leak goes through -------------------------------------------------
def pasted_subset(rows: list[list[str]], rnd: random.Random, count: int = 20) -> bytes:
    """Copy-paste of ``count`` rows out of a spreadsheet, re-sorted by a column: tab-separated text."""
    chosen = sorted(rnd.sample(rows, count), key=lambda row: row[-1] + row[0])
    return ("\n".join("\t".join(row) for row in chosen) + "\n").encode()


def resaved_csv(rows: list[list[str]], rnd: random.Random, header: list[str]) -> bytes:
    """Opened and saved again by another program: other delimiter, every cell quoted, shuffled, a subset."""
    chosen = rnd.sample(rows, 30)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    writer.writerows(chosen)
    return out.getvalue().encode("gb18030")


def resaved_xlsx(rows: list[list[Any]], rnd: random.Random, header: list[str]) -> bytes:
    """Re-saved through openpyxl into a fresh workbook: a 25-row subset sorted by another column."""
    chosen = sorted(rnd.sample(rows, 25), key=lambda row: str(row[0]), reverse=True)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "copy"
    sheet.append(header)
    for row in chosen:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def whitespace_mangled(rows: list[list[str]], rnd: random.Random) -> bytes:
    """Tabs became runs of spaces, spaces inside values removed, trailing blanks added."""
    chosen = rnd.sample(rows, 22)
    lines = ["   ".join(cell.replace(" ", "") for cell in row) + "  " for row in chosen]
    return ("\r\n".join(lines)).encode()


def comma_text(rows: list[list[str]], rnd: random.Random) -> bytes:
    """The CSV opened in a text editor and 20 lines copied out (no header, no watermark)."""
    chosen = rnd.sample(rows, 20)
    out = io.StringIO()
    csv.writer(out).writerows(chosen)
    return out.getvalue().encode()


@pytest.fixture
def fifty_exports(
    client: TestClient,
    runtime: Runtime,
    make_tenant,
    make_person,
    fake_clock: FakeClock,  # type: ignore[no-untyped-def]
) -> dict[str, Any]:
    tenant: TenantHandle = make_tenant()
    import_customers(client, tenant, CUSTOMERS, seed=11)
    supervisors = [make_person(tenant.id, "supervisor") for _ in range(5)]
    security = make_person(tenant.id, "security_officer")
    dpo = make_person(tenant.id, "dpo")
    exports: list[tuple[str, Person, list[str]]] = []
    for index in range(EXPORTS):
        requester = supervisors[index % len(supervisors)]
        fields = FIELD_SETS[index % len(FIELD_SETS)]
        exports.append((_make_export(runtime, requester, [security, dpo], fields), requester, fields))
    return {"tenant": tenant, "exports": exports, "security": security, "dpo": dpo, "supervisors": supervisors}


TRANSFORMS: dict[str, Callable[..., bytes]] = {}


def test_each_leak_traces_to_its_export_among_50(runtime: Runtime, fifty_exports: dict[str, Any]) -> None:
    rnd = random.Random(5)
    security: Person = fifty_exports["security"]
    exports = fifty_exports["exports"]
    checked = 0
    for index in (0, 1, 2, 17, 33, 49):
        export_id, requester, _fields = exports[index]
        header, rows = _csv_rows(_download(runtime, requester, export_id, "csv"))
        xlsx_header, xlsx_rows = _xlsx_rows(_download(runtime, requester, export_id, "xlsx"))
        assert len(rows) == CUSTOMERS and len(xlsx_rows) == CUSTOMERS
        leaks = {
            "pasted 20 rows, re-sorted": pasted_subset(rows, rnd),
            "re-saved CSV (; quoted, GB18030), 30 rows shuffled": resaved_csv(rows, rnd, header),
            "re-saved XLSX through openpyxl, 25 rows re-sorted": resaved_xlsx(xlsx_rows, rnd, xlsx_header),
            "whitespace changed": whitespace_mangled(rows, rnd),
            "lines copied from a text editor": comma_text(rows, rnd),
        }
        for what, data in leaks.items():
            found = _trace(runtime, security, data)
            assert found.matched, (what, found)
            assert str(found.export_id) == export_id, (what, found)
            assert found.requester_id == f"user:{requester.id}"
            assert found.confidence >= 0.999, (what, found)
            assert found.exports_compared >= EXPORTS
            # the runner-up is far away: another export of the same rows predicts about half
            runner_up = found.candidates[1]
            assert runner_up.matches < 0.8 * runner_up.units, (what, found.candidates)
            checked += 1
    assert checked == 30


def test_unrelated_files_trace_to_none(
    client: TestClient,
    runtime: Runtime,
    fifty_exports: dict[str, Any],
    make_tenant,
    make_person,  # type: ignore[no-untyped-def]
) -> None:
    security: Person = fifty_exports["security"]
    tenant: TenantHandle = fifty_exports["tenant"]
    # the same customers, masked by the customer API (the plain mask, no export made it)
    page = client.get("/v1/customers", params={"limit": 100}, headers=auth(tenant.api_key)).json()["items"]
    lines = ["\t".join(str(item[field] or "") for field in ("name", "mobile", "id_number", "region")) for item in page]
    plain = _trace(runtime, security, ("\n".join(lines[:40]) + "\n").encode())
    assert not plain.matched and plain.units >= 20, plain
    assert plain.confidence < 0.999

    # an export of another tenant (same generator, same people): its file is nobody's here
    other: TenantHandle = make_tenant()
    import_customers(client, other, 60, seed=11)
    requester = make_person(other.id, "supervisor")
    other_export = _make_export(
        runtime, requester, [make_person(other.id, "security_officer"), make_person(other.id, "dpo")], FIELD_SETS[0]
    )
    _, rows = _csv_rows(_download(runtime, requester, other_export, "csv"))
    foreign = _trace(runtime, security, pasted_subset(rows, random.Random(3), 30))
    assert not foreign.matched, foreign

    # a text with no masked value at all
    nothing = _trace(runtime, security, "北京 海淀 客户清单\nfoo,bar\n".encode())
    assert not nothing.matched and nothing.units == 0


def test_too_few_rows_say_so_rather_than_guess(runtime: Runtime, fifty_exports: dict[str, Any]) -> None:
    security: Person = fifty_exports["security"]
    export_id, requester, _ = fifty_exports["exports"][4]
    _, rows = _csv_rows(_download(runtime, requester, export_id, "csv"))
    one_row = _trace(runtime, security, ("\t".join(rows[0]) + "\n").encode())
    assert not one_row.matched  # a single row holds too few units to name anyone
