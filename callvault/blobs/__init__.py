"""Blob store: opaque objects (sealed recordings, exports) behind one interface.

``open_blob_store(settings)`` picks the local folder (embedded default) or an
S3-compatible store; services reach the shared one as ``runtime_of(db_session).blobs``.
Keys name objects by opaque ids only (``recordings/<tenant>/<uuid>/original``): no
personal data in keys or metadata.
"""

from callvault.blobs.base import BlobStore, check_key
from callvault.blobs.factory import open_blob_store
from callvault.blobs.local import LocalBlobStore
from callvault.blobs.s3 import S3BlobStore

__all__ = ["BlobStore", "LocalBlobStore", "S3BlobStore", "check_key", "open_blob_store"]
