"""One contract, every keyring: local file and PKCS#11 (SoftHSM2)."""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from callvault.core.errors import DecryptionFailed
from callvault.crypto import UnknownKey, verify_signature
from callvault.crypto.keyrings.base import Keyring
from callvault.crypto.keyrings.local import LocalKeyring
from callvault.crypto.keyrings.softhsm import find_softhsm_module, init_softhsm_token

Factory = Callable[[], Keyring]


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    if find_softhsm_module() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("SoftHSM2 must be installed in CI (apt-get install softhsm2)")
        pytest.skip("SoftHSM2 is not installed on this machine")
    return init_softhsm_token(tmp_path_factory.mktemp("softhsm"), "callvault-test", "0000", "1234")


@pytest.fixture(params=["local", "pkcs11"])
def open_keyring(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    if request.param == "local":
        return lambda: LocalKeyring(tmp_path / "keyring.json", "test-passphrase", scrypt_n=2**10)
    token = request.getfixturevalue("softhsm")
    from callvault.crypto.keyrings.pkcs11 import Pkcs11Keyring

    return lambda: Pkcs11Keyring(token.module_path, token.label, token.user_pin)


@pytest.fixture
def ref() -> str:
    return f"tenant:{uuid.uuid4().hex[:8]}"


def test_wrap_round_trip_and_binding(open_keyring: Factory, ref: str) -> None:
    keyring = open_keyring()
    assert keyring.create_kek(ref) == 1
    secret = os.urandom(32)
    wrapped = keyring.wrap(ref, secret, b"aad-1")
    assert secret not in wrapped
    assert keyring.unwrap(ref, wrapped, b"aad-1") == secret
    with pytest.raises(DecryptionFailed):
        keyring.unwrap(ref, wrapped, b"aad-2")
    flipped = bytearray(wrapped)
    flipped[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        keyring.unwrap(ref, bytes(flipped), b"aad-1")


def test_versions_rotate_and_retire(open_keyring: Factory, ref: str) -> None:
    keyring = open_keyring()
    keyring.create_kek(ref)
    old = keyring.wrap(ref, b"k" * 32, b"a")
    assert keyring.create_kek(ref) == 2
    assert keyring.current_version(ref) == 2
    new = keyring.wrap(ref, b"k" * 32, b"a")
    assert new[1:5] == (2).to_bytes(4, "big")
    assert keyring.unwrap(ref, old, b"a") == b"k" * 32
    keyring.retire(ref, 1)
    assert keyring.versions(ref) == [2]
    with pytest.raises(DecryptionFailed):
        keyring.unwrap(ref, old, b"a")
    assert open_keyring().unwrap(ref, new, b"a") == b"k" * 32  # persisted, seen by a new instance


def test_destroy_and_unknown(open_keyring: Factory, ref: str) -> None:
    keyring = open_keyring()
    keyring.create_kek(ref)
    wrapped = keyring.wrap(ref, b"s" * 32, b"")
    keyring.destroy(ref)
    with pytest.raises(DecryptionFailed):
        keyring.unwrap(ref, wrapped, b"")
    with pytest.raises(UnknownKey):
        keyring.wrap("tenant:nobody", b"x" * 32, b"")


def test_signatures_verify_with_a_stable_public_key(open_keyring: Factory, ref: str) -> None:
    keyring = open_keyring()
    signing_ref = f"audit-{ref}"
    public = keyring.public_key(signing_ref)
    assert len(public) == 32
    signature = keyring.sign(signing_ref, b"tree head")
    assert verify_signature(public, b"tree head", signature)
    assert not verify_signature(public, b"tree head!", signature)
    assert open_keyring().public_key(signing_ref) == public


def test_local_keyring_file_is_private_and_sealed(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    keyring = LocalKeyring(path, "right", scrypt_n=2**10)
    keyring.create_kek("tenant:a")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"tenant:a" not in path.read_bytes()
    with pytest.raises(DecryptionFailed):
        LocalKeyring(path, "wrong", scrypt_n=2**10)


def test_vault_runs_on_the_hsm(softhsm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Customers sealed under an HSM-held KEK, rotated, still readable; audit heads signed by the HSM."""
    from callvault.access.actor import Actor
    from callvault.access.identity import service as identity
    from callvault.audit.verify import verify_log
    from callvault.core.db import tenant_session
    from callvault.core.runtime import build_runtime
    from callvault.crypto.keyrings.pkcs11 import Pkcs11Keyring
    from callvault.demo.generator import CustomerGenerator
    from callvault.vault.customers import importer, service
    from callvault.vault.fields.service import rotate_tenant_kek
    from tests.conftest import forget_cached_keys, fresh_database, make_settings, remember_pii

    keyring = Pkcs11Keyring(softhsm.module_path, softhsm.label, softhsm.user_pin)
    with fresh_database() as urls:
        runtime = build_runtime(make_settings(tmp_path / "home", urls), keyring=keyring)
        try:
            tenant_id = f"hsm-{uuid.uuid4().hex[:6]}"
            with runtime.sessions() as db_session, db_session.begin():
                identity.create_tenant(db_session=db_session, tenant_id=tenant_id, name="HSM tenant")
            generator = CustomerGenerator(seed=99)
            remember_pii(*generator.customers(40, start=9_000_000))
            runtime.settings.import_workers = 2  # batches of 5: past the inline ones, into spawned workers
            report = importer.import_customers(
                runtime=runtime, actor=Actor.operator(tenant_id), fmt="jsonl",
                lines=generator.jsonl_lines(40, start=9_000_000), batch_size=5,
            )  # fmt: skip
            assert report.imported == 40
            version, count = rotate_tenant_kek(runtime, tenant_id, grace_seconds=0)
            assert (version, count) == (2, 40)
            assert keyring.versions(f"tenant:{tenant_id}") == [2]
            forget_cached_keys(runtime)
            with tenant_session(runtime.sessions, tenant_id) as db_session:
                page = service.get_all(db_session=db_session, actor=Actor.operator(tenant_id), limit=100)
            assert len(page.items) == 40 and all("****" in (c.mobile or "****") for c in page.items)
            from callvault.audit.log import writer_for

            writer_for(runtime).sign_head()
            with runtime.engine.connect() as conn:
                assert verify_log(conn, keyring.public_key("audit")).ok
        finally:
            runtime.close()


def test_local_keyring_sent_to_a_worker_opens_without_scrypt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pickled keyring (how worker processes get it) carries the scrypt result: the copy
    unwraps what the original wrapped, and opening it derives nothing again."""
    import pickle

    from cryptography.hazmat.primitives.kdf import scrypt

    keyring = LocalKeyring(tmp_path / "keyring.json", "right", scrypt_n=2**10)
    keyring.create_kek("tenant:a")
    wrapped = keyring.wrap("tenant:a", b"k" * 32, b"aad")
    sent = pickle.dumps(keyring)

    def no_derive(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("scrypt ran again")

    monkeypatch.setattr(scrypt.Scrypt, "derive", no_derive)
    copy = pickle.loads(sent)
    assert copy.unwrap("tenant:a", wrapped, b"aad") == b"k" * 32
    monkeypatch.undo()
    with pytest.raises(DecryptionFailed):  # the passphrase still decides: a wrong one opens nothing
        LocalKeyring(tmp_path / "keyring.json", "wrong", scrypt_n=2**10)
