"""Configuration sources and the embedded-instance CLI path a new user takes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from callvault.core.config import Settings, get_settings


def _run(home: Path, *args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
    env.update(CALLVAULT_HOME=str(home), COLUMNS="200", **(extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "callvault.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_env_then_toml_then_defaults(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "callvault.toml").write_text('api_port = 9001\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("CALLVAULT_HOME", str(tmp_path))
    monkeypatch.setenv("CALLVAULT_LOG_LEVEL", "WARNING")
    settings = get_settings()
    assert settings.api_port == 9001
    assert settings.log_level == "WARNING"
    assert settings.resolved_database_url.startswith("sqlite:///")


def test_redacted_hides_secrets_and_url_passwords() -> None:
    settings = Settings(
        master_key="super-secret-master",  # type: ignore[arg-type]
        database_url="postgresql+psycopg://app:hunter22@db:5432/cv",
    )
    shown = json.dumps(settings.redacted(), default=str)
    assert "super-secret-master" not in shown and "hunter22" not in shown
    assert "db:5432" in shown


def test_init_seed_search_and_config_show(tmp_path: Path) -> None:
    home = tmp_path / "var"
    assert _run(home, "init").returncode == 0
    assert (home / "master.key").stat().st_mode & 0o777 == 0o600
    assert (home / "keyring.json").stat().st_mode & 0o777 == 0o600
    seeded = _run(home, "demo", "seed", "--customers", "50")
    assert seeded.returncode == 0, seeded.stderr
    assert "imported=50" in seeded.stdout
    again = _run(home, "demo", "seed", "--customers", "50")
    assert "skipped_existing=50" in again.stdout
    credentials = (home / "demo-credentials.txt").read_text()
    assert "cvk_" in credentials

    listed = _run(home, "customers", "list", "--tenant", "demo", "--limit", "1")
    assert listed.returncode == 0, listed.stderr
    item = json.loads(listed.stdout)["items"][0]
    assert "****" in item["mobile"]
    found = _run(home, "customers", "search", "--tenant", "demo", "--external-ref", item["external_ref"])
    assert json.loads(found.stdout)["id"] == item["id"]

    shown = _run(home, "config", "show", extra={"CALLVAULT_MASTER_KEY": "do-not-print-me"})
    assert shown.returncode == 0 and "do-not-print-me" not in shown.stdout
    assert json.loads(shown.stdout)["master_key"] == "**********"

    bad = _run(home, "customers", "search", "--tenant", "demo", "--id-number", "110101199003071235")
    assert bad.returncode == 2
    assert "id_number.checksum" in bad.stderr and "110101199003071235" not in bad.stderr + bad.stdout
    missing = _run(home, "customers", "list", "--tenant", "nobody")
    assert missing.returncode == 4 and "tenant.not_found" in missing.stderr

    rotated = _run(home, "keys", "rotate", "--tenant", "demo")
    assert rotated.returncode == 0, rotated.stderr
    assert "KEK version 2, 52 data keys rewrapped" in rotated.stdout or "KEK version 2, 50" in rotated.stdout
    after = _run(home, "customers", "list", "--tenant", "demo", "--limit", "1")
    assert json.loads(after.stdout)["items"][0]["id"] == item["id"]


def _keys(text: str) -> dict[str, str]:
    """``label -> key`` from the lines ``demo seed`` prints and writes."""
    found = {}
    for line in text.splitlines():
        label, _, key = line.strip().rpartition(" ")
        if key.startswith("cvk_"):
            found[label.split(" key")[0]] = key
    return found


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_demo_keys_are_shown_once_and_serve_only_points_to_the_file(tmp_path: Path) -> None:
    import time
    import urllib.request

    home = tmp_path / "var"
    assert _run(home, "init").returncode == 0
    first = _run(home, "demo", "seed", "--customers", "2")
    assert first.returncode == 0, first.stderr
    shown = _keys(first.stdout)
    assert set(shown) == {"backend", "supervisor", "auditor", "CTI"}
    assert "agent-001 / " in first.stdout and "admin-demo / " in first.stdout  # demo people, password once
    assert _keys((home / "demo-credentials.txt").read_text()) == shown
    assert (home / "demo-credentials.txt").stat().st_mode & 0o777 == 0o600
    again = _run(home, "demo", "seed", "--customers", "2")
    assert again.returncode == 0 and "cvk_" not in again.stdout + again.stderr
    assert "agent-001 / " not in again.stdout + again.stderr

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
    env.update(CALLVAULT_HOME=str(home), COLUMNS="200")
    server = subprocess.Popen(
        [sys.executable, "-m", "callvault", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("serve did not come up")
    finally:
        server.terminate()
        out, err = server.communicate(timeout=60)
    assert "cvk_" not in out + err
    assert not any(key in out + err for key in shown.values())
    assert "demo-credentials.txt" in out


def test_the_demo_auditor_key_reads_the_audit_log_and_nothing_else(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from callvault.api.app import create_app
    from callvault.core.runtime import build_runtime

    home = tmp_path / "var"
    assert _run(home, "init").returncode == 0
    seeded = _run(home, "demo", "seed", "--customers", "2")
    assert seeded.returncode == 0, seeded.stderr
    keys = _keys(seeded.stdout)
    built = build_runtime(Settings(home=home, database_url=None, master_key=None))
    try:
        with TestClient(create_app(built), raise_server_exceptions=False) as client:

            def get(path: str, key: str) -> int:
                return client.get(path, headers={"Authorization": f"Bearer {key}"}).status_code

            assert get("/v1/audit/events", keys["auditor"]) == 200
            assert get("/v1/audit/tree-heads", keys["auditor"]) == 200
            assert get("/v1/customers", keys["auditor"]) == 403
            assert get("/v1/audit/events", keys["backend"]) == 403
            assert get("/v1/customers", keys["backend"]) == 200
    finally:
        built.close()


def test_demo_seed_without_faker_says_how_to_install_it(tmp_path: Path) -> None:
    home = tmp_path / "var"
    assert _run(home, "init").returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
    env.update(CALLVAULT_HOME=str(home), COLUMNS="200")
    # Faker is an optional extra: simulate an install without it (`None` in sys.modules
    # makes `import faker` raise ModuleNotFoundError, as a missing package does).
    code = "import sys; sys.modules['faker'] = None; from callvault.cli.main import app; app(prog_name='callvault')"
    done = subprocess.run(
        [sys.executable, "-c", code, "demo", "seed", "--customers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "pip install 'callvault[demo]'" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (home / "demo-credentials.txt").exists()  # nothing half-seeded
