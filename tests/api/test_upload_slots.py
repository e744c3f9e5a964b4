"""Finding 7: a presigned upload URL takes exactly the declared number of bytes (the length is signed), so a stolen
camera token or URL cannot fill the shared store; it stays usable until it expires (S3 cannot revoke it), so what is
written through it after confirm, or to a slot that expired, is removed by the sweeper; expired slots are dropped."""

from __future__ import annotations

import datetime as dt
import hashlib

import httpx
from helpers import planthopper_photo, rice_photos
from sqlalchemy import select

from cropwatch.captures.sweeper import clean_uploads
from cropwatch.core.enums import CaptureStatus
from cropwatch.core.orm import Capture
from cropwatch.core.timeutil import utcnow

PHOTO = planthopper_photo()


def _slot(client, tenant_a, data):
    r = client.post(
        "/api/v1/ingest/slots",
        headers=tenant_a.camera_auth,
        json={
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "captured_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_writes_through_a_used_or_expired_url_do_not_stay(client, tenant_a, sessions, storage):
    photo = PHOTO.read_bytes()
    used = _slot(client, tenant_a, photo)
    assert httpx.put(used["upload_url"], content=photo).status_code == 200
    assert (
        client.post(f"/api/v1/ingest/captures/{used['capture_id']}/confirm", headers=tenant_a.camera_auth).status_code
        == 200
    )
    # a stolen URL re-used after confirm: a larger body is refused by S3 itself ...
    assert httpx.put(used["upload_url"], content=b"\0" * (3 * 1024 * 1024)).status_code == 403
    # ... one of the declared length is taken (what cannot be prevented here) ...
    assert httpx.put(used["upload_url"], content=b"\0" * len(photo)).status_code == 200
    stale = _slot(client, tenant_a, b"other frame bytes")
    assert httpx.put(stale["upload_url"], content=b"other frame bytes").status_code == 200
    third = rice_photos(2)[1].read_bytes()
    waiting = _slot(client, tenant_a, third)
    assert httpx.put(waiting["upload_url"], content=third).status_code == 200
    with sessions.begin() as s:
        s.get(Capture, stale["capture_id"]).upload_expires_at = utcnow() - dt.timedelta(hours=1)
        waiting_key = s.get(Capture, waiting["capture_id"]).upload_key
    before = storage.list_keys("incoming/")
    assert len(before) == 3
    # ... and the sweeper removes it, with the expired slot; the slot still waiting for its confirm keeps its upload
    assert clean_uploads(sessions, storage) == {"objects": 2, "slots": 1}
    assert storage.list_keys("incoming/") == [waiting_key]
    with sessions() as s:
        assert s.get(Capture, stale["capture_id"]) is None
        assert s.get(Capture, used["capture_id"]).status == CaptureStatus.stored
        assert s.scalar(select(Capture).where(Capture.id == waiting["capture_id"])).status == CaptureStatus.pending
    assert (
        client.post(
            f"/api/v1/ingest/captures/{waiting['capture_id']}/confirm", headers=tenant_a.camera_auth
        ).status_code
        == 200
    )


def test_an_upload_url_takes_only_the_declared_length(client, tenant_a, sessions, storage, settings):
    photo = PHOTO.read_bytes()
    slot = _slot(client, tenant_a, photo)
    assert "content-length" in httpx.URL(slot["upload_url"]).params["X-Amz-SignedHeaders"]
    for body in (photo + b"\0" * (30 * 1024 * 1024), photo[:-1], b""):
        refused = httpx.put(slot["upload_url"], content=body)
        assert refused.status_code == 403 and "SignatureDoesNotMatch" in refused.text
    assert storage.list_keys("incoming/") == []  # nothing of the refused bodies was stored
    assert httpx.put(slot["upload_url"], content=photo).status_code == 200
    done = client.post(f"/api/v1/ingest/captures/{slot['capture_id']}/confirm", headers=tenant_a.camera_auth)
    assert done.status_code == 200 and done.json()["status"] == "stored"


def test_a_multipart_part_url_takes_only_its_part_length(client, tenant_a, sessions, storage, settings):
    size = settings.multipart_part_size + 1000
    body = b"\xff\xd8\xff" + bytes(size - 3)
    r = client.post(
        "/api/v1/ingest/slots",
        headers=tenant_a.camera_auth,
        json={
            "sha256": hashlib.sha256(body).hexdigest(),
            "size": size,
            "multipart": True,
            "captured_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    first, last = r.json()["multipart"]["parts"]
    assert httpx.put(last["url"], content=b"\0" * (settings.multipart_part_size * 2)).status_code == 403
    assert httpx.put(first["url"], content=body[:1000]).status_code == 403
    assert httpx.put(last["url"], content=body[settings.multipart_part_size :]).status_code == 200
    with sessions() as s:
        cap = s.get(Capture, r.json()["capture_id"])
        held = storage.list_parts(cap.upload_key, cap.multipart_upload_id)
    assert {n: got for n, (_, got) in held.items()} == {2: 1000}  # only the part of the right length is held


def test_a_confirm_whose_commit_failed_succeeds_when_the_camera_retries(client, tenant_a, sessions, storage, settings):
    """The database connection cut while a confirm commits (the chaos test's PostgreSQL restart): the camera gets a
    500 and confirms again. The slot and its upload must still be there, so the retry accepts the photo instead of
    answering 409 upload_missing and leaving the capture pending for good."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    from cropwatch.captures import ingest

    photo = PHOTO.read_bytes()
    slot = _slot(client, tenant_a, photo)
    assert httpx.put(slot["upload_url"], content=photo).status_code == 200
    with sessions() as s:
        cap = s.get(Capture, slot["capture_id"])
        upload_key = cap.upload_key

        def cut(session) -> None:
            raise OperationalError("COMMIT", {}, ConnectionError("server closed the connection unexpectedly"))

        event.listen(s, "before_commit", cut)
        try:
            ingest.confirm(s, storage, settings, capture=cap)
        except OperationalError:
            s.rollback()
        else:
            raise AssertionError("the commit was meant to fail")
    assert storage.stat(upload_key) is not None, "the upload was removed although the capture was not accepted"
    with sessions() as s:
        assert s.get(Capture, slot["capture_id"]).status == CaptureStatus.pending
    r = client.post(f"/api/v1/ingest/captures/{slot['capture_id']}/confirm", headers=tenant_a.camera_auth)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "stored"
    with sessions() as s:
        cap = s.get(Capture, slot["capture_id"])
        assert cap.status == CaptureStatus.stored and cap.upload_key is None
        assert storage.stat(cap.object_key).size > 0
    assert storage.list_keys("incoming/") == []  # the accepted upload is gone once the capture is stored
