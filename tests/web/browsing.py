"""What the browser tests share besides fixtures: Chromium, viewports, uploads to the live server, screenshots."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
from helpers import PROJECT

CHROMIUM = os.environ.get("CROPWATCH_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("CROPWATCH_TEST_ARTIFACTS", PROJECT / "test-artifacts"))
SCREENSHOTS = ARTIFACTS / "screenshots"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def upload(server_url: str, camera_token: str, data: bytes) -> dict:
    """The camera's presigned flow against the live server: slot, PUT to S3, confirm."""
    import datetime as dt
    import hashlib

    auth = {"Authorization": f"Bearer {camera_token}"}
    with httpx.Client(base_url=server_url, timeout=30) as c:
        slot = c.post(
            "/api/v1/ingest/slots",
            headers=auth,
            json={
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "captured_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            },
        )
        assert slot.status_code in (200, 201), slot.text
        assert httpx.put(slot.json()["upload_url"], content=data).status_code == 200
        confirm = c.post(f"/api/v1/ingest/captures/{slot.json()['capture_id']}/confirm", headers=auth)
        assert confirm.status_code == 200, confirm.text
        return confirm.json()


def screenshot(page, name: str) -> Path:
    """Saved under test-artifacts/screenshots (CI keeps them); the README shows copies from docs/screenshots."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("CROPWATCH_UPDATE_DOCS_SCREENSHOTS"):
        docs = PROJECT / "docs" / "screenshots"
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, docs / path.name)
    return path
