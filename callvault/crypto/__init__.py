"""The one door to cryptography.

Callers get handles (``DataKey``, ``BlindIndexer``) and verbs; raw key bytes never leave
this package, and no other package imports ``cryptography``. Any failure to open raises
``DecryptionFailed`` without saying which check failed.
"""

from callvault.crypto.aead import FieldContext
from callvault.crypto.blind_index import (
    FULL_DIGEST_BYTES,
    SUFFIX_DIGEST_BYTES,
    BlindIndexer,
    new_index_root,
    open_index_root,
    rewrap_index_root,
)
from callvault.crypto.envelope import (
    DataKey,
    WrappedKey,
    new_data_key,
    open_data_key,
    open_subject_columns,
    rewrap_data_key,
)
from callvault.crypto.keyrings import Keyring, UnknownKey, open_keyring, wrapped_kek_version
from callvault.crypto.secrets import new_api_key, parse_api_key, secret_matches
from callvault.crypto.signing import verify_signature
from callvault.crypto.stream import (
    STREAM_SEGMENT_BYTES,
    StreamKey,
    check_tenant_public_key,
    derive_stream_key,
    new_tenant_keypair,
    new_tenant_sealed_key,
    open_stream,
    open_stream_range,
    open_tenant_sealed_key,
    seal_stream,
    stream_key_id,
    stream_plain_size,
    stream_sealed_size,
    tenant_key_id,
)
from callvault.crypto.webhook import new_webhook_secret, sign_webhook, verify_webhook

__all__ = [
    "FULL_DIGEST_BYTES",
    "STREAM_SEGMENT_BYTES",
    "SUFFIX_DIGEST_BYTES",
    "BlindIndexer",
    "DataKey",
    "FieldContext",
    "Keyring",
    "StreamKey",
    "UnknownKey",
    "WrappedKey",
    "check_tenant_public_key",
    "derive_stream_key",
    "new_api_key",
    "new_data_key",
    "new_index_root",
    "new_tenant_keypair",
    "new_tenant_sealed_key",
    "new_webhook_secret",
    "open_data_key",
    "open_index_root",
    "open_keyring",
    "open_stream",
    "open_stream_range",
    "open_subject_columns",
    "open_tenant_sealed_key",
    "parse_api_key",
    "rewrap_data_key",
    "rewrap_index_root",
    "seal_stream",
    "secret_matches",
    "sign_webhook",
    "stream_key_id",
    "stream_plain_size",
    "stream_sealed_size",
    "tenant_key_id",
    "verify_signature",
    "verify_webhook",
    "wrapped_kek_version",
]
