"""Screenshots of the main pages of a running demo (`make run`), for the README.

    .venv/bin/python docs/screenshots/take_screenshots.py --url http://127.0.0.1:8000

Uses Debian's Chromium through Playwright, like the browser tests; writes PNG files next to this script.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
PASSWORD = "cropwatch-demo"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 860}
SHOTS = [
    # (login, viewport, path, file, full page)
    ("nongdan", PHONE, "/alerts", "farmer-alerts.png", False),
    ("nongdan", PHONE, "/plots", "farmer-plots.png", False),
    ("nongdan", PHONE, "/plots/2", "farmer-diary.png", False),
    ("nongdan", PHONE, "/lots", "farmer-lots.png", False),
    ("nongdan", PHONE, "/account/notifications", "farmer-notifications.png", False),
    ("kysu", DESKTOP, "/review", "agronomist-queue.png", False),
    ("kysu", DESKTOP, "/review/next", "agronomist-review.png", False),
    ("kysu", DESKTOP, "/pressure?plot_id=1", "agronomist-pressure.png", True),
    ("ml", DESKTOP, "/ml/models", "ml-models.png", False),
    ("lienminh", DESKTOP, "/union", "union.png", False),
    ("quantri", DESKTOP, "/admin/cameras", "admin-cameras.png", False),
    ("quantri", DESKTOP, "/admin/channels", "admin-channels.png", False),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"])
        for login, viewport, path, name, full in SHOTS:
            ctx = browser.new_context(
                viewport=viewport, base_url=args.url, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh"
            )
            page = ctx.new_page()
            page.goto("/login")
            page.fill("#username", login)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.goto(path)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(500)  # charts finish drawing
            page.screenshot(path=str(HERE / name), full_page=full)
            print("wrote", HERE / name)
            ctx.close()
        browser.close()


if __name__ == "__main__":
    main()
