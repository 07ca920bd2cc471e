"""The data folder: private modes (0700 / 0600) and where the master key may live.

A copy of the data folder must not decrypt anything unless it is the embedded SQLite demo:
with any other database the master key comes from the environment, a file outside the
folder, or the HSM, and every command refuses to start otherwise (unless
``--insecure-colocated-key``).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from callvault.core.config import Settings
from callvault.core.errors import Invalid
from callvault.core.runtime import build_runtime
from callvault.crypto.keyrings.local import LocalKeyring
from tests.conftest import PG_URL, fresh_database

UNREACHABLE_PG = "postgresql+psycopg://app@127.0.0.1:9/cv"
"""Nothing listens on port 9: a command that got as far as connecting would fail otherwise."""


def _run(home: Path, *args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
    env.update(CALLVAULT_HOME=str(home), COLUMNS="200", **(extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "callvault", *args], env=env, capture_output=True, text=True, timeout=300
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _modes(home: Path) -> dict[str, int]:
    found = {".": _mode(home)}
    for root, dirs, files in os.walk(home):
        for name in dirs + files:
            path = Path(root) / name
            found[str(path.relative_to(home))] = _mode(path)
    return found


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """A default shell umask (022), so only our own chmod/creation modes can make files private."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


# -- modes ---------------------------------------------------------------------------------
def test_init_and_seed_leave_a_private_data_folder(tmp_path: Path) -> None:
    home = tmp_path / "var"
    assert _run(home, "init").returncode == 0
    seeded = _run(home, "demo", "seed", "--customers", "3")
    assert seeded.returncode == 0, seeded.stderr
    modes = _modes(home)
    for name in ("callvault.db", "keyring.json", "master.key", "demo-credentials.txt", "blobs"):
        assert name in modes
    wrong = {name: oct(mode) for name, mode in modes.items() if mode != (0o700 if (home / name).is_dir() else 0o600)}
    assert wrong == {}


def test_sqlite_wal_and_shm_files_are_private(tmp_path: Path, loose_umask: None) -> None:
    settings = Settings(home=tmp_path / "home", master_key="test-master-key")  # type: ignore[arg-type]
    keyring = LocalKeyring(settings.resolved_keyring_path, "test-master-key", scrypt_n=2**12)
    built = build_runtime(settings, keyring=keyring)
    try:
        from callvault.access.identity import service as identity

        with built.sessions() as db_session, db_session.begin():
            identity.create_tenant(db_session=db_session, tenant_id="modes", name="Modes")
        with built.engine.connect():  # keeps the WAL and shared-memory files open
            home = settings.home
            assert (home / "callvault.db-wal").exists() and (home / "callvault.db-shm").exists()
            modes = _modes(home)
    finally:
        built.close()
    assert modes["."] == 0o700 and modes["blobs"] == 0o700
    for name in ("callvault.db", "callvault.db-wal", "callvault.db-shm", "keyring.json"):
        assert modes[name] == 0o600, (name, oct(modes[name]))


def test_a_loose_existing_folder_is_tightened_on_start(tmp_path: Path, loose_umask: None) -> None:
    home = tmp_path / "old"
    home.mkdir(mode=0o755)
    (home / "demo-credentials.txt").write_text("keys of an older version\n")
    os.chmod(home / "demo-credentials.txt", 0o644)
    (home / "callvault.db").touch(mode=0o644)
    settings = Settings(home=home, master_key="test-master-key")  # type: ignore[arg-type]
    built = build_runtime(settings, keyring=LocalKeyring(settings.resolved_keyring_path, "k", scrypt_n=2**12))
    built.close()
    assert _mode(home) == 0o700
    assert _mode(home / "demo-credentials.txt") == 0o600
    assert _mode(home / "callvault.db") == 0o600


# -- where the master key may live -------------------------------------------------------
def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(home=tmp_path / "data", **values)  # type: ignore[arg-type]


