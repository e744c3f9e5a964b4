"""Where frames come from, behind one small interface: ``grab()`` returns a :class:`Frame` (encoded bytes or a BGR
array), or None when there is nothing new (a watched folder with no new file). A source raises
:class:`SourceError` when the camera cannot deliver (unplugged, stream down); the agent logs it and goes on.

- ``OpenCVSource``: a USB/CSI camera (device index or /dev/video path) or a network stream (rtsp://, http://), one
  frame per grab; by default opened and released each time (a stream's buffered frames are stale minutes later).
- ``FolderSource``: a folder that phones, trail cameras or an FTP server drop files into (``polled``: the agent
  takes every settled file, not one per interval). A file leaves the folder only once it is safe in the outbox.
- ``HttpSnapshotSource``: an IP camera's snapshot URL.
- ``SimulatorSource``: synthetic scenes, or a folder of images re-shot like the simulated camera does.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from camera_agents.config import CameraConfig

log = logging.getLogger("cropwatch.agent.source")
UTC = dt.timezone.utc


class SourceError(RuntimeError):
    """The camera could not deliver a frame now (the agent logs it and tries at the next slot)."""


@dataclass
class Frame:
    data: bytes | None = None  # encoded image (JPEG/PNG/WebP) as the camera gave it
    image: np.ndarray | None = None  # or a BGR array (OpenCV), encoded by the agent
    captured_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(UTC))
    name: str = ""  # for the log (file name, device)
    ack: object | None = None  # called once the frame is safe in the outbox (a folder source removes the file)

    def done(self, ok: bool = True) -> None:
        """The frame is safe in the outbox (``ok``) or was refused (corrupt): the source may let go of it."""
        if callable(self.ack):
            self.ack(ok)


class Source(Protocol):
    polled: bool  # True: drain every available frame each poll (folder); False: one frame per scheduled slot

    def grab(self) -> Frame | None: ...

    def close(self) -> None: ...


class OpenCVSource:
    polled = False

    def __init__(
        self, device: str, *, warmup_frames: int = 3, keep_open: bool = False, width: int = 0, height: int = 0
    ) -> None:
        self.device: int | str = int(device) if str(device).isdigit() else device
        self.warmup_frames, self.keep_open = warmup_frames, keep_open
        self.width, self.height = width, height
        self._cap = None

    def _open(self):
        import cv2

        cap = cv2.VideoCapture(self.device)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open camera {self.device!r}")
        if self.width and self.height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        return cap

    def grab(self) -> Frame | None:
        cap = self._cap or self._open()
        self._cap = None
        ok = False
        try:
            for _ in range(self.warmup_frames if not self.keep_open else 1):
                cap.grab()
            ok, img = cap.read()
            if not ok or img is None or img.size == 0:
                ok = False
                raise SourceError(f"camera {self.device!r} returned no frame")
            return Frame(image=img, name=str(self.device))
        finally:
            if ok and self.keep_open:
                self._cap = cap
            else:
                cap.release()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class FolderSource:
    """New files in a folder, oldest first. A file counts once it has not changed for ``settle_s`` (an FTP upload
    or a phone sync still writing it is left alone); its mtime is the capture time (trail cameras keep it)."""

    polled = True

    def __init__(
        self,
        path: str | Path,
        *,
        patterns: str = "*.jpg,*.jpeg,*.png,*.webp",
        settle_s: float = 2.0,
        after: str = "delete",
        clock=time.time,
    ) -> None:
        self.path = Path(path)
        self.patterns = [p.strip().lower() for p in patterns.split(",") if p.strip()]
        self.settle_s, self.after, self.clock = settle_s, after, clock
        self._seen: dict[str, tuple[int, float, float]] = {}  # name -> (size, mtime, first seen stable)
        self._skip: set[str] = set()  # files handed out and not yet acknowledged

    def _candidates(self) -> list[os.DirEntry]:
        try:
            entries = [
                e
                for e in os.scandir(self.path)
                if e.is_file(follow_symlinks=False)
                and not e.name.startswith(".")
                and any(fnmatch.fnmatch(e.name.lower(), p) for p in self.patterns)
            ]
        except FileNotFoundError as exc:
            raise SourceError(f"watched folder {self.path} does not exist") from exc
        return sorted(entries, key=lambda e: (e.stat().st_mtime, e.name))

    def grab(self) -> Frame | None:
        now = self.clock()
        for entry in self._candidates():
            if entry.name in self._skip:
                continue
            st = entry.stat()
            sig = (st.st_size, st.st_mtime)
            prev = self._seen.get(entry.name)
            if prev is None or prev[:2] != sig:
                self._seen[entry.name] = (*sig, now)
                if self.settle_s > 0:
                    continue
                prev = self._seen[entry.name]
            if now - prev[2] < self.settle_s or st.st_size == 0:
                continue
            path = Path(entry.path)
            try:
                data = path.read_bytes()
            except OSError as exc:
                log.warning("cannot read %s: %s", path, exc)
                continue
            self._skip.add(entry.name)
            return Frame(
                data=data,
                captured_at=dt.datetime.fromtimestamp(st.st_mtime, UTC),
                name=entry.name,
                ack=lambda ok, p=path: self._finish(p, ok),
            )
        return None

    def _finish(self, path: Path, ok: bool = True) -> None:
        """The frame is in the outbox, or was refused (corrupt: moved to ``rejected/`` for a look): take the file out
        of the drop folder."""
        self._skip.discard(path.name)
        self._seen.pop(path.name, None)
        try:
            if self.after == "move" or not ok:
                done = self.path / ("done" if ok else "rejected")
                done.mkdir(exist_ok=True)
                shutil.move(str(path), done / path.name)
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove %s from the drop folder: %s", path, exc)

    def close(self) -> None:
        pass


class HttpSnapshotSource:
    polled = False

    def __init__(self, url: str, *, username: str = "", password: str = "", timeout: float = 15.0, client=None) -> None:
        import httpx

        self.url = url
        auth = httpx.DigestAuth(username, password) if username else None
        self.client = client or httpx.Client(timeout=timeout, auth=auth, follow_redirects=True)

    def grab(self) -> Frame | None:
        import httpx

        try:
            resp = self.client.get(self.url)
        except httpx.HTTPError as exc:
            raise SourceError(f"snapshot {self.url}: {exc}") from exc
        if resp.status_code != 200:
            raise SourceError(f"snapshot {self.url}: HTTP {resp.status_code}")
        return Frame(data=resp.content, name=self.url.rsplit("/", 1)[-1] or "snapshot")

    def close(self) -> None:
        self.client.close()


class SimulatorSource:
    """Synthetic tomato scenes (``folder`` empty) or a folder of photos in shuffled passes, re-shot after the first
    pass so every frame has new bytes (like ``camera_agents.simulator``)."""

    polled = False

    def __init__(self, folder: str | Path | None = None, *, seed: int = 0, size: int = 640) -> None:
        self.folder = Path(folder) if folder else None
        self.seed, self.size = seed, size
        self._n = 0
        self._frames = None
        if self.folder is not None:
            from camera_agents.simulator import camera_frames, folder_images

            paths = folder_images(self.folder)
            if not paths:
                raise SourceError(f"no images in {self.folder}")
            self._frames = camera_frames(paths, random.Random(seed))

    def grab(self) -> Frame | None:
        self._n += 1
        if self._frames is not None:
            item = next(self._frames)
            path, data = item if isinstance(item, tuple) else (item, item.read_bytes())
            return Frame(data=data, name=path.name)
        from datasets.synthetic import render_ripeness_scene

        img, _ = render_ripeness_scene(np.random.default_rng((self.seed, self._n)), size=self.size)
        return Frame(image=img, name=f"synthetic-{self._n}")

    def close(self) -> None:
        pass


def make_source(cfg: CameraConfig) -> Source:
    if cfg.source == "opencv":
        return OpenCVSource(
            cfg.device, warmup_frames=cfg.warmup_frames, keep_open=cfg.keep_open, width=cfg.width, height=cfg.height
        )
    if cfg.source == "folder":
        if not cfg.path:
            raise SourceError("camera.path (the watched folder) is not set")
        return FolderSource(cfg.path, patterns=cfg.pattern, settle_s=cfg.settle_s, after=cfg.after)
    if cfg.source == "http":
        if not cfg.url:
            raise SourceError("camera.url (the snapshot URL) is not set")
        return HttpSnapshotSource(cfg.url, username=cfg.username, password=cfg.password)
    if cfg.source == "simulator":
        return SimulatorSource(cfg.path or None, seed=cfg.seed, size=cfg.size)
    raise SourceError(f"unknown source {cfg.source!r}")
