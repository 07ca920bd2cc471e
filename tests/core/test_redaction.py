"""``config show`` hides every secret a connection string can carry, whatever its form."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from callvault.core.config import Settings, redact_secrets

SECRET = "hunter22"

# (connection string, what must still be shown so the output stays useful)
URL_FORMS = [
    ("postgresql+psycopg://app:hunter22@db:5432/cv", "postgresql+psycopg://app:***@db:5432/cv"),
    ("postgresql://app@db/cv?password=hunter22&sslmode=require", "postgresql://app@db/cv?password=***&sslmode=require"),
    (
        "postgresql://db/cv?sslmode=verify-full&sslpassword=hunter22",
        "postgresql://db/cv?sslmode=verify-full&sslpassword=***",
    ),
    ("postgresql://db/cv?PASSWORD=hunter22", "postgresql://db/cv?PASSWORD=***"),
    ("postgresql://db/cv?pass%77ord=hunter22", "postgresql://db/cv?pass%77ord=***"),
    ("postgresql://db/cv?user=app;password=hunter22", "postgresql://db/cv?user=app;password=***"),
    ("postgresql://db/cv#password=hunter22", "postgresql://db/cv#password=***"),
    ("postgresql://app:hunter22@db/cv?password=hunter22", "postgresql://app:***@db/cv?password=***"),
    ("postgresql://app:hun@ter22@db/cv", "postgresql://app:***@db/cv"),
    ("postgresql://app:hun/ter22@db/cv", "postgresql://app:***@db/cv"),
    ("postgresql://app:hun?ter22@db/cv", "postgresql://app:***@db/cv"),
    ("postgresql://app:hun?ter=22@db/cv", "postgresql://app:***@db/cv"),
    ("postgresql://app:hun#ter22@db/cv?sslmode=require", "postgresql://app:***@db/cv?sslmode=require"),
    ("postgresql://app:hunter22%40x@db/cv", "postgresql://app:***@db/cv"),
    ("host=db port=5432 password=hunter22 dbname=cv", "host=db port=5432 password=*** dbname=cv"),
    ("host=db password = hunter22 user=app", "host=db password = *** user=app"),
    ("host=db password='hun ter22' user=app", "host=db password=*** user=app"),
    ("host=db sslpassword=hunter22", "host=db sslpassword=***"),
    ("redis://:hunter22@cache:6379/0", "redis://:***@cache:6379/0"),
    ("redis://default:hunter22@cache:6379/0", "redis://default:***@cache:6379/0"),
    ("redis://hunter22@cache:6379/0", "redis://***@cache:6379/0"),
    ("rediss://cache:6380/0?password=hunter22", "rediss://cache:6380/0?password=***"),
    ("unix://:hunter22@/run/redis.sock?db=0", "unix://:***@/run/redis.sock?db=0"),
    ("https://vault.example/v1?token=hunter22&x=1", "https://vault.example/v1?token=***&x=1"),
    ("https://s3.example/b?X-Amz-Credential=hunter22", "https://s3.example/b?X-Amz-Credential=***"),
]

HARMLESS = [
    "sqlite:////var/lib/callvault/callvault.db",
    "postgresql+psycopg://app@db:5432/cv?sslmode=require",
    "postgresql://db:5432/cv?application_name=callvault",
    "host=db port=5432 dbname=cv user=app",
    "INFO",
    "/usr/lib/softhsm/libsofthsm2.so",
]


@pytest.mark.parametrize(("raw", "shown"), URL_FORMS)
def test_every_url_form_hides_the_secret(raw: str, shown: str) -> None:
    assert redact_secrets(raw) == shown
    assert "hunter22" not in shown and "ter22" not in shown


@pytest.mark.parametrize("raw", HARMLESS)
def test_harmless_values_are_unchanged(raw: str) -> None:
    assert redact_secrets(raw) == raw


@pytest.mark.parametrize(("raw", "_"), URL_FORMS)
def test_redacted_settings_hide_secrets_in_every_url_setting(raw: str, _: str) -> None:
    settings = Settings(
        database_url=raw,
        migration_database_url=raw,
        redis_url=raw,
        master_key="super-secret-master",  # type: ignore[arg-type]
        pkcs11_pin="0000-pin",  # type: ignore[arg-type]
    )
    shown = json.dumps(settings.redacted(), default=str)
    assert "ter22" not in shown and "super-secret-master" not in shown and "0000-pin" not in shown


def test_config_show_hides_database_and_redis_passwords(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
    env.update(
        CALLVAULT_HOME=str(tmp_path),
        CALLVAULT_DATABASE_URL="postgresql+psycopg://db/cv?user=app&password=hunter22",
        CALLVAULT_MIGRATION_DATABASE_URL="host=db user=owner password='hunter22 x' dbname=cv",
        CALLVAULT_REDIS_URL="redis://:hunter22@cache:6379/0",
        CALLVAULT_MASTER_KEY="hunter22-master",
    )
    shown = subprocess.run(
        [sys.executable, "-m", "callvault", "config", "show"], env=env, capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0, shown.stderr
    assert SECRET not in shown.stdout + shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["database_url"] == "postgresql+psycopg://db/cv?user=app&password=***"
    assert doc["redis_url"] == "redis://:***@cache:6379/0"
    assert doc["master_key"] == "**********"
