"""The import's validation fast path and batch sealing agree with the reference exactly.

The fast path may only decide *how fast* a row is accepted: for every row it must give
what ``CustomerCreate`` gives (the same normalised values, or, by falling back to it, the
same error). These tests compare both on generated rows and on rows mutated at every
edge the fast path restates (whitespace, non-ASCII, lengths, number shapes, checksums).
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import date
from typing import Any

import pytest

from callvault.core import clock
from callvault.core.runtime import Runtime
from callvault.crypto import FieldContext, new_data_key
from callvault.demo.generator import CustomerGenerator
from callvault.vault.customers import importer
from callvault.vault.customers.models import ENCRYPTED_FIELDS
from callvault.vault.customers.service import sealed_row
from callvault.vault.fields import validators
from callvault.vault.fields.service import tenant_keys
from tests.conftest import TenantHandle


def _reference(raw: str | dict[str, Any]) -> dict[str, Any] | tuple[str | None, str]:
    result = importer._validate(raw)
    if isinstance(result, importer._RowError):
        return (result.field, result.code)
    return result.model_dump()


def _fast(raw: str | dict[str, Any]) -> dict[str, Any] | tuple[str | None, str]:
    result = importer._validated(importer._fast_validator(clock.now().date()), raw)
    if isinstance(result, importer._RowError):
        return (result.field, result.code)
    return result


def _rows(count: int, start: int = 0) -> list[dict[str, Any]]:
    return list(CustomerGenerator(seed=7).customers(count, start=start))


def test_generated_rows_take_the_fast_path_with_the_reference_values() -> None:
    fast = importer._fast_validator(clock.now().date())
    for row in _rows(3000):
        line = json.dumps(row, ensure_ascii=False)
        assert fast.row(line) == _reference(line)  # no fallback: the fast path vouches for it
        as_csv = {name: str(value) for name, value in row.items()}
        assert fast.row(as_csv) == _reference(as_csv)


_EDGES: dict[str, list[Any]] = {
    "name": ["", " ", " 张三", "张三 ", "张\u3000三", "a" * 100, "a" * 101, "\u00e9" * 100, 7, None, "x\x1f"],
    "mobile": [
        "13812345678", "138 1234 5678", "+8613812345678", "008613812345678", "12812345678", "1381234567",
        "138123456789", "１３８１２３４５６７８", "13812345678 ", "\u202f13812345678", "19912345678", "10012345678",
        13812345678, "1" * 33, "+1 415 555 2671", None,
    ],
    "landline": [
        "010-61571945", "01061571945", "021-5555666", "0755-88889999", "0755-8888999", "0086-61571945", "000-1234567",
        "010-1234567", "(010) 61571945", "0512-6666777", "0371-12345678", "0-12345678", "010-615719451",
        "０１０-６１５７１９４５", "+86 10 6157 1945", "010-61571945x", None,
    ],
    "id_number": [
        "110101199003074514", "110101199003074510", "11010119900307451x", "11010119900307451X",
        "99010119900307451X", "110101190001010018", "110101189912310017", "110101199002300016",
        "110101209901010014", "１１０１０１１９９００３０７４５１４", " 110101199003074514", "11010119900307451",
        "1101011990030745141", 110101199003074514, None,
    ],
    "bank_card": [
        "6222020000000007", "6222020000000008", "6222 0200 0000 0007", "6222-0200-0000-0007", "622202000000000",
        "62220200000000000000", "6228480000000000005", "６２２２０２００００００００００７", "0000000000000000", None,
    ],
    "email": [
        "user@example.com", "User@Example.COM", "a..b@example.com", ".a@example.com", "a@b", "用户@例子.公司",
        "ｕｓｅｒ@example.com", "a" * 65 + "@example.com", "a@" + "b" * 250 + ".com", "a+tag@sub.example.org", None,
    ],
    "address": ["", "x" * 300, "x" * 301, "北京市 海淀区", None],
    "membership_level": ["gold", "gold level", "gold/2", "g" * 64, "g" * 65, "金卡", "gold!", "", "ǅ", None],
    "assigned_agent": ["agent-1", "agent@x:y", "agent\u0301", "agent\n", "²", None],
    "region": ["north", "north_east", "n.e", "٣", None],
    "external_ref": ["CRM-1", "CRM 1", "r" * 128, "r" * 129, "ref/1:2@x.y", "réf", "", None, 12],
}  # fmt: skip


@pytest.mark.parametrize("field", sorted(_EDGES))
def test_every_edge_gives_the_reference_verdict(field: str) -> None:
    base = _rows(1, start=9)[0]
    for value in _EDGES[field]:
        row = {**base, field: value}
        for raw in (json.dumps(row, ensure_ascii=False), row):
            assert _fast(raw) == _reference(raw), (field, value)


def test_malformed_rows_give_the_reference_verdict() -> None:
    base = _rows(1, start=11)[0]
    lines = [
        "not json", "[1, 2]", '"text"', "null", "{}", '{"external_ref": "a", "colour": "red"}',
        '{"external_ref": "a", "colour": null}', '{"external_ref": "a", "external_ref": "b"}',
        '{"name": "\\ud800", "external_ref": "a"}', '{"name": "x"}', json.dumps({**base, "mobile": [1]}),
        json.dumps({**base, "mobile": {"n": 1}}), json.dumps({**base, "legal_hold": True}),
        json.dumps({k: None for k in base}), json.dumps({"external_ref": "only-a-ref"}),
    ]  # fmt: skip
    for line in lines:
        assert _fast(line) == _reference(line), line


def test_random_landlines_agree_with_libphonenumber() -> None:
    """The CN trunk-prefixed shape the fast path restates, across area codes and lengths."""
    rng = random.Random(12)
    fast = importer._fast_validator(clock.now().date())
    taken = 0
    for _ in range(4000):
        area = str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 2)))
        local = "".join(rng.choice("0123456789") for _ in range(rng.randint(7, 8)))
        text = "0" + area + rng.choice(("-", "")) + local
        try:
            expected: str | None = validators.normalize_landline(text)
        except validators.FieldError:
            expected = None
        try:
            got: str | None = fast._landline_number(text)
            taken += 1
        except importer._Slow:
            got = None
        assert got == expected, text
    assert taken > 500, "the sample must hold many valid numbers"


def test_random_cards_and_ids_agree_with_the_validators() -> None:
    rng = random.Random(13)
    fast = importer._fast_validator(clock.now().date())
    for _ in range(3000):
        card = "".join(rng.choice("0123456789") for _ in range(rng.randint(15, 20)))
        area = rng.choice(["11", "31", "44", "99", "00"]) + "0101"
        born = f"{rng.randint(1890, date.today().year + 1)}{rng.randint(0, 13):02d}{rng.randint(0, 32):02d}"
        number = area + born + f"{rng.randint(0, 999):03d}" + rng.choice("0123456789Xx")
        for check, reference, text in (
            (fast._bank_card, validators.normalize_bank_card, card),
            (fast._id_number, validators.normalize_id_number, number),
        ):
            try:
                expected: str | None = reference(text)
            except validators.FieldError:
                expected = None
            try:
                got: str | None = check(text)
            except importer._Slow:
                got = None
            assert got == expected, text


def test_batch_sealing_matches_the_service(runtime: Runtime, tenant: TenantHandle) -> None:
    """``importer._seal`` gives what ``service.sealed_row`` gives: the same blind indexes,
    ciphertexts that open to the same values under the record's context."""
    with runtime.sessions() as db_session, db_session.begin():
        keys = tenant_keys(db_session=db_session, tenant_id=tenant.id)
    values = _fast(json.dumps(_rows(1, start=3)[0], ensure_ascii=False))
    assert isinstance(values, dict)
    key_id, customer_id = uuid.uuid4(), uuid.uuid4()
    dek, _ = new_data_key(runtime.keyring, keys.kek_ref, keys.tenant_id, key_id)
    fast = dict(zip(importer._SEALED_COLUMNS, importer._seal(keys, dek, str(customer_id), values), strict=True))
    reference = sealed_row(keys, dek, customer_id, values)
    assert set(fast) == set(reference)
    for column in ("mobile_bidx", "mobile_last4_bidx", "id_number_bidx", "email_bidx"):
        assert fast[column] == reference[column] and fast[column] is not None
    for name in ENCRYPTED_FIELDS:
        context = FieldContext(keys.tenant_id, "customer", name, str(customer_id))
        opened = None if fast[f"{name}_ct"] is None else dek.open(fast[f"{name}_ct"], context)
        assert opened == values[name]


def test_batch_ids_have_the_time_ordered_layout() -> None:
    now = clock.now()
    ids = [uuid.UUID(int=value) for value in importer._time_ordered_ids(now, 500)]
    assert len(set(ids)) == 500
    for value in ids:
        assert value.version == 7 and value.variant == uuid.RFC_4122
        assert int.from_bytes(value.bytes[:6], "big") == int(now.timestamp() * 1000)
