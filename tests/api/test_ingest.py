"""Cameras upload through the presigned flow or a direct POST; bad input is refused with a reason."""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
import time
import zlib

import httpx
import pytest
from helpers import presigned_upload, rice_photos
from sqlalchemy import func, select

from cropwatch.core.orm import Capture


def png_header_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG file that declares width × height pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def count_captures(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count(Capture.id)))


def test_presigned_upload_stores_verified_image_and_queues_detection(client, tenant_a, storage, sessions, enqueued):
    data = rice_photos(1)[0].read_bytes()
    resp = presigned_upload(client, tenant_a.camera_auth, data)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "stored" and body["width"] == 640 and body["height"] == 640
    assert enqueued == [body["id"]]
    with sessions() as s:
        cap = s.get(Capture, body["id"])
        assert cap.object_key.startswith(f"raw/{tenant_a.cooperative_id}/{tenant_a.camera_id}/")
        assert cap.upload_key is None
    assert hashlib.sha256(storage.get_bytes(cap.object_key)).hexdigest() == cap.sha256
    assert storage.list_keys("incoming/") == []  # the one-off upload key is gone


def test_same_image_twice_is_one_capture(client, tenant_a, sessions, enqueued):
    data = rice_photos(2)[1].read_bytes()
    first = presigned_upload(client, tenant_a.camera_auth, data).json()
    again = presigned_upload(client, tenant_a.camera_auth, data)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["capture_id"] == first["id"]
    direct = client.post("/api/v1/ingest/upload", headers=tenant_a.camera_auth, files={"file": ("x.jpg", data)})
    assert direct.status_code == 200 and direct.json()["duplicate"] is True
    assert count_captures(sessions) == 1
    assert enqueued == [first["id"]]


def test_direct_upload_creates_capture(client, tenant_a, enqueued):
    data = rice_photos(3)[2].read_bytes()
    resp = client.post(
        "/api/v1/ingest/upload",
        headers=tenant_a.camera_auth,
        files={"file": ("trap.jpg", data, "image/jpeg")},
        data={"captured_at": "2026-11-20T06:30:00+07:00"},
    )
    assert resp.status_code == 201, resp.text
    cap = resp.json()["capture"]
    assert cap["status"] == "stored"
    assert dt.datetime.fromisoformat(cap["captured_at"]) == dt.datetime(2026, 11, 19, 23, 30, tzinfo=dt.timezone.utc)
    assert enqueued == [cap["id"]]


BAD_FILES = [
    ("empty", b"", 422, "image_empty"),
    ("html named .jpg", b"<!doctype html><html><body>not a photo</body></html>", 415, "image_not_an_image"),
    ("png declaring 30000x30000", png_header_bomb(), 422, "image_too_many_pixels"),
]


@pytest.mark.parametrize("name,data,status,code", BAD_FILES, ids=[b[0] for b in BAD_FILES])
@pytest.mark.parametrize("flow", ["direct", "presigned"])
def test_bad_files_are_refused_with_a_reason(
    client, tenant_a, sessions, storage, enqueued, name, data, status, code, flow
):
    t0 = time.perf_counter()
    if flow == "direct":
        resp = client.post("/api/v1/ingest/upload", headers=tenant_a.camera_auth, files={"file": ("a.jpg", data)})
    else:
        resp = presigned_upload(client, tenant_a.camera_auth, data)
    # refused from the header, without decoding: decoding 30000x30000 pixels would take many seconds and ~2.7 GB;
    # the bound leaves room for the presigned flow's three round trips to a real S3 server on a loaded CI machine
    assert time.perf_counter() - t0 < 3.0
    assert resp.status_code == status, resp.text
    assert resp.json()["code"] == code and resp.json()["detail"]  # a reason, in Vietnamese by default
    assert count_captures(sessions) == 0 and enqueued == []
    assert storage.list_keys("raw/") == [] and storage.list_keys("incoming/") == []


