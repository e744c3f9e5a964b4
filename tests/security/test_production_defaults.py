"""Finding 12: in production the API documents nothing to strangers, /metrics needs the operators' token, and
/health says ok or not without hosts, pids, models or error texts."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app


def _client(settings, **changes):
    return TestClient(
        create_app(settings.model_copy(update=changes), enqueue=lambda _id: None, enqueue_training=lambda _id: None)
    )


def test_production_hides_docs_and_protects_metrics(settings, storage):
    with _client(settings, environment="production", ops_token="ops-secret-1") as c:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert c.get(path).status_code == 404, path
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        r = c.get("/metrics", headers={"Authorization": "Bearer ops-secret-1"})
        assert r.status_code == 200 and "cropwatch_workers_live" in r.text
        health = c.get("/health").json()
        assert health == {"status": "ok", "checks": {"database": "ok", "object_storage": "ok"}}
        detailed = c.get("/health", headers={"Authorization": "Bearer ops-secret-1"}).json()
        assert "workers" in detailed
    with _client(settings, environment="production") as c:  # production without a token: closed, not open
        assert c.get("/metrics").status_code == 401 and "workers" not in c.get("/health").json()


def test_health_never_returns_error_text(settings, storage):
    with _client(settings, s3_endpoint="127.0.0.1:1", environment="development") as c:
        r = c.get("/health")
    assert r.status_code == 503 and r.json()["checks"]["object_storage"] == "error"
    assert "127.0.0.1" not in r.text and "Connection" not in r.text


def test_development_keeps_docs_open(settings, storage):
    with _client(settings) as c:
        assert c.get("/openapi.json").status_code == 200 and c.get("/metrics").status_code == 200