def test_embedded_sqlite_may_keep_the_key_beside_the_keyring(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.home.mkdir()
    (settings.home / "master.key").write_text("demo-key\n")
    assert settings.is_embedded
    assert settings.resolved_master_key == "demo-key"


@pytest.mark.parametrize(
    "inside",
    [lambda s: s.home / "master.key", lambda s: s.home / "keys" / "master.key", lambda s: s.home],
)
def test_a_database_server_refuses_a_key_in_the_data_folder(tmp_path: Path, inside) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(tmp_path, database_url=UNREACHABLE_PG)
    path = inside(settings)
    settings = _settings(tmp_path, database_url=UNREACHABLE_PG, master_key_file=path)
    with pytest.raises(Invalid) as refused:
        settings.resolved_master_key
    assert refused.value.code == "keyring.master_key_colocated"
    # The default location (home/master.key) is refused too, whether or not the file exists.
    with pytest.raises(Invalid):
        _settings(tmp_path, database_url=UNREACHABLE_PG).resolved_master_key


def test_a_key_beside_a_keyring_kept_elsewhere_is_colocated_too(tmp_path: Path) -> None:
    keyring = tmp_path / "secrets" / "keyring.json"
    settings = _settings(
        tmp_path, database_url=UNREACHABLE_PG, keyring_path=keyring, master_key_file=keyring.with_name("master.key")
    )
    with pytest.raises(Invalid):
        settings.resolved_master_key


def test_a_database_server_accepts_env_separate_file_or_explicit_override(tmp_path: Path) -> None:
    from_env = _settings(tmp_path, database_url=UNREACHABLE_PG, master_key="from-env")
    assert from_env.resolved_master_key == "from-env" and from_env.master_key_path is None

    outside = tmp_path / "elsewhere" / "master.key"
    outside.parent.mkdir()
    outside.write_text("from-file\n")
    from_file = _settings(tmp_path, database_url=UNREACHABLE_PG, master_key_file=outside)
    assert from_file.resolved_master_key == "from-file"

    missing = _settings(tmp_path, database_url=UNREACHABLE_PG, master_key_file=tmp_path / "nope.key")
    with pytest.raises(Invalid) as absent:
        missing.resolved_master_key
    assert absent.value.code == "keyring.master_key_missing"

    home = tmp_path / "data"
    home.mkdir()
    (home / "master.key").write_text("colocated\n")
    override = _settings(tmp_path, database_url=UNREACHABLE_PG, insecure_colocated_key=True)
    assert override.resolved_master_key == "colocated"


@pytest.mark.parametrize(
    "command", [["init"], ["serve", "--port", "9"], ["tenants", "list"], ["keys", "rotate", "--tenant", "x"]]
)
def test_commands_refuse_to_start_with_a_colocated_key_and_a_database_server(
    tmp_path: Path, command: list[str]
) -> None:
    home = tmp_path / "var"
    done = _run(home, *command, extra={"CALLVAULT_DATABASE_URL": UNREACHABLE_PG})
    assert done.returncode == 2, done.stderr
    assert "keyring.master_key_colocated" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (home / "master.key").exists()


def test_embedded_init_warns_loudly(tmp_path: Path) -> None:
    done = _run(tmp_path / "var", "init")
    assert done.returncode == 0, done.stderr
    assert "WARNING" in done.stderr and "master key" in done.stderr and "embedded demo only" in done.stderr


@pytest.mark.skipif(not PG_URL, reason="needs CALLVAULT_TEST_PG_URL (CI runs it on PostgreSQL)")
def test_postgresql_init_with_each_allowed_key_source(tmp_path: Path) -> None:
    with fresh_database() as (url, owner_url, role):
        db = {
            "CALLVAULT_DATABASE_URL": url,
            "CALLVAULT_MIGRATION_DATABASE_URL": owner_url,
            "CALLVAULT_DB_APP_ROLE": role or "",
        }
        # A separate key file: created by init, outside the data folder; nothing key-like inside.
        home, key_file = tmp_path / "var", tmp_path / "secrets" / "master.key"
        with_file = {**db, "CALLVAULT_MASTER_KEY_FILE": str(key_file)}
        done = _run(home, "init", extra=with_file)
        assert done.returncode == 0, done.stderr
        assert key_file.exists() and _mode(key_file) == 0o600
        assert not (home / "master.key").exists() and "WARNING" not in done.stderr
        assert _run(home, "tenants", "list", extra=with_file).returncode == 0

        # The explicit override writes the key beside the keyring and says so on every start.
        other = tmp_path / "other"
        done = _run(other, "init", "--insecure-colocated-key", extra=db)
        assert done.returncode == 0, done.stderr
        assert (other / "master.key").exists() and "INSECURE" in done.stderr
        refused = _run(other, "tenants", "list", extra=db)
        assert refused.returncode == 2 and "keyring.master_key_colocated" in refused.stderr
        assert _run(other, "--insecure-colocated-key", "tenants", "list", extra=db).returncode == 0
        assert _run(other, "tenants", "list", extra={**db, "CALLVAULT_INSECURE_COLOCATED_KEY": "1"}).returncode == 0
