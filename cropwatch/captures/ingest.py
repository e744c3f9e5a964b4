"""Accepting captures from cameras: presigned slot → confirm, or a direct upload.

Idempotent per (camera, sha256). Two kinds of slot, both through URLs that take exactly the declared number of bytes
(the length is signed, cropwatch.core.presign):

* **direct** (``direct=True``, what CropWatch's own agents ask for): the URL writes the capture's final `raw/` key and
  also signs ``x-amz-checksum-sha256`` (S3 verifies the body's SHA-256 and stores nothing else: 400 ``BadDigest``)
  and ``if-none-match: *`` (S3 refuses any second write to the key: 412), so a leaked URL cannot change a stored
  capture. The confirm reads the object's verified checksum (HEAD) and its first bytes for the image header: no
  read-back, no copy, no delete (issue 16: most of what a confirm cost the API and the object store).
* **legacy** (older agents): the uploader writes to a one-off `incoming/` key; on confirm the server reads the bytes
  back, verifies size and sha256, checks the image header, and writes them to the immutable `raw/` key.

A capture's ``sha256`` and ``size_bytes`` are those of the bytes the camera uploaded (what it declared for its slot,
and the dedupe key: the same upload twice is one capture). The stored object is those bytes, except for a phone
photo whose appended gain map or motion photo video the photo declares (``inference.phone_photos``): only its
primary JPEG is stored, so the object may be shorter than ``size_bytes`` and hash differently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cropwatch.core.enums import CaptureStatus
from cropwatch.core.i18n import Megabytes
from cropwatch.core.orm import Camera, Capture
from cropwatch.core.settings import Settings
from cropwatch.core.storage import Storage, StorageError, sha256_header
from cropwatch.core.timeutil import utcnow
from inference.decode import ImageRejected, check_format, image_dimensions, primary_image
from inference.phone_photos import may_declare_trailer

log = logging.getLogger(__name__)
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
#: bytes a direct slot's confirm reads for the image header (a JPEG's SOF follows its EXIF/XMP segments)
HEAD_BYTES = 64 * 1024


class IngestError(Exception):
    """A refusal with an i18n key, its parameters and an HTTP status."""

    def __init__(self, status: int, key: str, **params: object) -> None:
        super().__init__(key)
        self.status, self.key, self.params = status, key, params


@dataclass
class Slot:
    capture: Capture
    upload_url: str | None  # None when the capture already exists (nothing to upload)
    created: bool
    #: a multipart upload instead of upload_url: {"upload_id", "part_size", "parts": [{"part_number", "url", "done"}]}
    multipart: dict | None = None
    #: headers the PUT to ``upload_url`` must carry exactly (a direct slot's checksum and no-overwrite condition)
    upload_headers: dict[str, str] | None = None


def direct_headers(sha256: str) -> dict[str, str]:
    """What a direct slot's PUT signs and sends: S3 checks the body's SHA-256 and writes the key only once."""
    return {"x-amz-checksum-sha256": sha256_header(sha256), "if-none-match": "*"}


def is_direct(capture: Capture) -> bool:
    """Whether the capture's pending upload goes straight to its final key (a direct slot)."""
    return capture.upload_key is not None and capture.upload_key == capture.object_key


