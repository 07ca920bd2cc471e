"""Keyrings: where KEKs live. ``open_keyring`` picks one from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from callvault.core.errors import Invalid
from callvault.crypto.keyrings.base import Keyring, UnknownKey, wrapped_kek_version

if TYPE_CHECKING:  # not at run time: worker processes open keyrings without the settings
    from callvault.core.config import Settings

__all__ = ["Keyring", "UnknownKey", "open_keyring", "wrapped_kek_version"]


def open_keyring(settings: Settings) -> Keyring:
    """The keyring the settings name (local file by default, PKCS#11 HSM in production)."""
    if settings.keyring == "pkcs11":
        from callvault.crypto.keyrings.pkcs11 import Pkcs11Keyring

        if settings.pkcs11_pin is None:
            raise Invalid("CALLVAULT_PKCS11_PIN is required", code="keyring.no_pin")
        return Pkcs11Keyring(
            settings.pkcs11_module, settings.pkcs11_token_label, settings.pkcs11_pin.get_secret_value()
        )
    from callvault.crypto.keyrings.local import LocalKeyring

    master_key = settings.resolved_master_key
    if master_key is None:
        raise Invalid(
            "The local keyring needs CALLVAULT_MASTER_KEY (or run `callvault init`)",
            code="keyring.no_master_key",
        )
    return LocalKeyring(settings.resolved_keyring_path, master_key)
