"""The shared blob store hangs off the runtime, built once."""

from __future__ import annotations

from callvault.blobs import LocalBlobStore
from callvault.core.runtime import Runtime


def test_runtime_blobs_is_the_local_folder_by_default(runtime: Runtime) -> None:
    store = runtime.blobs
    assert isinstance(store, LocalBlobStore)
    assert store.root == runtime.settings.resolved_blob_dir
    assert runtime.blobs is store
