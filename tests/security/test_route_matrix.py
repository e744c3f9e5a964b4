"""Every route of the app (API and pages), called by every role of cooperative B with the ids of cooperative A's
objects: nothing of A leaks into a response and nothing of A changes. A route added without being classified
here fails the test, so the matrix cannot fall behind the app."""

from __future__ import annotations

import hashlib
import json

import pytest
from factories import make_tenant
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.web.session import CSRF_COOKIE
from cropwatch.core import orm as T
from cropwatch.core.enums import (
    AlertLevel,
    CaptureStatus,
    DetectionSource,
    DiarySource,
    DiaryStatus,
    DiaryType,
    ModelStage,
    ModelTask,
    Role,
)
from cropwatch.core.timeutil import utcnow

MARK = "SECRETA"  # in every name and key of cooperative A's objects
ROLES = (Role.member, Role.agronomist, Role.ml_engineer, Role.coop_admin)

# How each route is checked. object: its path holds A's ids -> 401/403/404/405/422 only, for every role of B.
# list / create / action: no id of A in the path -> any status, but no byte of A in the answer and A unchanged
# (create and action bodies name A's objects where they take ids). public: no login by design (documented).
# camera: device-token routes, called with B's camera token and A's ids.
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/openapi.json"): "public",
    ("GET", "/docs"): "public",
    ("GET", "/docs/oauth2-redirect"): "public",
    ("GET", "/redoc"): "public",
    ("GET", "/health"): "public",
    ("GET", "/metrics"): "public",
    ("GET", "/t/{code}.json"): "public",
    ("GET", "/t/{code}"): "public",  # a lot's public page, by its secret code
    ("GET", "/t/{code}/photos/{n}"): "public",
    ("GET", "/t/{rest:path}"): "public",  # no such lot: a 404 page
    ("GET", "/01/{gtin}/10/{code}"): "public",  # a GS1 Digital Link from a lot's QR: on to its public page
    ("GET", "/login"): "public",
    ("POST", "/login"): "public",
    ("GET", "/lang/{code}"): "public",
    ("GET", "/reset"): "public",
    ("POST", "/reset"): "public",  # a password reset, by a one-time code
    ("GET", "/"): "list",
    ("POST", "/logout"): "action",
    ("GET", "/account"): "list",
    ("POST", "/account/password"): "action",  # one's own account only
    # pages
    ("GET", "/captures/{capture_id}/image"): "object",
    ("GET", "/diary/{entry_id}/photos/{index}"): "object",
    ("GET", "/diary/{entry_id}/revisions/{revision}/photos/{index}"): "object",
    ("GET", "/alerts"): "list",
    ("POST", "/alerts/{alert_id}/acknowledge"): "object",
    ("POST", "/alerts/{alert_id}/snooze"): "object",
    ("GET", "/captures/{capture_id}"): "object",
    ("POST", "/captures/{capture_id}/flag"): "object",
    ("GET", "/plots"): "list",
    ("GET", "/plots/{plot_id}"): "object",
    ("POST", "/plots/{plot_id}/diary"): "object",
    ("POST", "/diary/{entry_id}/done"): "object",
    ("GET", "/lots"): "list",
    ("POST", "/lots"): "create",
    ("GET", "/diary/{entry_id}"): "object",
    ("POST", "/diary/{entry_id}/edit"): "object",
    ("POST", "/diary/{entry_id}/delete"): "object",
    ("GET", "/lots/{lot_id}/qr.{fmt}"): "object",
    ("GET", "/lots/labels.pdf"): "create",
    ("POST", "/lots/events"): "create",  # the body names A's lot: 404, nothing recorded
    ("POST", "/lots/merge"): "create",  # the body names A's lots: 404, nothing merged
    ("GET", "/review"): "list",
    ("GET", "/review/next"): "list",
    ("GET", "/review/{capture_id}"): "object",
    ("POST", "/review/{capture_id}/act"): "object",
    ("GET", "/pressure"): "list",
    ("GET", "/rules"): "list",
    ("POST", "/rules"): "create",
    ("POST", "/rules/{rule_id}"): "object",
    ("GET", "/ml/datasets"): "list",
    ("POST", "/ml/datasets"): "create",
    ("GET", "/ml/datasets/{dataset_id}"): "object",
    ("GET", "/ml/datasets/{dataset_id}/preview.jpg"): "object",
    ("GET", "/ml/runs"): "list",
    ("POST", "/ml/runs"): "create",
    ("GET", "/ml/runs/{run_id}"): "object",
    ("GET", "/ml/runs/{run_id}/live"): "object",
    ("GET", "/ml/models"): "list",
    ("POST", "/ml/models/{model_id}/promote"): "object",
    ("POST", "/ml/models/{model_id}/rollback"): "object",
    ("POST", "/ml/models/{model_id}/shadow/start"): "object",
    ("POST", "/ml/models/{model_id}/shadow/stop"): "object",
    ("GET", "/ml/models/{model_id}/reports/{name}.png"): "object",
    ("GET", "/admin/members"): "list",
    ("POST", "/admin/members"): "create",
    ("POST", "/admin/members/{membership_id}/role"): "object",
    ("POST", "/admin/members/{membership_id}/deactivate"): "object",
    ("POST", "/admin/members/{membership_id}/reactivate"): "object",
    ("POST", "/admin/members/{membership_id}/reset-code"): "object",
    ("GET", "/admin/cameras"): "list",
    ("POST", "/admin/cameras"): "create",
    ("POST", "/admin/cameras/{camera_id}/rotate"): "object",
    ("POST", "/admin/cameras/{camera_id}/revoke"): "object",
    ("POST", "/admin/retention"): "action",
    ("GET", "/forecast"): "list",  # the caller's cooperative (or union)
    ("GET", "/forecast.csv"): "list",
    ("GET", "/forecast.xlsx"): "list",  # the caller's own cooperative's photo retention policy
    ("GET", "/admin/plots"): "list",
    ("POST", "/admin/farms"): "create",
    ("POST", "/admin/plots"): "create",
    ("POST", "/admin/certifications"): "create",
    ("POST", "/admin/certifications/{cert_id}/delete"): "object",
    ("GET", "/union"): "list",
    ("GET", "/union/export.csv"): "list",
    # API
    ("POST", "/api/v1/auth/token"): "public",
    ("POST", "/api/v1/auth/logout"): "action",
    ("GET", "/api/v1/auth/me"): "list",
    ("GET", "/api/v1/plots"): "list",
    ("GET", "/api/v1/plots/{plot_id}"): "object",
    ("POST", "/api/v1/cameras/me/heartbeat"): "camera",
    ("GET", "/api/v1/cameras/me/config"): "camera",
    ("GET", "/api/v1/cameras/me/model"): "camera",
    ("PATCH", "/api/v1/cameras/{camera_id}/agent-config"): "object",
    ("GET", "/api/v1/cameras"): "list",
    ("GET", "/api/v1/cameras/{camera_id}"): "object",
    ("POST", "/api/v1/cameras"): "create",
    ("POST", "/api/v1/cameras/{camera_id}/rotate-token"): "object",
    ("POST", "/api/v1/cameras/{camera_id}/revoke-token"): "object",
    ("POST", "/api/v1/ingest/slots"): "camera",
    ("POST", "/api/v1/ingest/captures/{capture_id}/confirm"): "camera",
    ("POST", "/api/v1/ingest/upload"): "camera",
    ("GET", "/api/v1/captures"): "list",
    ("GET", "/api/v1/captures/{capture_id}"): "object",
    ("GET", "/api/v1/alerts"): "list",
    ("GET", "/api/v1/alerts/{alert_id}"): "object",
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): "object",
    ("POST", "/api/v1/alerts/{alert_id}/snooze"): "object",
    ("POST", "/api/v1/alerts/{alert_id}/resolve"): "object",
    ("GET", "/api/v1/diary"): "list",
    ("GET", "/api/v1/diary/export"): "list",
    ("GET", "/api/v1/diary/{entry_id}"): "object",
    ("POST", "/api/v1/diary"): "create",
    ("POST", "/api/v1/diary/{entry_id}/done"): "object",
    ("PATCH", "/api/v1/diary/{entry_id}"): "object",
    ("DELETE", "/api/v1/diary/{entry_id}"): "object",
    ("POST", "/api/v1/diary/{entry_id}/photos"): "object",
    ("DELETE", "/api/v1/diary/{entry_id}/photos/{index}"): "object",
    ("GET", "/api/v1/models"): "list",
    ("GET", "/api/v1/review/queue"): "list",
    ("POST", "/api/v1/captures/{capture_id}/reviews"): "object",
    ("GET", "/api/v1/captures/{capture_id}/reviews"): "object",
    ("POST", "/api/v1/captures/{capture_id}/flag"): "object",
    ("GET", "/api/v1/review/agreement"): "list",
    ("POST", "/api/v1/datasets"): "create",
    ("GET", "/api/v1/datasets"): "list",
    ("GET", "/api/v1/datasets/{dataset_id}"): "object",
    ("POST", "/api/v1/training/runs"): "create",
    ("GET", "/api/v1/training/runs"): "list",
    ("GET", "/api/v1/training/runs/{run_id}"): "object",
    ("POST", "/api/v1/models/{model_id}/promote"): "object",
    ("POST", "/api/v1/models/{model_id}/rollback"): "object",
    ("POST", "/api/v1/models/{model_id}/shadow"): "object",
    ("DELETE", "/api/v1/models/{model_id}/shadow"): "object",
    ("GET", "/api/v1/models/{model_id}/shadow-report"): "object",
    ("GET", "/api/v1/models/{model_id}/reports/{name}"): "object",
    ("POST", "/api/v1/lots"): "create",
    ("GET", "/api/v1/lots"): "list",
    ("GET", "/api/v1/lots/labels.pdf"): "create",
    ("GET", "/api/v1/lots/{lot_id}/qr.{fmt}"): "object",
    ("POST", "/api/v1/channels"): "create",
    ("GET", "/api/v1/channels"): "list",
    ("DELETE", "/api/v1/channels/{channel_id}"): "object",
    ("GET", "/api/v1/alerts/{alert_id}/deliveries"): "object",
    ("POST", "/api/v1/lots/{lot_id}/events"): "object",
    ("POST", "/api/v1/lots/{lot_id}/split"): "object",
    ("POST", "/api/v1/lots/{lot_id}/events/{event_id}/photos"): "object",
    ("POST", "/api/v1/lots/merge"): "action",  # its body names A's lots
    ("GET", "/api/v1/certifications"): "list",
    ("POST", "/api/v1/certifications"): "create",
    ("DELETE", "/api/v1/certifications/{cert_id}"): "object",
    ("GET", "/api/v1/lots/{lot_id}/events"): "object",
    ("GET", "/api/v1/lots/{lot_id}/epcis"): "object",
    ("GET", "/api/v1/forecast"): "list",  # the caller's cooperative (or union) only
    ("GET", "/api/v1/forecast.csv"): "list",
    ("GET", "/api/v1/forecast.xlsx"): "list",
    ("GET", "/api/v1/crop-profiles"): "list",
    ("PUT", "/api/v1/crop-profiles"): "action",  # the caller's own cooperative's profile
    ("GET", "/api/v1/retention"): "list",  # the caller's own cooperative's policy and storage
    ("PUT", "/api/v1/retention"): "action",  # sets the caller's own cooperative's policy only
    ("GET", "/api/v1/alert-rules"): "list",
    ("POST", "/api/v1/alert-rules"): "create",
    ("PATCH", "/api/v1/alert-rules/{rule_id}"): "object",
    ("POST", "/api/v1/cameras/{camera_id}/trap-changes"): "object",
    ("GET", "/api/v1/cameras/{camera_id}/trap-changes"): "object",
    ("POST", "/cameras/{camera_id}/trap-change"): "object",
    ("GET", "/admin/channels"): "list",
    ("POST", "/admin/channels"): "create",
    ("GET", "/plots/{plot_id}/diary.{fmt}"): "object",
    ("POST", "/admin/channels/{channel_id}/test"): "object",
    ("POST", "/admin/channels/{channel_id}/disable"): "object",
    ("GET", "/account/notifications"): "list",
    ("POST", "/account/notifications"): "create",
    ("POST", "/account/notifications/{channel_id}/test"): "object",
    ("POST", "/account/notifications/{channel_id}/unlink"): "object",
}
DENIED = {401, 403, 404, 405, 422}


