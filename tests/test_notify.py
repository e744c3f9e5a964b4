"""Alert notifications through real local servers: a webhook receiver that fails first (signed payloads, retries),
an SMTP server (aiosmtpd), and stand-ins speaking the Telegram Bot and Zalo OA HTTP APIs (no outside network here)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from factories import make_tenant, open_pest_alert
from sqlalchemy import select

from cropwatch.alerts.notify import deliver_due
from cropwatch.core.enums import AlertLevel
from cropwatch.core.orm import Alert, Delivery, NotificationChannel
from cropwatch.core.timeutil import utcnow


class Recorder(BaseHTTPRequestHandler):
    """Answers each POST with the next status of ``server.statuses`` (then 200) and records what it got."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        reply = self.server.reply(self.path) if self.server.reply else b"{}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *a):  # quiet
        pass


@pytest.fixture
def settings(settings):
    """The stand-in receivers listen on loopback: allowed here the way an operator allows an on-premise receiver
    (CROPWATCH_NOTIFY_ALLOWED_CIDRS); tests/security/test_webhook_ssrf.py shows loopback refused by default."""
    return settings.model_copy(update={"notify_allowed_cidrs": "127.0.0.1/32"})


@pytest.fixture
def http_server():
    servers = []

    def start(statuses=(), reply=None):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        srv.received, srv.statuses, srv.reply = [], list(statuses), reply
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.shutdown()


@pytest.fixture
def client_for(settings, storage):
    from fastapi.testclient import TestClient

    from api.app import create_app

    clients = []

    def make():
        c = TestClient(create_app(settings, enqueue=lambda _id: None, enqueue_training=lambda _id: None))
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    got = []

    class Keep(Message):
        def handle_message(self, message):
            got.append(message)

    from cropwatch.embedded import free_port

    ctl = Controller(Keep(), hostname="127.0.0.1", port=free_port())
    ctl.start()
    ctl.messages = got
    yield ctl
    ctl.stop()


def _channel(sessions, tenant, kind, config, **kw):
    with sessions.begin() as s:
        s.add(NotificationChannel(cooperative_id=tenant.cooperative_id, kind=kind, config=config, **kw))


def _due_now(sessions):
    with sessions.begin() as s:
        for d in s.scalars(select(Delivery).where(Delivery.status == "pending")):
            d.next_attempt_at = utcnow() - dt.timedelta(seconds=1)


def test_webhook_gets_signed_payloads_and_is_retried_after_a_500(sessions, settings, http_server):
    srv = http_server(statuses=[500, 503])
    with sessions.begin() as s:
        tenant = make_tenant(s, "wh")
    _channel(sessions, tenant, "webhook", {"url": f"http://127.0.0.1:{srv.server_port}/hook", "secret": "s3cret"})
    alert_id = open_pest_alert(sessions, tenant)
    cfg = settings.model_copy(update={"notify_backoff_seconds": 60})
    assert deliver_due(sessions, cfg) == {"sent": 0, "retry": 1, "failed": 0}
    assert deliver_due(sessions, cfg) == {"sent": 0, "retry": 0, "failed": 0}, "not due again before the backoff"
    _due_now(sessions)
    assert deliver_due(sessions, cfg)["retry"] == 1
    _due_now(sessions)
    assert deliver_due(sessions, cfg)["sent"] == 1
    assert len(srv.received) == 3
    for req in srv.received:
        expected = "sha256=" + hmac.new(b"s3cret", req["body"], hashlib.sha256).hexdigest()
        assert req["headers"]["X-CropWatch-Signature"] == expected
    data = json.loads(srv.received[-1]["body"])
    assert data["alert_id"] == alert_id and data["class_name"] == "planthopper" and "rầy nâu" in data["message_vi"]
    with sessions() as s:
        [d] = s.scalars(select(Delivery)).all()
        assert (d.status, d.attempts, d.response_code) == ("sent", 3, 200) and d.sent_at
    # the same alert does not notify twice
    with sessions.begin() as s:
        from cropwatch.alerts.notify import queue_deliveries

        assert queue_deliveries(s, s.get(Alert, alert_id)) == []


def test_a_4xx_is_not_retried_and_attempts_are_capped(sessions, settings, http_server):
    srv = http_server(statuses=[404])
    flaky = http_server(statuses=[500] * 10)
    with sessions.begin() as s:
        tenant = make_tenant(s, "w4")
    _channel(sessions, tenant, "webhook", {"url": f"http://127.0.0.1:{srv.server_port}/gone", "secret": "k"})
    _channel(sessions, tenant, "webhook", {"url": f"http://127.0.0.1:{flaky.server_port}/x", "secret": "k"})
    open_pest_alert(sessions, tenant)
    cfg = settings.model_copy(update={"notify_max_attempts": 2})
    deliver_due(sessions, cfg)
    _due_now(sessions)
    deliver_due(sessions, cfg)
    with sessions() as s:
        gone, capped = s.scalars(select(Delivery).order_by(Delivery.id)).all()
        assert (gone.status, gone.attempts, gone.response_code) == ("failed", 1, 404)
        assert (capped.status, capped.attempts) == ("failed", 2) and "500" in capped.last_error


