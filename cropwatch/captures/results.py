"""A capture's result, from the server's worker or from a field agent's edge detector: one path.

:func:`record_result` stores the detections (:func:`store_detections`), then raises the cooperative's alerts and
writes the automatic diary observation from the stored rows, in the caller's transaction. The unique (capture,
model version) inference run makes it write-once, so a capture is never counted twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from cropwatch.alerts import rules as alerts
from cropwatch.alerts.counts import DayFigures
from cropwatch.core.enums import CaptureStatus, DetectionSource
from cropwatch.core.orm import Camera, Capture, Detection, InferenceRun, ModelVersion, Plot
from cropwatch.core.timeutil import local_day, utcnow
from cropwatch.diary import entries as diary
from inference.detections import DetectionRecord


def store_detections(
    s: Session,
    *,
    capture: Capture,
    model_version_id: int,
    detections: Sequence[DetectionRecord],
    elapsed_ms: float | None,
    width: int,
    height: int,
    source: DetectionSource = DetectionSource.model,
) -> list[Detection]:
    """Store ``detections`` as the capture's result (its inference run and one row each) and mark it done.
    Raises IntegrityError when this (capture, model) result exists already (a second delivery)."""
    run = InferenceRun(
        cooperative_id=capture.cooperative_id,
        capture_id=capture.id,
        model_version_id=model_version_id,
        detection_count=len(detections),
        duration_ms=elapsed_ms,
        source=source,
    )
    s.add(run)
    s.flush()  # the unique (capture, model) key: a second delivery fails here
    rows = [
        Detection.of_record(
            r,
            cooperative_id=capture.cooperative_id,
            capture_id=capture.id,
            run_id=run.id,
            model_version_id=model_version_id,
            source=source,
        )
        for r in detections
    ]
    s.add_all(rows)
    capture.height, capture.width = int(height), int(width)
    capture.status = CaptureStatus.done
    capture.error = None
    capture.processed_at = utcnow()
    s.flush()
    return rows


def record_result(s: Session, *, capture: Capture, model_version_id: int, **stored: Any) -> list[Detection]:
    """Store the capture's detections (``stored``: the rest of :func:`store_detections`' arguments), evaluate the
    cooperative's alert rules on them and write the diary observation; returns the stored rows. Raises
    IntegrityError on a second delivery (nothing else is written)."""
    rows = store_detections(s, capture=capture, model_version_id=model_version_id, **stored)
    mv = s.get(ModelVersion, model_version_id)
    names_vi = {mv.classes[k]: v for k, v in (mv.classes_vi or {}).items() if k in mv.classes}
    plot = s.get(Plot, capture.plot_id)
    camera = s.get(Camera, capture.camera_id)
    figures = DayFigures(s, plot_id=capture.plot_id, day=local_day(capture.captured_at))  # read once for both
    names = {r.class_name for r in rows}
    opened = alerts.evaluate(s, capture=capture, plot=plot, class_names=names, names_vi=names_vi, figures=figures)
    diary.automatic_observation(
        s,
        capture=capture,
        camera=camera,
        detections=rows,
        names_vi=names_vi,
        alert_id=opened[0].id if opened else None,
        figures=figures,
    )
    return rows
