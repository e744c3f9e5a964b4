"""Process one capture: fetch → safe decode → detect → store once → alerts → diary.

Framework-free: the Celery task is a thin wrapper. Results are written in one transaction
guarded by the unique (capture, model version) key, so a duplicate delivery writes nothing twice.
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cropwatch import alerts, diary
from cropwatch.domain import CaptureStatus, DetectionSource
from cropwatch.settings import Settings
from cropwatch.storage import Storage, StorageError
from cropwatch.tables import Camera, Capture, Detection, InferenceRun, ModelVersion, Plot
from cropwatch.timeutil import utcnow
from inference.decode import ImageRejected, decode_image
from inference.model_cache import ModelCache, NoModel

log = logging.getLogger(__name__)


class Outcome(str, enum.Enum):
    done = "done"
    already_done = "already_done"
    failed = "failed"
    retry = "retry"  # transient (storage, no model, write conflict): try again later


@dataclass
class Result:
    outcome: Outcome
    detail: str = ""
    detections: int = 0


class CaptureProcessor:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], storage: Storage,
                 models: ModelCache | None = None) -> None:
        self.settings = settings
        self.sessions = sessions
        self.storage = storage
        self.models = models or ModelCache(settings, storage)

    def _claim(self, capture_id: int) -> Result | Capture:
        """Mark the capture `processing` and count the attempt (a crash mid-task counts too)."""
        with self.sessions.begin() as s:
            cap = s.get(Capture, capture_id, with_for_update=True)
            if cap is None:
                return Result(Outcome.failed, "capture does not exist")
            if cap.status == CaptureStatus.done:
                return Result(Outcome.already_done)
            if cap.status == CaptureStatus.failed:
                return Result(Outcome.failed, cap.error or "")
            if cap.status == CaptureStatus.pending:
                return Result(Outcome.failed, "upload not confirmed")
            if cap.attempts >= self.settings.max_attempts:
                cap.status = CaptureStatus.failed
                cap.error = f"gave up after {cap.attempts} attempts: {cap.error or 'worker lost during processing'}"
                return Result(Outcome.failed, cap.error)
            cap.status = CaptureStatus.processing
            cap.attempts += 1
            s.flush()
            s.expunge(cap)
            return cap

    def _release(self, capture_id: int, error: str, *, permanent: bool) -> None:
        with self.sessions.begin() as s:
            cap = s.get(Capture, capture_id)
            if cap is None or cap.status == CaptureStatus.done:
                return
            cap.error = error
            if permanent:
                cap.status = CaptureStatus.failed
            else:
                cap.status = CaptureStatus.stored
                cap.attempts = max(0, cap.attempts - 1)  # transient trouble does not use up attempts

    def process(self, capture_id: int) -> Result:
        claimed = self._claim(capture_id)
        if isinstance(claimed, Result):
            return claimed
        cap = claimed
        if self.settings.environment == "test" and self.settings.test_task_delay_seconds:
            time.sleep(self.settings.test_task_delay_seconds)
        try:
            data = self.storage.get_bytes(cap.object_key, max_bytes=self.settings.max_upload_bytes)
        except (StorageError, FileNotFoundError) as exc:
            self._release(capture_id, f"object storage: {exc}", permanent=isinstance(exc, FileNotFoundError))
            return Result(Outcome.retry if isinstance(exc, StorageError) else Outcome.failed, str(exc))
        try:
            image = decode_image(data, max_pixels=self.settings.max_image_pixels,
                                 max_bytes=self.settings.max_upload_bytes)
        except ImageRejected as exc:
            self._release(capture_id, f"{exc.code}: {exc}", permanent=True)
            return Result(Outcome.failed, f"{exc.code}: {exc}")
        with self.sessions() as s:
            camera = s.get(Camera, cap.camera_id)
            try:
                model_id, detector = self.models.get(s, camera.model_task)
            except NoModel as exc:
                self._release(capture_id, str(exc), permanent=False)
                return Result(Outcome.retry, str(exc))
        t0 = time.perf_counter()
        dets = detector(image, conf=self.settings.detect_conf, iou=self.settings.detect_iou)
        elapsed_ms = (time.perf_counter() - t0) * 1000
        records = dets.to_records(detector.names)
        try:
            return self._store(cap, image.shape, model_id, records, elapsed_ms)
        except IntegrityError:
            with self.sessions() as s:
                run = s.scalar(select(InferenceRun).where(InferenceRun.capture_id == capture_id,
                                                          InferenceRun.model_version_id == model_id))
            if run is not None:
                return Result(Outcome.already_done)
            self._release(capture_id, "write conflict, retrying", permanent=False)
            return Result(Outcome.retry, "write conflict")

    def _store(self, cap: Capture, shape: tuple, model_id: int, records: list[dict], elapsed_ms: float) -> Result:
        with self.sessions.begin() as s:
            capture = s.get(Capture, cap.id)
            if capture.status == CaptureStatus.done:
                return Result(Outcome.already_done)
            run = InferenceRun(cooperative_id=capture.cooperative_id, capture_id=capture.id,
                               model_version_id=model_id, detection_count=len(records), duration_ms=elapsed_ms)
            s.add(run)
            s.flush()  # the unique (capture, model) key: a second delivery fails here
            rows = [
                Detection(cooperative_id=capture.cooperative_id, capture_id=capture.id, run_id=run.id,
                          model_version_id=model_id, class_id=r["class_id"], class_name=r["class_name"],
                          score=r["score"], x1=r["x1"], y1=r["y1"], x2=r["x2"], y2=r["y2"],
                          source=DetectionSource.model)
                for r in records
            ]
            s.add_all(rows)
            capture.height, capture.width = int(shape[0]), int(shape[1])
            capture.status = CaptureStatus.done
            capture.error = None
            capture.processed_at = utcnow()
            s.flush()
            mv = s.get(ModelVersion, model_id)
            names_vi = {mv.classes[k]: v for k, v in (mv.classes_vi or {}).items() if k in mv.classes}
            plot = s.get(Plot, capture.plot_id)
            camera = s.get(Camera, capture.camera_id)
            opened = alerts.evaluate(s, capture=capture, plot=plot, class_names={r.class_name for r in rows},
                                     names_vi=names_vi)
            diary.automatic_observation(
                s, capture=capture, camera=camera, detections=[(d.id, d.class_name) for d in rows],
                names_vi=names_vi, alert_id=opened[0].id if opened else None,
            )
        log.info("capture %s: %d detections in %.0f ms", cap.id, len(records), elapsed_ms)
        return Result(Outcome.done, detections=len(records))
