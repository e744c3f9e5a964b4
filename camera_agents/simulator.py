"""Simulated camera: uploads a folder of images on a schedule through the presigned flow.

Collaborators (HTTP client, clock, stop event) are passed in, so tests drive it directly.
Network trouble and 5xx answers are retried with exponential backoff and jitter; a 4xx is a
refusal with a reason and is logged, not retried.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

log = logging.getLogger("cropwatch.camera")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


class Refused(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status}: {body}")
        self.status, self.body = status, body


@dataclass
class UploadResult:
    path: Path
    capture_id: int
    duplicate: bool


@dataclass
class CameraSimulator:
    api_url: str
    token: str
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    max_retries: int = 8
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _with_retry(self, what: str, fn):  # noqa: ANN001, ANN202
        for attempt in range(self.max_retries + 1):
            try:
                resp = fn()
            except httpx.TransportError as exc:
                err: Exception = exc
            else:
                if resp.status_code < 500:
                    if resp.status_code >= 400:
                        raise Refused(resp.status_code, resp.text)
                    return resp
                err = Refused(resp.status_code, resp.text)
            if attempt == self.max_retries:
                raise err
            delay = min(self.backoff_max, self.backoff_base * 2**attempt) * (0.5 + self.rng.random())
            log.warning("%s failed (%s); retry %d in %.1fs", what, err, attempt + 1, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def upload(self, path: Path, captured_at: dt.datetime | None = None) -> UploadResult:
        data = Path(path).read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        when = (captured_at or dt.datetime.now(dt.timezone.utc)).isoformat()
        slot = self._with_retry("slot", lambda: self.client.post(
            f"{self.api_url}/api/v1/ingest/slots", headers=self._auth,
            json={"sha256": sha, "size": len(data), "captured_at": when})).json()
        if slot["upload_url"] is None:
            return UploadResult(Path(path), slot["capture_id"], True)
        self._with_retry("put", lambda: self.client.put(slot["upload_url"], content=data,
                                                         headers={"Content-Type": "application/octet-stream"}))
        self._with_retry("confirm", lambda: self.client.post(
            f"{self.api_url}/api/v1/ingest/captures/{slot['capture_id']}/confirm", headers=self._auth))
        return UploadResult(Path(path), slot["capture_id"], False)

    def run(self, images: Iterable[Path], *, interval: float, stop: threading.Event,
            limit: int | None = None) -> list[UploadResult]:
        done: list[UploadResult] = []
        for path in images:
            if stop.is_set() or (limit is not None and len(done) >= limit):
                break
            try:
                done.append(self.upload(path))
                log.info("uploaded %s -> capture %s", path.name, done[-1].capture_id)
            except Refused as exc:
                log.error("server refused %s: %s", path.name, exc)
            except httpx.TransportError as exc:
                log.error("giving up on %s for now: %s", path.name, exc)
            stop.wait(interval)
        return done


def folder_images(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def cycle_shuffled(paths: list[Path], rng: random.Random) -> Iterator[Path]:
    while paths:
        order = paths[:]
        rng.shuffle(order)
        yield from order


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Simulated CropWatch camera")
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s camera %(message)s")
    rng = random.Random(args.seed)
    sim = CameraSimulator(args.api, args.token, rng=rng)
    stop = threading.Event()
    try:
        sim.run(cycle_shuffled(folder_images(args.folder), rng), interval=args.interval, stop=stop, limit=args.limit)
    except KeyboardInterrupt:
        stop.set()


if __name__ == "__main__":
    main()