def test_email_lands_in_a_real_smtp_server(sessions, settings, smtp_server):
    with sessions.begin() as s:
        tenant = make_tenant(s, "em")
    _channel(sessions, tenant, "email", {"to": ["kysu@htx.example"]})
    open_pest_alert(sessions, tenant)
    cfg = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp_server.port})
    assert deliver_due(sessions, cfg)["sent"] == 1
    [msg] = smtp_server.messages
    assert msg["To"] == "kysu@htx.example" and "[CropWatch]" in msg["Subject"]
    body = msg.get_payload(decode=True).decode()
    assert "rầy nâu" in body and "planthopper" in body and "/api/v1/captures/" in body


def test_telegram_and_zalo_adapters_speak_their_apis(sessions, settings, http_server):
    tg = http_server(reply=lambda path: b'{"ok": true, "result": {"message_id": 1}}')
    zalo = http_server(reply=lambda path: b'{"error": 0, "message": "Success"}')
    with sessions.begin() as s:
        tenant = make_tenant(s, "tz")
    _channel(sessions, tenant, "telegram", {"bot_token": "123:ABC", "chat_id": "-100"})
    _channel(
        sessions, tenant, "zalo", {"access_token": "zt", "user_id": "u1"}, locale="vi", min_level=AlertLevel.danger
    )
    open_pest_alert(sessions, tenant, level=AlertLevel.warning)  # below zalo's min level
    cfg = settings.model_copy(
        update={
            "telegram_api_base": f"http://127.0.0.1:{tg.server_port}",
            "zalo_api_base": f"http://127.0.0.1:{zalo.server_port}",
        }
    )
    assert deliver_due(sessions, cfg)["sent"] == 1
    assert tg.received[0]["path"] == "/bot123:ABC/sendMessage"
    assert json.loads(tg.received[0]["body"])["chat_id"] == "-100" and not zalo.received
    open_pest_alert(sessions, tenant, level=AlertLevel.danger)
    assert deliver_due(sessions, cfg)["sent"] == 2
    req = zalo.received[0]
    assert req["path"] == "/v3.0/oa/message/cs" and req["headers"]["access_token"] == "zt"
    assert json.loads(req["body"])["recipient"] == {"user_id": "u1"}


def test_quiet_hours_and_the_daily_cap_hold_alerts_for_one_digest_but_never_danger(sessions, settings, http_server):
    from zoneinfo import ZoneInfo

    srv = http_server()
    now = dt.datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
    quiet = {
        "start": (now - dt.timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + dt.timedelta(hours=1)).strftime("%H:%M"),
    }
    with sessions.begin() as s:
        tenant = make_tenant(s, "qh")
    _channel(
        sessions,
        tenant,
        "webhook",
        {"url": f"http://127.0.0.1:{srv.server_port}/h", "secret": "k", "quiet_hours": quiet},
    )
    open_pest_alert(sessions, tenant, level=AlertLevel.watch)
    open_pest_alert(sessions, tenant, level=AlertLevel.warning)
    assert deliver_due(sessions, settings)["sent"] == 0 and not srv.received, "held during quiet hours"
    open_pest_alert(sessions, tenant, level=AlertLevel.danger)
    assert deliver_due(sessions, settings)["sent"] == 1, "a danger alert goes out at once"
    assert json.loads(srv.received[0]["body"])["level"] == "danger"
    _due_now(sessions)  # the quiet hours are over
    assert deliver_due(sessions, settings)["sent"] == 2
    digest = json.loads(srv.received[1]["body"])
    assert len(srv.received) == 2 and digest["digest"] is True and len(digest["alerts"]) == 2
    assert {a["level"] for a in digest["alerts"]} == {"watch", "warning"}


def test_a_daily_cap_sends_the_rest_as_a_digest(sessions, settings, http_server):
    srv = http_server()
    with sessions.begin() as s:
        tenant = make_tenant(s, "cap")
    _channel(
        sessions, tenant, "webhook", {"url": f"http://127.0.0.1:{srv.server_port}/h", "secret": "k", "max_per_day": 1}
    )
    open_pest_alert(sessions, tenant, level=AlertLevel.watch)
    open_pest_alert(sessions, tenant, level=AlertLevel.warning)
    assert deliver_due(sessions, settings)["sent"] == 1 and len(srv.received) == 1
    with sessions() as s:
        held = s.scalars(select(Delivery).where(Delivery.status == "pending")).all()
        assert len(held) == 1 and held[0].digest


