"""The field camera agent: capture on schedule into the outbox, upload from it, heartbeat and live configuration.

Three threads, sharing only the outbox (SQLite, thread-safe) and the effective configuration:

- capture (the caller's thread in ``run``): grab → check (a corrupt frame is skipped with its reason) → downscale /
  re-encode → edge detection and mode → ``outbox.add`` (durable before it counts). Never blocked by the network.
- upload: drains the outbox (oldest first; newest first above the backlog threshold). A dropped link or a 5xx
  blocks uploads for an exponential backoff with jitter; a refusal is handled per frame.
- heartbeat: every ``upload.heartbeat_s`` sends the agent's state and applies the answer (the camera's config);
  downloads and swaps the edge model when the server's differs.
"""

from __future__ import annotations

import datetime as dt
import glob
import logging
import random
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from camera_agents.config import (
    AGENT_VERSION,
    AgentConfig,
    RemoteConfig,
    effective,
    load_remote,
    save_remote,
)
from camera_agents.edge_detector import EdgeDetector, crop_mosaic
from camera_agents.outbox import Outbox, OutboxFull
from camera_agents.schedule import BurstTrigger, Schedule
from camera_agents.sources import Frame, Source, SourceError, make_source
from camera_agents.uploader import Api, AuthError, LinkDown, Refused, TokenBucket, backoff_delay

log = logging.getLogger("cropwatch.agent")
UTC = dt.timezone.utc
RETRY_FROM_SLOT = {404, 409, 410}  # capture gone / upload missing / URL expired: ask for the slot again
RETRY_CODES = {"sha256_mismatch", "size_mismatch"}  # the bytes were damaged on the way: send them again


@dataclass
class Stats:
    grabbed: int = 0
    buffered: int = 0
    corrupt: int = 0
    skipped_no_detection: int = 0
    source_errors: int = 0
    uploads: int = 0
    duplicates: int = 0
    upload_failures: int = 0
    last_upload_at: float | None = None
    errors: list[str] = field(default_factory=list)


def read_sysfs_temperature(root: str = "/sys") -> float | None:
    try:
        return round(int(Path(root, "class/thermal/thermal_zone0/temp").read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


def read_sysfs_battery(root: str = "/sys") -> float | None:
    for path in sorted(glob.glob(str(Path(root, "class/power_supply/*/capacity")))):
        try:
            return float(Path(path).read_text().strip())
        except (OSError, ValueError):
            continue
    return None


class Agent:
    def __init__(
        self,
        cfg: AgentConfig,
        *,
        source: Source | None = None,
        api: Api | None = None,
        edge: EdgeDetector | None = None,
        sysfs: str = "/sys",
        rng: random.Random | None = None,
    ) -> None:
        self.cfg = cfg
        self.data_dir = cfg.data_path
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.remote_path = self.data_dir / "remote-config.json"
        self.remote: RemoteConfig | None = load_remote(self.remote_path)
        self.eff = effective(cfg, self.remote)
        self.outbox = Outbox(
            self.data_dir / "outbox",
            quota_bytes=int(cfg.outbox.quota_mb * 1024 * 1024),
            min_free_bytes=int(cfg.outbox.min_free_mb * 1024 * 1024),
            newest_first_above=cfg.outbox.newest_first_above,
        )
        self.source = source or make_source(cfg.camera)
        self.bucket = TokenBucket(self.eff.upload.max_upload_kbps * 1000 / 8)
        self.api = api or Api(
            cfg.server.url,
            cfg.token(),
            timeout=cfg.server.timeout_s,
            connect_timeout=cfg.server.connect_timeout_s,
            bucket=self.bucket,
            multipart_above=int(cfg.upload.multipart_above_mb * 1024 * 1024),
        )
        self.api.bucket = self.bucket
        self.edge = edge
        self.sysfs = sysfs
        self.rng = rng or random.Random()
        self.stop = threading.Event()
        self.upload_wake = threading.Event()
        self.burst = BurstTrigger(self.data_dir, cfg.schedule.burst_count)
        self.stats = Stats()
        self.last_error: str | None = None
        self.link_failures = 0
        self.link_blocked_until = 0.0
        self.last_picture_ts = 0.0
        self.server_has_heartbeat = True
        self._threads: list[threading.Thread] = []
        self._warned: set[str] = set()
        if self.eff.edge.edge_detection or cfg.edge.model_path:
            self._edge()

    # -- configuration ------------------------------------------------------------------------------------------
    def _edge(self) -> EdgeDetector:
        if self.edge is None:
            self.edge = EdgeDetector(
                self.data_dir / "models",
                conf=self.cfg.edge.conf,
                threads=self.cfg.edge.threads,
                tile=self.cfg.edge.tile,
            )
        if not self.edge.ready and not self.edge.load_current(self.cfg.edge.model_path or None):
            self._error(f"edge detection is on but no model loads: {self.edge.load_error}", logging.ERROR)
        return self.edge

    def apply_remote(self, doc: dict[str, Any]) -> None:
        remote = RemoteConfig.from_json(doc)
        if remote != self.remote:
            save_remote(self.remote_path, remote)
            log.info(
                "configuration from the server: %s",
                {k: v for k, v in remote.to_json().items() if v is not None and k != "model"},
            )
        self.remote = remote
        self.eff = effective(self.cfg, remote)
        self.bucket.set_rate(self.eff.upload.max_upload_kbps * 1000 / 8)
        if self.eff.edge.edge_detection and remote.model is not None:
            edge = self._edge()
            try:
                if edge.ensure(remote.model, self.api):
                    log.info("edge model switched to %s without a restart", remote.model.sha256[:12])
            except Exception as exc:  # noqa: BLE001 - keep the old model, try at the next heartbeat
                self._error(f"edge model update failed: {exc}")

    def schedule(self) -> Schedule:
        s = self.eff.schedule
        return Schedule(s.interval_s, s.daylight_only, s.latitude, s.longitude, s.daylight_margin_min)

    def _error(self, msg: str, level: int = logging.WARNING) -> None:
        self.last_error = msg[:500]
        log.log(level, msg)

    def _warn_once(self, key: str, msg: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(msg)

    # -- capture ------------------------------------------------------------------------------------------------
    def process(self, frame: Frame) -> bool:
        """Check, shape and buffer one frame; True if it went into the outbox."""
        import cv2

        from inference.decode import ImageRejected, decode_image, sniff_format

        self.stats.grabbed += 1
        eff = self.eff
        try:
            if frame.image is not None:
                img = frame.image
                if not isinstance(img, np.ndarray) or img.ndim not in (2, 3) or img.size == 0:
                    raise ImageRejected("corrupt", f"the camera returned an unusable array {getattr(img, 'shape', '')}")
                if img.ndim == 2:
                    img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
                data, fmt = None, "jpeg"
            else:
                data = frame.data
                img = decode_image(data or b"", allow_trailing_data=eff.image.allow_trailing_data)
                fmt = sniff_format(data) or "jpeg"
        except ImageRejected as exc:
            self.stats.corrupt += 1
            self._error(f"skipping corrupt frame {frame.name or '?'}: {exc.code}: {exc.message}")
            frame.done(False)
            return False

        scale = 1.0
        h, w = img.shape[:2]
        side = eff.image.max_side
        if side and max(h, w) > side:
            scale = side / max(h, w)
            img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
            data = None
        if data is None:
            data, fmt = self._encode(img), "jpeg"

        edge_body, kind, flagged = None, "frame", False
        edge_on = eff.edge.edge_detection
        if edge_on and (self.edge is None or not self.edge.ready):
            self._warn_once("no-model", "edge detection is on but no model is loaded yet: sending every frame")
            edge_on = False
        if edge_on:
            try:
                res = self.edge.detect(img)
            except Exception as exc:  # noqa: BLE001 - a failing model must not stop the camera
                self._error(f"edge detection failed, frame sent without it: {exc}")
                res = None
            if res is not None:
                flagged = bool(res.detections)
                now = time.time()
                picture_due = now - self.last_picture_ts >= self.cfg.edge.heartbeat_picture_s
                if eff.edge.mode in ("detections", "crops") and not flagged and not picture_due:
                    self.stats.skipped_no_detection += 1
                    frame.done(True)
                    return False
                if eff.edge.mode == "crops" and flagged:
                    mosaic, dets = crop_mosaic(
                        img, res.detections, margin=self.cfg.edge.crop_margin, min_side=self.cfg.edge.crop_min_side
                    )
                    data, fmt, kind = self._encode(mosaic), "jpeg", "crops"
                    res.detections = dets
                else:
                    self.last_picture_ts = now
                edge_body = res.body()
        try:
            _, created = self.outbox.add(
                data,
                captured_at=frame.captured_at,
                ext="jpg" if fmt == "jpeg" else fmt,
                kind=kind,
                flagged=flagged,
                edge=edge_body,
            )
        except OutboxFull as exc:
            self._error(f"frame {frame.name or '?'} not buffered: {exc}", logging.ERROR)
            frame.done(False)
            return False
        frame.done(True)
        if created:
            self.stats.buffered += 1
        self.upload_wake.set()
        return created

    def _encode(self, img: np.ndarray) -> bytes:
        import cv2

        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(self.eff.image.jpeg_quality)])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return buf.tobytes()

    def capture_once(self) -> int:
        """Grab from the source (every available frame for a polled source); returns frames buffered."""
        n = 0
        while not self.stop.is_set():
            try:
                frame = self.source.grab()
            except SourceError as exc:
                self.stats.source_errors += 1
                self._error(f"camera: {exc}")
                return n
            except Exception as exc:  # noqa: BLE001 - a driver bug must not end the loop
                self.stats.source_errors += 1
                self._error(f"camera failed: {type(exc).__name__}: {exc}", logging.ERROR)
                return n
            if frame is None:
                return n
            try:
                n += int(self.process(frame))
            except Exception as exc:  # noqa: BLE001
                self._error(f"frame {frame.name or '?'} not processed: {type(exc).__name__}: {exc}", logging.ERROR)
            if not getattr(self.source, "polled", False):
                return n
        return n

    def capture_loop(self, max_frames: int | None = None) -> None:
        sched = self.schedule()
        now = dt.datetime.now(UTC)
        next_t = now if sched.allowed(now) else sched.next_after(now)
        polled = getattr(self.source, "polled", False)
        while not self.stop.is_set():
            if max_frames is not None and self.stats.buffered >= max_frames:
                return
            burst = self.burst.take()
            if burst:
                log.info("burst: %d frames", burst)
                for i in range(burst):
                    if self.stop.is_set():
                        return
                    self.capture_once()
                    if i + 1 < burst:
                        self.stop.wait(self.cfg.schedule.burst_interval_s)
            sched = self.schedule()
            now = dt.datetime.now(UTC)
            if polled:
                self.capture_once()
                wait = self.cfg.camera.poll_s
            else:
                if now >= next_t:
                    if sched.allowed(now):
                        self.capture_once()
                    next_t = sched.next_after(now)
                wait = (next_t - dt.datetime.now(UTC)).total_seconds()
            # wake at least every second: the burst file, a new interval from the server, the stop
            self.burst.wake.wait(max(0.0, min(wait, 1.0)))
            self.burst.wake.clear()

    # -- upload -------------------------------------------------------------------------------------------------
    def upload_one(self) -> bool | None:
        """Upload the next due frame. True: done; False: failed (will retry); None: nothing due."""
        entry = self.outbox.next_due()
        if entry is None:
            return None
        try:
            data = entry.read()
        except OSError as exc:
            self.outbox.drop(entry, f"file unreadable: {exc}")
            return False
        self.outbox.in_flight = entry.id
        try:
            res = self.api.upload(
                data, entry.captured_at.isoformat(), edge=entry.edge, kind=entry.kind, sha256=entry.sha256
            )
        except LinkDown as exc:
            if exc.retry_after is not None:  # the server is fine but busy (429/503 Retry-After): do as it says
                delay = min(exc.retry_after, self.cfg.upload.backoff_max_s) * (1 + 0.2 * self.rng.random())
            else:
                self.link_failures += 1
                delay = backoff_delay(
                    self.link_failures, self.cfg.upload.backoff_base_s, self.cfg.upload.backoff_max_s, self.rng
                )
            self.link_blocked_until = time.monotonic() + delay
            self.stats.upload_failures += 1
            self._error(f"upload failed ({exc}); {self.outbox.backlog()} frame(s) wait, retry in {delay:.1f}s")
            return False
        except AuthError as exc:
            self.link_failures += 1
            delay = max(
                60.0,
                backoff_delay(
                    self.link_failures, self.cfg.upload.backoff_base_s, self.cfg.upload.backoff_max_s, self.rng
                ),
            )
            delay = min(delay, max(self.cfg.upload.backoff_max_s, 1.0))
            self.link_blocked_until = time.monotonic() + delay
            self._error(f"the server refuses the device token ({exc}); frames are kept", logging.ERROR)
            return False
        except Refused as exc:
            self.stats.upload_failures += 1
            self._refused(entry, exc)
            return False
        finally:
            self.outbox.in_flight = None
        self.outbox.uploaded(entry, duplicate=res.duplicate)
        self.link_failures = 0
        self.stats.uploads += 1
        self.stats.duplicates += int(res.duplicate)
        self.stats.last_upload_at = time.time()
        log.info(
            "uploaded %s → capture %s%s%s",
            entry.sha256[:12],
            res.capture_id,
            " (server had it)" if res.duplicate else "",
            f" ({res.parts_sent} part(s) sent, {res.parts_skipped} already there)" if res.parts_skipped else "",
        )
        return True

    def _refused(self, entry, exc: Refused) -> None:
        if exc.code == "edge_model_unknown" and entry.edge is not None:
            log.warning(
                "the server does not know edge model %s: sending %s without edge detections",
                entry.edge.get("model_sha256", "?")[:12],
                entry.sha256[:12],
            )
            self.outbox.strip_edge(entry)
            return
        retry = exc.status in RETRY_FROM_SLOT or exc.code in RETRY_CODES
        if retry and entry.refusals + 1 < self.cfg.upload.max_refusals:
            delay = backoff_delay(
                entry.refusals + 1, self.cfg.upload.backoff_base_s, self.cfg.upload.backoff_max_s, self.rng
            )
            self._error(f"frame {entry.sha256[:12]}: {exc}; retrying in {delay:.1f}s")
            self.outbox.defer(entry, delay, str(exc), refusal=True)
            return
        self._error(f"server refused frame {entry.sha256[:12]}: {exc}", logging.ERROR)
        self.outbox.drop(entry, str(exc))

    def upload_loop(self) -> None:
        while not self.stop.is_set():
            wait = self.link_blocked_until - time.monotonic()
            if wait > 0:
                self.stop.wait(wait)
                continue
            try:
                done = self.upload_one()
            except Exception as exc:  # noqa: BLE001 - never let the uploader thread die
                self._error(f"uploader: {type(exc).__name__}: {exc}", logging.ERROR)
                self.stop.wait(5)
                continue
            if done is None:
                nxt = self.outbox.next_attempt_at()
                timeout = 5.0 if nxt is None else max(0.05, min(5.0, nxt - time.time()))
                self.upload_wake.wait(timeout)
                self.upload_wake.clear()

    # -- heartbeat ----------------------------------------------------------------------------------------------
    def heartbeat_doc(self) -> dict[str, Any]:
        du = shutil.disk_usage(self.data_dir)
        c = self.outbox.counters()
        return {
            "agent_version": AGENT_VERSION,
            "disk_free_bytes": du.free,
            "disk_total_bytes": du.total,
            "temperature_c": read_sysfs_temperature(self.sysfs),
            "battery_pct": read_sysfs_battery(self.sysfs),
            "backlog": self.outbox.backlog(),
            "evicted_total": c.get("evicted_total", 0),
            "uploaded_total": c.get("uploaded_total", 0),
            "last_error": self.last_error,
            "model_sha256": self.edge.sha256 if self.edge is not None and self.edge.ready else None,
        }

    def heartbeat_once(self) -> bool:
        try:
            answer = self.api.heartbeat(self.heartbeat_doc())
        except Refused as exc:
            if exc.status in (404, 405):
                self._warn_once(
                    "no-heartbeat",
                    "the server has no heartbeat endpoint (older server): running on the local configuration",
                )
                self.server_has_heartbeat = False
                return False
            self._error(f"heartbeat refused: {exc}")
            return False
        except LinkDown as exc:
            log.info("heartbeat not sent: %s", exc)
            return False
        self.server_has_heartbeat = True
        self.apply_remote(answer)
        return True

    def heartbeat_loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.heartbeat_once()
            except Exception as exc:  # noqa: BLE001
                self._error(f"heartbeat: {type(exc).__name__}: {exc}", logging.ERROR)
            self.stop.wait(self.cfg.upload.heartbeat_s)

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def start_background(self, *, upload: bool = True, heartbeat: bool = True) -> None:
        if heartbeat:
            self._threads.append(threading.Thread(target=self.heartbeat_loop, name="heartbeat", daemon=True))
        if upload:
            self._threads.append(threading.Thread(target=self.upload_loop, name="upload", daemon=True))
        for t in self._threads:
            t.start()

    def install_signals(self) -> None:
        def stop(signum, _frame):
            log.info("signal %s: stopping", signal.Signals(signum).name)
            self.stop.set()
            self.burst.wake.set()
            self.upload_wake.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if hasattr(signal, "SIGUSR1"):
            signal.signal(signal.SIGUSR1, lambda *_: self.burst.request())

    def run(self, *, max_frames: int | None = None) -> None:
        log.info(
            "cropwatch-agent %s: source %s, data in %s, %d frame(s) waiting in the outbox",
            AGENT_VERSION,
            self.cfg.camera.source,
            self.data_dir,
            self.outbox.backlog(),
        )
        # one heartbeat before the first frame: when the server answers, the first frames already follow its
        # configuration (edge detection with its model); when it does not, the saved or local config applies
        try:
            self.heartbeat_once()
        except Exception as exc:  # noqa: BLE001
            self._error(f"heartbeat: {type(exc).__name__}: {exc}", logging.ERROR)
        self.start_background()
        try:
            self.capture_loop(max_frames=max_frames)
        finally:
            self.shutdown()

    def shutdown(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self.burst.wake.set()
        self.upload_wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
        try:
            self.source.close()
        except Exception:  # noqa: BLE001
            pass
        self.api.close()
