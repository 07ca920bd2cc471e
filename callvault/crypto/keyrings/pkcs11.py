"""A keyring in a PKCS#11 token (HSM; SoftHSM2 in tests and CI).

KEK versions are non-extractable AES-256 token keys labelled ``callvault:kek:{ref}:v{n}``;
wrapping runs AES-GCM inside the token, so KEK bytes never reach this process. Signing keys
are Ed25519 token key pairs (``callvault:sign:{ref}``, CKM_EDDSA). One session is shared
behind a lock (PKCS#11 sessions are not safe to use from two threads at once).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.mechanisms import GCMParams
from pkcs11.util.ec import encode_named_curve_parameters

from callvault.core.errors import DecryptionFailed, Invalid
from callvault.crypto.keyrings.base import WRAP_FORMAT_VERSION, UnknownKey, wrapped_kek_version

__all__ = ["Pkcs11Keyring"]

_ED25519_OID = "1.3.101.112"
_KEK_PREFIX = "callvault:kek:"
_SIGN_PREFIX = "callvault:sign:"


class Pkcs11Keyring:
    """KEKs and signing keys held by a PKCS#11 token."""

    WORKERS_NEED_ENVIRONMENT = True
    """Worker processes open their own session, and the module reads its configuration from
    the environment when it loads: see ``core.processes.worker_context(keyring=)``."""

    def __init__(self, module_path: str, token_label: str, user_pin: str) -> None:
        if not os.path.exists(module_path):
            raise Invalid("The PKCS#11 module was not found", code="keyring.pkcs11_module_missing")
        self._module_path, self._token_label, self._pin = module_path, token_label, user_pin
        self._lock = threading.RLock()
        try:
            token = pkcs11.lib(module_path).get_token(token_label=token_label)
            try:
                self._session = token.open(user_pin=user_pin, rw=True)
            except pkcs11.UserAlreadyLoggedIn:  # login is per process and token: share it
                self._session = token.open(rw=True)
        except pkcs11.PKCS11Error as error:
            raise Invalid(
                f"Cannot open the PKCS#11 token ({type(error).__name__})", code="keyring.pkcs11_open"
            ) from None
        self._keys: dict[tuple[str, int], Any] = {}

    def __getstate__(self) -> dict[str, str]:
        """Pickle as "how to open it", for import worker processes."""
        return {"module": self._module_path, "label": self._token_label, "pin": self._pin}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.__init__(state["module"], state["label"], state["pin"])  # type: ignore[misc]

    # -- helpers -------------------------------------------------------------------------
    def _label(self, kek_ref: str, version: int) -> str:
        return f"{_KEK_PREFIX}{kek_ref}:v{version}"

    def _version_keys(self, kek_ref: str) -> dict[int, Any]:
        prefix = f"{_KEK_PREFIX}{kek_ref}:v"
        found: dict[int, Any] = {}
        for key in self._session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY}):
            label = str(key[Attribute.LABEL] or "")
            if label.startswith(prefix) and label[len(prefix) :].isdigit():
                found[int(label[len(prefix) :])] = key
        return found

    def _kek(self, kek_ref: str, version: int) -> Any:
        key = self._keys.get((kek_ref, version))
        if key is None:
            try:
                key = self._session.get_key(
                    object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=self._label(kek_ref, version)
                )
            except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned):
                raise UnknownKey() from None
            self._keys[(kek_ref, version)] = key
        return key

    # -- Keyring protocol ----------------------------------------------------------------
    def create_kek(self, kek_ref: str) -> int:
        with self._lock:
            version = max(self._version_keys(kek_ref), default=0) + 1
            self._session.generate_key(
                KeyType.AES, 256, label=self._label(kek_ref, version), store=True,
                template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
                          Attribute.ENCRYPT: True, Attribute.DECRYPT: True},
            )  # fmt: skip
            return version

    def current_version(self, kek_ref: str) -> int:
        with self._lock:
            versions = self._version_keys(kek_ref)
        if not versions:
            raise UnknownKey()
        return max(versions)

    def versions(self, kek_ref: str) -> list[int]:
        with self._lock:
            return sorted(self._version_keys(kek_ref))

    def wrap(self, kek_ref: str, key: bytes, aad: bytes) -> bytes:
        version = self.current_version(kek_ref)
        nonce = os.urandom(12)
        with self._lock:
            body = self._kek(kek_ref, version).encrypt(
                key, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad, 128)
            )
        return bytes((WRAP_FORMAT_VERSION,)) + version.to_bytes(4, "big") + nonce + bytes(body)

    def unwrap(self, kek_ref: str, wrapped: bytes, aad: bytes) -> bytes:
        version = wrapped_kek_version(wrapped)
        with self._lock:
            kek = self._kek(kek_ref, version)
            try:
                plain = kek.decrypt(
                    wrapped[17:], mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(wrapped[5:17], aad, 128)
                )
            except pkcs11.PKCS11Error:
                raise DecryptionFailed() from None
        return bytes(plain)

    def retire(self, kek_ref: str, version: int) -> None:
        with self._lock:
            keys = self._version_keys(kek_ref)
            if not keys:
                raise UnknownKey()
            if version == max(keys):
                raise Invalid("The current KEK version cannot be retired", code="keyring.retire_current")
            if version in keys:
                keys[version].destroy()
            self._keys.pop((kek_ref, version), None)

    def destroy(self, kek_ref: str) -> None:
        with self._lock:
            for version, key in self._version_keys(kek_ref).items():
                key.destroy()
                self._keys.pop((kek_ref, version), None)

    def _signing_pair(self, key_ref: str) -> tuple[Any, Any]:
        label = f"{_SIGN_PREFIX}{key_ref}"
        with self._lock:
            try:
                private = self._session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
                public = self._session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=label)
            except pkcs11.NoSuchKey:
                public, private = self._session.generate_keypair(
                    KeyType.EC_EDWARDS, mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN, store=True, label=label,
                    public_template={Attribute.EC_PARAMS: encode_named_curve_parameters(_ED25519_OID)},
                    private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
                )  # fmt: skip
        return public, private

    def sign(self, key_ref: str, message: bytes) -> bytes:
        _, private = self._signing_pair(key_ref)
        with self._lock:
            return bytes(private.sign(message, mechanism=Mechanism.EDDSA))

    def public_key(self, key_ref: str) -> bytes:
        public, _ = self._signing_pair(key_ref)
        with self._lock:
            point = bytes(public[Attribute.EC_POINT])
        # CKA_EC_POINT is a DER OCTET STRING (04 20 ‖ key) on most tokens, raw on some.
        return point[2:] if len(point) == 34 and point[:2] == b"\x04\x20" else point