def app_routes(app) -> list[tuple[str, str]]:
    found = []

    def walk(routes):
        for r in routes:
            if hasattr(r, "original_router"):
                walk(r.original_router.routes)
            elif hasattr(r, "methods") and r.methods:
                found.extend((m, r.path) for m in sorted(r.methods - {"HEAD"}))

    walk(app.routes)
    return found


@pytest.fixture
def world(settings, storage, sessions, models_registered):
    """Cooperative A with one of every object (names and keys carry MARK); cooperative B with its users."""
    now = utcnow()
    with sessions.begin() as s:
        a = make_tenant(s, "a")
        b = make_tenant(s, "b")
        plot, cam = s.get(T.Plot, a.plot_id), s.get(T.Camera, a.camera_id)
        plot.name, cam.name = f"Lô {MARK}", f"cam {MARK}"
        farm = s.get(T.Farm, plot.farm_id)
        farm.name = f"farm {MARK}"
        cap = T.Capture(
            cooperative_id=a.cooperative_id,
            camera_id=cam.id,
            plot_id=plot.id,
            object_key=f"raw/{MARK}/c.jpg",
            sha256="a" * 64,
            size_bytes=3,
            status=CaptureStatus.done,
            width=100,
            height=100,
            captured_at=now,
            processed_at=now,
        )
        s.add(cap)
        s.flush()
        s.add(
            T.Detection(
                cooperative_id=a.cooperative_id,
                capture_id=cap.id,
                class_id=0,
                class_name="planthopper",
                score=0.9,
                x1=1,
                y1=1,
                x2=20,
                y2=20,
                source=DetectionSource.model,
            )
        )
        rule = T.AlertRule(
            cooperative_id=a.cooperative_id,
            name=f"rule {MARK}",
            class_name="planthopper",
            threshold=1,
            level=AlertLevel.warning,
        )
        s.add(rule)
        s.flush()
        alert = T.Alert(
            cooperative_id=a.cooperative_id,
            rule_id=rule.id,
            plot_id=plot.id,
            class_name="planthopper",
            level=AlertLevel.warning,
            count=1,
            threshold=1,
            local_day=now.date(),
            message_vi=f"alert {MARK}",
            message_en=f"alert {MARK}",
            evidence_capture_id=cap.id,
        )
        entry = T.DiaryEntry(
            cooperative_id=a.cooperative_id,
            plot_id=plot.id,
            created_by=a.user_ids[Role.member],
            occurred_at=now,
            type=DiaryType.observation,
            status=DiaryStatus.pending,
            source=DiarySource.manual,
            title=f"diary {MARK}",
            notes="",
            photo_keys=[f"diary/{MARK}/p.jpg"],
        )
        s.add_all([alert, entry])
        s.flush()
        s.add(  # the history's photo route reads A's photo from this revision
            T.DiaryRevision(
                cooperative_id=a.cooperative_id,
                entry_id=entry.id,
                revision=1,
                changed_by=a.user_ids[Role.member],
                snapshot={"title": f"diary {MARK}", "photo_keys": [f"diary/{MARK}/p.jpg"]},
            )
        )
        lot = T.HarvestLot(
            cooperative_id=a.cooperative_id,
            plot_id=plot.id,
            public_code=f"{MARK}lot",
            harvested_on=now.date(),
            quantity=5,
            unit="kg",
            created_by=a.user_ids[Role.member],
        )
        channel = T.NotificationChannel(
            cooperative_id=a.cooperative_id,
            kind="webhook",
            name=f"hook {MARK}",
            config={"url": "http://127.0.0.1:9/x", "secret": MARK},
        )
        shipped = s.get(T.ModelVersion, models_registered["pest"])
        dataset = T.DatasetVersion(
            cooperative_id=a.cooperative_id,
            name=f"ds-{MARK.lower()}",
            version=1,
            task=ModelTask.pest,
            manifest_key=f"datasets/{MARK}/m.json",
            manifest_sha256="b" * 64,
            classes=shipped.classes,
            stats={"images": {"train": 1}},
            preview_key=f"datasets/{MARK}/p.jpg",
        )
        cert = T.Certification(
            cooperative_id=a.cooperative_id,
            scheme="vietgap",
            code=f"VG-{MARK}",
            issued_by=f"org {MARK}",
            valid_until=now.date(),
            crops=[],
        )
        s.add_all([lot, channel, dataset, cert])
        s.flush()
        step = T.LotEvent(
            cooperative_id=a.cooperative_id,
            lot_id=lot.id,
            kind="storage",
            occurred_at=now,
            place=f"kho {MARK}",
            details={},
            photo_keys=[f"lots/{MARK}/s.jpg"],
        )
        s.add(step)
        run = T.TrainingRun(
            cooperative_id=a.cooperative_id,
            dataset_version_id=dataset.id,
            params={"epochs": 1},
            status="running",
            log=f"log {MARK}",
        )
        own_model = T.ModelVersion(
            cooperative_id=a.cooperative_id,
            task=ModelTask.pest,
            name=f"model-{MARK}",
            onnx_key=shipped.onnx_key,
            sha256="c" * 64,
            classes=shipped.classes,
            input_size=shipped.input_size,
            stage=ModelStage.candidate,
            metrics={"reports": {"confusion_matrix": f"reports/{MARK}.png"}},
        )
        s.add_all([run, own_model])
        s.flush()
        membership = s.scalar(select(T.Membership).where(T.Membership.user_id == a.user_ids[Role.member]))
        ids = {
            "capture_id": cap.id,
            "entry_id": entry.id,
            "index": 0,
            "revision": 1,
            "alert_id": alert.id,
            "plot_id": plot.id,
            "lot_id": lot.id,
            "fmt": "svg",
            "rule_id": rule.id,
            "dataset_id": dataset.id,
            "run_id": run.id,
            "model_id": own_model.id,
            "name": "confusion_matrix",
            "membership_id": membership.id,
            "camera_id": cam.id,
            "channel_id": channel.id,
            "code": "vi",
            "farm_id": farm.id,
            "dataset_version_id": dataset.id,
            "cert_id": cert.id,
            "event_id": step.id,
        }
    for key in (f"raw/{MARK}/c.jpg", f"diary/{MARK}/p.jpg", f"datasets/{MARK}/p.jpg", f"reports/{MARK}.png"):
        storage.put_bytes(key, MARK.encode() * 10, "image/jpeg")
    return a, b, ids


