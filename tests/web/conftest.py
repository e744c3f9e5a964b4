"""Browser tests: Debian's Chromium driven by Playwright against the real app (uvicorn on loopback), with real
SeaweedFS and the database; captures are processed by the worker's own service in a background thread."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import serve_in_thread

from .browsing import CHROMIUM, CHROMIUM_ARGS, DESKTOP


@pytest.fixture
def db_url(tmp_path):
    """SQLite only for the browser tests: the pages run the same queries the API tests run on PostgreSQL too."""
    from cropwatch.core.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'cropwatch.db'}"
    upgrade(url)
    return url


@dataclass
class LiveServer:
    url: str
    processed: list
    errors: list

    def wait_processed(self, n: int, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while len(self.processed) < n and time.monotonic() < end:
            assert not self.errors, self.errors
            time.sleep(0.1)
        assert len(self.processed) >= n, f"only {len(self.processed)} of {n} captures processed"


@pytest.fixture
def live_server(settings, storage, sessions, models_registered):
    from api.app import create_app
    from cropwatch.worker.pipeline import CaptureProcessor

    worker_settings = settings.model_copy(update={"detect_conf": 0.25})
    worker = CaptureProcessor(worker_settings, sessions, storage)
    pool = ThreadPoolExecutor(max_workers=1)
    processed, errors = [], []

    def process(capture_id: int) -> None:
        try:
            processed.append(worker.process(capture_id))
        except Exception as exc:  # noqa: BLE001 - reported by wait_processed
            errors.append(repr(exc))

    app = create_app(worker_settings, enqueue=lambda cid: pool.submit(process, cid), enqueue_training=lambda rid: None)
    with serve_in_thread(app) as port:
        yield LiveServer(f"http://127.0.0.1:{port}", processed, errors)
    pool.shutdown(wait=True)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: `make install` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield b
    b.close()
    pw.stop()


@pytest.fixture
def open_page(browser, live_server):
    """``open_page(username, password, viewport)``: a fresh browser context signed in through the login form."""
    contexts = []

    def _open(username: str, password: str, viewport: dict = DESKTOP):
        ctx = browser.new_context(
            viewport=viewport, base_url=live_server.url, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh"
        )
        ctx.set_default_timeout(15_000)
        contexts.append(ctx)
        page = ctx.new_page()
        page.goto("/login")
        page.get_by_label("Tên đăng nhập").fill(username)
        page.get_by_label("Mật khẩu").fill(password)
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_load_state("networkidle")
        assert "/login" not in page.url, page.content()[:2000]
        return page

    yield _open
    for ctx in contexts:
        ctx.close()
