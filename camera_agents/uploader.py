"""Uploads through the presigned flow of docs/edge-protocol.md, plus the heartbeat and the model download.

- Idempotent by sha256: every attempt starts by asking for the slot; after a crash or a dropped link the server
  answers the same capture (or ``duplicate: true``), so a frame is stored once however often it is retried.
- Multipart above ``multipart_above`` bytes: the slot lists the parts, ``done: true`` for those S3 already holds;
  only the others are sent, so an upload resumes where the link dropped.
- A bandwidth cap (token bucket on the bytes of the PUT bodies, shared by all uploads of the agent).
- Errors: :class:`LinkDown` (no answer, 5xx, 408/429: retry later with backoff), :class:`Refused` (4xx: the request
  is wrong, do not repeat it as is), :class:`AuthError` (401/403: keep the frames, the token must be fixed).
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from camera_agents.config import AGENT_VERSION

log = logging.getLogger("cropwatch.agent.upload")
CHUNK = 64 * 1024


class UploadError(Exception):
    pass


class LinkDown(UploadError):
    """The server or S3 could not be reached, or answered 5xx / 429: retry later (``retry_after`` seconds when the
    server said so)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Refused(UploadError):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail = status, code, detail


class AuthError(Refused):
    """The device token is refused (revoked, rotated, mistyped)."""


class TokenBucket:
    """``rate`` bytes per second with bursts up to ``capacity`` bytes; ``rate`` 0 means no cap. Thread-safe; the rate
    can change while running (the server's ``max_upload_kbps``)."""

    def __init__(
        self, rate: float = 0.0, capacity: float | None = None, *, clock=time.monotonic, sleep=time.sleep
    ) -> None:
        self.clock, self.sleep = clock, sleep
        self._lock = threading.Lock()
        self._tokens: float | None = None
        self.set_rate(rate, capacity)

    def set_rate(self, rate: float, capacity: float | None = None) -> None:
        """Bytes per second (0: no cap); the burst defaults to a quarter second of traffic, at least one chunk."""
        with self._lock:
            self.rate = max(0.0, float(rate))
            self.capacity = float(capacity if capacity is not None else max(self.rate / 4, CHUNK))
            self._tokens = self.capacity if self._tokens is None else min(self._tokens, self.capacity)
            self._t = self.clock()

    def consume(self, n: int) -> float:
        """Take ``n`` tokens, sleeping as needed; returns the time slept."""
        if self.rate <= 0:
            return 0.0
        slept = 0.0
        remaining = float(n)
        while True:
            with self._lock:
                now = self.clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._t) * self.rate)
                self._t = now
                if self._tokens >= remaining - 1e-6:
                    self._tokens -= remaining
                    return slept
                remaining -= self._tokens
                self._tokens = 0.0
                wait = max(min(remaining, self.capacity) / self.rate, 1e-3)
            self.sleep(wait)
            slept += wait


