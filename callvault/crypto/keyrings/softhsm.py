"""SoftHSM2 helpers for tests and local trials of the PKCS#11 keyring."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SoftHsmToken", "find_softhsm_module", "init_softhsm_token"]

_MODULE_PATHS = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)


@dataclass(frozen=True)
class SoftHsmToken:
    module_path: str
    label: str
    user_pin: str


def find_softhsm_module() -> str | None:
    return next((path for path in _MODULE_PATHS if os.path.exists(path)), None)


def init_softhsm_token(directory: Path, label: str, so_pin: str, user_pin: str) -> SoftHsmToken:
    """A fresh token in ``directory``; sets ``SOFTHSM2_CONF`` (before the module is loaded)."""
    module = find_softhsm_module()
    tool = shutil.which("softhsm2-util")
    if module is None or tool is None:
        raise FileNotFoundError("SoftHSM2 is not installed (apt-get install softhsm2)")
    tokens = directory / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(  # noqa: S603 - a fixed tool with our own arguments
        [tool, "--init-token", "--free", "--label", label, "--so-pin", so_pin, "--pin", user_pin],
        check=True, capture_output=True, env={**os.environ, "SOFTHSM2_CONF": str(conf)},
    )  # fmt: skip
    return SoftHsmToken(module, label, user_pin)
