from __future__ import annotations

import pytest
from factories import make_tenant
from fastapi.testclient import TestClient
from helpers import Enqueued

from api.app import create_app


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
