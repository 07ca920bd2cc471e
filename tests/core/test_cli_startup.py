"""``callvault --help`` loads Typer and the CLI modules, nothing heavy.

Counts modules (``python -X importtime``), never time: the database, crypto, audit and PII
layers, the web stack and the demo's Faker load only inside the commands that use them.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HEAVY = (
    "alembic",
    "sqlalchemy",
    "callvault.audit",
    "callvault.pii",
    "callvault.crypto",
    "callvault.vault",
    "callvault.core.db",
    "callvault.core.runtime",
    "fastapi",
    "starlette",
    "uvicorn",
    "cryptography",
    "jieba",
    "faker",
    "psycopg",
    "redis",
    "structlog",
)


def _imported(*args: str) -> tuple[list[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
    env["COLUMNS"] = "200"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "callvault", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modules = [
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    ]
    assert "typer" in modules  # the parse worked
    return modules, done.stdout


def _heavy(modules: list[str]) -> list[str]:
    return sorted({m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)})


def test_root_help_imports_only_typer_and_the_cli() -> None:
    modules, out = _imported("--help")
    assert _heavy(modules) == []
    ours = {m for m in modules if m.startswith("callvault")}
    assert ours <= {
        "callvault",
        "callvault.__main__",
        "callvault.access",
        "callvault.access.actor",
        "callvault.core",
        "callvault.core.errors",
    } | {m for m in ours if m.startswith("callvault.cli")}
    for group in (
        "init",
        "serve",
        "config",
        "tenants",
        "service-accounts",
        "keys",
        "customers",
        "demo",
        "audit",
        "pii",
    ):
        assert group in out


@pytest.mark.parametrize(
    "group", ["config", "tenants", "service-accounts", "keys", "customers", "demo", "audit", "audit heads", "pii"]
)
def test_group_help_stays_light(group: str) -> None:
    modules, out = _imported(*group.split(), "--help")
    assert _heavy(modules) == []
    assert "Usage" in out
