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
