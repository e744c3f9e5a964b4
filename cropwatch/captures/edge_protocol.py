"""Field agents: the configuration a camera pulls, the model it downloads, and the detections it ran itself.

See docs/edge-protocol.md for the wire format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cropwatch.captures.ingest import IngestError
from cropwatch.captures.results import record_result
from cropwatch.core.enums import CaptureStatus, DetectionSource
from cropwatch.core.orm import Camera, Capture, Farm, ModelVersion, Plot
from inference.detections import DetectionRecord
from models import registry

MODES = ("all", "detections", "crops")
DEFAULTS = {
    "mode": "all",
    "edge_detection": False,
    "daylight_only": False,
    "jpeg_quality": 85,
    "max_side": 0,
    "max_upload_kbps": 0,
}
AGENT_VARIANT = "int8"  # agents are small CPUs: the quantized artifact when the version has one


def agent_config(session: Session, camera: Camera) -> dict:
    plot = session.get(Plot, camera.plot_id)
    farm = session.get(Farm, plot.farm_id) if plot else None
    cfg = DEFAULTS | {k: v for k, v in (camera.agent_config or {}).items() if k in DEFAULTS}
    mv = camera_model(session, camera)
    model = None
    if mv is not None:
        variant, key, sha = registry.artifact(mv, AGENT_VARIANT)
        size = (mv.variants or {}).get(variant, {}).get("size_bytes") if variant != "fp32" else None
        model = {
            "task": mv.task.value,
            "version_id": mv.id,
            "name": mv.name,
            "variant": variant,
            "sha256": sha,
            "size": size,
            "url": "/api/v1/cameras/me/model",
            "input_size": mv.input_size,
            "classes": mv.classes,
            "detect": registry.detect_settings(mv),
            "tiling": registry.tiling(mv),
        }
    return {
        "camera_id": camera.id,
        "interval_s": camera.capture_interval_s,
        "latitude": farm.latitude if farm else None,
        "longitude": farm.longitude if farm else None,
        **cfg,
        "model": model,
    }


def camera_model(session: Session, camera: Camera) -> ModelVersion | None:
    """The production model for this camera: its task, cooperative, plot crop and camera kind (the worker's rule)."""
    plot = session.get(Plot, camera.plot_id)
    return registry.production(
        session, camera.model_task, camera.cooperative_id, crop=plot.crop if plot else None, camera_kind=camera.kind
    )


def model_for_sha(session: Session, camera: Camera, sha256: str) -> ModelVersion | None:
    """The model version of the camera's task whose FP32 or variant artifact has this sha256."""
    for mv in session.scalars(select(ModelVersion).where(ModelVersion.task == camera.model_task)):
        if mv.sha256 == sha256 or any(v.get("sha256") == sha256 for v in (mv.variants or {}).values()):
            return mv
    return None


def check_edge(
    session: Session, camera: Camera, model_sha256: str, detections: Sequence[DetectionRecord]
) -> tuple[ModelVersion, list[DetectionRecord]]:
    """Refuse (422) detections from a model the server does not know or with classes it does not have; called
    before the capture is accepted, so a refusal loses nothing (the agent keeps the frame). Returns the model and
    the detections with the model's class ids (an agent older than the record sends names only; a class id that
    contradicts its name is refused)."""
    mv = model_for_sha(session, camera, model_sha256.lower())
    if mv is None:
        raise IngestError(422, "edge_model_unknown", sha256=model_sha256[:12])
    ids = {name: int(k) for k, name in mv.classes.items()}
    checked = []
    for d in detections:
        x1, y1, x2, y2 = d.xyxy
        known = ids.get(d.class_name)
        if known is None or d.class_id not in (-1, known) or not (x1 < x2 and y1 < y2):
            raise IngestError(422, "edge_bad_detection", name=d.class_name)
        checked.append(replace(d, class_id=known))
    return mv, checked


def accept_edge(
    session: Session,
    capture: Capture,
    mv: ModelVersion,
    detections: Sequence[DetectionRecord],
    duration_ms: float | None,
) -> bool:
    """Store an agent's detections (checked by :func:`check_edge`) as the capture's result, boxes clipped to the
    image; False when the capture already has a result (a confirm sent twice)."""
    if capture.status == CaptureStatus.done:
        return False
    w, h = capture.width or 0, capture.height or 0
    inside = [c for c in (d.clipped(w, h) for d in detections) if c is not None]
    try:
        record_result(
            session,
            capture=capture,
            model_version_id=mv.id,
            detections=inside,
            elapsed_ms=duration_ms,
            width=w,
            height=h,
            source=DetectionSource.edge,
        )
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True
