from __future__ import annotations

import datetime as dt
import hashlib

import httpx
import pytest
from factories import make_tenant
from fastapi.testclient import TestClient

from api.app import create_app


class Enqueued(list):
    """Records detect() publications instead of a broker (the worker is tested on its own)."""


@pytest.fixture
def enqueued():
    return Enqueued()


@pytest.fixture
def client(settings, storage, enqueued):
    app = create_app(settings, enqueue=enqueued.append)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def tenant_a(sessions):
    with sessions.begin() as s:
        return make_tenant(s, "a")


@pytest.fixture
def tenant_b(sessions):
    with sessions.begin() as s:
        return make_tenant(s, "b")


def presigned_upload(
    client: TestClient,
    camera_auth: dict,
    data: bytes,
    *,
    captured_at: dt.datetime | None = None,
    declared_size: int | None = None,
) -> httpx.Response:
    """The camera's three steps: slot, PUT to S3, confirm. Returns the confirm response (or the slot's on refusal)."""
    when = (captured_at or dt.datetime.now(dt.timezone.utc)).isoformat()
    slot = client.post(
        "/api/v1/ingest/slots",
        headers=camera_auth,
        json={
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data) if declared_size is None else declared_size,
            "captured_at": when,
        },
    )
    if slot.status_code >= 400 or slot.json()["upload_url"] is None:
        return slot
    put = httpx.put(slot.json()["upload_url"], content=data)
    assert put.status_code == 200, put.text
    return client.post(f"/api/v1/ingest/captures/{slot.json()['capture_id']}/confirm", headers=camera_auth)
