"""``open_subject_columns`` (the bulk readers' door) is ``open_data_key`` then
``DataKey.open_many``: the same values, and the same refusals."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from callvault.core.errors import DecryptionFailed
from callvault.crypto import new_data_key, open_data_key, open_subject_columns
from callvault.crypto.keyrings.local import LocalKeyring

COLUMNS = ("name", "mobile", "landline", "email")


def _keyring(tmp_path: Path) -> LocalKeyring:
    keyring = LocalKeyring(tmp_path / "keyring.json", "test-passphrase", scrypt_n=2**10)
    keyring.create_kek("tenant-a")
    return keyring


def test_opens_what_open_many_opens_and_refuses_what_it_refuses(tmp_path: Path) -> None:
    keyring = _keyring(tmp_path)
    key_id, record_id = uuid.uuid4(), str(uuid.uuid4())
    dek, wrapped = new_data_key(keyring, "tenant-a", "t1", key_id)
    values = {"name": "张三", "mobile": "+8613812345678", "landline": "", "email": "z@example.com"}
    sealed = dek.seal_many("t1", "customer", record_id, values)
    as_list = [sealed[column] for column in COLUMNS]
    reference = open_data_key(keyring, "tenant-a", "t1", key_id, wrapped.blob).open_many(
        "t1", "customer", record_id, sealed
    )

    def open_(**changes: object) -> list[str | None]:
        args: dict[str, object] = {
            "keyring": keyring,
            "kek_ref": "tenant-a",
            "tenant_id": "t1",
            "key_id": key_id.bytes,
            "wrapped": wrapped.blob,
            "table": "customer",
            "record_id": record_id,
            "columns": COLUMNS,
            "sealed": as_list,
        }
        args.update(changes)
        return open_subject_columns(**args)  # type: ignore[arg-type]

    assert open_() == [reference[column] for column in COLUMNS]
    assert open_(sealed=[as_list[0], None, as_list[2], None]) == ["张三", None, "", None]
    refused = [
        {"tenant_id": "t2"},  # the wrapped key is bound to its tenant
        {"key_id": uuid.uuid4().bytes},  # ... and to its key id (also in every field header)
        {"record_id": str(uuid.uuid4())},  # fields are bound to their record
        {"columns": ("mobile", "name", "landline", "email")},  # ... and to their column
        {"table": "call"},
        {"wrapped": wrapped.blob[:-1] + bytes([wrapped.blob[-1] ^ 1])},
    ]
    for change in refused:
        with pytest.raises(DecryptionFailed):
            open_(**change)
