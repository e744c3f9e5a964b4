"""Process captures: claim → fetch → safe decode → detect (batched) → store once → alerts → diary.

Framework-free: the Celery task is a thin wrapper. Results are written in one transaction per capture,
guarded by the unique (capture, model version) key, so a duplicate delivery writes nothing twice.

Batching: the task for one capture also claims up to ``batch_size - 1`` other captures that wait in the database
(``stored``, never attempted) and runs them through the model in one session call. Every capture keeps its own
claim, attempt counter, result transaction and failure: a capture that was in a batch that crashed the worker is
processed alone afterwards, so a poison image cannot use up the attempts of its neighbours. A claim is a lease of
``stuck_after_seconds``: another delivery of a capture under a live lease stands back (``in_progress``), and the
sweeper re-enqueues it once the lease has run out.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, noload, sessionmaker

from cropwatch.captures.results import NewResult, record_result, record_results
from cropwatch.core import metrics
from cropwatch.core.enums import CaptureStatus, ModelTask
from cropwatch.core.metrics import timed
from cropwatch.core.orm import Camera, Capture, InferenceRun, Plot, ShadowResult
from cropwatch.core.settings import Settings
from cropwatch.core.storage import Storage, StorageError
from cropwatch.core.timeutil import utcnow
from cropwatch.worker.model_cache import ModelCache, NoModel
from inference.decode import Decoded, ImageRejected, decode_reduced
from inference.detections import DetectionRecord, Detections
from inference.tiling import TileConfig, detect_tiled

log = logging.getLogger(__name__)


class Outcome(str, enum.Enum):
    done = "done"
    already_done = "already_done"
    failed = "failed"
    retry = "retry"  # transient (storage, no model, write conflict): try again later
    in_progress = "in_progress"  # another worker holds a live claim on it


@dataclass
class Result:
    outcome: Outcome
    detail: str = ""
    detections: int = 0


@dataclass
class _Work:
    """A claimed capture, decoded and matched with its model, ready for the detector."""

    cap: Capture
    image: np.ndarray
    model_id: int
    detector: Any
    tiling: TileConfig | None
    task: ModelTask
    decoded: Decoded  # the photo's own size, and the scale of ``image`` to it


class CaptureProcessor:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        storage: Storage,
        models: ModelCache | None = None,
        on_batch=None,
        requeue=None,
    ) -> None:
        self.on_batch = on_batch  # called with (images, total_ms) after each model call, for worker statistics
        #: publishes a capture's task again (queue.enqueue_detect), for a capture given back (transient trouble)
        #: whose own message was spent while it was claimed (see ``_claim`` and ``_release``)
        self.requeue = requeue
        self.settings = settings
        self.sessions = sessions
        self.storage = storage
        self.models = models or ModelCache(settings, storage)

    def _claim(self, capture_id: int, *, own: bool = True) -> Result | Capture:
        """Mark the capture `processing` and count the attempt (a crash mid-task counts too). ``own``: the capture
        is the one the message being handled is for; when another worker holds it, that message is spent
        (``in_progress``), so the capture is marked for a new one should that worker give it back."""
        with timed(metrics.DB_SECONDS, step="claim"), self.sessions.begin() as s:
            cap = s.get(Capture, capture_id, with_for_update=True, options=[noload(Capture.detections)])
            if cap is None:
                return Result(Outcome.failed, "capture does not exist")
            if cap.status == CaptureStatus.done:
                return Result(Outcome.already_done)
            if cap.status == CaptureStatus.failed:
                return Result(Outcome.failed, cap.error or "")
            if cap.status == CaptureStatus.pending:
                return Result(Outcome.failed, "upload not confirmed")
            now = utcnow()
            lease = dt.timedelta(seconds=self.settings.stuck_after_seconds)
            if cap.status == CaptureStatus.processing and cap.claimed_at and now - _aware(cap.claimed_at) < lease:
                if own:
                    cap.requeue_needed = True
                return Result(Outcome.in_progress, "another worker is processing it")
            # the row as read is the condition of the write (compare and set): on SQLite the read above is not
            # locked (no FOR UPDATE, and the driver begins the transaction at the first write), so another worker
            # may have claimed or stored the capture since; an unconditional write would put a stored capture
            # back to `processing` (a soak lost one that way: it was stored, claimed again, and failed after 3
            # attempts). PostgreSQL's FOR UPDATE makes the condition always true there.
            seen = and_(
                Capture.id == cap.id,
                Capture.status == cap.status,
                Capture.attempts == cap.attempts,
                Capture.claimed_at.is_(None) if cap.claimed_at is None else Capture.claimed_at == cap.claimed_at,
            )
            if cap.attempts >= self.settings.max_attempts:
                error = f"gave up after {cap.attempts} attempts: {cap.error or 'worker lost during processing'}"
                changed = s.execute(
                    update(Capture).where(seen).values(status=CaptureStatus.failed, error=error),
                    execution_options={"synchronize_session": False},
                ).rowcount
                return Result(Outcome.failed, error) if changed else Result(Outcome.in_progress, "claimed meanwhile")
            changed = s.execute(
                update(Capture)
                .where(seen)
                .values(status=CaptureStatus.processing, claimed_at=now, attempts=Capture.attempts + 1),
                execution_options={"synchronize_session": False},
            ).rowcount
            if not changed:
                return Result(Outcome.in_progress, "another worker took it meanwhile")
            s.expunge(cap)
            cap.status, cap.claimed_at, cap.attempts = CaptureStatus.processing, now, cap.attempts + 1
            return cap

    def _claim_many(self, capture_ids: list[int]) -> dict[int, Result | Capture]:
        """Claim every capture of a batch that is free (``stored``, or ``processing`` under a lease that ran out,
        attempts left) in one ``UPDATE … RETURNING``; the others go through :meth:`_claim`, which says why each is
        not taken (done, failed, another worker's live lease, attempts used up)."""
        if len(capture_ids) == 1:
            return {capture_ids[0]: self._claim(capture_ids[0])}
        now = utcnow()
        expired = now - dt.timedelta(seconds=self.settings.stuck_after_seconds)
        with timed(metrics.DB_SECONDS, step="claim"), self.sessions.begin() as s:
            claimed = list(
                s.scalars(
                    update(Capture)
                    .where(
                        Capture.id.in_(capture_ids),
                        Capture.attempts < self.settings.max_attempts,
                        or_(
                            Capture.status == CaptureStatus.stored,
                            and_(
                                Capture.status == CaptureStatus.processing,
                                or_(Capture.claimed_at.is_(None), Capture.claimed_at < expired),
                            ),
                        ),
                    )
                    .values(status=CaptureStatus.processing, claimed_at=now, attempts=Capture.attempts + 1)
                    .returning(Capture)
                    .options(noload(Capture.detections)),
                    execution_options={"synchronize_session": False},
                )
            )
            for cap in claimed:
                s.expunge(cap)
        got = {cap.id: cap for cap in claimed}
        own = capture_ids[0]  # the message's capture; the others are the batch's
        return {cid: got[cid] if cid in got else self._claim(cid, own=cid == own) for cid in capture_ids}

    def _release(self, capture_id: int, error: str, *, permanent: bool) -> None:
        """Give a claimed capture back: `failed`, or `stored` again for transient trouble. A capture whose own
        message another worker spent while this one held it (``_claim``) gets a new message: without it, it would
        wait for the sweeper (the one capture of 12,000 that did in the 20-minute soak). The row is locked first,
        so a message being spent concurrently is either seen here or finds the capture free and takes it."""
        with self.sessions.begin() as s:
            cap = s.get(Capture, capture_id, with_for_update=True)
            if cap is None or cap.status == CaptureStatus.done:
                return
            cap.error = error
            requeue = cap.requeue_needed and not permanent
            cap.requeue_needed = False
            if permanent:
                cap.status = CaptureStatus.failed
            else:
                cap.status = CaptureStatus.stored
                cap.attempts = max(0, cap.attempts - 1)  # transient trouble does not use up attempts
        if requeue:
            self._requeue(capture_id)

    def process(self, capture_id: int) -> Result:
        """Process one capture on its own."""
        return self.process_many([capture_id])[capture_id]

    def process_batch(self, capture_id: int) -> Result:
        """Process ``capture_id`` together with up to ``batch_size - 1`` other waiting captures; its result. A
        capture a batch already stored (its own message arrives after) costs one read, no transaction."""
        with self.sessions() as s:
            first = s.get(Capture, capture_id, options=[noload(Capture.detections)])
            settled = _settled(first)
            if settled is None:
                others = self._waiting(s, first, limit=self.settings.batch_size - 1)
        if settled is not None:
            metrics.CAPTURES.labels(settled.outcome.value).inc()
            return settled
        return self.process_many([capture_id] + others)[capture_id]

    def _requeue(self, capture_id: int) -> None:
        """Publish a capture's task again; a broker outage leaves it to the sweeper, as a failed publish on confirm
        does."""
        if self.requeue is None:
            return
        try:
            self.requeue(capture_id)
        except Exception:  # the sweeper re-publishes stuck captures
            log.warning("capture %s: could not publish it again; the sweeper will", capture_id, exc_info=True)

    def _waiting(self, s: Session, first: Capture, *, limit: int) -> list[int]:
        if limit <= 0 or first.attempts > 0:
            return []  # a capture that was in a crash goes alone
        return list(
            s.scalars(
                select(Capture.id)
                .where(Capture.status == CaptureStatus.stored, Capture.attempts == 0, Capture.id != first.id)
                .order_by(Capture.received_at, Capture.id)
                .limit(limit)
            )
        )

    def process_many(self, capture_ids: list[int]) -> dict[int, Result]:
        """Claim, decode and detect several captures, one batched model call per model; each stored on its own."""
        results: dict[int, Result] = {}
        work: list[_Work] = []
        claimed: list[Capture] = []
        for cid, got in self._claim_many(list(dict.fromkeys(capture_ids))).items():
            if isinstance(got, Result):
                results[cid] = got
            else:
                claimed.append(got)
        for cap, found in zip(claimed, self._models_for(claimed)):
            prepared = found if isinstance(found, Result) else self._prepare(cap, *found)
            if isinstance(prepared, Result):
                results[cap.id] = prepared
            else:
                work.append(prepared)
        done: list[tuple[_Work, Detections, float]] = []
        groups: dict[int, list[_Work]] = defaultdict(list)
        for w in work:
            groups[w.model_id].append(w)
        kw = self.settings.detect_overrides  # normally empty: each detector carries its model version's settings
        for items in groups.values():
            plain = [w for w in items if w.tiling is None]
            if len(plain) > 1:
                t0 = time.perf_counter()
                try:
                    dets = plain[0].detector.predict_batch([w.image for w in plain], **kw)
                except Exception:
                    log.exception("batched detection of %d captures failed; processing them one by one", len(plain))
                    dets = None
                if dets is not None:
                    ms = (time.perf_counter() - t0) * 1000 / len(plain)
                    self._count(len(plain), ms * len(plain))
                    done += [(w, d, ms) for w, d in zip(plain, dets)]
                    plain = []
            for w in plain + [w for w in items if w.tiling is not None]:
                d, ms = _detect_one(w.detector, w, kw)
                self._count(1, ms)
                done.append((w, d, ms))
        results.update(self._store_many(done))
        for w in work:
            if results[w.cap.id].outcome == Outcome.done and self._in_shadow_sample(w.cap.id):
                self._shadow(w, kw)
        for r in results.values():
            metrics.CAPTURES.labels(r.outcome.value).inc()
        return results

    def _in_shadow_sample(self, capture_id: int) -> bool:
        rate = self.settings.shadow_sample_rate
        return rate > 0 and (rate >= 1 or (capture_id * 2654435761 % 2**32) / 2**32 < rate)

    def _shadow(self, w: _Work, kw: dict) -> None:
        """Run the task's shadow model on a capture production just processed; store apart, never alert. Any
        failure here is logged and leaves the capture's (already stored) result alone."""
        try:
            with self.sessions() as s:
                found = self.models.shadow(s, w.task, w.cap.cooperative_id, self.models.family_of.get(w.model_id))
            if found is None:
                return
            shadow_id, detector = found
            d, ms = _detect_one(detector, w, kw)
            records = [r.to_json() for r in d.scaled(*w.decoded.scale).records(detector.names)]
            with self.sessions.begin() as s:
                s.add(
                    ShadowResult(
                        cooperative_id=w.cap.cooperative_id,
                        capture_id=w.cap.id,
                        model_version_id=shadow_id,
                        production_version_id=w.model_id,
                        records=records,
                        duration_ms=ms,
                    )
                )
        except IntegrityError:
            pass  # a duplicate delivery: the shadow result is already there
        except Exception:
            log.exception("shadow detection of capture %s failed", w.cap.id)

    def _count(self, images: int, total_ms: float) -> None:
        metrics.FORWARD_SECONDS.observe(total_ms / 1000)
        metrics.BATCH_IMAGES.observe(images)
        if self.on_batch is not None:
            self.on_batch(images, total_ms)

    def _models_for(self, caps: list[Capture]) -> list[Result | tuple[int, Any, TileConfig | None, ModelTask]]:
        """Each claimed capture's production model (for its camera's task and kind and its plot's crop) and
        tiling, read in one session for the batch; a capture with no model is released for a retry."""
        if not caps:
            return []
        out: list[Result | tuple[int, Any, TileConfig | None, ModelTask]] = []
        with self.sessions() as s:
            cameras = {c.id: c for c in s.scalars(select(Camera).where(Camera.id.in_({c.camera_id for c in caps})))}
            plots = {p.id: p for p in s.scalars(select(Plot).where(Plot.id.in_({c.plot_id for c in caps})))}
            for cap in caps:
                camera, plot = cameras[cap.camera_id], plots.get(cap.plot_id)
                try:
                    model_id, detector = self.models.get(
                        s,
                        camera.model_task,
                        camera.cooperative_id,
                        crop=plot.crop if plot else None,
                        camera_kind=camera.kind,
                    )
                except (NoModel, StorageError) as exc:  # no model yet, or its file unreachable: try again later
                    self._release(cap.id, str(exc), permanent=False)
                    out.append(Result(Outcome.retry, str(exc)))
                    continue
                try:
                    tiling = TileConfig.from_setting(camera.tiling)
                except (TypeError, ValueError) as exc:
                    log.warning("camera %s: tiling setting %r ignored (%s)", camera.id, camera.tiling, exc)
                    tiling = None
                if tiling is None:  # a model trained on windows reads over windows unless the camera says otherwise
                    tiling = TileConfig.from_setting(getattr(detector, "tiling", None))
                out.append((model_id, detector, tiling, camera.model_task))
        return out

    def _prepare(
        self, cap: Capture, model_id: int, detector: Any, tiling: TileConfig | None, task: ModelTask
    ) -> Result | _Work:
        """Read and decode a claimed capture's photo for its detector."""
        capture_id = cap.id
        if self.settings.environment == "test" and self.settings.test_task_delay_seconds:
            time.sleep(self.settings.test_task_delay_seconds)
        try:
            data = self.storage.get_bytes(cap.object_key, max_bytes=self.settings.max_upload_bytes)
        except (StorageError, FileNotFoundError) as exc:
            self._release(capture_id, f"object storage: {exc}", permanent=isinstance(exc, FileNotFoundError))
            return Result(Outcome.retry if isinstance(exc, StorageError) else Outcome.failed, str(exc))
        # a photo read whole is shrunk to the model's side anyway: a JPEG decodes straight near that size (bounded
        # memory per batch); windows need every pixel
        long_side = None if tiling else max(getattr(detector, "imgsz", (0,)))
        try:
            decoded = decode_reduced(
                data,
                long_side=long_side or None,
                max_pixels=self.settings.max_image_pixels,
                max_bytes=self.settings.max_upload_bytes,
            )
        except ImageRejected as exc:
            self._release(capture_id, f"{exc.code}: {exc}", permanent=True)
            return Result(Outcome.failed, f"{exc.code}: {exc}")
        return _Work(cap, decoded.image, model_id, detector, tiling, task, decoded)

    def _store_many(self, done: list[tuple[_Work, Detections, float]]) -> dict[int, Result]:
        """Store a batch's results in one transaction (alert rules and diary once per plot and day,
        :func:`record_results`). A write conflict (a duplicate delivery stored one of them meanwhile) rolls it
        back and stores each capture on its own, so one conflict costs its neighbours nothing."""
        if not done:
            return {}
        made = [(w, dets.scaled(*w.decoded.scale).records(w.detector.names), ms) for w, dets, ms in done]
        if len(made) == 1:
            return {made[0][0].cap.id: self._finish(*made[0])}
        out: dict[int, Result] = {}
        try:
            with timed(metrics.DB_SECONDS, step="store"), self.sessions.begin() as s:
                caps = {
                    c.id: c
                    for c in s.scalars(
                        select(Capture)
                        .where(Capture.id.in_([w.cap.id for w, _, _ in made]))
                        .options(noload(Capture.detections))
                    )
                }
                todo = []
                for w, records, ms in made:
                    capture = caps.get(w.cap.id)
                    if capture is None:
                        out[w.cap.id] = Result(Outcome.failed, "capture does not exist")
                    elif capture.status == CaptureStatus.done:
                        out[w.cap.id] = Result(Outcome.already_done)
                    else:
                        todo.append((w, records, ms, capture))
                record_results(
                    s,
                    [
                        NewResult(
                            capture=capture,
                            model_version_id=w.model_id,
                            detections=records,
                            elapsed_ms=ms,
                            width=int(w.decoded.width),
                            height=int(w.decoded.height),
                        )
                        for w, records, ms, capture in todo
                    ],
                )
        except IntegrityError:
            log.info("a write conflict in a batch of %d: storing its captures one by one", len(made))
            return {w.cap.id: self._finish(w, records, ms) for w, records, ms in made}
        for w, records, ms, _ in todo:
            _observe_latency(w.cap)
            log.info("capture %s: %d detections in %.0f ms", w.cap.id, len(records), ms)
            out[w.cap.id] = Result(Outcome.done, detections=len(records))
        return out

    def _finish(self, w: _Work, records: list[DetectionRecord], elapsed_ms: float) -> Result:
        capture_id, model_id = w.cap.id, w.model_id
        try:
            return self._store(w.cap, (w.decoded.height, w.decoded.width), model_id, records, elapsed_ms)
        except IntegrityError:
            with self.sessions() as s:
                run = s.scalar(
                    select(InferenceRun).where(
                        InferenceRun.capture_id == capture_id, InferenceRun.model_version_id == model_id
                    )
                )
            if run is not None:  # its results are stored: it is done, whatever its row says (never claim it again)
                with self.sessions.begin() as s:
                    s.execute(
                        update(Capture)
                        .where(Capture.id == capture_id, Capture.status != CaptureStatus.done)
                        .values(status=CaptureStatus.done, error=None, requeue_needed=False),
                        execution_options={"synchronize_session": False},
                    )
                return Result(Outcome.already_done)
            self._release(capture_id, "write conflict, retrying", permanent=False)
            return Result(Outcome.retry, "write conflict")

    def _store(
        self, cap: Capture, shape: tuple, model_id: int, records: list[DetectionRecord], elapsed_ms: float
    ) -> Result:
        with timed(metrics.DB_SECONDS, step="store"), self.sessions.begin() as s:
            capture = s.get(Capture, cap.id)
            if capture is None:
                return Result(Outcome.failed, "capture does not exist")
            if capture.status == CaptureStatus.done:
                return Result(Outcome.already_done)
            record_result(
                s,
                capture=capture,
                model_version_id=model_id,
                detections=records,
                elapsed_ms=elapsed_ms,
                width=int(shape[1]),
                height=int(shape[0]),
            )
        _observe_latency(cap)
        log.info("capture %s: %d detections in %.0f ms", cap.id, len(records), elapsed_ms)
        return Result(Outcome.done, detections=len(records))


def _settled(cap: Capture | None) -> Result | None:
    """The result of a capture there is nothing to do for (gone, done or failed), else None."""
    if cap is None:
        return Result(Outcome.failed, "capture does not exist")
    if cap.status == CaptureStatus.done:
        return Result(Outcome.already_done)
    if cap.status == CaptureStatus.failed:
        return Result(Outcome.failed, cap.error or "")
    return None


def _detect_one(detector: Any, w: _Work, kw: dict) -> tuple[Any, float]:
    """One capture through ``detector`` (over windows when its camera tiles): detections and milliseconds."""
    t0 = time.perf_counter()
    d = detect_tiled(detector, w.image, w.tiling, **kw) if w.tiling else detector.predict_batch([w.image], **kw)[0]
    return d, (time.perf_counter() - t0) * 1000


def _observe_latency(cap: Capture) -> None:
    """Upload confirmed (``received_at``) → claimed, and → stored now, in the capture histograms."""
    if cap.received_at is None:
        return
    received = _aware(cap.received_at)
    if cap.claimed_at is not None:
        metrics.QUEUE_WAIT_SECONDS.observe(max(0.0, (_aware(cap.claimed_at) - received).total_seconds()))
    metrics.CAPTURE_SECONDS.observe(max(0.0, (utcnow() - received).total_seconds()))


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)
