"""``callvault serve --workers 2``: two API processes on one socket, one audit log.

On PostgreSQL each worker has its own runtime and audit writer; both append to the same
Merkle log (each reloads the tree when the other appended), and the log still verifies.
On SQLite (one writer at a time) several workers are refused with a clear error."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from callvault.audit.verify import verify_log
from callvault.core.runtime import Runtime
from tests.conftest import TenantHandle, auth


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_two_worker_processes_serve_one_instance_and_one_log(
    runtime: Runtime, tenant: TenantHandle, cli_env: dict[str, str], tmp_path: Path
) -> None:
    port = _free_port()
    log = tmp_path / "serve.log"
    if runtime.settings.is_embedded:
        refused = subprocess.run(
            [str(Path(sys.executable).parent / "callvault"), "serve", "--workers", "2", "--port", str(port)],
            env=cli_env, capture_output=True, timeout=300,
        )  # fmt: skip
        assert refused.returncode != 0
        assert b"Several API processes need PostgreSQL" in refused.stdout + refused.stderr
        return
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "callvault"), "serve", "--workers", "2", "--port", str(port)],
            env=cli_env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):  # a hang guard while the workers start, not a speed check
            if server.poll() is not None:
                raise AssertionError(f"server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        created = []
        with httpx.Client(base_url=base, headers=auth(tenant.api_key), timeout=60) as client:
            for index in range(30):  # new connections: the kernel spreads them over both workers
                response = client.post(
                    "/v1/customers", json={"external_ref": f"serve-{index}", "name": "Test"},
                    headers={"connection": "close"},
                )  # fmt: skip
                assert response.status_code == 201, response.text
                created.append(response.json()["id"])
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=120)
    output = log.read_text()
    assert output.count("Started server process") == 2, output[-2000:]
    assert len(set(created)) == 30
    with runtime.engine.connect() as connection:
        report = verify_log(connection, runtime.keyring.public_key("audit"))
    assert [finding.line() for finding in report.findings] == []
