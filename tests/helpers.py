"""What the tests share besides fixtures (those stay in the conftest files): where the project and the shared
datasets are, real photos from them (a test module that needs them is skipped, with the reason, when the datasets
are missing), servers in a thread, the camera's upload steps, test databases and buckets. Test modules import from
here, never from a conftest or from another test module."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from cropwatch.captures.ingest import direct_upload
from cropwatch.core.orm import Camera, Capture
from cropwatch.embedded import free_port

TEST_PG = os.environ.get("CROPWATCH_TEST_POSTGRES_URL")
TEST_REDIS = os.environ.get("CROPWATCH_TEST_REDIS_URL")
DB_BACKENDS = ["sqlite"] + (["postgresql"] if TEST_PG else [])
PROJECT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CROPWATCH_SHARED_DATASETS_DIR") or PROJECT.parent / "shared" / "datasets")


def need_shared(*parts: str) -> Path:
    """``../shared/datasets/<parts>``; skips the calling test (or module, at import) with the reason when missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"needs the shared datasets: {path} is missing (a checkout expects them in ../shared/datasets)",
            allow_module_level=True,
        )
    return path


def rice_photos(n: int, split: str = "test") -> list[Path]:
    photos = sorted(need_shared("rice-pests", "images", split).glob("*.jpg"))
    assert len(photos) >= n, f"need {n} real photos in {SHARED}"
    return photos[:n]


def planthopper_photo() -> Path:
    """A rice-pests test photo with several brown planthoppers (the tests' usual evidence photo)."""
    return next(need_shared("rice-pests", "images", "test").glob("brown_0267_jpg*.jpg"))


@contextlib.contextmanager
def serve_in_thread(app, **options):
    """The app on uvicorn in a thread on a free loopback port; yields the port (browser and field-agent tests).
    ``options`` go to ``uvicorn.Config`` (e.g. ``cropwatch.cli.uvicorn_proxy_options``)."""
    import threading
    import time

    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", **options)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while not server.started and time.monotonic() < end:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


class Enqueued(list):
    """Records detect() publications instead of a broker (the worker is tested on its own)."""


def presigned_upload(
    client: TestClient,
    camera_auth: dict,
    data: bytes,
    *,
    captured_at: dt.datetime | None = None,
    declared_size: int | None = None,
    direct: bool = False,
) -> httpx.Response:
    """The camera's three steps: slot, PUT to S3, confirm. Returns the confirm response (or the slot's on refusal).
    ``direct``: a direct slot (the PUT goes to the final key with the slot's signed headers)."""
    when = (captured_at or dt.datetime.now(dt.timezone.utc)).isoformat()
    slot = client.post(
        "/api/v1/ingest/slots",
        headers=camera_auth,
        json={
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data) if declared_size is None else declared_size,
            "captured_at": when,
            "direct": direct,
        },
    )
    if slot.status_code >= 400 or slot.json()["upload_url"] is None:
        return slot
    put = httpx.put(slot.json()["upload_url"], content=data, headers=slot.json()["upload_headers"])
    assert put.status_code == 200, put.text
    return client.post(f"/api/v1/ingest/captures/{slot.json()['capture_id']}/confirm", headers=camera_auth)


def upload(sessions, storage, settings, tenant, data: bytes, when: dt.datetime | None = None) -> int:
    with sessions() as s:
        cam = s.get(Camera, tenant.camera_id)
        cap, _ = direct_upload(
            s, storage, settings, camera=cam, data=data, captured_at=when or dt.datetime.now(dt.timezone.utc)
        )
        return cap.id


def pg_database(template: str | None = None):
    import sqlalchemy as sa

    admin = sa.create_engine(TEST_PG, isolation_level="AUTOCOMMIT")
    name = f"cw_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    url = sa.engine.make_url(TEST_PG).set(database=name).render_as_string(hide_password=False)
    return admin, name, url


def drop_bucket(server, bucket: str) -> None:
    """Remove a test's bucket so SeaweedFS frees its collection's volumes for the next tests."""
    from minio import Minio
    from minio.deleteobjects import DeleteObject

    client = Minio(server.endpoint, access_key=server.access_key, secret_key=server.secret_key, secure=False)
    try:
        if not client.bucket_exists(bucket):
            return
        names = [DeleteObject(o.object_name) for o in client.list_objects(bucket, recursive=True)]
        for err in client.remove_objects(bucket, names):
            raise RuntimeError(f"could not remove {err}")
        client.remove_bucket(bucket)
    except Exception as exc:  # noqa: BLE001 - a test that stopped the server on purpose must not fail teardown
        print(f"note: bucket {bucket} left behind: {exc}")


def sample(exposition: str, name: str, **labels: str) -> float:
    """The value of series ``name`` with (at least) ``labels`` in a Prometheus text exposition; 0 when absent."""
    import re

    for line in exposition.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return 0.0


def bare_model_version(sessions) -> int:
    """A model version row (no file): what a stored result needs to refer to."""
    from cropwatch.core.enums import ModelTask
    from cropwatch.core.orm import ModelVersion

    with sessions.begin() as s:
        mv = ModelVersion(
            task=ModelTask.pest,
            name="test",
            onnx_key="models/x.onnx",
            sha256="0" * 64,
            classes={"0": "planthopper"},
            input_size=320,
        )
        s.add(mv)
        s.flush()
        return mv.id


def processed_photos(sessions, storage, settings, tenant, model_id, n, *, when, with_pest=()):
    """``n`` processed captures of the tenant's camera taken a minute apart from ``when``; those in ``with_pest``
    show a planthopper, the others nothing."""
    from cropwatch.captures.results import store_detections
    from inference.detections import DetectionRecord

    def unique(d: bytes) -> bytes:  # the same picture with a JPEG comment: another photo (sha256) each call
        tag = uuid.uuid4().hex.encode()
        return d[:2] + b"\xff\xfe" + (len(tag) + 2).to_bytes(2, "big") + tag + d[2:]

    data = [unique(p.read_bytes()) for p in rice_photos(n)]
    ids = [
        upload(sessions, storage, settings, tenant, d, when=when + dt.timedelta(minutes=i)) for i, d in enumerate(data)
    ]
    with sessions.begin() as s:
        for i, cid in enumerate(ids):
            cap = s.get(Capture, cid)
            store_detections(
                s,
                capture=cap,
                model_version_id=model_id,
                detections=[DetectionRecord(0, "planthopper", 0.8, (10.0, 10.0, 40.0, 40.0))] if i in with_pest else [],
                elapsed_ms=1.0,
                width=640,
                height=480,
            )
    return ids


def decode_qr(png: bytes) -> str:
    """The text of the QR code in a PNG, as a phone's scanner reads it (OpenCV's ArUco-based QR detector: the
    classic one misses about one in thirty valid codes)."""
    import cv2
    import numpy as np

    decoded, _, _ = cv2.QRCodeDetectorAruco().detectAndDecode(
        cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    )
    return decoded
