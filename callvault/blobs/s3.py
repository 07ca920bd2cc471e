"""Blobs in any S3-compatible object store (AWS S3, MinIO, Ceph, moto in tests), via boto3.

``put`` streams through a multipart upload (parts of ``part_bytes``), completed only after
the last part: until then no object is visible under the key, and any failure aborts the
upload so no parts linger. Objects are written with no user metadata.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from callvault.blobs.base import check_key
from callvault.core.errors import NotFound

__all__ = ["S3BlobStore"]

_MIN_PART = 5 * 1024 * 1024
_READ_BYTES = 1024 * 1024


def _not_found() -> NotFound:
    return NotFound("Blob not found", code="blob.not_found")


def _is_missing(error: Exception) -> bool:
    response = getattr(error, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}


class S3BlobStore:
    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        part_bytes: int = 8 * 1024 * 1024,
        client: Any = None,
    ) -> None:
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region,
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                config=Config(retries={"max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"}),
            )
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.part_bytes = max(part_bytes, _MIN_PART)

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        name = self._key(key)
        buffer = bytearray()
        size = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            for chunk in chunks:
                buffer += chunk
                size += len(chunk)
                while len(buffer) >= self.part_bytes:
                    if upload_id is None:
                        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=name)["UploadId"]
                    body = bytes(buffer[: self.part_bytes])
                    del buffer[: self.part_bytes]
                    number = len(parts) + 1
                    answer = self.client.upload_part(
                        Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=body
                    )
                    parts.append({"ETag": answer["ETag"], "PartNumber": number})
            if upload_id is None:
                self.client.put_object(Bucket=self.bucket, Key=name, Body=bytes(buffer))
                return size
            if buffer or not parts:
                number = len(parts) + 1
                answer = self.client.upload_part(
                    Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=bytes(buffer)
                )
                parts.append({"ETag": answer["ETag"], "PartNumber": number})
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=name, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
            return size
        except BaseException:
            if upload_id is not None:
                # the original error matters; a bucket lifecycle rule reaps what an abort misses
                with contextlib.suppress(Exception):
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
            raise

    def get(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        name = self._key(key)
        if end is not None and end <= start:
            if not self.exists(key):
                raise _not_found()
            return iter(())
        ranged = start > 0 or end is not None
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Key": name}
        if ranged:
            arguments["Range"] = f"bytes={start}-" if end is None else f"bytes={start}-{end - 1}"
        try:
            answer = self.client.get_object(**arguments)
        except Exception as error:
            if _is_missing(error):
                raise _not_found() from None
            if "InvalidRange" in str(error):  # start at or past the end
                return iter(())
            raise
        return self._read(answer["Body"])

    @staticmethod
    def _read(body: Any) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(_READ_BYTES)
        finally:
            body.close()

    def size(self, key: str) -> int:
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"])
        except Exception as error:
            if _is_missing(error):
                raise _not_found() from None
            raise

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except NotFound:
            return False
        return True
