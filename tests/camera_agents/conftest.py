"""The real app (uvicorn on loopback) with real SeaweedFS and the database, reached by the agent through two fault
proxies: one in front of the API, one in front of S3 (presigned URLs point at it through ``s3_public_endpoint``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).parent))  # after tests/: `conftest` stays tests/conftest.py

from agent_testkit import Field
from helpers import serve_in_thread
from proxy import Proxy


@pytest.fixture
def field(settings, storage, sessions, tmp_path):
    from factories import make_tenant

    from api.app import create_app

    s3_proxy = Proxy(int(settings.s3_endpoint.rsplit(":", 1)[1]), rewrite_host=settings.s3_endpoint)
    app_settings = settings.model_copy(update={"s3_public_endpoint": s3_proxy.address})
    app = create_app(app_settings, enqueue=lambda cid: None, enqueue_training=lambda rid: None)
    with serve_in_thread(app) as port:
        api_proxy = Proxy(port)
        with sessions.begin() as s:
            tenant = make_tenant(s, "agent")
        yield Field(
            f"http://{api_proxy.address}",
            f"http://127.0.0.1:{port}",
            api_proxy,
            s3_proxy,
            tenant.camera_token,
            tenant.camera_id,
            sessions,
            storage,
        )
        api_proxy.close()
        s3_proxy.close()
