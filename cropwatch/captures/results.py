"""Writing a capture's detections, from the server's worker or from a field agent's edge detector: one path.

The unique (capture, model version) inference run makes it write-once; alerts and the automatic diary
observation follow in the same transaction, so a capture is never counted twice.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from cropwatch.alerts import rules as alerts
from cropwatch.core.enums import CaptureStatus, DetectionSource
from cropwatch.core.orm import Camera, Capture, Detection, InferenceRun, ModelVersion, Plot
from cropwatch.core.timeutil import utcnow
from cropwatch.diary import entries as diary


def store_detections(
    s: Session,
    *,
    capture: Capture,
    model_version_id: int,
    records: list[dict],
    elapsed_ms: float | None,
    width: int,
    height: int,
    source: DetectionSource = DetectionSource.model,
) -> list[Detection]:
    """Record ``records`` ({class_id, class_name, score, x1, y1, x2, y2}) as the capture's result; mark it done;
    evaluate the cooperative's alert rules and write the diary observation. Raises IntegrityError when this
    (capture, model) result exists already (a second delivery)."""
    run = InferenceRun(
        cooperative_id=capture.cooperative_id,
        capture_id=capture.id,
        model_version_id=model_version_id,
        detection_count=len(records),
        duration_ms=elapsed_ms,
        source=source,
    )
    s.add(run)
    s.flush()  # the unique (capture, model) key: a second delivery fails here
    rows = [
        Detection(
            cooperative_id=capture.cooperative_id,
            capture_id=capture.id,
            run_id=run.id,
            model_version_id=model_version_id,
            class_id=r["class_id"],
            class_name=r["class_name"],
            score=r["score"],
            x1=r["x1"],
            y1=r["y1"],
            x2=r["x2"],
            y2=r["y2"],
            source=source,
        )
        for r in records
    ]
    s.add_all(rows)
    capture.height, capture.width = int(height), int(width)
    capture.status = CaptureStatus.done
    capture.error = None
    capture.processed_at = utcnow()
    s.flush()
    mv = s.get(ModelVersion, model_version_id)
    names_vi = {mv.classes[k]: v for k, v in (mv.classes_vi or {}).items() if k in mv.classes}
    plot = s.get(Plot, capture.plot_id)
    camera = s.get(Camera, capture.camera_id)
    opened = alerts.evaluate(s, capture=capture, plot=plot, class_names={r.class_name for r in rows}, names_vi=names_vi)
    diary.automatic_observation(
        s,
        capture=capture,
        camera=camera,
        detections=[(d.id, d.class_name) for d in rows],
        names_vi=names_vi,
        alert_id=opened[0].id if opened else None,
    )
    return rows
