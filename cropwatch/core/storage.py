"""Object storage through the ``minio`` SDK: the same code for embedded SeaweedFS, MinIO or any S3."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import io
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from minio import Minio
from minio.error import S3Error

from cropwatch.core.metrics import S3_SECONDS, timed
from cropwatch.core.presign import presign_put
from cropwatch.core.settings import Settings


def _observed(operation: str):
    """Time each call of the decorated storage method in ``cropwatch_s3_seconds{operation=…}``."""

    def wrap(fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            with timed(S3_SECONDS, operation=operation):
                return fn(*args, **kwargs)

        return call

    return wrap


class StorageError(RuntimeError):
    """S3 could not be reached or refused the request (the caller retries or answers 503)."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str | None
    #: the SHA-256 (hex) S3 verified when the object was written with ``x-amz-checksum-sha256``; None otherwise, or
    #: when the server keeps no checksums
    sha256: str | None = None


def sha256_header(hex_digest: str) -> str:
    """The ``x-amz-checksum-sha256`` value (base64 of the digest) for a hex SHA-256."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def _hex_checksum(value: str | None) -> str | None:
    try:
        raw = base64.b64decode(value or "", validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


class Storage:
    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.s3_bucket
        self._client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            secure=settings.s3_secure,
            region=settings.s3_region,
        )
        self._public = settings.s3_public_endpoint
        self._signing = dict(
            base_url=f"{'https' if settings.s3_secure else 'http'}://{settings.s3_endpoint}",
            bucket=settings.s3_bucket,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            region=settings.s3_region,
        )

    def ensure_bucket(self) -> None:
        try:
            if not self._client.bucket_exists(self.bucket):
                self._client.make_bucket(self.bucket)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise StorageError(str(exc)) from exc
        except Exception as exc:  # urllib3 connection errors
            raise StorageError(f"object storage unreachable: {exc}") from exc

    @_observed("put")
    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        try:
            self._client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)
        except Exception as exc:
            raise StorageError(f"could not store {key}: {exc}") from exc

    @_observed("get")
    def get_bytes(self, key: str, *, max_bytes: int | None = None) -> bytes:
        try:
            resp = self._client.get_object(self.bucket, key)
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                raise FileNotFoundError(key) from exc
            raise StorageError(str(exc)) from exc
        except Exception as exc:
            raise StorageError(f"object storage unreachable: {exc}") from exc
        try:
            data = resp.read(max_bytes + 1 if max_bytes else None)
        finally:
            resp.close()
            resp.release_conn()
        return data

    @_observed("get_range")
    def get_head(self, key: str, length: int) -> bytes:
        """The object's first ``length`` bytes (all of a shorter one): one ranged GET."""
        try:
            resp = self._client.get_object(self.bucket, key, offset=0, length=length)
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                raise FileNotFoundError(key) from exc
            raise StorageError(str(exc)) from exc
        except Exception as exc:
            raise StorageError(f"object storage unreachable: {exc}") from exc
        try:
            return resp.read(length)
        finally:
            resp.close()
            resp.release_conn()

    @_observed("stat")
    def stat(self, key: str, *, checksum: bool = False) -> ObjectInfo | None:
        """Size and type of an object (None when there is none); with ``checksum`` also the SHA-256 S3 verified
        on write (``x-amz-checksum-mode: ENABLED``), when it has one."""
        extra = {"x-amz-checksum-mode": "ENABLED"} if checksum else None
        try:
            st = self._client.stat_object(self.bucket, key, extra_headers=extra)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return None
            raise StorageError(str(exc)) from exc
        except Exception as exc:
            raise StorageError(f"object storage unreachable: {exc}") from exc
        sha = _hex_checksum(st.metadata.get("x-amz-checksum-sha256")) if checksum and st.metadata else None
        return ObjectInfo(key=key, size=st.size or 0, content_type=st.content_type, sha256=sha)

    @_observed("remove")
    def remove(self, key: str) -> None:
        try:
            self._client.remove_object(self.bucket, key)
        except Exception as exc:
            raise StorageError(f"could not remove {key}: {exc}") from exc

    @_observed("list")
    def list_keys(self, prefix: str) -> list[str]:
        try:
            return [o.object_name for o in self._client.list_objects(self.bucket, prefix=prefix, recursive=True)]
        except Exception as exc:
            raise StorageError(str(exc)) from exc

    def presigned_put(
        self, key: str, expires: dt.timedelta, *, length: int, headers: dict[str, str] | None = None
    ) -> str:
        """A PUT URL that takes exactly ``length`` bytes (the length is signed: cropwatch.core.presign), and only
        with ``headers`` sent as given (they are signed too)."""
        return self._public_url(presign_put(**self._signing, key=key, length=length, expires=expires, headers=headers))

    def presigned_get(self, key: str, expires: dt.timedelta, *, content_type: str | None = None) -> str:
        """A GET URL; ``content_type`` is what S3 answers with (``response-content-type``: a direct upload is stored
        with the type its camera sent, usually ``application/octet-stream``)."""
        extra = {"response-content-type": content_type} if content_type else None
        return self._public_url(
            self._client.presigned_get_object(self.bucket, key, expires=expires, response_headers=extra)
        )

    # multipart uploads (large frames from field agents, resumable part by part) ------------------------------

    @_observed("create_multipart")
    def create_multipart(self, key: str, content_type: str = "application/octet-stream") -> str:
        try:
            return self._client._create_multipart_upload(self.bucket, key, {"Content-Type": content_type})
        except Exception as exc:
            raise StorageError(f"could not start a multipart upload of {key}: {exc}") from exc

    def presigned_part(self, key: str, upload_id: str, part_number: int, expires: dt.timedelta, *, length: int) -> str:
        """The PUT URL of one part of a multipart upload, taking exactly ``length`` bytes."""
        return self._public_url(
            presign_put(
                **self._signing,
                key=key,
                length=length,
                expires=expires,
                extra_query={"uploadId": upload_id, "partNumber": str(part_number)},
            )
        )

    @_observed("list_parts")
    def list_parts(self, key: str, upload_id: str) -> dict[int, tuple[str, int]] | None:
        """{part number: (etag, size)} of the parts S3 holds; None when the upload is unknown (completed or
        aborted)."""
        parts: dict[int, tuple[str, int]] = {}
        marker = None
        try:
            while True:
                res = self._client._list_parts(self.bucket, key, upload_id, part_number_marker=marker)
                for p in res.parts:
                    parts[p.part_number] = (p.etag, p.size or 0)
                if not res.is_truncated:
                    return parts
                marker = str(res.next_part_number_marker)
        except S3Error as exc:
            if exc.code == "NoSuchUpload":
                return None
            raise StorageError(str(exc)) from exc
        except Exception as exc:
            raise StorageError(f"object storage unreachable: {exc}") from exc

    @_observed("complete_multipart")
    def complete_multipart(self, key: str, upload_id: str, parts: dict[int, tuple[str, int]]) -> None:
        from minio.datatypes import Part

        try:
            self._client._complete_multipart_upload(
                self.bucket, key, upload_id, [Part(n, etag) for n, (etag, _) in sorted(parts.items())]
            )
        except Exception as exc:
            raise StorageError(f"could not complete the upload of {key}: {exc}") from exc

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self._client._abort_multipart_upload(self.bucket, key, upload_id)
        except S3Error as exc:
            if exc.code != "NoSuchUpload":
                raise StorageError(str(exc)) from exc
        except Exception as exc:
            raise StorageError(f"object storage unreachable: {exc}") from exc

    def _public_url(self, url: str) -> str:
        # The signature covers the host header, so a public endpoint must be the one clients reach:
        # configure s3_endpoint to it in production; s3_public_endpoint only swaps the scheme/host for
        # deployments where a proxy forwards the original Host header.
        if not self._public:
            return url
        parts = urlsplit(url)
        pub = urlsplit(self._public if "://" in self._public else f"http://{self._public}")
        return urlunsplit((pub.scheme, pub.netloc, parts.path, parts.query, ""))
