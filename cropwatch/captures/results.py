"""A capture's result, from the server's worker or from a field agent's edge detector: one path.

:func:`record_result` stores the detections (:func:`store_detections`), then raises the cooperative's alerts and
writes the automatic diary observation from the stored rows, in the caller's transaction; :func:`record_results`
does the same for a worker's batch, evaluating each plot's day once. The unique (capture,
model version) inference run makes it write-once, so a capture is never counted twice.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, insert
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
) -> list[Row]:
    """Store ``detections`` as the capture's result (its inference run and one row each) and mark it done; returns
    the new rows' (id, class_name).
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
    common = dict(
        cooperative_id=capture.cooperative_id,
        capture_id=capture.id,
        run_id=run.id,
        model_version_id=model_version_id,
        source=source,
    )
    # one multi-row Core INSERT … RETURNING: a photo of 300 planthoppers is 300 rows, and ORM objects for them cost
    # 4-5x the insert itself (18 ms against 3.5 ms per 300 rows on SQLite, docs/decisions.md)
    rows = (
        list(
            s.execute(
                insert(Detection.__table__).returning(Detection.id, Detection.class_name),
                [_values(r, common) for r in detections],
            )
        )
        if detections
        else []
    )
    capture.height, capture.width = int(height), int(width)
    capture.status = CaptureStatus.done
    capture.error = None
    capture.processed_at = utcnow()
    s.flush()
    return rows


def _values(r: DetectionRecord, common: dict) -> dict:
    x1, y1, x2, y2 = r.xyxy
    return dict(class_id=r.class_id, class_name=r.class_name, score=r.score, x1=x1, y1=y1, x2=x2, y2=y2, **common)


@dataclass(frozen=True)
class NewResult:
    """One capture's detections, to be stored by :func:`record_results` (the rest of store_detections' arguments)."""

    capture: Capture
    model_version_id: int
    detections: Sequence[DetectionRecord]
    elapsed_ms: float | None
    width: int
    height: int
    source: DetectionSource = DetectionSource.model


def record_results(s: Session, results: Sequence[NewResult]) -> list[list[Row]]:
    """Store several captures' detections in the caller's transaction, then evaluate the alert rules and write the
    diary observation **once per (plot, local day, model)** from the stored rows: a worker's batch of 8 photos of
    one plot reads the day's figures once, not 8 times. The figures are the day's after the whole batch, as
    evaluating capture by capture would leave them; an alert's evidence stays the latest photo that shows its
    pest. Returns the stored rows of each result, in order. Raises IntegrityError on a second delivery of any of
    them (the caller rolls back and stores them one by one)."""
    stored = [
        store_detections(
            s,
            capture=r.capture,
            model_version_id=r.model_version_id,
            detections=r.detections,
            elapsed_ms=r.elapsed_ms,
            width=r.width,
            height=r.height,
            source=r.source,
        )
        for r in results
    ]
    groups: dict[tuple[int, dt.date, int], list[tuple[Capture, list[Row]]]] = defaultdict(list)
    for r, rows in zip(results, stored):
        groups[(r.capture.plot_id, local_day(r.capture.captured_at), r.model_version_id)].append((r.capture, rows))
    versions: dict[int, ModelVersion] = {}
    for (plot_id, day, model_version_id), members in groups.items():
        if model_version_id not in versions:
            versions[model_version_id] = s.get(ModelVersion, model_version_id)
        _evaluate_day(s, plot_id, day, versions[model_version_id], members)
    return stored


def _evaluate_day(
    s: Session, plot_id: int, day: dt.date, mv: ModelVersion, members: list[tuple[Capture, list[Row]]]
) -> None:
    """The alert rules and the diary observation of one plot's day, after ``members`` (its new results) are stored."""
    members = sorted(members, key=lambda m: (m[0].captured_at, m[0].id))
    names_vi = {mv.classes[k]: v for k, v in (mv.classes_vi or {}).items() if k in mv.classes}
    plot = s.get(Plot, plot_id)
    figures = DayFigures(s, plot_id=plot_id, day=day)  # read once for the rules and the diary
    evidence: dict[str, Capture] = {}  # pest -> the latest photo that shows it
    first_seen: dict[str, dt.datetime] = {}  # pest -> when the first photo that shows it was taken
    for cap, rows in members:
        for r in rows:
            evidence[r.class_name] = cap
            first_seen.setdefault(r.class_name, cap.captured_at)
    by_capture: dict[int, tuple[Capture, set[str]]] = {}
    for name, cap in evidence.items():
        by_capture.setdefault(cap.id, (cap, set()))[1].add(name)
    opened = []
    for cap, names in by_capture.values():
        opened += alerts.evaluate(s, capture=cap, plot=plot, class_names=names, names_vi=names_vi, figures=figures)
    latest = members[-1][0]
    diary.automatic_observation(
        s,
        capture=latest,
        camera=s.get(Camera, latest.camera_id),
        detections=[d for _, rows in members for d in rows],
        names_vi=names_vi,
        alert_id=opened[0].id if opened else None,
        figures=figures,
        first_seen=first_seen,
    )


def record_result(s: Session, *, capture: Capture, model_version_id: int, **stored: Any) -> list[Row]:
    """Store the capture's detections (``stored``: the rest of :func:`store_detections`' arguments), evaluate the
    cooperative's alert rules on them and write the diary observation; returns the stored rows. Raises
    IntegrityError on a second delivery (nothing else is written)."""
    return record_results(s, [NewResult(capture=capture, model_version_id=model_version_id, **stored)])[0]