def snapshot(sessions, cooperative_id: int) -> str:
    """A digest of every row cooperative A owns (and its users), to prove nothing changed."""
    out = []
    with sessions() as s:
        for table in T.Base.metadata.sorted_tables:
            cols = [c.name for c in table.columns]
            q = select(table)
            if "cooperative_id" in cols:
                q = q.where(table.c.cooperative_id == cooperative_id)
            elif table.name == "users":
                q = q.where(
                    table.c.id.in_(select(T.Membership.user_id).where(T.Membership.cooperative_id == cooperative_id))
                )
            else:
                continue
            rows = sorted(json.dumps([str(v) for v in row], ensure_ascii=False) for row in s.execute(q))
            out.append((table.name, rows))
    return hashlib.sha256(json.dumps(out).encode()).hexdigest()


def _body(ids: dict) -> dict:
    """What create/action routes receive: A's ids wherever a field names an object."""
    return {
        "plot_id": ids["plot_id"],
        "farm_id": ids["farm_id"],
        "dataset_version_id": ids["dataset_id"],
        "dataset_id": ids["dataset_id"],
        "camera_id": ids["camera_id"],
        "detection_id": 1,
        "name": "x",
        "class_name": "planthopper",
        "threshold": 1,
        "level": "danger",
        "min_score": 0,
        "cooldown_minutes": 0,
        "action": "no_pest",
        "hours": 2,
        "reason": "x",
        "role": "coop_admin",
        "username": "b-new",
        "password": "a-long-passphrase-9",
        "full_name": "x",
        "quantity": 1,
        "harvested_on": "2026-01-01",
        "type": "observation",
        "kind": "webhook",
        "config": {"url": "http://127.0.0.1:9/"},
        "epochs": 1,
        "ids": str(ids["lot_id"]),
        "lot_id": ids["lot_id"],
        "lot_ids": [ids["lot_id"], ids["lot_id"]],
        "occurred_at": "2026-01-02T08:00:00+07:00",
        "threshold_count": 1,
        "days": 30,
        "crop": "lúa",
        "yield_kg_per_ha": 5000,
        "days_to_harvest": 100,
    }


