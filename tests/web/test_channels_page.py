"""Issue 14: a cooperative admin sets up phone notifications from the UI: adds a channel, sends a test message
through it (signed, to a real receiver here), sees a bad channel refused with the reason and what was typed kept,
and disables it. A webhook to a private address stays refused unless the operator allows it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from factories import make_tenant
from sqlalchemy import select

from cropwatch.core.orm import NotificationChannel

from .browsing import PHONE


@pytest.fixture
def receiver():
    """A webhook receiver on loopback, recording what reaches it."""
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append({"body": json.loads(body), "signature": self.headers.get("X-CropWatch-Signature")})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", got
    server.shutdown()


@pytest.fixture
def loopback_allowed(settings):
    settings.notify_allowed_cidrs = "127.0.0.1/32"  # the operator's allowlist for an on-premise receiver
    return settings


def test_admin_adds_tests_and_disables_a_channel(loopback_allowed, receiver, live_server, open_page, sessions):
    url, got = receiver
    with sessions.begin() as s:
        tenant = make_tenant(s, "a")
    page = open_page("a-coop_admin", "pw-a", PHONE)
    page.goto("/admin/channels")
    assert page.get_by_text("Chưa có kênh nào").count() == 1
    # a bad e-mail channel: refused with the reason, what was typed is still there
    page.select_option("#c-kind", "email")
    page.fill("#c-name", "Kỹ sư Lan")
    page.fill("#c-to", "lan@@example")
    page.click("button.primary[type=submit]")
    assert "cần từ 1 đến 20 địa chỉ e-mail hợp lệ" in page.get_by_role("alert").inner_text()
    assert page.input_value("#c-to") == "lan@@example" and page.input_value("#c-name") == "Kỹ sư Lan"
    # a webhook to the cooperative's own server, allowed by the operator
    page.select_option("#c-kind", "webhook")
    page.fill("#c-name", "Máy chủ HTX")
    page.fill("#c-url", url)
    page.fill("#c-secret", "s3cret-value")
    page.click("button.primary[type=submit]")
    page.wait_for_url("**/admin/channels?done=saved")
    row = page.locator("table.channels tbody tr").first
    assert "127.0.0.1" in row.inner_text() and "s3cret" not in page.content()  # secrets are never shown
    row.get_by_role("button", name="Gửi thử").click()
    assert "Đã gửi tin nhắn thử (mã trả lời 200)" in page.get_by_role("status").inner_text()
    assert len(got) == 1 and got[0]["body"]["test"] is True and got[0]["signature"].startswith("sha256=")
    assert got[0]["body"]["message_vi"].startswith("CropWatch: tin nhắn thử")
    page.on("dialog", lambda d: d.accept())
    page.locator("table.channels tbody tr").first.get_by_role("button", name="Tắt kênh").click()
    page.wait_for_url("**/admin/channels?done=disabled")
    with sessions() as s:
        [ch] = s.scalars(select(NotificationChannel).where(NotificationChannel.cooperative_id == tenant.cooperative_id))
        assert ch.enabled is False


def test_a_private_webhook_is_refused_from_the_page(receiver, live_server, open_page, sessions):
    url, got = receiver
    with sessions.begin() as s:
        make_tenant(s, "a")
    page = open_page("a-agronomist", "pw-a", PHONE)
    page.goto("/admin/channels")
    page.select_option("#c-kind", "webhook")
    page.fill("#c-url", url)
    page.fill("#c-secret", "x")
    page.click("button.primary[type=submit]")
    refusal = page.get_by_role("alert").inner_text()
    assert "chỉ được gửi tới máy chủ công khai" in refusal and "refused" not in refusal  # the reason in Vietnamese
    with sessions() as s:
        assert s.scalars(select(NotificationChannel)).all() == []
    assert got == []


def test_a_farmer_cannot_open_the_channels_page(live_server, open_page, sessions):
    with sessions.begin() as s:
        make_tenant(s, "a")
    page = open_page("a-member", "pw-a", PHONE)
    assert page.goto("/admin/channels").status == 403
