"""Webhook signatures: a frozen vector (computed with `openssl dgst -sha256 -hmac`), and
verification refusing altered bodies, other secrets, stale timestamps and bad headers."""

from __future__ import annotations

from callvault.crypto import new_webhook_secret, sign_webhook, verify_webhook

SECRET = "whsec_test-vector-secret"
BODY = b'{"id":"d1","type":"approval.requested"}'
STAMP = 1700000000
EXPECTED = "93e97a5ae56ccaa55e663806a3b6e455eb8ca046159a06f18fd5a81c2677a5df"


def test_vector() -> None:
    assert sign_webhook(SECRET, BODY, STAMP) == f"t={STAMP},v1={EXPECTED}"


def test_verify_accepts_only_the_signed_body_in_time() -> None:
    header = sign_webhook(SECRET, BODY, STAMP)
    assert verify_webhook(SECRET, BODY, header, now=STAMP + 299)
    assert not verify_webhook(SECRET, BODY + b" ", header, now=STAMP)
    assert not verify_webhook("whsec_other", BODY, header, now=STAMP)
    assert not verify_webhook(SECRET, BODY, header, now=STAMP + 301)
    assert not verify_webhook(SECRET, BODY, header.replace(f"t={STAMP}", f"t={STAMP + 1}"), now=STAMP)
    for broken in ("", "t=abc,v1=00", f"t={STAMP}", f"v1={EXPECTED}", "garbage"):
        assert not verify_webhook(SECRET, BODY, broken, now=STAMP)
    rotating = f"t={STAMP},v1={'0' * 64},v1={EXPECTED}"  # several v1 while a secret rotates
    assert verify_webhook(SECRET, BODY, rotating, now=STAMP)


def test_secrets_are_fresh() -> None:
    first, second = new_webhook_secret(), new_webhook_secret()
    assert first != second and first.startswith("whsec_") and len(first) > 40
