"""A hostile cooperative's webhook cannot reach the installation's own services (finding 1 of the security review),
and one cooperative's channel settings cannot break notifications for the others (finding 3).

Real parts: the embedded SeaweedFS (its filer and master answer unauthenticated HTTP on loopback, which is what made
the attack possible), a loopback HTTP listener standing for any internal service, the API over HTTP. The only
stand-in is DNS for names on the public internet (no network here): ``socket.getaddrinfo`` is replaced for the
``*.example.test`` names of the DNS-rebinding tests and nothing else.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from factories import make_tenant, open_pest_alert
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from cropwatch.alerts import rules as alerts
from cropwatch.alerts.notify import deliver_due
from cropwatch.core.egress import EgressPolicy, EgressRefused, check_url, post
from cropwatch.core.enums import AlertLevel, Role
from cropwatch.core.orm import Alert, AlertRule, Camera, Delivery, NotificationChannel
from cropwatch.core.timeutil import utcnow


class Listener(BaseHTTPRequestHandler):
    def _any(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.server.hits.append(
            {"path": self.path, "host": self.headers.get("Host"), "body": self.rfile.read(length) if length else b""}
        )
        self.send_response(self.server.status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"INTERNAL-SECRET-BODY s3 key=AKIA... filer json")

    do_POST = do_GET = do_PUT = _any

    def log_message(self, *a):
        pass


@pytest.fixture
def listener():
    servers = []

    def start(status=200):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), Listener)
        srv.hits, srv.status = [], status
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.shutdown()


@pytest.fixture
def fake_public_dns(monkeypatch):
    """Answers for ``*.example.test`` only; everything else goes to the real resolver."""
    answers: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port or 80))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def _legacy_channel(sessions, coop_id, kind, config, **kw) -> int:
    """A channel row as one saved before validation existed (straight into the database)."""
    with sessions.begin() as s:
        ch = NotificationChannel(cooperative_id=coop_id, kind=kind, config=config, **kw)
        s.add(ch)
        s.flush()
        return ch.id


def _all_due(sessions):
    with sessions.begin() as s:
        for d in s.scalars(select(Delivery).where(Delivery.status == "pending")):
            d.next_attempt_at = utcnow() - dt.timedelta(seconds=1)


def _filer_port(s3_server) -> int:
    return json.loads((s3_server.root / "ports.json").read_text())["filer"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8888/buckets/cropwatch/x?mv.from=/buckets/cropwatch/diary/1",
        "http://localhost:9333/col/delete?collection=cropwatch",
        "http://LOCALHOST./",
        "http://foo.localhost/",
        "http://[::1]:8888/",
        "http://[::ffff:127.0.0.1]:8888/",
        "http://[::ffff:7f00:1]/",
        "http://0.0.0.0:8888/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://10.0.0.5/",
        "http://172.16.3.4/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "http://metadata.google.internal/",
        "http://user:pw@93.184.216.34/",
        "ftp://93.184.216.34/",
        "http://[::1/",
        "gopher://127.0.0.1:6379/_FLUSHALL",
    ],
)
def test_internal_and_malformed_destinations_are_refused(url):
    with pytest.raises(EgressRefused):
        check_url(url, EgressPolicy())


def test_public_addresses_pass_and_operator_allowlists_open_on_premise_receivers():
    parsed, ip = check_url("https://93.184.216.34/hook", EgressPolicy())
    assert str(ip) == "93.184.216.34" and parsed.scheme == "https"
    assert (
        check_url(
            "http://10.20.0.7/h", EgressPolicy(allowed_networks=(__import__("ipaddress").ip_network("10.20.0.0/24"),))
        )[1]
        is not None
    )
    assert check_url("http://hooks.hoptacxa.lan/h", EgressPolicy(allowed_hosts=frozenset({"hooks.hoptacxa.lan"})))
    with pytest.raises(EgressRefused):  # the allowlist is exact, not a suffix
        check_url(
            "http://10.20.1.7/h", EgressPolicy(allowed_networks=(__import__("ipaddress").ip_network("10.20.0.0/24"),))
        )


def test_api_refuses_a_webhook_at_the_object_store_and_nothing_reaches_it(
    settings, sessions, storage, s3_server, listener
):
    with sessions.begin() as s:
        tenant = make_tenant(s, "ssrf")
    storage.put_bytes("diary/1/photo.jpg", b"\xff\xd8 A's diary photo", "image/jpeg")
    inside = listener()
    filer = _filer_port(s3_server)
    with TestClient(create_app(settings, enqueue=lambda _id: None, enqueue_training=lambda _id: None)) as c:
        for role in (Role.agronomist, Role.coop_admin):
            auth = {"Authorization": f"Bearer {tenant.tokens[role]}"}
            for url in (
                f"http://127.0.0.1:{filer}/buckets/{settings.s3_bucket}/stolen?mv.from=/buckets/"
                f"{settings.s3_bucket}/diary/1/photo.jpg",
                f"http://localhost:{inside.server_port}/",
                f"http://[::1]:{inside.server_port}/",
            ):
                r = c.post(
                    "/api/v1/channels", headers=auth, json={"kind": "webhook", "config": {"url": url, "secret": "s"}}
                )
                assert r.status_code == 422 and r.json()["code"] == "channel_invalid", r.text
                assert "không hợp lệ" in r.json()["detail"]
        assert c.get("/api/v1/channels", headers=auth).json() == []
    assert inside.hits == []
    assert storage.get_bytes("diary/1/photo.jpg") == b"\xff\xd8 A's diary photo"


def test_a_webhook_saved_before_the_fix_is_refused_at_send_time_and_the_store_is_untouched(
    settings, sessions, storage, s3_server, listener
):
    """The attack exactly as reproduced: a channel aimed at the filer's move API, and one at the master's
    collection delete; the delivery fails with a fixed reason and every object is still there."""
    with sessions.begin() as s:
        tenant = make_tenant(s, "legacy")
    storage.put_bytes("diary/1/photo.jpg", b"photo of A", "image/jpeg")
    filer, master = _filer_port(s3_server), json.loads((s3_server.root / "ports.json").read_text())["master"]
    inside = listener()
    bucket = settings.s3_bucket
    for url in (
        f"http://127.0.0.1:{filer}/buckets/{bucket}/stolen?mv.from=/buckets/{bucket}/diary/1/photo.jpg",
        f"http://127.0.0.1:{master}/col/delete?collection={bucket}",
        f"http://127.0.0.1:{inside.server_port}/scan",
    ):
        _legacy_channel(sessions, tenant.cooperative_id, "webhook", {"url": url, "secret": "s"})
    open_pest_alert(sessions, tenant)
    counts = deliver_due(sessions, settings)
    assert counts == {"sent": 0, "retry": 0, "failed": 3}
    with sessions() as s:
        rows = list(s.scalars(select(Delivery)))
    assert {(d.status, d.last_error, d.response_code) for d in rows} == {("failed", "blocked_destination", None)}
    assert inside.hits == []
    assert storage.get_bytes("diary/1/photo.jpg") == b"photo of A"


def test_dns_rebinding_is_checked_at_send_time(settings, sessions, fake_public_dns, listener):
    """Saved while its name pointed at a public address; at send time the name answers 127.0.0.1: refused, and
    the loopback listener never sees a request."""
    inside = listener()
    fake_public_dns["hooks.example.test"] = "93.184.216.34"
    with sessions.begin() as s:
        tenant = make_tenant(s, "rebind")
    with TestClient(create_app(settings, enqueue=lambda _id: None, enqueue_training=lambda _id: None)) as c:
        r = c.post(
            "/api/v1/channels",
            headers={"Authorization": f"Bearer {tenant.tokens[Role.coop_admin]}"},
            json={
                "kind": "webhook",
                "config": {"url": f"http://hooks.example.test:{inside.server_port}/h", "secret": "s"},
            },
        )
        assert r.status_code == 201, r.text
    fake_public_dns["hooks.example.test"] = "127.0.0.1"
    open_pest_alert(sessions, tenant)
    assert deliver_due(sessions, settings)["failed"] == 1
    assert inside.hits == []


def test_the_connection_goes_to_the_checked_address_with_the_name_kept(fake_public_dns, listener):
    """What is connected to is the address that passed the check (here an allowed on-premise network), and the
    receiver still sees its own name in Host."""
    import ipaddress

    srv = listener()
    fake_public_dns["receiver.example.test"] = "127.0.0.1"
    policy = EgressPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))
    r = post(f"http://receiver.example.test:{srv.server_port}/in", content=b"{}", headers={}, timeout=5, policy=policy)
    assert r.status_code == 200
    assert srv.hits[0]["host"] == f"receiver.example.test:{srv.server_port}" and srv.hits[0]["path"] == "/in"


def test_redirects_are_not_followed(listener):
    import ipaddress

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{inside.server_port}/after-redirect")
            self.end_headers()

        def log_message(self, *a):
            pass

    inside = listener()
    hop = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=hop.serve_forever, daemon=True).start()
    try:
        # only the redirecting host is allowed (by port-less address); the target would be too, which shows that
        # it is the client that does not follow, not the check that stops it
        policy = EgressPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))
        r = post(f"http://127.0.0.1:{hop.server_port}/h", content=b"{}", headers={}, timeout=5, policy=policy)
        assert r.status_code == 307 and inside.hits == []
    finally:
        hop.shutdown()


def test_delivery_log_keeps_codes_and_classes_never_bodies_and_is_staff_only(settings, sessions, listener):
    failing = listener(status=500)
    cfg = settings.model_copy(update={"notify_allowed_cidrs": "127.0.0.1/32", "notify_max_attempts": 1})
    with sessions.begin() as s:
        tenant = make_tenant(s, "log")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    _legacy_channel(
        sessions, tenant.cooperative_id, "webhook", {"url": f"http://127.0.0.1:{failing.server_port}/h", "secret": "s"}
    )
    _legacy_channel(
        sessions, tenant.cooperative_id, "webhook", {"url": f"http://127.0.0.1:{closed_port}/h", "secret": "s"}
    )
    alert_id = open_pest_alert(sessions, tenant)
    deliver_due(sessions, cfg)
    with TestClient(create_app(cfg, enqueue=lambda _id: None, enqueue_training=lambda _id: None)) as c:
        farmer = c.get(
            f"/api/v1/alerts/{alert_id}/deliveries", headers={"Authorization": f"Bearer {tenant.tokens[Role.member]}"}
        )
        assert farmer.status_code == 403
        staff = c.get(
            f"/api/v1/alerts/{alert_id}/deliveries",
            headers={"Authorization": f"Bearer {tenant.tokens[Role.agronomist]}"},
        )
    assert staff.status_code == 200
    errors = sorted((d["last_error"], d["response_code"]) for d in staff.json())
    assert errors == [("HTTP 500", 500), ("connection_error", None)]
    assert "INTERNAL-SECRET-BODY" not in staff.text


@pytest.mark.parametrize(
    "config, why",
    [
        (
            {"url": "https://93.184.216.34/h", "secret": "s", "quiet_hours": {"start": "not-a-time", "end": "06:00"}},
            "quiet_hours.start",
        ),
        ({"url": "https://93.184.216.34/h", "secret": "s", "quiet_hours": "21-06"}, "quiet_hours"),
        ({"url": "https://93.184.216.34/h", "secret": "s", "max_per_day": "ten"}, "max_per_day"),
        ({"url": "http://[::1/", "secret": "s"}, "the webhook URL is not valid"),
        ({"url": "https://93.184.216.34/h", "secret": "s", "redirect": "yes"}, "unknown config keys"),
        ({"url": "https://93.184.216.34/h", "secret": {"nested": 1}}, "config.secret"),
    ],
)
def test_channel_settings_are_validated_when_saved(settings, sessions, config, why):
    with sessions.begin() as s:
        tenant = make_tenant(s, f"v{uuid.uuid4().hex[:6]}")
    with TestClient(create_app(settings, enqueue=lambda _id: None, enqueue_training=lambda _id: None)) as c:
        r = c.post(
            "/api/v1/channels",
            headers={"Authorization": f"Bearer {tenant.tokens[Role.coop_admin]}"},
            json={"kind": "webhook", "config": config},
        )
    assert r.status_code == 422 and why in r.json()["detail_en"], r.text


def test_the_number_of_channels_is_capped(settings, sessions):
    cfg = settings.model_copy(update={"notify_max_channels": 2})
    with sessions.begin() as s:
        tenant = make_tenant(s, "cap")
    with TestClient(create_app(cfg, enqueue=lambda _id: None, enqueue_training=lambda _id: None)) as c:
        auth = {"Authorization": f"Bearer {tenant.tokens[Role.coop_admin]}"}
        codes = [c.post("/api/v1/channels", headers=auth, json={"kind": "in_app"}).status_code for _ in range(3)]
    assert codes == [201, 201, 400]


def test_bad_rows_of_one_cooperative_do_not_delay_another(settings, sessions, listener):
    """Cooperative B's broken channels (saved before validation) fail within the attempt limit; A's message goes
    out in the same tick, and a disabled channel is never tried."""
    good = listener()
    cfg = settings.model_copy(
        update={"notify_allowed_cidrs": "127.0.0.1/32", "notify_max_attempts": 2, "notify_backoff_seconds": 0}
    )
    with sessions.begin() as s:
        a, b = make_tenant(s, "okA"), make_tenant(s, "badB")
    for _ in range(5):
        _legacy_channel(sessions, b.cooperative_id, "webhook", {"url": "http://[::1/", "secret": "s"})
    _legacy_channel(
        sessions,
        b.cooperative_id,
        "webhook",
        {"url": f"http://127.0.0.1:{good.server_port}/b", "secret": "s", "quiet_hours": {"start": "not-a-time"}},
    )
    off = _legacy_channel(
        sessions, b.cooperative_id, "webhook", {"url": f"http://127.0.0.1:{good.server_port}/off", "secret": "s"}
    )
    _legacy_channel(
        sessions, a.cooperative_id, "webhook", {"url": f"http://127.0.0.1:{good.server_port}/a", "secret": "s"}
    )
    open_pest_alert(sessions, b)
    with sessions.begin() as s:
        s.get(NotificationChannel, off).enabled = False
    open_pest_alert(sessions, a)
    deliver_due(sessions, cfg)
    assert [h["path"] for h in good.hits if h["path"] == "/a"] == ["/a"], "A's message in the first tick"
    _all_due(sessions)
    deliver_due(sessions, cfg)
    with sessions() as s:
        left = list(s.scalars(select(Delivery).where(Delivery.status == "pending")))
        offs = list(s.scalars(select(Delivery).where(Delivery.channel_id == off)))
    assert left == [], "every broken delivery ended within the attempt limit"
    assert all(d.attempts <= 2 for d in offs)
    assert "/off" not in [h["path"] for h in good.hits]


def test_one_cooperatives_broken_silence_rule_does_not_stop_anothers_alert(sessions):
    with sessions.begin() as s:
        a, b = make_tenant(s, "silA"), make_tenant(s, "silB")
        for t in (a, b):
            s.get(Camera, t.camera_id).last_seen_at = utcnow() - dt.timedelta(hours=8)
        s.add(
            AlertRule(
                cooperative_id=b.cooperative_id,
                name="bad",
                kind="silence",
                class_name="camera_silent",
                threshold=0,
                level=AlertLevel.warning,
                params={"hours": "abc"},
            )
        )
        s.add(
            AlertRule(
                cooperative_id=a.cooperative_id,
                name="ok",
                kind="silence",
                class_name="camera_silent",
                threshold=0,
                level=AlertLevel.warning,
                params={"hours": 2},
            )
        )
    messages = alerts.check_silent_cameras_each(sessions)
    assert len(messages) == 1
    with sessions() as s:
        [alert] = s.scalars(select(Alert).where(Alert.class_name == alerts.SILENT)).all()
    assert alert.cooperative_id == a.cooperative_id


def test_a_silence_alert_does_not_flap_with_one_live_and_one_silent_camera(sessions):
    from cropwatch.core.security import new_token, token_hash

    with sessions.begin() as s:
        a = make_tenant(s, "flap")
        s.get(Camera, a.camera_id).last_seen_at = utcnow() - dt.timedelta(hours=8)
        live = Camera(
            cooperative_id=a.cooperative_id,
            plot_id=a.plot_id,
            name="live cam",
            token_hash=token_hash(new_token("cam")),
            last_seen_at=utcnow(),
        )
        s.add(live)
        s.add(
            AlertRule(
                cooperative_id=a.cooperative_id,
                name="ok",
                kind="silence",
                class_name="camera_silent",
                threshold=0,
                level=AlertLevel.warning,
                params={"hours": 2},
            )
        )
    for _ in range(3):
        alerts.check_silent_cameras_each(sessions)
    with sessions() as s:
        rows = s.scalars(select(Alert).where(Alert.class_name == alerts.SILENT)).all()
    assert [(r.status.value, r.resolved_at) for r in rows] == [("open", None)]


def test_the_embedded_filer_refuses_requests_that_are_not_seaweedfs_own(s3_server, storage):
    """Defence in depth: even a request that got past the egress guard finds the filer's HTTP API behind JWT."""
    import httpx

    storage.put_bytes("diary/2/photo.jpg", b"photo", "image/jpeg")
    filer = _filer_port(s3_server)
    bucket = storage.bucket
    moved = httpx.post(f"http://127.0.0.1:{filer}/buckets/{bucket}/stolen?mv.from=/buckets/{bucket}/diary/2/photo.jpg")
    read = httpx.get(f"http://127.0.0.1:{filer}/buckets/{bucket}/diary/2/photo.jpg")
    assert (moved.status_code, read.status_code) == (401, 401)
    assert storage.get_bytes("diary/2/photo.jpg") == b"photo"
