"""A farmer's own phone photos get in: an Ultra HDR JPEG (gain map appended) or a Motion Photo (video appended) is
accepted as a diary photo and as a camera capture, and what is stored is the primary image alone. Anything else
appended after a JPEG is refused as before."""

from __future__ import annotations

import hashlib
import io
import zipfile

import phone_photo_files as pf
import pytest
from helpers import presigned_upload
from PIL import Image

from cropwatch.core.enums import Role
from cropwatch.core.orm import Capture

PHONE_PHOTOS = {
    "ultra-hdr": lambda: pf.ultra_hdr(320, 240),
    "motion-photo": lambda: pf.motion_photo(320, 240, pf.mp4(20000)),
    "ultra-hdr-motion-photo": lambda: pf.ultra_hdr(320, 240, video=pf.mp4(20000)),
}


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("payload.sh", "#!/bin/sh\necho pwned\n")
    return buf.getvalue()


REFUSED = {
    "jpeg+html": lambda: pf.jpeg(320, 240) + b"<html><script>alert(document.cookie)</script></html>",
    "jpeg+zip": lambda: pf.jpeg(320, 240) + _zip(),
    "mpf-offsets-do-not-match": lambda: pf.with_mp_entry(pf.ultra_hdr(320, 240)[0], 1, offset=4),
    "mpo-offsets-do-not-match": lambda: pf.with_mp_entry(pf.multi_picture(320, 240)[0], 1, offset=4),
    "motion-length-does-not-match": lambda: pf.motion_photo(320, 240, pf.mp4(), declared=len(pf.mp4()) + 100)[0],
    "ultra-hdr+zip": lambda: pf.ultra_hdr(320, 240)[0] + _zip(),
}


def _diary(client, tenant, data: bytes):
    return client.post(
        "/api/v1/diary",
        headers=tenant.auth(Role.member),
        data={"plot_id": tenant.plot_id, "type": "observation", "title": "Ảnh lá lúa"},
        files=[("photos", ("PXL_20261120_063000.jpg", data, "image/jpeg"))],
    )


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        return im.size


@pytest.mark.parametrize("name", PHONE_PHOTOS)
def test_a_phone_photo_is_accepted_in_the_diary_and_stored_without_its_appended_data(client, tenant_a, storage, name):
    data, end = PHONE_PHOTOS[name]()
    resp = _diary(client, tenant_a, data)
    assert resp.status_code == 201, resp.text
    [key] = resp.json()["photo_keys"]
    stored = storage.get_bytes(key)
    assert stored == data[:end] and len(stored) < len(data)
    assert _size(stored) == (320, 240)


@pytest.mark.parametrize("name", REFUSED)
def test_undeclared_data_after_a_diary_photo_is_still_refused(client, tenant_a, storage, name):
    resp = _diary(client, tenant_a, REFUSED[name]())
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "image_trailing_data" and resp.json()["detail"]
    assert storage.list_keys(f"diary/{tenant_a.cooperative_id}/") == []


@pytest.mark.parametrize("flow", ["direct", "presigned", "presigned-direct-slot"])
@pytest.mark.parametrize("name", PHONE_PHOTOS)
def test_a_phone_photo_capture_stores_the_primary_image(client, tenant_a, storage, sessions, enqueued, name, flow):
    """The capture keeps the sha256 and size of what was uploaded (its dedupe key: the same file again is the same
    capture) and stores the primary image."""
    data, end = PHONE_PHOTOS[name]()
    if flow == "direct":
        resp = client.post(
            "/api/v1/ingest/upload", headers=tenant_a.camera_auth, files={"file": ("phone.jpg", data, "image/jpeg")}
        )
        assert resp.status_code == 201, resp.text
        body = resp.json()["capture"]
    else:
        resp = presigned_upload(client, tenant_a.camera_auth, data, direct=flow.endswith("direct-slot"))
        assert resp.status_code == 200, resp.text
        body = resp.json()
    assert (body["width"], body["height"], body["status"]) == (320, 240, "stored")
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["size_bytes"] == len(data)
    with sessions() as s:
        key = s.get(Capture, body["id"]).object_key
    stored = storage.get_bytes(key)
    assert stored == data[:end] and _size(stored) == (320, 240)
    again = client.post(
        "/api/v1/ingest/upload", headers=tenant_a.camera_auth, files={"file": ("phone.jpg", data, "image/jpeg")}
    )
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["capture"]["id"] == body["id"]
    assert presigned_upload(client, tenant_a.camera_auth, data).json()["duplicate"] is True
    assert enqueued == [body["id"]]


def test_a_capture_with_undeclared_appended_data_is_stored_as_uploaded(client, tenant_a, storage, sessions):
    """As before: a camera's polyglot is not refused at upload, the worker's decoder fails it with the reason."""
    data = REFUSED["mpf-offsets-do-not-match"]()
    resp = client.post(
        "/api/v1/ingest/upload", headers=tenant_a.camera_auth, files={"file": ("phone.jpg", data, "image/jpeg")}
    )
    assert resp.status_code == 201, resp.text
    with sessions() as s:
        key = s.get(Capture, resp.json()["capture"]["id"]).object_key
    assert storage.get_bytes(key) == data
