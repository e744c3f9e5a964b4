"""What the chaos tests share (tests/test_chaos.py, tests/test_scaleout.py): the field camera that keeps retrying,
the burst of unique real photos, and the checks that every capture was written exactly once and no alert counted
twice."""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from helpers import rice_photos
from sqlalchemy import func, select

from camera_agents.simulator import CameraSimulator, Refused, reshoot
from cropwatch.alerts.rules import daily_count
from cropwatch.core.enums import AlertStatus, CaptureStatus, DiarySource
from cropwatch.core.orm import Alert, AlertRule, Capture, Detection, DiaryEntry, InferenceRun

UNRESOLVED = (CaptureStatus.pending, CaptureStatus.stored, CaptureStatus.processing)

# --- the camera -------------------------------------------------------------------------------------------------


def burst_frames(n: int) -> list[tuple[Path, bytes]]:
    """``n`` real photos, each file unique (a repeated file is re-shot: new bytes, same scene)."""
    photos = rice_photos(min(n, 53))
    frames, seen = [], set()
    for i in range(n):
        path = photos[i % len(photos)]
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() in seen:
            data = reshoot(data, random.Random(i))
        assert hashlib.sha256(data).hexdigest() not in seen
        seen.add(hashlib.sha256(data).hexdigest())
        frames.append((path, data))
    return frames


@dataclass
class CameraRun:
    accepted: dict[str, int] = field(default_factory=dict)  # sha256 -> capture id, for every confirmed upload
    refused: list[str] = field(default_factory=list)  # 4xx answers: never expected here
    gave_up: list[str] = field(default_factory=list)  # still unsent at the deadline
    outer_retries: int = 0  # times the simulator's own retries ran out and the frame was tried again


def run_camera(
    url: str,
    token: str,
    frames: list[tuple[Path, bytes]],
    *,
    interval: float,
    rng: random.Random,
    deadline: float,
    out: CameraRun,
    stop: threading.Event,
) -> None:
    """A field camera: one frame per ``interval``; the simulator retries 5xx and network errors with backoff and
    jitter; when it runs out of retries the frame is kept and tried again, as a camera's outbox does."""
    sim = CameraSimulator(
        url, token, client=httpx.Client(timeout=15), max_retries=6, backoff_base=0.5, backoff_max=5.0, rng=rng
    )
    for path, data in frames:
        sha = hashlib.sha256(data).hexdigest()
        while not stop.is_set():
            try:
                out.accepted[sha] = sim.upload(path, data=data).capture_id
                break
            except Refused as exc:
                if exc.status < 500:
                    out.refused.append(f"{path.name}: {exc}")
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                out.gave_up.append(sha)
                break
            out.outer_retries += 1
            stop.wait(1.0)
        stop.wait(interval)


# --- checks shared by both tests ----------------------------------------------------------------------------------


def check_written_once(s, capture_ids: list[int]) -> Counter:
    """Every capture resolved; a `done` one has exactly one run whose detections are all there, once; a `failed`
    one says why and has no result; every detection is evidence in exactly one automatic diary observation, and there
    is at most one such observation per plot, pest and day. Returns the statuses."""
    from cropwatch.core.timeutil import local_day

    statuses: Counter = Counter()
    auto = s.scalars(select(DiaryEntry).where(DiaryEntry.source == DiarySource.automatic)).all()
    in_entries = Counter(i for e in auto for i in (e.detection_ids or []))
    per_day = Counter((e.plot_id, e.subject, local_day(e.occurred_at)) for e in auto)
    assert all(n == 1 for n in per_day.values()), f"several observations for {[k for k, n in per_day.items() if n > 1]}"
    for cid in capture_ids:
        cap = s.get(Capture, cid)
        statuses[cap.status.value] += 1
        runs = s.scalars(select(InferenceRun).where(InferenceRun.capture_id == cid)).all()
        n_dets = s.scalar(select(func.count(Detection.id)).where(Detection.capture_id == cid))
        det_ids = list(s.scalars(select(Detection.id).where(Detection.capture_id == cid)))
        assert cap.status not in UNRESOLVED, f"capture {cid} stuck in {cap.status.value}"
        if cap.status == CaptureStatus.done:
            assert len(runs) == 1, f"capture {cid}: {len(runs)} inference runs"
            assert n_dets == runs[0].detection_count, f"capture {cid}: {n_dets} rows for {runs[0].detection_count}"
            assert all(in_entries[i] == 1 for i in det_ids), f"capture {cid}: detections not in one diary entry"
        else:
            assert cap.status == CaptureStatus.failed and cap.error, f"capture {cid} failed without a reason"
            assert not runs and n_dets == 0, f"failed capture {cid} has results"
    return statuses


def check_alerts(s) -> int:
    """At most one unresolved alert per (plot, class) — one card per pest, escalating — each counting exactly what a
    fresh recount gives (no double counting), and none missing or below the level of a rule whose threshold is
    reached. Returns the open alerts."""
    from cropwatch.alerts.rules import LEVEL_ORDER

    open_alerts = s.scalars(select(Alert).where(Alert.status != AlertStatus.resolved)).all()
    keys = Counter((a.plot_id, a.class_name) for a in open_alerts)
    level_of = {(a.plot_id, a.class_name): a.level for a in open_alerts}
    assert all(n == 1 for n in keys.values()), f"several open alerts for {[k for k, n in keys.items() if n > 1]}"
    for a in open_alerts:
        rule = s.get(AlertRule, a.rule_id)
        fresh = daily_count(s, plot_id=a.plot_id, class_name=a.class_name, day=a.local_day, min_score=rule.min_score)
        # the card's count is the figure's floor (docs/decisions.md): a plot with two cameras reads their mean, 13.5
        assert a.count == math.floor(fresh), f"alert {a.id} ({a.class_name}) counts {a.count}, a recount gives {fresh}"
    days = {(a.plot_id, a.local_day) for a in open_alerts}
    for rule in s.scalars(select(AlertRule).where(AlertRule.enabled.is_(True))):
        for plot_id, day in days:
            if (
                daily_count(s, plot_id=plot_id, class_name=rule.class_name, day=day, min_score=rule.min_score)
                >= rule.threshold
            ):
                assert keys[(plot_id, rule.class_name)] == 1, f"no alert for {rule.class_name}"
                assert LEVEL_ORDER[level_of[(plot_id, rule.class_name)]] >= LEVEL_ORDER[rule.level]
    return len(open_alerts)