def _part_sizes(size: int, part_size: int) -> list[int]:
    n = max(1, -(-size // part_size))
    return [part_size] * (n - 1) + [size - part_size * (n - 1)]


def _multipart_slot(
    session: Session, storage: Storage, settings: Settings, cap: Capture, created: bool, expires: dt.timedelta
) -> Slot:
    """Start (or resume) the capture's multipart upload: parts S3 already holds come back ``done``."""
    held = storage.list_parts(cap.upload_key, cap.multipart_upload_id) if cap.multipart_upload_id else None
    if held is None:
        cap.upload_key = f"incoming/{cap.cooperative_id}/{cap.camera_id}/{uuid.uuid4().hex}"
        cap.multipart_upload_id = storage.create_multipart(cap.upload_key)
        held = {}
    cap.upload_expires_at = utcnow() + expires
    session.commit()
    sizes = _part_sizes(cap.size_bytes, settings.multipart_part_size)
    parts = [
        {
            "part_number": n,
            "done": n in held and held[n][1] == want,
            "url": storage.presigned_part(cap.upload_key, cap.multipart_upload_id, n, expires, length=want),
        }
        for n, want in enumerate(sizes, start=1)
    ]
    return Slot(
        cap,
        None,
        created,
        {"upload_id": cap.multipart_upload_id, "part_size": settings.multipart_part_size, "parts": parts},
    )


def _complete_multipart(session: Session, storage: Storage, settings: Settings, capture: Capture) -> None:
    """Assemble the parts of a multipart upload once every part is there (else 409 ``upload_missing``)."""
    held = storage.list_parts(capture.upload_key, capture.multipart_upload_id)
    if held is None:  # completed by an earlier confirm that stopped before committing
        capture.multipart_upload_id = None
        return
    sizes = _part_sizes(capture.size_bytes, settings.multipart_part_size)
    if any(n not in held or held[n][1] != want for n, want in enumerate(sizes, start=1)):
        raise IngestError(409, "upload_missing")
    storage.complete_multipart(capture.upload_key, capture.multipart_upload_id, held)
    capture.multipart_upload_id = None
    session.commit()


def raw_key(camera: Camera, captured_at: dt.datetime, ext: str = "jpg") -> str:
    d = captured_at.astimezone(dt.timezone.utc)
    return f"raw/{camera.cooperative_id}/{camera.id}/{d:%Y/%m/%d}/{uuid.uuid4().hex}.{ext}"


def _check_declared(settings: Settings, sha256: str, size: int, captured_at: dt.datetime) -> None:
    if not SHA256_RE.match(sha256):
        raise IngestError(422, "invalid_sha256")
    if size <= 0:
        raise IngestError(422, "image_empty")
    if size > settings.max_upload_bytes:
        raise IngestError(413, "image_too_large", size=Megabytes(size), limit=Megabytes(settings.max_upload_bytes))
    if captured_at.tzinfo is None:
        captured_at = captured_at.replace(tzinfo=dt.timezone.utc)
    if captured_at > utcnow() + dt.timedelta(hours=24):
        raise IngestError(422, "captured_at_future")


def _refusal(exc: ImageRejected) -> IngestError:
    """The API's answer to a file the safe decoder's pre-checks refuse (415 for what is no image we take)."""
    if exc.code in ("not_an_image", "unsupported_format"):
        return IngestError(415, f"image_{exc.code}")
    if exc.detail == "trailing_data":
        return IngestError(422, "image_trailing_data")
    return IngestError(422, f"image_{exc.code}")


@dataclass(frozen=True)
class CheckedImage:
    """An upload that passed :func:`check_image`: its format, header size, and ``data``, the bytes to store (the
    upload itself, or a phone photo's primary JPEG without the gain map / video it declares after it)."""

    fmt: str
    width: int
    height: int
    data: bytes


def _kept(fmt: str, data: bytes, *, complete: bool) -> bytes:
    """The bytes to store. ``complete``: a whole image, else the refusal. Otherwise (captures) only a JPEG is looked
    at, for a declared gain map or video to trim; one the checks refuse is kept as uploaded, for the worker to fail
    with the reason on the capture."""
    if not complete and fmt != "jpeg":
        return data
    try:
        return primary_image(fmt, data)
    except ImageRejected as exc:
        if complete:
            raise _refusal(exc) from exc
        return data


def check_image(settings: Settings, data: bytes, *, complete: bool = True) -> CheckedImage:
    """Magic bytes and declared pixel count, without decoding; the primary image's (a phone photo's first picture).

    With ``complete`` (the default) the file must also be whole: not cut short, nothing appended after the image
    that the image does not declare (a polyglot), no JPEG scan bomb or PNG metadata bomb - what the worker's
    decoder refuses, checked without decoding. Camera captures pass ``complete=False``: the worker decodes them and
    records why one failed on the capture itself (docs/decisions.md); a JPEG's declared gain map or motion photo
    video is trimmed all the same. A diary photo has no such second look (it goes straight into pages and the
    season's PDF), so it is refused here."""
    if not data:
        raise IngestError(422, "image_empty")
    if len(data) > settings.max_upload_bytes:
        raise IngestError(413, "image_too_large", size=Megabytes(len(data)), limit=Megabytes(settings.max_upload_bytes))
    try:
        fmt = check_format(data)
        w, h = image_dimensions(data)
    except ImageRejected as exc:
        raise _refusal(exc) from exc
    if w * h > settings.max_image_pixels:
        raise IngestError(422, "image_too_many_pixels", pixels=w * h, limit=settings.max_image_pixels)
    return CheckedImage(fmt, w, h, _kept(fmt, data, complete=complete))


def check_image_header(settings: Settings, data: bytes, *, complete: bool = True) -> tuple[str, int, int]:
    """(format, width, height) of :func:`check_image`, for callers that store nothing."""
    checked = check_image(settings, data, complete=complete)
    return checked.fmt, checked.width, checked.height


def _existing(session: Session, camera: Camera, sha256: str) -> Capture | None:
    return session.scalar(select(Capture).where(Capture.camera_id == camera.id, Capture.sha256 == sha256))


def request_slot(
    session: Session,
    storage: Storage,
    settings: Settings,
    *,
    camera: Camera,
    sha256: str,
    size: int,
    captured_at: dt.datetime,
    multipart: bool = False,
    direct: bool = False,
) -> Slot:
    sha256 = sha256.lower()
    _check_declared(settings, sha256, size, captured_at)
    expires = dt.timedelta(seconds=settings.presign_expiry_seconds)
    cap = _existing(session, camera, sha256)
    created = False
    if cap is not None and cap.status != CaptureStatus.pending:
        return Slot(cap, None, False)
    if cap is None:
        cap = Capture(
            cooperative_id=camera.cooperative_id,
            camera_id=camera.id,
            plot_id=camera.plot_id,
            object_key=raw_key(camera, captured_at),
            sha256=sha256,
            size_bytes=size,
            captured_at=captured_at,
            status=CaptureStatus.pending,
        )
        session.add(cap)
        created = True
    if cap.multipart_upload_id and (cap.size_bytes != size or not multipart):
        storage.abort_multipart(cap.upload_key, cap.multipart_upload_id)  # restarted with other parts
        cap.multipart_upload_id = None
    if multipart and size > settings.multipart_part_size:
        cap.size_bytes = size
        try:
            session.flush()
        except IntegrityError:  # the same image asked for twice at once
            session.rollback()
            return request_slot(
                session,
                storage,
                settings,
                camera=camera,
                sha256=sha256,
                size=size,
                captured_at=captured_at,
                multipart=multipart,
            )
        return _multipart_slot(session, storage, settings, cap, created, expires)
    direct = direct and not multipart
    cap.upload_key = cap.object_key if direct else f"incoming/{camera.cooperative_id}/{camera.id}/{uuid.uuid4().hex}"
    cap.upload_expires_at = utcnow() + expires
    cap.size_bytes = size
    try:
        session.commit()
    except IntegrityError:  # the same image asked for twice at once
        session.rollback()
        cap = _existing(session, camera, sha256)
        return (
            Slot(cap, None, False)
            if cap.status != CaptureStatus.pending
            else request_slot(
                session,
                storage,
                settings,
                camera=camera,
                sha256=sha256,
                size=size,
                captured_at=captured_at,
                direct=direct,
            )
        )
    headers = direct_headers(sha256) if direct else None
    url = storage.presigned_put(cap.upload_key, expires, length=size, headers=headers)
    return Slot(cap, url, created, upload_headers=headers)


def confirm(session: Session, storage: Storage, settings: Settings, *, capture: Capture) -> Capture:
    """Verify the uploaded object (its size and sha256 are the camera's declaration of what it uploads) and accept
    the capture (status `stored`), storing its primary image (see the module's docstring); idempotent."""
    if capture.status != CaptureStatus.pending:
        return capture
    if capture.multipart_upload_id:
        _complete_multipart(session, storage, settings, capture)
    direct = is_direct(capture)
    info = storage.stat(capture.upload_key, checksum=direct) if capture.upload_key else None
    if info is None:
        if capture.upload_expires_at and capture.upload_expires_at < utcnow():
            raise IngestError(410, "upload_expired")
        raise IngestError(409, "upload_missing")
    try:
        if info.size != capture.size_bytes:
            raise IngestError(422, "size_mismatch")
        image = _checked_in_place(settings, storage, capture, info.sha256) if direct else None
        if image is None:
            data = storage.get_bytes(capture.upload_key, max_bytes=settings.max_upload_bytes)
            if hashlib.sha256(data).hexdigest() != capture.sha256:
                raise IngestError(422, "sha256_mismatch")
            checked = check_image(settings, data, complete=False)
            kept = None if direct and checked.data is data else checked.data
            image = _InPlace(checked.fmt, checked.width, checked.height, kept)
    except IngestError:
        storage.remove(capture.upload_key)
        session.delete(capture)  # never accepted: nothing of it is kept
        session.commit()
        raise
    if image.data is not None:  # a legacy upload, or a direct one trimmed: the capture's object becomes these bytes
        storage.put_bytes(capture.object_key, image.data, CONTENT_TYPES[image.fmt])
    upload_key = None if direct else capture.upload_key
    capture.content_type, capture.width, capture.height = CONTENT_TYPES[image.fmt], image.width, image.height
    capture.status = CaptureStatus.stored
    capture.received_at = utcnow()
    capture.upload_key = None
    session.commit()
    # only once the capture is accepted: a commit that fails (a cut database connection) leaves the slot and its
    # upload as they were, so the camera's retried confirm succeeds instead of finding its upload gone (409). An
    # upload left here by a failed remove is no slot's any more: the sweeper's clean_uploads removes it.
    if upload_key is None:
        return capture
    try:
        storage.remove(upload_key)
    except StorageError as exc:
        log.warning("capture %s: upload %s left for the sweeper (%s)", capture.id, upload_key, exc)
    return capture


@dataclass(frozen=True)
class _InPlace:
    """A direct upload's header checked where it lies; ``data`` the bytes to write over it (a phone photo's primary
    JPEG) or None to keep the object as uploaded."""

    fmt: str
    width: int
    height: int
    data: bytes | None


def _checked_in_place(settings: Settings, storage: Storage, capture: Capture, verified: str | None) -> _InPlace | None:
    """A direct upload checked without reading it whole: S3's verified checksum (HEAD) and the image header from its
    first :data:`HEAD_BYTES`. None when the whole object must be read after all: the server keeps no checksum, the
    header does not fit, or a JPEG declares appended pictures or video to trim."""
    if verified is None:
        return None
    if verified != capture.sha256:
        raise IngestError(422, "sha256_mismatch")
    head = storage.get_head(capture.upload_key, HEAD_BYTES)
    whole = len(head) >= capture.size_bytes
    if whole:
        image = check_image(settings, head, complete=False)
        return _InPlace(image.fmt, image.width, image.height, None if image.data is head else image.data)
    try:
        fmt = check_format(head)
        w, h = image_dimensions(head)
    except ImageRejected:
        return None  # a header longer than the head, or a refusal: the whole object decides
    if w * h > settings.max_image_pixels:
        raise IngestError(422, "image_too_many_pixels", pixels=w * h, limit=settings.max_image_pixels)
    if fmt == "jpeg" and may_declare_trailer(head):
        return None
    return _InPlace(fmt, w, h, None)


def direct_upload(
    session: Session, storage: Storage, settings: Settings, *, camera: Camera, data: bytes, captured_at: dt.datetime
) -> tuple[Capture, bool]:
    """Store an image posted through the API; returns (capture, created). ``sha256`` and ``size_bytes`` are the
    upload's (the dedupe key), the stored object its primary image (see the module's docstring)."""
    sha256 = hashlib.sha256(data).hexdigest()
    _check_declared(settings, sha256, max(len(data), 1), captured_at)
    image = check_image(settings, data, complete=False)
    existing = _existing(session, camera, sha256)
    if existing is not None and existing.status != CaptureStatus.pending:
        return existing, False
    key = existing.object_key if existing else raw_key(camera, captured_at)
    storage.put_bytes(key, image.data, CONTENT_TYPES[image.fmt])
    cap = existing or Capture(
        cooperative_id=camera.cooperative_id,
        camera_id=camera.id,
        plot_id=camera.plot_id,
        object_key=key,
        sha256=sha256,
        captured_at=captured_at,
    )
    cap.size_bytes, cap.content_type = len(data), CONTENT_TYPES[image.fmt]
    cap.width, cap.height = image.width, image.height
    cap.status, cap.received_at, cap.upload_key = CaptureStatus.stored, utcnow(), None
    session.add(cap)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        storage.remove(key)
        return _existing(session, camera, sha256), False
    return cap, True