def test_a_snoozed_alert_waits_and_is_hidden_from_the_list(sessions, settings, http_server, client_for):
    srv = http_server()
    with sessions.begin() as s:
        tenant = make_tenant(s, "sz")
    _channel(sessions, tenant, "webhook", {"url": f"http://127.0.0.1:{srv.server_port}/h", "secret": "k"})
    alert_id = open_pest_alert(sessions, tenant)
    client = client_for()
    from cropwatch.core.enums import Role

    r = client.post(f"/api/v1/alerts/{alert_id}/snooze", headers=tenant.auth(Role.member), json={"hours": 2})
    assert r.status_code == 200 and r.json()["snoozed_until"]
    assert client.get("/api/v1/alerts", headers=tenant.auth(Role.member)).json() == []
    assert (
        len(client.get("/api/v1/alerts", headers=tenant.auth(Role.member), params={"include_snoozed": True}).json())
        == 1
    )
    assert deliver_due(sessions, settings)["sent"] == 0 and not srv.received
    with sessions() as s:
        [d] = s.scalars(select(Delivery)).all()
        assert d.attempts == 0 and d.next_attempt_at > utcnow() + dt.timedelta(hours=1)


def test_a_members_own_telegram_gets_their_plots_alerts_through_the_cooperatives_bot(sessions, settings, http_server):
    """Issue 14: a member links their own Telegram chat; the cooperative's bot sends them the alerts of the plots
    they own, not a neighbour's; their channel holds no secret; when they leave (locked) or the cooperative removes
    its bot, nothing more is sent to them."""
    from cropwatch.alerts.personal_channels import link
    from cropwatch.core.egress import EgressPolicy
    from cropwatch.core.enums import Role
    from cropwatch.core.orm import Farm, Membership, Plot, User

    tg = http_server(reply=lambda path: b'{"ok": true, "result": {"message_id": 1}}')
    cfg = settings.model_copy(update={"telegram_api_base": f"http://127.0.0.1:{tg.server_port}"})
    with sessions.begin() as s:
        tenant = make_tenant(s, "own")
        member = tenant.user_ids[Role.member]
        s.get(Farm, s.get(Plot, tenant.plot_id).farm_id).owner_id = member
        neighbour = User(username="own-neighbour", full_name="Hàng xóm", password_hash="x")
        s.add(neighbour)
        s.flush()
        s.add(Membership(user_id=neighbour.id, cooperative_id=tenant.cooperative_id, role=Role.member))
        farm = Farm(cooperative_id=tenant.cooperative_id, name="Vườn hàng xóm", owner_id=neighbour.id)
        s.add(farm)
        s.flush()
        other_plot = Plot(cooperative_id=tenant.cooperative_id, farm_id=farm.id, name="Lô hàng xóm", crop="lúa")
        s.add(other_plot)
        s.flush()
        other_plot_id = other_plot.id
    _channel(sessions, tenant, "telegram", {"bot_token": "123:COOPBOT", "chat_id": "-100"})
    with sessions.begin() as s:
        own = link(
            s,
            cooperative_id=tenant.cooperative_id,
            user_id=member,
            kind="telegram",
            address=" 5550001 ",
            policy=EgressPolicy.from_settings(cfg),
        )
        assert own.config == {"chat_id": "5550001"}, "the member's channel holds only where it goes"
    open_pest_alert(sessions, tenant, level=AlertLevel.warning)
    assert deliver_due(sessions, cfg)["sent"] == 2
    chats = sorted(json.loads(r["body"])["chat_id"] for r in tg.received)
    assert chats == ["-100", "5550001"] and {r["path"] for r in tg.received} == {"/bot123:COOPBOT/sendMessage"}
    open_pest_alert(sessions, tenant, level=AlertLevel.warning, plot_id=other_plot_id)
    assert deliver_due(sessions, cfg)["sent"] == 1, "the neighbour's plot reaches the cooperative's chat only"
    assert json.loads(tg.received[-1]["body"])["chat_id"] == "-100"
    with sessions.begin() as s:  # the cooperative removes its bot: the member's pending message fails, with why
        s.scalar(select(NotificationChannel).where(NotificationChannel.user_id.is_(None))).enabled = False
    open_pest_alert(sessions, tenant, level=AlertLevel.danger)
    assert deliver_due(sessions, cfg) == {"sent": 0, "retry": 0, "failed": 1}
    with sessions() as s:
        last = s.scalars(select(Delivery).order_by(Delivery.id.desc())).first()
        assert last.channel_id == own.id and last.last_error == "no_cooperative_channel"
    from cropwatch.alerts.notify import reaches

    with sessions.begin() as s:  # a locked account is sent nothing more
        alert = s.get(Alert, last.alert_id)
        assert reaches(s, s.get(NotificationChannel, own.id), alert)
        s.get(User, member).is_active = False
        s.flush()
        assert not reaches(s, s.get(NotificationChannel, own.id), alert)