def test_file_over_the_size_limit_is_refused(client, tenant_a, settings, sessions):
    big = b"\xff\xd8\xff" + b"\0" * (settings.max_upload_bytes + 10)
    resp = client.post("/api/v1/ingest/upload", headers=tenant_a.camera_auth, files={"file": ("big.jpg", big)})
    assert resp.status_code == 413 and resp.json()["code"] == "image_too_large"
    # the reason in megabytes, written for each reader (20 MiB is the default limit)
    assert settings.max_upload_bytes == 20 * 1024 * 1024
    assert resp.json()["detail"] == "Ảnh quá lớn (20,01 MB, tối đa 20 MB)."
    assert resp.json()["detail_en"] == "Image too large (20.01 MB, limit 20 MB)."
    slot = client.post(
        "/api/v1/ingest/slots",
        headers=tenant_a.camera_auth,
        json={"sha256": "0" * 64, "size": settings.max_upload_bytes + 1, "captured_at": "2026-11-20T00:00:00Z"},
    )
    assert slot.status_code == 413
    assert count_captures(sessions) == 0


def test_upload_that_differs_from_the_declared_sha256_is_refused(client, tenant_a, sessions, storage):
    data = rice_photos(1)[0].read_bytes()
    slot = client.post(
        "/api/v1/ingest/slots",
        headers=tenant_a.camera_auth,
        json={
            "sha256": hashlib.sha256(b"something else").hexdigest(),
            "size": len(data),
            "captured_at": "2026-11-20T00:00:00Z",
        },
    ).json()
    assert httpx.put(slot["upload_url"], content=data).status_code == 200
    resp = client.post(f"/api/v1/ingest/captures/{slot['capture_id']}/confirm", headers=tenant_a.camera_auth)
    assert resp.status_code == 422 and resp.json()["code"] == "sha256_mismatch"
    assert count_captures(sessions) == 0 and storage.list_keys("incoming/") == []


def test_confirm_before_upload_is_a_conflict(client, tenant_a):
    data = rice_photos(1)[0].read_bytes()
    slot = client.post(
        "/api/v1/ingest/slots",
        headers=tenant_a.camera_auth,
        json={"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "captured_at": "2026-11-20T00:00:00Z"},
    ).json()
    resp = client.post(
        f"/api/v1/ingest/captures/{slot['capture_id']}/confirm", headers=tenant_a.camera_auth, params={"lang": "en"}
    )
    assert resp.status_code == 409 and "not been uploaded" in resp.json()["detail"]


def test_presigned_url_expires_within_15_minutes(client, tenant_a):
    data = rice_photos(1)[0].read_bytes()
    slot = client.post(
        "/api/v1/ingest/slots",
        headers=tenant_a.camera_auth,
        json={"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "captured_at": "2026-11-20T00:00:00Z"},
    ).json()
    expires = int(httpx.URL(slot["upload_url"]).params["X-Amz-Expires"])
    assert 0 < expires <= 900


@pytest.mark.parametrize("token", ["", "cam_not-a-real-token"])
def test_wrong_camera_token_is_401(client, token):
    resp = client.post(
        "/api/v1/ingest/slots",
        headers={"Authorization": f"Bearer {token}"},
        json={"sha256": "0" * 64, "size": 10, "captured_at": "2026-11-20T00:00:00Z"},
    )
    assert resp.status_code == 401


def test_revoked_camera_token_is_401(client, tenant_a):
    from cropwatch.core.enums import Role

    revoke = client.post(f"/api/v1/cameras/{tenant_a.camera_id}/revoke-token", headers=tenant_a.auth(Role.coop_admin))
    assert revoke.status_code == 200
    resp = client.post(
        "/api/v1/ingest/upload", headers=tenant_a.camera_auth, files={"file": ("a.jpg", rice_photos(1)[0].read_bytes())}
    )
    assert resp.status_code == 401 and resp.json()["code"] == "camera_token_invalid"


def test_a_user_token_is_not_a_camera_token(client, tenant_a):
    resp = client.post("/api/v1/ingest/upload", headers=tenant_a.auth(), files={"file": ("a.jpg", b"x")})
    assert resp.status_code == 401
