"""JSON lines are numbered and decoded in the workers: the same line numbers, blank-line
skipping and encoding errors whatever the batch size, a byte-order mark only on line 1."""

from __future__ import annotations

import json

from callvault.access.actor import Actor
from callvault.access.identity import service as identity
from callvault.core.runtime import Runtime
from callvault.demo.generator import CustomerGenerator
from callvault.vault.customers import importer


def _lines() -> list[bytes]:
    good = [json.dumps(c).encode() + b"\n" for c in CustomerGenerator(seed=41).customers(9, start=6_000_000)]
    return [
        b"\xef\xbb\xbf" + good[0],  # a BOM on line 1 is dropped
        b"\n",
        good[1],
        b"   \t \n",
        b"\xff\xfe\n",
        good[2],
        b"\xef\xbb\xbf" + good[3],  # ... anywhere else it is not JSON
        good[4],
        b"{broken\n",
        b"\n",
        good[5],
        good[6],
        good[7],
        good[0],  # a duplicate reference
        good[8].rstrip(b"\n"),
    ]


def test_numbering_and_errors_do_not_depend_on_the_batch_size(isolated_runtime: Runtime) -> None:
    expected = [(5, None, "encoding.invalid"), (7, None, "json.invalid"), (9, None, "json.invalid"),
                (14, "external_ref", "import.duplicate_external_ref")]  # fmt: skip
    for tenant_id, batch_size in (("t1", 1), ("t2", 2), ("t3", 3), ("t4", 1000)):
        with isolated_runtime.sessions() as db_session, db_session.begin():
            identity.create_tenant(db_session=db_session, tenant_id=tenant_id, name=tenant_id)
        report = importer.import_customers(
            runtime=isolated_runtime,
            actor=Actor.operator(tenant_id),
            lines=iter(_lines()),
            fmt="jsonl",
            batch_size=batch_size,
        )
        assert [(e.line, e.field, e.code) for e in report.errors] == expected, batch_size
        assert (report.imported, report.failed, report.skipped_existing) == (8, 4, 0)


def test_items_of_a_batch_keep_their_file_line_numbers() -> None:
    lines = _lines()
    items = importer._jsonl_items((1, lines[:4])) + importer._jsonl_items((5, lines[4:]))
    numbers = [number for number, _ in items]
    assert numbers == [1, 3, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15]
    assert isinstance(items[0][1], str) and items[0][1].startswith("{")