def test_a_members_daily_digest_gathers_their_alerts_into_one_message_but_never_danger(sessions, settings, http_server):
    """Issue 17: a member chooses a daily digest (and quiet hours) for their own Telegram: alerts below danger wait
    for the digest time and arrive as one message, plural-correct; a danger alert goes at once."""
    from zoneinfo import ZoneInfo

    from cropwatch.alerts.personal_channels import link
    from cropwatch.core.egress import EgressPolicy
    from cropwatch.core.enums import Role
    from cropwatch.core.orm import Farm, Plot

    tg = http_server(reply=lambda path: b'{"ok": true, "result": {"message_id": 1}}')
    cfg = settings.model_copy(update={"telegram_api_base": f"http://127.0.0.1:{tg.server_port}"})
    with sessions.begin() as s:
        tenant = make_tenant(s, "dig")
        member = tenant.user_ids[Role.member]
        s.get(Farm, s.get(Plot, tenant.plot_id).farm_id).owner_id = member
    # the cooperative's bot; its group chat gets danger alerts only
    _channel(sessions, tenant, "telegram", {"bot_token": "123:COOPBOT", "chat_id": "-100"}, min_level=AlertLevel.danger)
    local = dt.datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
    at = (local + dt.timedelta(hours=3)).strftime("%H:%M")
    with sessions.begin() as s:
        own = link(
            s,
            cooperative_id=tenant.cooperative_id,
            user_id=member,
            kind="telegram",
            address="5550001",
            locale="vi",
            min_level=AlertLevel.watch,
            policy=EgressPolicy.from_settings(cfg),
            daily_digest=at,
        )
        own_id = own.id
    open_pest_alert(sessions, tenant, level=AlertLevel.watch)
    open_pest_alert(sessions, tenant, level=AlertLevel.warning)
    assert deliver_due(sessions, cfg)["sent"] == 0 and not tg.received, "held for the digest"
    with sessions() as s:
        held = s.scalars(select(Delivery).where(Delivery.channel_id == own_id)).all()
    expected = dt.datetime.combine(
        (local + dt.timedelta(hours=3)).date(), dt.time.fromisoformat(at), tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")
    )
    assert len(held) == 2 and all(d.digest and d.next_attempt_at == expected for d in held)
    open_pest_alert(sessions, tenant, level=AlertLevel.danger)
    assert deliver_due(sessions, cfg)["sent"] == 2, "a danger alert goes at once (the member's and the group's)"
    _due_now(sessions)  # the digest time
    assert deliver_due(sessions, cfg)["sent"] == 2
    mine = [json.loads(r["body"]) for r in tg.received if json.loads(r["body"])["chat_id"] == "5550001"]
    assert len(mine) == 2 and "2 cảnh báo" in mine[1]["text"]


def test_the_daily_digest_moves_out_of_the_quiet_hours_and_bad_times_are_refused(settings):
    from zoneinfo import ZoneInfo

    from cropwatch.alerts.notify import ChannelConfigError, next_digest, validate_channel_config
    from cropwatch.core.egress import EgressPolicy

    tz = "Asia/Ho_Chi_Minh"
    noon = dt.datetime(2026, 12, 3, 12, 0, tzinfo=ZoneInfo(tz))
    cfg = {"daily_digest": "22:00", "quiet_hours": {"start": "21:00", "end": "06:00"}}
    assert next_digest(cfg, noon, tz) == dt.datetime(2026, 12, 4, 6, 0, tzinfo=ZoneInfo(tz))
    assert next_digest({"daily_digest": "18:00"}, noon, tz) == dt.datetime(2026, 12, 3, 18, 0, tzinfo=ZoneInfo(tz))
    assert next_digest({"daily_digest": "07:30"}, noon, tz) == dt.datetime(2026, 12, 4, 7, 30, tzinfo=ZoneInfo(tz))
    assert next_digest({}, noon, tz) is None
    for bad in ("25:00", "6pm", "18:00:00", 18):
        with pytest.raises(ChannelConfigError) as err:
            validate_channel_config("in_app", {"daily_digest": bad}, EgressPolicy.from_settings(settings))
        assert err.value.message.localized("vi") == "giờ gửi bản tóm tắt hằng ngày phải viết dạng 18:00"