def test_every_route_is_classified(settings, storage):
    app = create_app(settings, enqueue=lambda c: None, enqueue_training=lambda r: None)
    unclassified = [r for r in app_routes(app) if r not in ROUTES]
    assert not unclassified, f"classify these routes in ROUTES: {unclassified}"
    stale = [r for r in ROUTES if r not in set(app_routes(app))]
    assert not stale, f"routes gone from the app: {stale}"


@pytest.mark.slow
def test_other_cooperative_cannot_read_or_change_anything(settings, storage, sessions, world):
    a, b, ids = world
    app = create_app(settings, enqueue=lambda c: None, enqueue_training=lambda r: None)
    before = snapshot(sessions, a.cooperative_id)
    failures = []
    routes = app_routes(app)
    with TestClient(app, follow_redirects=False) as client:
        for role in ROLES:
            client.cookies.clear()
            client.get("/login")
            client.post(
                "/login",
                data={"username": f"b-{role.value}", "password": "pw-b", "csrf_token": client.cookies.get(CSRF_COOKIE)},
            )
            csrf = client.cookies.get(CSRF_COOKIE)
            for method, path in routes:
                kind = ROUTES[(method, path)]
                if kind == "public" or (method, path) in {("POST", "/logout"), ("POST", "/api/v1/auth/logout")}:
                    continue
                url = path.format(**ids)
                api = path.startswith("/api/")
                if kind == "camera":
                    headers = b.camera_auth
                elif api:
                    headers = b.auth(role)
                else:
                    headers = {"X-CSRF-Token": csrf}
                body = _body(ids)
                kwargs = (
                    {"json": body}
                    if api or path.endswith("/act")
                    else {"data": {k: str(v) for k, v in body.items() if not isinstance(v, dict)}}
                )
                if method in ("GET", "DELETE"):
                    kwargs = {"params": {"plot_id": ids["plot_id"], "ids": ids["lot_id"]}}
                r = client.request(method, url, headers=headers, **kwargs)
                where = f"{role.value} {method} {url} -> {r.status_code}"
                if r.status_code >= 500:
                    failures.append(f"{where}: server error")
                if MARK.encode() in r.content or MARK.lower().encode() in r.content:
                    failures.append(f"{where}: leaks cooperative A")
                if kind == "object" and r.status_code not in DENIED:
                    failures.append(f"{where}: an object of A was served")
                if method != "GET" and snapshot(sessions, a.cooperative_id) != before:
                    failures.append(f"{where}: changed cooperative A's data")
                    before = snapshot(sessions, a.cooperative_id)
    after = snapshot(sessions, a.cooperative_id)
    assert not failures, "\n".join(failures)
    assert before == after, "cooperative A's data changed (by a GET?)"
