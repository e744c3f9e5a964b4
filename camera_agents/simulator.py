"""Simulated camera: uploads a folder of images on a schedule through the presigned flow.

Collaborators (HTTP client, clock, stop event) are passed in, so tests drive it directly.
Network trouble and 5xx answers are retried with exponential backoff and jitter; a 4xx is a
refusal with a reason and is logged, not retried.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
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
    #: ask for direct slots (S3 checks the sha256, the confirm copies nothing); False: the legacy slot
    direct: bool = True

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _with_retry(self, what: str, fn, ok: tuple[int, ...] = ()):
        for attempt in range(self.max_retries + 1):
            try:
                resp = fn()
            except httpx.TransportError as exc:
                err: Exception = exc
            else:
                if resp.status_code < 500:
                    if resp.status_code >= 400 and resp.status_code not in ok:
                        raise Refused(resp.status_code, resp.text)
                    return resp
                err = Refused(resp.status_code, resp.text)
            if attempt == self.max_retries:
                raise err
            delay = min(self.backoff_max, self.backoff_base * 2**attempt) * (0.5 + self.rng.random())
            log.warning("%s failed (%s); retry %d in %.1fs", what, err, attempt + 1, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def upload(self, path: Path, captured_at: dt.datetime | None = None, data: bytes | None = None) -> UploadResult:
        data = Path(path).read_bytes() if data is None else data
        sha = hashlib.sha256(data).hexdigest()
        when = (captured_at or dt.datetime.now(dt.timezone.utc)).isoformat()
        slot = self._with_retry(
            "slot",
            lambda: self.client.post(
                f"{self.api_url}/api/v1/ingest/slots",
                headers=self._auth,
                json={"sha256": sha, "size": len(data), "captured_at": when, "direct": self.direct},
            ),
        ).json()
        if slot["upload_url"] is None:
            return UploadResult(Path(path), slot["capture_id"], True)
        signed = slot.get("upload_headers") or {}
        self._with_retry(
            "put",
            lambda: self.client.put(
                slot["upload_url"], content=data, headers={"Content-Type": "application/octet-stream", **signed}
            ),
            ok=(412,) if signed.get("if-none-match") == "*" else (),  # an earlier try landed: the bytes are there
        )
        self._with_retry(
            "confirm",
            lambda: self.client.post(
                f"{self.api_url}/api/v1/ingest/captures/{slot['capture_id']}/confirm", headers=self._auth
            ),
        )
        return UploadResult(Path(path), slot["capture_id"], False)

    def run(
        self,
        images: Iterable[Path | tuple[Path, bytes]],
        *,
        interval: float,
        stop: threading.Event,
        limit: int | None = None,
        state: Path | None = None,
    ) -> list[UploadResult]:
        """Upload one image per ``interval``. ``images`` yields paths, or (path, bytes) for re-shot frames; with
        ``state`` the number of frames sent is kept in that file (see ``resume``)."""
        done: list[UploadResult] = []
        sent = _read_count(state)
        for item in images:
            if stop.is_set() or (limit is not None and len(done) >= limit):
                break
            path, data = item if isinstance(item, tuple) else (item, None)
            try:
                done.append(self.upload(path, data=data))
                sent += 1
                _write_count(state, sent)
                log.info(
                    "uploaded %s -> capture %s%s",
                    path.name,
                    done[-1].capture_id,
                    " (already had it)" if done[-1].duplicate else "",
                )
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


def reshoot(data: bytes, rng: random.Random) -> bytes:
    """The same scene photographed again: slightly different light and JPEG noise, so different bytes (a real camera
    never sends the same file twice; the server de-duplicates identical files by sha256)."""
    import cv2
    import numpy as np

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return data
    img = cv2.convertScaleAbs(img, alpha=rng.uniform(0.9, 1.1), beta=rng.uniform(-8, 8))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(85, 95)])
    return buf.tobytes() if ok else data


def camera_frames(paths: list[Path], rng: random.Random, *, skip: int = 0) -> Iterator[Path | tuple[Path, bytes]]:
    """An endless camera: the folder in shuffled passes; the first pass sends the files as they are, later passes
    re-shoot them. ``skip`` frames are passed over (a restarted camera resumes where it stopped)."""
    for n, path in enumerate(cycle_shuffled(paths, rng)):
        first_pass = n < len(paths)
        if n < skip:
            continue
        yield path if first_pass else (path, reshoot(path.read_bytes(), random.Random(n)))


def card_per_day(paths: list[Path], *, today: Callable[[], dt.date], start: dt.date) -> Iterator[tuple[Path, bytes]]:
    """A sticky-trap camera: it photographs the same glue card all day, and the card is replaced once a day (the
    folder's cards in name order, one per local day from ``start``, then round again). Every frame is a new shot of
    the day's card (new bytes, the same insects), so the server's count of new catches is the card's growth over the
    day, not the number of photos."""
    if not paths:
        return
    for n in itertools.count():
        card = paths[(today() - start).days % len(paths)]
        yield card, reshoot(card.read_bytes(), random.Random(n))


def first_day(state: Path | None, today: dt.date) -> dt.date:
    """The day a card-per-day camera first ran, kept beside its state file, so a restart keeps the day's card."""
    if state is None:
        return today
    f = state.with_suffix(".day0")
    try:
        return dt.date.fromisoformat(f.read_text().strip())
    except (OSError, ValueError):
        f.write_text(today.isoformat())
        return today


def _read_count(state: Path | None) -> int:
    try:
        return int(state.read_text()) if state else 0
    except (OSError, ValueError):
        return 0


def _write_count(state: Path | None, n: int) -> None:
    if state:
        tmp = state.with_suffix(".tmp")
        tmp.write_text(str(n))
        tmp.replace(state)


def _local_today() -> dt.date:
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()  # the cooperatives' day, as the server counts it


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Simulated CropWatch camera")
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument(
        "--token",
        default=os.environ.get("CROPWATCH_CAMERA_TOKEN"),
        help="device token (default: $CROPWATCH_CAMERA_TOKEN; prefer the variable: a command line is "
        "visible to every user of the machine in ps)",
    )
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        help="file keeping how many frames were sent, so a restart resumes instead of replaying",
    )
    parser.add_argument(
        "--card-per-day",
        action="store_true",
        help="a sticky trap: the same card photographed all day, the next card (name order) the next day",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s camera %(message)s")
    for name in ("httpx", "httpcore"):  # request lines would print presigned upload URLs
        logging.getLogger(name).setLevel(logging.WARNING)
    rng = random.Random(args.seed)
    if not args.token:
        parser.error("a device token is needed: set CROPWATCH_CAMERA_TOKEN (or --token)")
    sim = CameraSimulator(args.api, args.token, rng=rng)
    stop = threading.Event()
    try:
        if args.card_per_day:
            today = _local_today
            frames = card_per_day(folder_images(args.folder), today=today, start=first_day(args.state, today()))
        else:
            frames = camera_frames(folder_images(args.folder), rng, skip=_read_count(args.state))
        sim.run(frames, interval=args.interval, stop=stop, limit=args.limit, state=args.state)
    except KeyboardInterrupt:
        stop.set()


if __name__ == "__main__":
    main()
