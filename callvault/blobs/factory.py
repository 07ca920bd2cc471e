"""Build the blob store the settings name."""

from __future__ import annotations

from callvault.blobs.base import BlobStore
from callvault.blobs.local import LocalBlobStore
from callvault.blobs.s3 import S3BlobStore
from callvault.core.config import Settings
from callvault.core.errors import Invalid

__all__ = ["open_blob_store"]


def open_blob_store(settings: Settings) -> BlobStore:
    """``CALLVAULT_BLOB_STORE=local`` (default: ``blob_dir`` or ``<home>/blobs``) or ``s3``
    (``CALLVAULT_S3_BUCKET``, optional endpoint, region, credentials and prefix)."""
    if settings.blob_store == "s3":
        if not settings.s3_bucket:
            raise Invalid("CALLVAULT_S3_BUCKET is required for the s3 blob store", code="blob.no_bucket")
        secret = settings.s3_secret_access_key
        return S3BlobStore(
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=None if secret is None else secret.get_secret_value(),
        )
    return LocalBlobStore(settings.resolved_blob_dir)
