"""A real S3-compatible server (moto_server, in memory) on a free local port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from callvault.blobs import S3BlobStore

MOTO = Path(sys.executable).parent / "moto_server"
CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing", "region": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(  # our own venv's moto_server
        [str(MOTO), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    )
    try:
        for _ in range(300):  # a bounded wait for the port, not a timing assertion
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError("moto_server exited") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture()
def s3_store(s3_endpoint: str) -> S3BlobStore:
    """A fresh bucket per test."""
    store = S3BlobStore(f"cv-{uuid.uuid4().hex[:12]}", endpoint_url=s3_endpoint, prefix="t", **CREDENTIALS)
    store.client.create_bucket(Bucket=store.bucket)
    return store