def backoff_delay(failures: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter in [½, 1½) of the step: base·2^(failures-1), capped."""
    if failures <= 0:
        return 0.0
    step = min(cap, base * 2 ** min(failures - 1, 30))
    return min(cap, step * (0.5 + rng.random()))


@dataclass
class UploadResult:
    capture_id: int
    duplicate: bool  # the server had the frame already
    parts_sent: int = 0
    parts_skipped: int = 0
    bytes_sent: int = 0


def _error(resp: httpx.Response) -> UploadError:
    try:
        body = resp.json()
        code, detail = str(body.get("code", "")), str(body.get("detail_en") or body.get("detail") or "")
    except ValueError:
        code, detail = "", resp.text[:300]
    if resp.status_code in (401, 403):
        return AuthError(resp.status_code, code or "unauthorized", detail)
    if resp.status_code >= 500 or resp.status_code in (408, 429):
        try:
            retry_after = float(resp.headers["Retry-After"])
        except (KeyError, ValueError):
            retry_after = None
        return LinkDown(f"HTTP {resp.status_code} {code} {detail}".strip(), retry_after)
    return Refused(resp.status_code, code, detail)


class Api:
    """The camera's side of the protocol. One ``httpx.Client`` for the API and one (no auth) for S3."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        bucket: TokenBucket | None = None,
        multipart_above: int = 8 << 20,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        t = httpx.Timeout(timeout, connect=connect_timeout)
        self.client = httpx.Client(
            base_url=self.base_url,
            timeout=t,
            transport=transport,
            headers={"User-Agent": f"cropwatch-agent/{AGENT_VERSION}"},
        )
        self.s3 = httpx.Client(timeout=t, transport=transport)
        self.bucket = bucket or TokenBucket(0)
        self.multipart_above = multipart_above

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def close(self) -> None:
        self.client.close()
        self.s3.close()

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = self.client.request(method, path, headers=self.auth, **kw)
        except httpx.HTTPError as exc:
            raise LinkDown(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if resp.status_code >= 400:
            raise _error(resp)
        return resp

    # -- upload -------------------------------------------------------------------------------------------------
    def slot(self, sha256: str, size: int, captured_at: str, multipart: bool) -> tuple[dict[str, Any], int]:
        body: dict[str, Any] = {"sha256": sha256, "size": size, "captured_at": captured_at}
        if multipart:
            body["multipart"] = True
        else:
            body["direct"] = True  # straight to the final key, S3 checks the sha256 (a server without it ignores this)
        resp = self._call("POST", "/api/v1/ingest/slots", json=body)
        return resp.json(), resp.status_code

    def _body(self, data: memoryview) -> Iterator[bytes]:
        for i in range(0, len(data), CHUNK):
            chunk = data[i : i + CHUNK]
            self.bucket.consume(len(chunk))
            yield bytes(chunk)

    def put(self, url: str, data: memoryview, signed: dict[str, str] | None = None) -> str | None:
        """PUT ``data`` (with the slot's signed headers). A 412 to a direct slot's write-once PUT means an earlier
        try of this upload landed (S3 verified its sha256 then): nothing to send again."""
        headers = {"Content-Length": str(len(data)), "Content-Type": "application/octet-stream", **(signed or {})}
        try:
            resp = self.s3.put(url, content=self._body(data), headers=headers)
        except httpx.HTTPError as exc:
            raise LinkDown(f"PUT to object storage: {type(exc).__name__}: {exc}") from exc
        if resp.status_code == 412 and signed and signed.get("if-none-match") == "*":
            return None
        if resp.status_code >= 400:
            if resp.status_code == 403:  # a presigned URL that expired or does not match: ask for a new slot
                raise LinkDown(f"object storage refused the upload URL (HTTP 403): {resp.text[:200]}")
            raise _error(resp)
        return resp.headers.get("ETag")

    def confirm(self, capture_id: int, body: dict[str, Any] | None) -> dict[str, Any]:
        kw = {"json": body} if body else {}
        return self._call("POST", f"/api/v1/ingest/captures/{capture_id}/confirm", **kw).json()

    def upload(
        self,
        data: bytes,
        captured_at: str,
        *,
        edge: dict[str, Any] | None = None,
        kind: str = "frame",
        sha256: str | None = None,
    ) -> UploadResult:
        """Slot → PUT (or the parts not yet done) → confirm. Safe to repeat after any failure."""
        sha = sha256 or hashlib.sha256(data).hexdigest()
        multipart = len(data) > self.multipart_above
        slot, _ = self.slot(sha, len(data), captured_at, multipart)
        if slot.get("duplicate") or (slot.get("upload_url") is None and not slot.get("multipart")):
            return UploadResult(int(slot["capture_id"]), True)
        view = memoryview(data)
        res = UploadResult(int(slot["capture_id"]), False)
        mp = slot.get("multipart")
        if mp:
            size = int(mp["part_size"])
            for part in sorted(mp["parts"], key=lambda p: p["part_number"]):
                if part.get("done"):
                    res.parts_skipped += 1
                    continue
                n = int(part["part_number"])
                chunk = view[(n - 1) * size : n * size]
                self.put(part["url"], chunk)
                res.parts_sent += 1
                res.bytes_sent += len(chunk)
        else:
            self.put(slot["upload_url"], view, slot.get("upload_headers") or None)
            res.bytes_sent = len(data)
        body: dict[str, Any] = {}
        if edge is not None:
            body["edge"] = edge
        if kind != "frame":
            body["kind"] = kind
        self.confirm(res.capture_id, body or None)
        return res

    # -- heartbeat, config, model ---------------------------------------------------------------------------------
    def heartbeat(self, doc: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/api/v1/cameras/me/heartbeat", json=doc).json()

    def config(self) -> dict[str, Any]:
        return self._call("GET", "/api/v1/cameras/me/config").json()

    def download_model(self, url: str, dest, expected_sha256: str) -> str:
        """Stream the model to ``dest`` (a temp path), verify its sha256; returns it. Raises Refused on mismatch."""
        h = hashlib.sha256()
        try:
            with self.client.stream("GET", url, headers=self.auth) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise _error(resp)
                with open(dest, "wb") as f:
                    for chunk in resp.iter_bytes(CHUNK):
                        h.update(chunk)
                        f.write(chunk)
                    f.flush()
                    os.fsync(f.fileno())
                header = resp.headers.get("X-Model-SHA256")
        except httpx.HTTPError as exc:
            raise LinkDown(f"model download: {type(exc).__name__}: {exc}") from exc
        got = h.hexdigest()
        want = (expected_sha256 or header or "").lower()
        if got != want:
            raise Refused(0, "model_sha256_mismatch", f"downloaded model has sha256 {got}, expected {want}")
        return got

    def server_date(self) -> tuple[float | None, int]:
        """(server time from the ``Date`` header as a Unix timestamp, HTTP status) of ``GET /api/v1/health``."""
        from email.utils import parsedate_to_datetime

        try:
            resp = self.client.get("/api/v1/health")
        except httpx.HTTPError as exc:
            raise LinkDown(f"GET /api/v1/health: {type(exc).__name__}: {exc}") from exc
        date = resp.headers.get("Date")
        return (parsedate_to_datetime(date).timestamp() if date else None), resp.status_code
