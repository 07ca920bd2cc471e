"""The blob store contract, run against the local folder and a real S3-compatible server."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from callvault.blobs import BlobStore, LocalBlobStore, S3BlobStore, open_blob_store
from callvault.core.config import Settings
from callvault.core.errors import Invalid, NotFound


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    return request.getfixturevalue("s3_store")  # type: ignore[no-any-return]


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_put_get_round_trip(store: BlobStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    assert store.put("recordings/acme/r1/original", _chunks(data, 100_000)) == len(data)
    assert store.exists("recordings/acme/r1/original")
    assert store.size("recordings/acme/r1/original") == len(data)
    assert b"".join(store.get("recordings/acme/r1/original")) == data


@pytest.mark.parametrize(("start", "end"), [(0, 1), (5, 100), (1_000_000, None), (0, None), (99, 99), (200, 10**9)])
def test_ranged_get(store: BlobStore, start: int, end: int | None) -> None:
    data = os.urandom(1_500_000)
    store.put("k", [data])
    assert b"".join(store.get("k", start, end)) == data[start:end]


def test_range_past_the_end_is_empty(store: BlobStore) -> None:
    store.put("k", [b"abc"])
    assert b"".join(store.get("k", 10)) == b""


def test_empty_object(store: BlobStore) -> None:
    assert store.put("empty", iter(())) == 0
    assert store.size("empty") == 0
    assert b"".join(store.get("empty")) == b""


def test_overwrite_replaces_whole(store: BlobStore) -> None:
    store.put("k", [b"a" * 1000])
    store.put("k", [b"b" * 10])
    assert b"".join(store.get("k")) == b"b" * 10


def test_missing_key(store: BlobStore) -> None:
    assert not store.exists("nope")
    with pytest.raises(NotFound):
        store.size("nope")
    with pytest.raises(NotFound):
        b"".join(store.get("nope"))
    store.delete("nope")  # nothing to do, no error


def test_delete(store: BlobStore) -> None:
    store.put("a/b", [b"x"])
    store.delete("a/b")
    assert not store.exists("a/b")


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "..", "a//b", "a/./b", "名字", "a b", "a/", "x" * 600])
def test_bad_keys_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(Invalid):
        store.put(key, [b"x"])


class _Interrupted(Exception):
    pass


def _interrupted(data: bytes, after: int) -> Iterator[bytes]:
    sent = 0
    for chunk in _chunks(data, 1024 * 1024):
        if sent >= after:
            raise _Interrupted
        sent += len(chunk)
        yield chunk


def test_interrupted_put_leaves_nothing_and_retry_works(store: BlobStore) -> None:
    data = os.urandom(12 * 1024 * 1024)  # more than one S3 part: a multipart upload is aborted
    with pytest.raises(_Interrupted):
        store.put("rec", _interrupted(data, 9 * 1024 * 1024))
    assert not store.exists("rec")
    if isinstance(store, LocalBlobStore):
        assert [p for p in store.root.rglob("*") if p.is_file()] == []
    if isinstance(store, S3BlobStore):
        uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
        assert uploads == []
    assert store.put("rec", _chunks(data, 1024 * 1024)) == len(data)
    assert b"".join(store.get("rec")) == data


def test_interrupted_overwrite_keeps_the_old_object(store: BlobStore) -> None:
    store.put("rec", [b"old"])
    with pytest.raises(_Interrupted):
        store.put("rec", _interrupted(os.urandom(3 * 1024 * 1024), 1))
    assert b"".join(store.get("rec")) == b"old"


def test_local_files_are_private(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    store.put("recordings/t/r", [b"x"])
    path = tmp_path / "blobs" / "recordings" / "t" / "r"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_s3_objects_carry_no_metadata(s3_store: S3BlobStore) -> None:
    s3_store.put("recordings/t/r", [os.urandom(6 * 1024 * 1024)])
    head = s3_store.client.head_object(Bucket=s3_store.bucket, Key="t/recordings/t/r")
    assert head["Metadata"] == {}
    listed = s3_store.client.list_objects_v2(Bucket=s3_store.bucket)["Contents"]
    assert [item["Key"] for item in listed] == ["t/recordings/t/r"]


def test_settings_choose_the_store(tmp_path: Path, s3_endpoint: str) -> None:
    local = open_blob_store(Settings(home=tmp_path))
    assert isinstance(local, LocalBlobStore)
    assert local.root == tmp_path / "blobs"
    s3 = open_blob_store(
        Settings(
            home=tmp_path,
            blob_store="s3",
            s3_bucket="cv-settings",
            s3_endpoint_url=s3_endpoint,
            s3_region="us-east-1",
            s3_access_key_id="testing",
            s3_secret_access_key="testing",  # type: ignore[arg-type]
        )
    )
    assert isinstance(s3, S3BlobStore)
    s3.client.create_bucket(Bucket="cv-settings")
    s3.put("k", [b"v"])
    assert b"".join(s3.get("k")) == b"v"
    with pytest.raises(Invalid):
        open_blob_store(Settings(home=tmp_path, blob_store="s3"))
