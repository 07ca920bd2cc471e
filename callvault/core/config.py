"""The one configuration object.

Values come from ``CALLVAULT_*`` environment variables, then an optional TOML file named by
``CALLVAULT_CONFIG`` (or ``$CALLVAULT_HOME/callvault.toml``), then defaults. Secrets are
``SecretStr`` so they never print.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["Settings", "get_settings", "reset_settings"]


def _toml_path() -> Path:
    explicit = os.environ.get("CALLVAULT_CONFIG")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("CALLVAULT_HOME", "./var")) / "callvault.toml"


class Settings(BaseSettings):
    """Everything CallVault can be configured with."""

    model_config = SettingsConfigDict(env_prefix="CALLVAULT_", extra="ignore")

    home: Path = Field(default=Path("./var"), description="Data directory (embedded default).")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL the application connects with; default SQLite in home.",
    )
    migration_database_url: str | None = Field(
        default=None,
        description="URL of the schema owner, used for migrations; default database_url.",
    )
    db_app_role: str | None = Field(
        default=None,
        description="PostgreSQL role the app connects as; migrations grant it and RLS binds it.",
    )
    blob_dir: Path | None = Field(default=None, description="Local blob folder; default home/blobs.")

    keyring: Literal["local", "pkcs11"] = "local"
    keyring_path: Path | None = Field(default=None, description="Local key file; default home/keyring.json")
    master_key: SecretStr | None = Field(default=None, description="Passphrase sealing the local key file (scrypt).")
    pkcs11_module: str = "/usr/lib/softhsm/libsofthsm2.so"
    pkcs11_token_label: str = "callvault"  # noqa: S105 - a label, not a secret
    pkcs11_pin: SecretStr | None = None

    redis_url: str | None = Field(
        default=None,
        description="Redis for counters shared by API replicas (rate limits, quotas); default the database.",
    )

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    log_level: str = "INFO"
    log_json: bool = False

    pii_config_dir: Path | None = Field(default=None, description="Tenant PII recognizer YAML files.")
    audit_head_every: int = Field(default=1000, ge=1, description="Sign a tree head every N events...")
    audit_head_seconds: float = Field(default=10.0, gt=0, description="...or every T seconds.")
    audit_public_key: str | None = Field(
        default=None,
        description="Pinned audit signing key (64 hex digits or SHA256:<fingerprint>, from `audit heads export`); "
        "`audit verify` fails on heads signed by any other key. Keep it outside the data folder.",
    )

    import_workers: int | None = Field(
        default=None, ge=1, le=64, description="Processes preparing large imports; default one per core."
    )
    import_batch_size: int = Field(default=2000, ge=1, le=100_000)
    max_request_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)

    # people and sessions (callvault.access.identity)
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60, description="A session unused this long ends.")
    session_absolute_hours: int = Field(default=12, ge=1, le=24 * 7, description="A session ends this long after login")
    login_lockout_after: int = Field(default=5, ge=1, le=100, description="Failed logins before the account locks.")
    login_lockout_seconds: int = Field(default=60, ge=1, description="First lock; doubles with each further failure.")
    login_lockout_max_seconds: int = Field(default=3600, ge=1, description="Longest lock.")
    login_rate_per_username: int = Field(default=20, ge=1, description="Login attempts per minute per username.")
    login_rate_per_address: int = Field(default=300, ge=1, description="Login attempts per minute per client address.")
    password_time_cost: int = Field(default=3, ge=1, le=20, description="argon2id passes (rehash on change).")
    password_memory_kib: int = Field(default=65536, ge=8192, description="argon2id memory in KiB.")
    user_sweep_minutes: float = Field(default=10.0, gt=0, le=60, description="Offboarding sweep interval in serve.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=_toml_path()),
        )

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'callvault.db').resolve()}"

    @property
    def resolved_migration_url(self) -> str:
        return self.migration_database_url or self.resolved_database_url

    @property
    def resolved_master_key(self) -> str | None:
        """The env/TOML master key, else the one ``callvault init`` wrote for the embedded default."""
        if self.master_key is not None:
            return self.master_key.get_secret_value()
        path = self.home / "master.key"
        return path.read_text().strip() if path.exists() else None

    @property
    def resolved_pii_dir(self) -> Path:
        """Tenant PII recognizers: ``<dir>/<tenant id>.yaml`` (see docs/pii.md)."""
        return self.pii_config_dir or self.home / "pii"

    @property
    def resolved_blob_dir(self) -> Path:
        return self.blob_dir or self.home / "blobs"

    @property
    def resolved_keyring_path(self) -> Path:
        return self.keyring_path or self.home / "keyring.json"

    def redacted(self) -> dict[str, Any]:
        """Settings as plain values, secrets and URL passwords hidden."""
        out: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                out[name] = "**********" if value.get_secret_value() else ""
            elif isinstance(value, str) and "://" in value and "@" in value:
                out[name] = _hide_url_password(value)
            elif isinstance(value, Path):
                out[name] = str(value)
            else:
                out[name] = value
        out["database_url"] = _hide_url_password(self.resolved_database_url)
        return out


def _hide_url_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (after the environment changed, e.g. in tests)."""
    get_settings.cache_clear()
