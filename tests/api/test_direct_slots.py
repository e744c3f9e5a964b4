"""Direct slots (issue 16): the camera PUTs straight to its capture's final key with two signed headers, so object
storage itself checks the upload's sha256 (``x-amz-checksum-sha256``) and takes the key only once (``if-none-match:
*``). The confirm reads the verified checksum and the image header, nothing else: what a leaked URL, a wrong body or
a non-image can do is what it could with the legacy slot: nothing that stays."""

from __future__ import annotations

import datetime as dt
import hashlib

import httpx
import phone_photo_files as pf
from helpers import planthopper_photo, presigned_upload, rice_photos

from cropwatch.captures import ingest
from cropwatch.captures.sweeper import clean_uploads
from cropwatch.core.enums import CaptureStatus
from cropwatch.core.orm import Capture
from cropwatch.core.timeutil import utcnow

PHOTO = planthopper_photo()


def _slot(client, tenant, data: bytes, *, direct: bool = True) -> dict:
    r = client.post(
        "/api/v1/ingest/slots",
        headers=tenant.camera_auth,
        json={
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "captured_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "direct": direct,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def _confirm(client, tenant, slot: dict) -> httpx.Response:
    return client.post(f"/api/v1/ingest/captures/{slot['capture_id']}/confirm", headers=tenant.camera_auth)


def _key(sessions, capture_id: int) -> str:
    with sessions() as s:
        return s.get(Capture, capture_id).object_key


def test_a_direct_upload_is_accepted_where_it_was_put(client, tenant_a, sessions, storage, enqueued):
    photo = PHOTO.read_bytes()
    slot = _slot(client, tenant_a, photo)
    assert set(slot["upload_headers"]) == {"x-amz-checksum-sha256", "if-none-match"}
    assert "x-amz-checksum-sha256" in httpx.URL(slot["upload_url"]).params["X-Amz-SignedHeaders"]
    assert httpx.put(slot["upload_url"], content=photo, headers=slot["upload_headers"]).status_code == 200
    resp = _confirm(client, tenant_a, slot)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "stored" and (body["width"], body["height"]) > (0, 0)
    assert enqueued == [body["id"]]
    key = _key(sessions, body["id"])
    assert storage.get_bytes(key) == photo and storage.list_keys("incoming/") == []
    # the farmer's browser gets the photo as an image, whatever type the camera's PUT declared
    detail = client.get(f"/api/v1/captures/{body['id']}", headers=tenant_a.auth())
    image = httpx.get(detail.json()["image_url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg" and image.content == photo
    assert _confirm(client, tenant_a, slot).json()["status"] == "stored"  # a repeated confirm: the same capture
    assert enqueued == [body["id"]]


def test_a_leaked_direct_url_cannot_change_the_stored_capture(client, tenant_a, sessions, storage):
    photo = PHOTO.read_bytes()
    slot = _slot(client, tenant_a, photo)
    url, headers = slot["upload_url"], slot["upload_headers"]
    assert httpx.put(url, content=photo, headers=headers).status_code == 200
    assert _confirm(client, tenant_a, slot).status_code == 200
    forged = bytes(b ^ 0xFF for b in photo)  # the declared length, other bytes
    assert httpx.put(url, content=photo, headers=headers).status_code == 412  # written once
    assert httpx.put(url, content=forged, headers=headers).status_code in (400, 412)
    assert httpx.put(url, content=forged).status_code == 403  # without the signed headers
    other_sum = {**headers, "x-amz-checksum-sha256": "A" * 43 + "="}
    assert httpx.put(url, content=forged, headers=other_sum).status_code == 403  # the checksum is signed
    assert storage.get_bytes(_key(sessions, slot["capture_id"])) == photo


def test_a_body_other_than_the_declared_one_is_never_stored(client, tenant_a, sessions, storage, enqueued):
    photo = PHOTO.read_bytes()
    slot = _slot(client, tenant_a, photo)
    key = _key(sessions, slot["capture_id"])
    wrong = httpx.put(slot["upload_url"], content=bytes(reversed(photo)), headers=slot["upload_headers"])
    assert wrong.status_code == 400 and "BadDigest" in wrong.text
    assert storage.stat(key) is None
    refused = _confirm(client, tenant_a, slot)
    assert refused.status_code == 409 and refused.json()["code"] == "upload_missing"
    # the right bytes through the same URL still go in
    assert httpx.put(slot["upload_url"], content=photo, headers=slot["upload_headers"]).status_code == 200
    assert _confirm(client, tenant_a, slot).json()["status"] == "stored"
    assert enqueued == [slot["capture_id"]]


def test_a_direct_upload_that_is_no_image_is_refused_and_removed(client, tenant_a, sessions, storage, enqueued):
    page = b"<!doctype html><html><body>" + b"x" * 2000 + b"</body></html>"
    slot = _slot(client, tenant_a, page)
    key = _key(sessions, slot["capture_id"])
    assert httpx.put(slot["upload_url"], content=page, headers=slot["upload_headers"]).status_code == 200
    refused = _confirm(client, tenant_a, slot)
    assert refused.status_code == 415 and refused.json()["code"] == "image_not_an_image"
    assert storage.stat(key) is None and enqueued == []
    with sessions() as s:
        assert s.get(Capture, slot["capture_id"]) is None


def test_a_header_longer_than_the_first_read_is_read_whole(client, tenant_a, sessions, storage):
    """A JPEG whose metadata pushes its frame header past the confirm's first read (64 KiB) is still accepted with
    its size: the confirm reads it whole instead."""
    photo = PHOTO.read_bytes()
    comment = b"c" * 65000
    padded = photo[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + photo[2:]
    assert len(padded) > 2 * ingest.HEAD_BYTES or padded.index(b"\xff\xc0") > ingest.HEAD_BYTES
    resp = presigned_upload(client, tenant_a.camera_auth, padded, direct=True)
    assert resp.status_code == 200, resp.text
    plain = presigned_upload(client, tenant_a.camera_auth, photo)
    assert (resp.json()["width"], resp.json()["height"]) == (plain.json()["width"], plain.json()["height"])
    assert storage.get_bytes(_key(sessions, resp.json()["id"])) == padded


def test_an_expired_direct_slot_takes_its_upload_with_it(client, tenant_a, sessions, storage):
    photo, other = (p.read_bytes() for p in rice_photos(2))
    stale, waiting = _slot(client, tenant_a, photo), _slot(client, tenant_a, other)
    for slot, data in ((stale, photo), (waiting, other)):
        assert httpx.put(slot["upload_url"], content=data, headers=slot["upload_headers"]).status_code == 200
    with sessions.begin() as s:
        s.get(Capture, stale["capture_id"]).upload_expires_at = utcnow() - dt.timedelta(hours=1)
    stale_key, waiting_key = _key(sessions, stale["capture_id"]), _key(sessions, waiting["capture_id"])
    assert clean_uploads(sessions, storage) == {"objects": 0, "slots": 1}
    assert storage.stat(stale_key) is None and storage.stat(waiting_key) is not None
    with sessions() as s:
        assert s.get(Capture, stale["capture_id"]) is None
        assert s.get(Capture, waiting["capture_id"]).status == CaptureStatus.pending
    assert _confirm(client, tenant_a, waiting).json()["status"] == "stored"


def test_a_legacy_slot_is_what_an_older_agent_still_gets(client, tenant_a, sessions, storage):
    photo = PHOTO.read_bytes()
    slot = _slot(client, tenant_a, photo, direct=False)
    assert slot["upload_headers"] == {} and "/incoming/" in slot["upload_url"]
    assert httpx.put(slot["upload_url"], content=photo).status_code == 200
    assert _confirm(client, tenant_a, slot).json()["status"] == "stored"
    assert storage.get_bytes(_key(sessions, slot["capture_id"])) == photo and storage.list_keys("incoming/") == []


def test_a_large_phone_photo_is_trimmed_in_place(client, tenant_a, sessions, storage):
    """Beyond the first read, the photo's header declares a video to trim: the confirm reads it whole and stores the
    primary image alone at the capture's key."""
    data, end = pf.motion_photo(320, 240, pf.mp4(200_000))
    assert len(data) > ingest.HEAD_BYTES
    resp = presigned_upload(client, tenant_a.camera_auth, data, direct=True)
    assert resp.status_code == 200, resp.text
    assert resp.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert storage.get_bytes(_key(sessions, resp.json()["id"])) == data[:end]
