"""SQLAlchemy tables for the CropWatch domain (ARCHITECTURE.md §2).

Every tenant-owned row carries ``cooperative_id``; queries filter on it (see ``cropwatch.scoping``).
Model versions are shared by all cooperatives of the installation (``cooperative_id`` is NULL).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cropwatch.core.db import Base
from cropwatch.core.enums import (
    AlertLevel,
    AlertStatus,
    CameraKind,
    CaptureStatus,
    DetectionSource,
    DiarySource,
    DiaryStatus,
    DiaryType,
    ModelStage,
    ModelTask,
    ReviewState,
    Role,
)
from inference.detections import DetectionRecord


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on SQLite (which stores naive) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware values")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


def _enum(cls: type) -> Enum:
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


def _coop_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("cooperatives.id", ondelete="CASCADE"), index=True)


class Cooperative(Base):
    __tablename__ = "cooperatives"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    province: Mapped[str | None] = mapped_column(String(100))
    union_code: Mapped[str | None] = mapped_column(String(64), index=True)
    #: the union's name as its people read it ("Liên minh HTX tỉnh Tiền Giang"); the code only groups cooperatives
    union_name: Mapped[str | None] = mapped_column(String(200))
    #: photo retention: photos nothing refers to are thinned after this many days (None: every photo is kept)
    photo_retention_days: Mapped[int | None] = mapped_column(Integer, default=30, server_default="30")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    locale: Mapped[str] = mapped_column(String(8), default="vi")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: installation-level ML staff: may change the shared (shipped) models every cooperative falls back on; set by
    #: the operator (``cropwatch platform-ml USERNAME``), never by a cooperative's admin
    platform_ml: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    memberships: Mapped[list["Membership"]] = relationship(back_populates="user", lazy="selectin")


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "cooperative_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    cooperative_id: Mapped[int] = _coop_fk()
    role: Mapped[Role] = mapped_column(_enum(Role))
    user: Mapped[User] = relationship(back_populates="memberships")


class ApiToken(Base):
    """Bearer tokens for the API, stored as sha256; one token acts in one cooperative."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    cooperative_id: Mapped[int] = _coop_fk()
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Farm(Base):
    __tablename__ = "farms"
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Plot(Base):
    __tablename__ = "plots"
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    farm_id: Mapped[int] = mapped_column(ForeignKey("farms.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    crop: Mapped[str] = mapped_column(String(100))
    variety: Mapped[str | None] = mapped_column(String(100))
    area_m2: Mapped[float | None] = mapped_column(Float)
    planting_date: Mapped[dt.date | None] = mapped_column(Date)
    expected_harvest: Mapped[dt.date | None] = mapped_column(Date)
    growing_area_code: Mapped[str | None] = mapped_column(String(64))
    polygon: Mapped[list | None] = mapped_column(JSON)


class CropProfile(Base):
    """A cooperative's figures for a crop (and variety) that the production forecast multiplies by: expected yield
    per hectare, days from planting to harvest, and over how many days a plot is harvested."""

    __tablename__ = "crop_profiles"
    __table_args__ = (UniqueConstraint("cooperative_id", "crop", "variety", name="uq_crop_profile"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    crop: Mapped[str] = mapped_column(String(100))
    variety: Mapped[str] = mapped_column(String(100), default="", server_default="")  # "": any variety
    yield_kg_per_ha: Mapped[float] = mapped_column(Float)
    days_to_harvest: Mapped[int] = mapped_column(Integer)
    harvest_days: Mapped[int] = mapped_column(Integer, default=7)  # the harvest of a plot spreads over these days
    #: the product's GS1 GTIN (14 digits), when the cooperative has one: its lots' QR codes carry a GS1 Digital Link
    gtin: Mapped[str | None] = mapped_column(String(14))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PlotSeason(Base):
    """A finished season of a plot (what the plot's own fields said then), kept for the forecast's backtest and its
    calibration: the area, crop and dates of that season; its harvest is the lots harvested in it."""

    __tablename__ = "plot_seasons"
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    plot_id: Mapped[int] = mapped_column(ForeignKey("plots.id", ondelete="CASCADE"), index=True)
    crop: Mapped[str] = mapped_column(String(100))
    variety: Mapped[str | None] = mapped_column(String(100))
    area_m2: Mapped[float] = mapped_column(Float)
    planting_date: Mapped[dt.date] = mapped_column(Date)
    expected_harvest: Mapped[dt.date | None] = mapped_column(Date)
    ended_on: Mapped[dt.date] = mapped_column(Date)


class Camera(Base):
    __tablename__ = "cameras"
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    plot_id: Mapped[int] = mapped_column(ForeignKey("plots.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[CameraKind] = mapped_column(_enum(CameraKind), default=CameraKind.garden)
    model_task: Mapped[ModelTask] = mapped_column(_enum(ModelTask), default=ModelTask.pest)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    capture_interval_s: Mapped[int] = mapped_column(Integer, default=600)
    tiling: Mapped[dict | None] = mapped_column(JSON)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: the field agent's settings set by an admin: {"mode", "edge_detection", "daylight_only", "jpeg_quality",
    #: "max_side", "max_upload_kbps"} (docs/edge-protocol.md); None: defaults
    agent_config: Mapped[dict | None] = mapped_column(JSON)
    #: the agent's last heartbeat (version, disk, temperature, battery, backlog, evicted, last error) and its time
    agent_status: Mapped[dict | None] = mapped_column(JSON)
    agent_reported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Capture(Base):
    __tablename__ = "captures"
    __table_args__ = (
        UniqueConstraint("camera_id", "sha256", name="uq_capture_camera_sha256"),
        Index("ix_captures_status_updated", "status", "updated_at"),
        Index("ix_captures_coop_captured", "cooperative_id", "captured_at"),
        # a plot's day of photos (the worker's day read per batch, the pressure charts, the seasonal weeks) is a
        # range of this index, not every photo the plot ever had (ix_captures_plot_id)
        Index("ix_captures_plot_captured", "plot_id", "captured_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    plot_id: Mapped[int] = mapped_column(ForeignKey("plots.id", ondelete="CASCADE"), index=True)
    object_key: Mapped[str] = mapped_column(String(400), unique=True)
    upload_key: Mapped[str | None] = mapped_column(String(400))
    #: an S3 multipart upload in progress at ``upload_key`` (large frames from field agents; resumable)
    multipart_upload_id: Mapped[str | None] = mapped_column(String(400))
    #: frame (the camera's picture) | crops (a mosaic of crops around edge detections)
    kind: Mapped[str] = mapped_column(String(16), default="frame", server_default="frame")
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(64), default="image/jpeg")
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    captured_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    upload_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[CaptureStatus] = mapped_column(_enum(CaptureStatus), default=CaptureStatus.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: when a worker last claimed it: a lease of `claim_lease_seconds` during which other deliveries stand back
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: its own message was spent while another worker's batch held it: if that worker gives it back, publish again
    requeue_needed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    #: a farmer asked for a second look (it goes first in the review queue)
    flagged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    flag_note: Mapped[str | None] = mapped_column(Text)
    #: last time an agronomist reviewed it (None: not reviewed yet)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: the photo was removed by the cooperative's retention policy (the row, its detections and counts stay)
    purged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    detections: Mapped[list["Detection"]] = relationship(back_populates="capture", lazy="selectin")


class RetentionRun(Base):
    """One pass of the photo retention job over a cooperative: what it removed (the photos are marked on their
    captures, ``purged_at``)."""

    __tablename__ = "retention_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    days: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    freed_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    #: photos that could not be removed from object storage this time (tried again next run)
    errors: Mapped[int] = mapped_column(Integer, default=0)


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("task", "sha256"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int | None] = mapped_column(ForeignKey("cooperatives.id", ondelete="CASCADE"))
    task: Mapped[ModelTask] = mapped_column(_enum(ModelTask))
    name: Mapped[str] = mapped_column(String(200))
    onnx_key: Mapped[str] = mapped_column(String(400))
    sha256: Mapped[str] = mapped_column(String(64))
    classes: Mapped[dict] = mapped_column(JSON)
    classes_vi: Mapped[dict | None] = mapped_column(JSON)
    input_size: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict | None] = mapped_column(JSON)
    #: the model family (e.g. pest-rice, pest-field, pest-trap, ripeness-tomato): promotion, rollback and shadow work
    #: per family; None: the task's generic family
    family: Mapped[str | None] = mapped_column(String(64))
    #: the plot crops and camera kinds this version serves (empty: any); a capture goes to the matching family
    crops: Mapped[list | None] = mapped_column(JSON)
    camera_kinds: Mapped[list | None] = mapped_column(JSON)
    #: {"conf", "iou", "max_det"}: how this version's output is read, everywhere it runs (registry.detect_settings)
    detect_settings: Mapped[dict | None] = mapped_column(JSON)
    #: other artifacts of the same version, by variant name: {"int8": {"key": ..., "sha256": ..., "metrics": ...}}
    variants: Mapped[dict | None] = mapped_column(JSON)
    stage: Mapped[ModelStage] = mapped_column(_enum(ModelStage), default=ModelStage.candidate)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    promoted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: provenance: the dataset version and training run that made it (None for the shipped bootstrap models)
    dataset_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="SET NULL", name="fk_model_versions_dataset_version")
    )
    training_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("training_runs.id", ondelete="SET NULL", name="fk_model_versions_training_run")
    )
    #: PyTorch weights in object storage, so the next run can fine-tune from this version
    weights_key: Mapped[str | None] = mapped_column(String(400))
    #: promotions, rollbacks and gate overrides: [{"at", "by", "action", "reason"}]
    history: Mapped[list | None] = mapped_column(JSON)


class GoldenImage(Base):
    """A human-verified image of the golden set of a model family: never in a dataset version (datasets/golden.py)."""

    __tablename__ = "golden_images"
    __table_args__ = (UniqueConstraint("task", "sha256", name="uq_golden_task_sha"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[ModelTask] = mapped_column(_enum(ModelTask))
    family: Mapped[str | None] = mapped_column(String(64), index=True)
    #: the cooperative whose reviewed photo it is; None: seeded from a shared source
    cooperative_id: Mapped[int | None] = mapped_column(ForeignKey("cooperatives.id", ondelete="CASCADE"), index=True)
    object_key: Mapped[str] = mapped_column(String(400))
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    boxes: Mapped[list] = mapped_column(JSON)  # [[class_name, x1, y1, x2, y2], ...] in pixels
    source: Mapped[str] = mapped_column(String(200))
    added_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelAudit(Base):
    """Append-only log of every change to the model registry: who, when, what, why."""

    __tablename__ = "model_audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), index=True)
    #: the scope of the version: its cooperative, or None for a shared model
    cooperative_id: Mapped[int | None] = mapped_column(ForeignKey("cooperatives.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict | None] = mapped_column(JSON)


class ShadowResult(Base):
    """What a shadow model found on a live capture: kept apart from detections, so it never counts or alerts."""

    __tablename__ = "shadow_results"
    __table_args__ = (UniqueConstraint("capture_id", "model_version_id", name="uq_shadow_capture_model"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    capture_id: Mapped[int] = mapped_column(ForeignKey("captures.id", ondelete="CASCADE"), index=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), index=True)
    production_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    records: Mapped[list] = mapped_column(JSON)  # [{class_name, score, x1, y1, x2, y2}]
    duration_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DatasetVersion(Base):
    """An immutable dataset: a manifest in object storage (every image's key, sha256, split and boxes)."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("cooperative_id", "name", "version", name="uq_dataset_version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int | None] = mapped_column(ForeignKey("cooperatives.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    task: Mapped[ModelTask] = mapped_column(_enum(ModelTask))
    manifest_key: Mapped[str] = mapped_column(String(400))
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    classes: Mapped[dict] = mapped_column(JSON)
    stats: Mapped[dict] = mapped_column(JSON)
    filters: Mapped[dict | None] = mapped_column(JSON)
    preview_key: Mapped[str | None] = mapped_column(String(400))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrainingRun(Base):
    """One training job: dataset version in, candidate model version out, with its log and metrics."""

    __tablename__ = "training_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int | None] = mapped_column(ForeignKey("cooperatives.id", ondelete="CASCADE"), index=True)
    dataset_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"))
    base_model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    params: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | done | failed
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    log: Mapped[str] = mapped_column(Text, default="")
    metrics: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", use_alter=True, name="fk_training_runs_model_version")
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class InferenceRun(Base):
    """One row per (capture, model version): the unique key that makes results write-once."""

    __tablename__ = "inference_runs"
    __table_args__ = (UniqueConstraint("capture_id", "model_version_id", name="uq_run_capture_model"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    capture_id: Mapped[int] = mapped_column(ForeignKey("captures.id", ondelete="CASCADE"), index=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    source: Mapped[DetectionSource] = mapped_column(_enum(DetectionSource), default=DetectionSource.model)
    detection_count: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Detection(Base):
    __tablename__ = "detections"
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    capture_id: Mapped[int] = mapped_column(ForeignKey("captures.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("inference_runs.id", ondelete="CASCADE"), index=True)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    class_id: Mapped[int] = mapped_column(Integer)
    class_name: Mapped[str] = mapped_column(String(100), index=True)
    score: Mapped[float] = mapped_column(Float)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    source: Mapped[DetectionSource] = mapped_column(_enum(DetectionSource), default=DetectionSource.model)
    review_state: Mapped[ReviewState] = mapped_column(_enum(ReviewState), default=ReviewState.unreviewed)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    capture: Mapped[Capture] = relationship(back_populates="detections")

    @property
    def record(self) -> DetectionRecord:
        """The stored detection as the one record the rest of the system reads (inference.detections)."""
        return DetectionRecord(self.class_id, self.class_name, self.score, (self.x1, self.y1, self.x2, self.y2))

    @classmethod
    def of_record(cls, r: DetectionRecord, **row: object) -> Detection:
        """A row for record ``r``; ``row`` gives the rest (cooperative, capture, run, model version, source)."""
        x1, y1, x2, y2 = r.xyxy
        return cls(class_id=r.class_id, class_name=r.class_name, score=r.score, x1=x1, y1=y1, x2=x2, y2=y2, **row)


class Review(Base):
    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    capture_id: Mapped[int] = mapped_column(ForeignKey("captures.id", ondelete="CASCADE"), index=True)
    detection_id: Mapped[int | None] = mapped_column(ForeignKey("detections.id", ondelete="SET NULL"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(32))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertRule(Base):
    __tablename__ = "alert_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    name: Mapped[str] = mapped_column(String(200), default="")  # an optional note; what it checks: rule_text
    crop: Mapped[str | None] = mapped_column(String(100))  # None: any crop
    class_name: Mapped[str] = mapped_column(String(100))
    threshold: Mapped[int] = mapped_column(Integer)  # detections per plot per local day
    level: Mapped[AlertLevel] = mapped_column(_enum(AlertLevel), default=AlertLevel.warning)
    min_score: Mapped[float] = mapped_column(Float, default=0.25)
    cooldown_minutes: Mapped[int] = mapped_column(Integer, default=360)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: threshold (count per plot per day ≥ threshold) | trend (count rose ≥ params.rise_pct % over yesterday and is
    #: ≥ threshold) | silence (a camera of the plot sent nothing for params.hours; class_name is "camera_silent")
    kind: Mapped[str] = mapped_column(String(16), default="threshold", server_default="threshold")
    params: Mapped[dict | None] = mapped_column(JSON)
    #: what the threshold counts (cropwatch/alerts/counts.py): trap_day (new insects per trap per day) | sample (the
    #: highest count in one photo of a garden camera) | None: the plot's traps if it has any, else its cameras
    unit: Mapped[str | None] = mapped_column(String(16))


class TrapChange(Base):
    """A sticky-trap card replaced (the farmer's "thay bẫy" mark): the trap's count starts again from zero."""

    __tablename__ = "trap_changes"
    __table_args__ = (Index("ix_trap_changes_camera_time", "camera_id", "changed_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_coop_status", "cooperative_id", "status"),
        # one open (or acknowledged) alert per (plot, pest, level): it updates instead of repeating
        Index(
            "uq_alert_open_per_plot_pest_level",
            "plot_id",
            "class_name",
            "level",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rules.id", ondelete="SET NULL"))
    plot_id: Mapped[int] = mapped_column(ForeignKey("plots.id", ondelete="CASCADE"), index=True)
    class_name: Mapped[str] = mapped_column(String(100))
    level: Mapped[AlertLevel] = mapped_column(_enum(AlertLevel))
    status: Mapped[AlertStatus] = mapped_column(_enum(AlertStatus), default=AlertStatus.open)
    count: Mapped[int] = mapped_column(Integer, default=0)
    threshold: Mapped[int] = mapped_column(Integer, default=0)
    local_day: Mapped[dt.date] = mapped_column(Date)
    message_vi: Mapped[str] = mapped_column(Text, default="")
    message_en: Mapped[str] = mapped_column(Text, default="")
    evidence_capture_id: Mapped[int | None] = mapped_column(ForeignKey("captures.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: notifications of this alert wait until then; the alert list hides it until then unless asked
    snoozed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str | None] = mapped_column(Text)


class DiaryEntry(Base):
    __tablename__ = "diary_entries"
    __table_args__ = (Index("ix_diary_plot_time", "cooperative_id", "plot_id", "occurred_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    plot_id: Mapped[int] = mapped_column(ForeignKey("plots.id", ondelete="CASCADE"), index=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    type: Mapped[DiaryType] = mapped_column(_enum(DiaryType))
    status: Mapped[DiaryStatus] = mapped_column(_enum(DiaryStatus), default=DiaryStatus.done)
    source: Mapped[DiarySource] = mapped_column(_enum(DiarySource), default=DiarySource.manual)
    title: Mapped[str] = mapped_column(String(300), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    quantity_value: Mapped[float | None] = mapped_column(Float)
    quantity_unit: Mapped[str | None] = mapped_column(String(32))
    product_name: Mapped[str | None] = mapped_column(String(200))
    registration_no: Mapped[str | None] = mapped_column(String(100))
    active_ingredient: Mapped[str | None] = mapped_column(String(200))
    dose: Mapped[str | None] = mapped_column(String(100))
    treated_area_m2: Mapped[float | None] = mapped_column(Float)
    operator: Mapped[str | None] = mapped_column(String(200))
    phi_days: Mapped[int | None] = mapped_column(Integer)
    photo_keys: Mapped[list] = mapped_column(JSON, default=list)
    capture_id: Mapped[int | None] = mapped_column(ForeignKey("captures.id", ondelete="SET NULL"), index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    detection_ids: Mapped[list] = mapped_column(JSON, default=list)
    #: automatic observations: the pest they are about (one entry per plot, pest and local day)
    subject: Mapped[str | None] = mapped_column(String(100))
    #: the English wording of an automatic entry's title (``title`` is Vietnamese); a page shows one
    title_en: Mapped[str | None] = mapped_column(String(300))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class DiaryRevision(Base):
    __tablename__ = "diary_revisions"
    __table_args__ = (UniqueConstraint("entry_id", "revision"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    entry_id: Mapped[int] = mapped_column(ForeignKey("diary_entries.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    snapshot: Mapped[dict] = mapped_column(JSON)


class HarvestLot(Base):
    """A harvest lot with a public, unguessable code for its QR label and traceability page."""

    __tablename__ = "harvest_lots"
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    plot_id: Mapped[int] = mapped_column(ForeignKey("plots.id", ondelete="RESTRICT"), index=True)
    public_code: Mapped[str] = mapped_column(String(32), unique=True)
    harvested_on: Mapped[dt.date] = mapped_column(Date)
    quantity: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16), default="kg")
    ripeness_grade: Mapped[str | None] = mapped_column(String(32))
    diary_entry_id: Mapped[int | None] = mapped_column(ForeignKey("diary_entries.id", ondelete="SET NULL"))
    #: a package split from a lot (its own code and QR; the lot's diary and chain are its history too)
    parent_lot_id: Mapped[int | None] = mapped_column(ForeignKey("harvest_lots.id", ondelete="CASCADE"), index=True)
    #: a pre-harvest interval that was still running, overridden by an agronomist: who, why, which products
    phi_override: Mapped[dict | None] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LotEvent(Base):
    """A step of a harvest lot after harvest (sơ chế, đóng gói, bảo quản, vận chuyển, nhận hàng): who, when,
    where and its details (packages, storage temperature, buyer, vehicle); cropwatch.diary.chain checks the order."""

    __tablename__ = "lot_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    lot_id: Mapped[int] = mapped_column(ForeignKey("harvest_lots.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # preprocessing | packing | storage | shipment | receipt
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    place: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    #: photos of the step taken on the phone (the packed boxes, the truck, the cold store's thermometer)
    photo_keys: Mapped[list] = mapped_column(JSON, default=list)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LotSource(Base):
    """A lot merged into another (several members' harvests of one crop commingled at the packhouse): which lot,
    into which, how many kg, when; a lot is merged once (cropwatch.diary.chain.merge)."""

    __tablename__ = "lot_sources"
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    lot_id: Mapped[int] = mapped_column(ForeignKey("harvest_lots.id", ondelete="CASCADE"), index=True)
    source_lot_id: Mapped[int] = mapped_column(ForeignKey("harvest_lots.id", ondelete="RESTRICT"), unique=True)
    quantity: Mapped[float] = mapped_column(Float)
    merged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    place: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Certification(Base):
    """A cooperative's certificate (VietGAP, GlobalG.A.P., organic): scheme, code, issuer, validity and the crops it
    covers (empty: every crop); the public page of a lot shows those valid on its harvest day for its crop."""

    __tablename__ = "certifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    scheme: Mapped[str] = mapped_column(String(32))  # vietgap | globalgap | organic | other
    code: Mapped[str] = mapped_column(String(100))
    issued_by: Mapped[str] = mapped_column(String(200), default="")
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)
    crops: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotificationChannel(Base):
    """Where a cooperative's alerts go: in_app | webhook | email | telegram | zalo, with its settings; or a
    member's own Zalo, Telegram or e-mail (``user_id``)."""

    __tablename__ = "notification_channels"
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    kind: Mapped[str] = mapped_column(String(16))
    #: a member's own channel (their Zalo, Telegram chat or e-mail): alerts of the plots they see only, sent with
    #: the cooperative's bot or OA (cropwatch.alerts.notify.personal); NULL: the cooperative's channel, every alert
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    config: Mapped[dict] = mapped_column(JSON)  # url + secret | to addresses | bot token + chat id | token + user id
    locale: Mapped[str] = mapped_column(String(8), default="vi")
    min_level: Mapped[AlertLevel] = mapped_column(_enum(AlertLevel), default=AlertLevel.watch)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """One alert to one channel: an outbox row written with the alert, sent with retries, logged."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("alert_id", "channel_id", "level", name="uq_delivery_alert_channel_level"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = _coop_fk()
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notification_channels.id", ondelete="CASCADE"), index=True)
    level: Mapped[AlertLevel] = mapped_column(_enum(AlertLevel))
    #: held back by the channel's quiet hours or daily cap: sent together in one digest message when due
    digest: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    response_code: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
