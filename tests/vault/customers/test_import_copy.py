"""PostgreSQL: workers hand rows over as lines of COPY text; stored, they are the very
values the tuples ``insert_tuples`` takes would have stored."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime

import pytest

from callvault.access.identity import service as identity
from callvault.core.db import set_tenant
from callvault.core.runtime import Runtime
from callvault.demo.generator import CustomerGenerator
from callvault.vault.customers import importer
from callvault.vault.fields.service import tenant_keys


class _Level(enum.StrEnum):
    GOLD = "gold"


def test_copy_text_of_every_kind_of_value() -> None:
    moment = datetime(2026, 11, 27, 3, 0, 0, 5, tzinfo=UTC)
    row = (None, "a\\b\tc\nd\re 张", b"\x00\xff", True, False, 7, uuid.UUID(int=1), moment, _Level.GOLD)
    assert (
        importer._copy_line(row)
        == (
            "\\N\ta\\\\b\\tc\\nd\\re 张\t\\\\x00ff\tt\tf\t7\t00000000-0000-0000-0000-000000000001\t"
            "2026-11-27T03:00:00.000005+00:00\tgold\n"
        ).encode()
    )
    with pytest.raises(TypeError):
        importer._copy_line((1.5,))


def test_copy_lines_store_what_the_tuples_hold(isolated_runtime: Runtime) -> None:
    if isolated_runtime.engine.dialect.name != "postgresql":
        pytest.skip("COPY text is the PostgreSQL hand-over")
    with isolated_runtime.sessions() as db_session, db_session.begin():
        identity.create_tenant(db_session=db_session, tenant_id="acme", name="acme")
    lines = list(CustomerGenerator(seed=51).jsonl_lines(25, start=7_000_000))
    lines.append(lines[0].replace(b'"region": "', '"region": "华东 '.encode()))  # UTF-8 through COPY
    lines[-1] = lines[-1].replace(b'"external_ref": "', b'"external_ref": "x')
    with isolated_runtime.sessions() as db_session, db_session.begin():
        set_tenant(db_session, "acme")
        keys = tenant_keys(db_session=db_session, tenant_id="acme")
        prepared = importer._prepare(keys, isolated_runtime.keyring, (1, lines))
        assert not prepared.errors
        as_copy = importer._Prepared(
            customers=[importer._copy_line(row) for row in prepared.customers],  # type: ignore[arg-type]
            keys=[importer._copy_line(row) for row in prepared.keys],  # type: ignore[arg-type]
            refs=prepared.refs, ids=prepared.ids, lines=prepared.lines,
        )  # fmt: skip
        from callvault.vault.customers.schemas import ImportReport

        report = ImportReport()
        importer._store(db_session, "acme", as_copy, report)
        assert report.imported == len(lines)
        driver = db_session.connection()
        names = ", ".join(importer._CUSTOMER_COLUMNS)
        stored = driver.exec_driver_sql(f"SELECT {names} FROM customer WHERE tenant_id = 'acme'").all()
        key_names = ", ".join(importer._KEY_COLUMNS)
        stored_keys = driver.exec_driver_sql(f"SELECT {key_names} FROM subject_key WHERE tenant_id = 'acme'").all()

    def normal(row: tuple[object, ...]) -> tuple[object, ...]:
        return tuple(str(v) if isinstance(v, uuid.UUID) else v for v in row)

    assert sorted(normal(tuple(r)) for r in stored) == sorted(normal(r) for r in prepared.customers)  # type: ignore[arg-type]
    assert sorted(normal(tuple(r)) for r in stored_keys) == sorted(normal(r) for r in prepared.keys)  # type: ignore[arg-type]
    assert any(str(r[10]).startswith("华东 ") for r in stored), "a non-ASCII label round-trips"
