"""Published vectors for the primitives (AES-GCM's, on both paths: tests/crypto/test_gcm.py),
our frozen field vectors, and properties."""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.core.errors import DecryptionFailed
from callvault.crypto import BlindIndexer, DataKey, FieldContext
from callvault.crypto.aead import open_field
from callvault.crypto.blind_index import _hkdf_sha256
from callvault.crypto.gcm import PyGcm
from tests.crypto.test_gcm import IMPLEMENTATIONS

VECTORS = Path(__file__).parent.parent / "vectors"


def test_hmac_sha256_rfc4231_case_2() -> None:
    digest = hmac.digest(b"Jefe", b"what do ya want for nothing?", hashlib.sha256)
    assert digest.hex() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_hkdf_sha256_rfc5869_case_3() -> None:
    okm = _hkdf_sha256(bytes.fromhex("0b" * 22), info=b"", length=42)
    assert okm.hex() == ("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_frozen_field_vectors_still_open(implementation: type[PyGcm]) -> None:
    doc = json.loads((VECTORS / "field_v1.json").read_text())
    for case in doc["verify"]:
        cipher = implementation(bytes.fromhex(case["key"]))
        context = FieldContext(*case["context"])
        assert (
            open_field(cipher, uuid.UUID(case["key_id"]), bytes.fromhex(case["sealed"]), context) == case["plaintext"]
        )


_KEY = DataKey(uuid.UUID(int=7), bytes(32))
_CTX = FieldContext("acme", "customer", "mobile", "r1")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_seal_open_round_trip(value: str) -> None:
    assert _KEY.open(_KEY.seal(value, _CTX), _CTX) == value


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=50), st.data())
def test_any_flipped_byte_fails(value: str, data: st.DataObject) -> None:
    sealed = bytearray(_KEY.seal(value, _CTX))
    position = data.draw(st.integers(0, len(sealed) - 1))
    sealed[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(DecryptionFailed):
        _KEY.open(bytes(sealed), _CTX)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["mobile", "email", "name", "address"]), st.text(max_size=80), min_size=1))
def test_open_many_agrees_with_open(values: dict[str, str]) -> None:
    """The batch open gives what ``open`` gives per column, for ciphertexts sealed either way."""
    one_by_one = {
        column: _KEY.seal(value, FieldContext("acme", "customer", column, "r1")) for column, value in values.items()
    }
    assert _KEY.open_many("acme", "customer", "r1", one_by_one) == values
    batch = _KEY.seal_many("acme", "customer", "r1", values)
    assert {
        column: _KEY.open(sealed, FieldContext("acme", "customer", column, "r1")) for column, sealed in batch.items()
    } == values


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=50), st.data())
def test_open_many_fails_on_any_flipped_byte(value: str, data: st.DataObject) -> None:
    sealed = _KEY.seal_many("acme", "customer", "r1", {"mobile": "+8613812345678", "email": value})
    damaged = bytearray(sealed["email"])
    position = data.draw(st.integers(0, len(damaged) - 1))
    damaged[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(DecryptionFailed):
        _KEY.open_many("acme", "customer", "r1", {"mobile": sealed["mobile"], "email": bytes(damaged)})


@pytest.mark.parametrize(
    ("tenant", "record", "swap_columns", "cut"),
    [("other", "r1", False, 0), ("acme", "r2", False, 0), ("acme", "r1", True, 0), ("acme", "r1", False, 20)],
)
def test_open_many_is_bound_to_place_and_length(tenant: str, record: str, swap_columns: bool, cut: int) -> None:
    sealed = _KEY.seal_many("acme", "customer", "r1", {"mobile": "+8613812345678", "email": "a@example.com"})
    if swap_columns:
        sealed = {"mobile": sealed["email"], "email": sealed["mobile"]}
    if cut:
        sealed = {column: value[:cut] for column, value in sealed.items()}
    with pytest.raises(DecryptionFailed) as caught:
        _KEY.open_many(tenant, "customer", record, sealed)
    assert "138" not in str(caught.value)


def test_open_many_refuses_another_keys_field() -> None:
    other = DataKey(uuid.UUID(int=8), bytes(32))  # same bytes, another key id in the header
    with pytest.raises(DecryptionFailed):
        _KEY.open_many("acme", "customer", "r1", other.seal_many("acme", "customer", "r1", {"mobile": "x"}))


@pytest.mark.parametrize(
    "other",
    [
        FieldContext("other", "customer", "mobile", "r1"),
        FieldContext("acme", "customer", "landline", "r1"),
        FieldContext("acme", "customer", "mobile", "r2"),
        FieldContext("acme", "call", "mobile", "r1"),
    ],
)
def test_ciphertext_is_bound_to_its_place(other: FieldContext) -> None:
    with pytest.raises(DecryptionFailed):
        _KEY.open(_KEY.seal("+8613812345678", _CTX), other)


def test_other_key_fails_and_error_says_nothing() -> None:
    other = DataKey(uuid.UUID(int=7), bytes(31) + b"\x01")
    with pytest.raises(DecryptionFailed) as caught:
        other.open(_KEY.seal("+8613812345678", _CTX), _CTX)
    assert "138" not in str(caught.value)


def test_blind_index_separates_fields_and_tenants() -> None:
    tenant_a, tenant_b = BlindIndexer(bytes(32)), BlindIndexer(bytes(31) + b"\x01")
    value = "+8613812345678"
    assert tenant_a.digest("customer.mobile", value) == tenant_a.digest("customer.mobile", value)
    assert tenant_a.digest("customer.mobile", value) != tenant_a.digest("customer.email", value)
    assert tenant_a.digest("customer.mobile", value) != tenant_b.digest("customer.mobile", value)
    assert len(tenant_a.digest("customer.mobile", value)) == 16
    assert len(tenant_a.digest("customer.mobile_last4", "5678", size=8)) == 8


def test_only_the_crypto_package_imports_cryptography() -> None:
    root = Path(__file__).parent.parent.parent / "callvault"
    offenders = []
    for path in root.rglob("*.py"):
        if "crypto" in path.relative_to(root).parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name == "cryptography" or name.startswith("cryptography.") for name in names):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []
