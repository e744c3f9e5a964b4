"""Helpers of the agent's fault tests: the test field (API and S3 behind fault proxies), frames, a list camera, a fast
agent configuration, running an agent in a thread."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from proxy import Proxy


@dataclass
class Field:
    """What a fault test needs: the API and S3 behind proxies, a camera token, the database and the bucket."""

    api_url: str  # through the API proxy
    direct_url: str
    api: Proxy
    s3: Proxy
    token: str
    camera_id: int
    sessions: object
    storage: object

    def captures(self) -> dict[str, str]:
        """sha256 -> status of this camera's captures (one row per sha256 by construction; see ``capture_rows``)."""
        return {sha: status for sha, status in self.capture_rows()}

    def capture_rows(self) -> list[tuple[str, str]]:
        from sqlalchemy import select

        from cropwatch.core.orm import Capture

        with self.sessions() as s:
            return [
                (c.sha256, c.status.value)
                for c in s.scalars(select(Capture).where(Capture.camera_id == self.camera_id))
            ]

    def stored(self) -> set[str]:
        return {sha for sha, st in self.capture_rows() if st != "pending"}

    def agent_status(self) -> dict | None:
        from cropwatch.core.orm import Camera

        with self.sessions() as s:
            return s.get(Camera, self.camera_id).agent_status


def jpeg(seed: int, size: tuple[int, int] = (240, 320), quality: int = 90) -> bytes:
    """A distinct real JPEG (noise + a shape), ~tens of KB."""
    import cv2

    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
    cv2.circle(img, (size[1] // 2, size[0] // 2), size[0] // 4, (0, 200, 0), -1)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ListSource:
    """A camera that gives the frames of a list, one per grab, then nothing; records what it handed out. Polled (like
    a drop folder): the agent takes whatever is there at each poll, so the server's interval (whole seconds, 600 by
    default, applied live from the heartbeat) does not pace the tests."""

    polled = True

    def __init__(self, frames: list) -> None:  # bytes, or a Frame
        self.frames = list(frames)
        self.given = 0

    def grab(self):
        from camera_agents.sources import Frame

        if self.given >= len(self.frames):
            return None
        item = self.frames[self.given]
        self.given += 1
        return item if isinstance(item, Frame) else Frame(data=item, name=f"frame-{self.given}")

    def close(self) -> None:
        pass


def agent_config(tmp_path: Path, field: Field, **sections):
    """A config for a fast test agent: short interval, backoff and heartbeat; ``sections`` override per section."""
    from camera_agents.config import AgentConfig

    cfg = AgentConfig()
    cfg.agent.data_dir = str(tmp_path / "agent")
    cfg.server.url = field.api_url
    cfg.server.token = field.token
    cfg.server.timeout_s = 10
    cfg.server.connect_timeout_s = 3
    cfg.schedule.interval_s = 0.1
    cfg.camera.poll_s = 0.1
    cfg.upload.backoff_base_s = 0.2
    cfg.upload.backoff_max_s = 1.0
    cfg.upload.heartbeat_s = 0.5
    cfg.outbox.min_free_mb = 0
    for section, values in sections.items():
        for k, v in values.items():
            setattr(getattr(cfg, section), k, v)
    return cfg.validate()


@contextlib.contextmanager
def running(agent):
    """The agent's run() in a thread (capture loop + upload + heartbeat), stopped on exit."""
    t = threading.Thread(target=agent.run, daemon=True)
    t.start()
    try:
        yield agent
    finally:
        agent.stop.set()
        agent.burst.wake.set()
        t.join(20)


def wait_for(cond, timeout: float = 60, what: str = "condition", interval: float = 0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
