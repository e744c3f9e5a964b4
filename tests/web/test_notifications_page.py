"""Issue 14: a farmer links their own Telegram from their phone, sends themselves a test through the cooperative's
bot (a stand-in speaking the Bot API on loopback: Telegram's servers cannot be reached here), sees a wrong chat id
refused in Vietnamese with what they typed kept, and unlinks it; Zalo is offered only once the cooperative has an
OA."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from factories import make_tenant
from sqlalchemy import select

from cropwatch.core.enums import Role
from cropwatch.core.orm import NotificationChannel

from .browsing import PHONE


@pytest.fixture
def telegram(settings):
    """A stand-in for api.telegram.org's sendMessage, recording what reaches it."""
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append({"path": self.path, "body": json.loads(self.rfile.read(int(self.headers["Content-Length"])))})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true, "result": {"message_id": 7}}')

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.telegram_api_base = f"http://127.0.0.1:{server.server_port}"
    yield got
    server.shutdown()


def test_a_farmer_links_their_telegram_tests_it_and_unlinks_it(telegram, live_server, open_page, sessions):
    with sessions.begin() as s:
        tenant = make_tenant(s, "p")
        s.add(
            NotificationChannel(
                cooperative_id=tenant.cooperative_id,
                kind="telegram",
                name="Bot HTX",
                config={"bot_token": "4242:" + "B" * 30, "chat_id": "-100"},
            )
        )
    page = open_page("p-member", "pw-p", PHONE)
    page.goto("/account")
    page.get_by_role("link", name="Nhận cảnh báo qua Zalo, Telegram, e-mail").click()
    page.wait_for_url("**/account/notifications")
    assert page.get_by_text("Chưa liên kết").count() == 1
    zalo = page.locator("#p-kind option[value=zalo]")
    assert zalo.is_disabled() and "HTX chưa cài đặt" in zalo.inner_text()  # the cooperative has no Zalo OA
    page.select_option("#p-kind", "telegram")
    page.fill("#p-address", "số của tôi")
    page.get_by_role("button", name="Liên kết", exact=True).click()
    assert "mã chat Telegram phải là một số hoặc @tenkenh" in page.get_by_role("alert").inner_text()
    assert page.input_value("#p-address") == "số của tôi"
    page.fill("#p-address", "987654321")
    page.get_by_role("button", name="Liên kết", exact=True).click()
    page.wait_for_url("**/account/notifications?done=linked")
    item = page.locator("li[data-kind=telegram]")
    assert "987654321" in item.inner_text()
    item.get_by_role("button", name="Gửi thử cho tôi").click()
    assert "Đã gửi tin nhắn thử (mã trả lời 200)" in page.get_by_role("status").inner_text()
    [sent] = telegram
    assert sent["path"] == "/bot4242:" + "B" * 30 + "/sendMessage", "through the cooperative's bot"
    assert sent["body"]["chat_id"] == "987654321" and sent["body"]["text"].startswith("CropWatch: tin nhắn thử")
    with sessions() as s:
        own = s.scalar(select(NotificationChannel).where(NotificationChannel.user_id == tenant.user_ids[Role.member]))
        assert own.config == {"chat_id": "987654321"} and own.locale == "vi"
    page.on("dialog", lambda d: d.accept())
    page.locator("li[data-kind=telegram]").get_by_role("button", name="Bỏ liên kết").click()
    page.wait_for_url("**/account/notifications?done=unlinked")
    assert page.get_by_text("Chưa liên kết").count() == 1
    # the cooperative admin's channels page lists the cooperative's channels, not the members' own
    admin = open_page("p-coop_admin", "pw-p", PHONE)
    admin.goto("/admin/channels")
    assert admin.locator("table.channels tbody tr").count() == 1 and "987654321" not in admin.content()
