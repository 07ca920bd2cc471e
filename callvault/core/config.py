"""The one configuration object.

Values come from ``CALLVAULT_*`` environment variables, then an optional TOML file named by
``CALLVAULT_CONFIG`` (or ``$CALLVAULT_HOME/callvault.toml``), then defaults. Secrets are
``SecretStr`` so they never print.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote_plus

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from callvault.core.errors import Invalid

__all__ = ["Settings", "get_settings", "redact_secrets", "reset_settings"]


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
    blob_store: Literal["local", "s3"] = Field(default="local", description="Where recordings and exports live.")
    s3_bucket: str | None = Field(default=None, description="Bucket of the s3 blob store.")
    s3_prefix: str = Field(default="", description="Key prefix inside the bucket.")
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO...); default AWS.")
    s3_region: str | None = None
    s3_access_key_id: str | None = Field(default=None, description="Default: boto3's credential chain.")
    s3_secret_access_key: SecretStr | None = None

    keyring: Literal["local", "pkcs11"] = "local"
    keyring_path: Path | None = Field(default=None, description="Local key file; default home/keyring.json")
    master_key: SecretStr | None = Field(default=None, description="Passphrase sealing the local key file (scrypt).")
    master_key_file: Path | None = Field(
        default=None,
        description="File holding the master key; outside the data folder unless the database is the embedded SQLite.",
    )
    insecure_colocated_key: bool = Field(
        default=False,
        description="Allow the master key file in the data folder with a non-embedded database (not for production).",
    )
    pkcs11_module: str = "/usr/lib/softhsm/libsofthsm2.so"
    pkcs11_token_label: str = "callvault"  # noqa: S105 - a label, not a secret
    pkcs11_pin: SecretStr | None = None

    redis_url: str | None = Field(
        default=None,
        description="Redis for counters shared by API replicas (rate limits, quotas); default the database.",
    )

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = Field(default=1, ge=1, le=64, description="API processes `callvault serve` starts.")
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
    export_workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Processes making the rows of large exports; default one per core (1: no worker processes).",
    )
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

    # data lifecycle (callvault.lifecycle)
    erasure_ledger_path: Path | None = Field(
        default=None,
        description="Append-only erasure ledger outside the database; default home/erasure-ledger.jsonl. "
        "Keep it off the database's backups so a restore can replay erasures.",
    )
    lifecycle_sweep_minutes: float = Field(
        default=60.0, gt=0, le=24 * 60, description="Retention sweep interval in serve."
    )

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
    def is_embedded(self) -> bool:
        """The embedded demo: SQLite. Anything else (PostgreSQL) is a deployment."""
        return self.resolved_database_url.startswith("sqlite")

    @property
    def colocated_master_key_path(self) -> Path:
        """Where ``callvault init`` keeps the master key of the embedded demo: beside the keyring."""
        return self.home / "master.key"

    def master_key_colocated(self, path: Path) -> bool:
        """Whether ``path`` sits in the data folder or beside the keyring it unlocks, so one
        copy of that folder would carry both the lock and its key."""
        target = path.expanduser().resolve()
        folders = {self.home.expanduser().resolve(), self.resolved_keyring_path.expanduser().resolve().parent}
        return any(target == folder or folder in target.parents for folder in folders)

    @property
    def master_key_path(self) -> Path | None:
        """The file the local keyring's master key is read from (``None``: from the environment).

        Raises ``Invalid`` (``keyring.master_key_colocated``) when a non-embedded database
        would use a key file inside the data folder, unless ``insecure_colocated_key``.
        """
        if self.master_key is not None:
            return None
        path = self.master_key_file or self.colocated_master_key_path
        if not self.is_embedded and not self.insecure_colocated_key and self.master_key_colocated(path):
            raise Invalid(
                "The master key must not live in the data folder beside the keyring when the database is not "
                "the embedded SQLite: set CALLVAULT_MASTER_KEY (from a secret manager), CALLVAULT_MASTER_KEY_FILE "
                "(a path outside the data folder) or CALLVAULT_KEYRING=pkcs11; --insecure-colocated-key overrides",
                code="keyring.master_key_colocated",
            )
        return path

    @property
    def resolved_master_key(self) -> str | None:
        """The env/TOML master key, else the key file (``master_key_file`` or, for the embedded
        demo, the one ``callvault init`` wrote beside the keyring)."""
        if self.master_key is not None:
            return self.master_key.get_secret_value()
        path = self.master_key_path
        if path is None or not path.exists():
            if self.master_key_file is not None:
                raise Invalid("CALLVAULT_MASTER_KEY_FILE names a missing file", code="keyring.master_key_missing")
            return None
        return path.read_text().strip() or None

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
        """Settings as plain values, secrets hidden: ``SecretStr`` fields, and in every text
        value URL passwords, secret query parameters and libpq ``password=`` keywords."""
        out: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                out[name] = "**********" if value.get_secret_value() else ""
            elif isinstance(value, str):
                out[name] = redact_secrets(value)
            elif isinstance(value, Path):
                out[name] = str(value)
            else:
                out[name] = value
        out["database_url"] = redact_secrets(self.resolved_database_url)
        return out


HIDDEN = "***"
_SECRET_NAME = re.compile(r"pass|pwd|secret|token|credential|auth|key", re.IGNORECASE)
"""Names of query parameters and DSN keywords whose values are hidden (sslpassword, api_key...)."""
_QUERY_PARAM = re.compile(r"(?P<lead>^|[?&;#])(?P<name>[^=&;#?]+)=(?P<value>[^&;#]*)")
_DSN_KEYWORD = re.compile(r"(?P<lead>(?:^|\s)(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'?|\S*)")
_REDIS_SCHEMES = ("redis", "rediss", "redis+sentinel", "unix")


def redact_secrets(text: str) -> str:
    """``text`` with every secret a connection string can carry replaced by ``***``.

    Covers URL userinfo (``scheme://user:pw@host``, ``redis://:pw@host``, a bare
    ``redis://pw@host``, passwords holding ``@`` or ``/``), secret query parameters and
    fragments (``?password=``, ``&sslpassword=``, ``?token=``, percent-encoded names too),
    and libpq keyword DSNs (``host=db password=pw``, quoted values). Anything that parses as
    none of these comes back unchanged.
    """
    if "://" in text:
        scheme, _, rest = text.partition("://")
        at = rest.rfind("@", 0, _query_start(rest))
        if at < 0 and "@" in rest:
            # An unencoded "?" or "#" inside the password: "user:pa?ss@host" (no query
            # parameter before the "@"), or "user:pa?s=s@host" (no port after the ":").
            head = rest[: _query_start(rest)]
            port = head.partition(":")[2]
            if "=" not in rest[: rest.rfind("@")] or (port and "/" not in head and not port.isdigit()):
                at = rest.rfind("@")
        userinfo = ""
        if at >= 0:
            userinfo, rest = rest[:at], rest[at:]
            if ":" in userinfo:
                userinfo = f"{userinfo.split(':', 1)[0]}:{HIDDEN}"
            elif scheme.lower().split("+")[0] in _REDIS_SCHEMES:
                userinfo = HIDDEN  # redis://secret@host: a bare userinfo is the password
        query_at = _query_start(rest)
        return f"{scheme}://{userinfo}{rest[:query_at]}{_QUERY_PARAM.sub(_hide_query, rest[query_at:])}"
    if "=" in text:
        return _DSN_KEYWORD.sub(_hide_keyword, text)
    return text


def _query_start(rest: str) -> int:
    return min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))


def _hide_query(match: re.Match[str]) -> str:
    if not _SECRET_NAME.search(unquote_plus(match["name"])):
        return match.group(0)
    return f"{match['lead']}{match['name']}={HIDDEN}"


def _hide_keyword(match: re.Match[str]) -> str:
    return f"{match['lead']}{HIDDEN}" if _SECRET_NAME.search(match["name"]) else match.group(0)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (after the environment changed, e.g. in tests)."""
    get_settings.cache_clear()
