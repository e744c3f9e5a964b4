"""Request and response bodies."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field

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

ID_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1
#: A row id in a path, query or body. The id columns are INTEGER (32 bits on PostgreSQL): a larger number can name no
#: row, and the database refuses it (PostgreSQL: integer out of range; SQLite past 64 bits: OverflowError) — a 500
#: instead of a 422 without this bound.
Id = Annotated[int, Field(ge=1, le=ID_MAX)]


def _farm_year(value: dt.date) -> dt.date:
    if not 1900 <= value.year <= 2999:
        raise ValueError("the year must be between 1900 and 2999")
    return value


#: A day or moment of farm work. Outside these years the date arithmetic on it (local-day bounds in UTC, the
#: pre-harvest interval looking a year back) leaves Python's date range: a 500 instead of a 422. A moment must carry
#: its UTC offset: the database layer refuses naive datetimes (another 500).
Day = Annotated[dt.date, AfterValidator(_farm_year)]
Moment = Annotated[AwareDatetime, AfterValidator(_farm_year)]


class ErrorOut(BaseModel):
    """An API error: a stable ``code``, its message in the caller's language (Vietnamese by default) and in English."""

    code: str
    detail: str
    detail_en: str


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    """The request does not match the schema (FastAPI's validation error)."""

    detail: list[ValidationIssue]


class MalformedBodyOut(BaseModel):
    """The body could not be parsed at all (e.g. not UTF-8 JSON)."""

    detail: str


_ERROR_DESCRIPTIONS = {
    400: "The request body could not be parsed",
    401: "Not signed in, or the token is expired or revoked",
    403: "The caller's role may not do this",
    404: "No such object in the caller's cooperative",
    409: "The object's state does not allow it",
    410: "The upload URL expired",
    413: "The image is larger than the limit",
    415: "The file is not a supported image",
    422: "Invalid request (schema validation, or a stable error code)",
    429: "Too many requests (failed sign-ins, or a camera's rate); see Retry-After",
    503: "A backing service (object storage, broker) is unavailable; retry later",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the error statuses a route really answers (bodies from ``api.errors``)."""
    models: dict[int, Any] = {400: MalformedBodyOut, 422: ErrorOut | ValidationErrorOut}
    return {s: {"model": models.get(s, ErrorOut), "description": _ERROR_DESCRIPTIONS[s]} for s in statuses}


def binary(*media_types: str, description: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route whose 200 is a file (use with ``response_class=Response``)."""
    return {
        200: {
            "description": description,
            "content": {m: {"schema": {"type": "string", "format": "binary"}} for m in media_types},
        }
    }


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: dt.datetime
    cooperative_id: int
    role: Role


class MeOut(BaseModel):
    id: int
    username: str
    full_name: str
    locale: str
    cooperative_id: int
    role: Role


class PlotOut(_Out):
    id: int
    farm_id: int
    name: str
    crop: str
    variety: str | None
    area_m2: float | None
    planting_date: dt.date | None
    expected_harvest: dt.date | None
    growing_area_code: str | None


class CameraOut(_Out):
    id: int
    plot_id: int
    name: str
    kind: CameraKind
    model_task: ModelTask
    capture_interval_s: int
    last_seen_at: dt.datetime | None
    token_revoked_at: dt.datetime | None


class CameraIn(BaseModel):
    plot_id: Id
    name: str = Field(min_length=1, max_length=200)
    kind: CameraKind = CameraKind.garden
    model_task: ModelTask = ModelTask.pest
    capture_interval_s: int = Field(default=600, ge=10, le=86400)


class CameraWithToken(CameraOut):
    device_token: str = Field(description="shown once; store it on the device")


class SlotIn(BaseModel):
    sha256: str = Field(min_length=64, max_length=64)
    size: int = Field(description="bytes; 0 is refused as an empty image")
    captured_at: Moment
    multipart: bool = Field(default=False, description="upload in parts (resumable), for frames above the part size")
    direct: bool = Field(
        default=False,
        description="PUT straight to the capture's final key, sending `upload_headers` exactly: object storage "
        "verifies the sha256 and refuses a second write (412 means the upload is there: confirm); the confirm then "
        "reads only the image header. Ignored with `multipart`.",
    )


class PartOut(BaseModel):
    part_number: int
    url: str
    done: bool


class MultipartOut(BaseModel):
    upload_id: str
    part_size: int
    parts: list[PartOut]


class EdgeDetectionIn(BaseModel):
    """One detection in the wire form of ``inference.detections.DetectionRecord``."""

    class_id: int | None = Field(default=None, ge=0, description="the model's class id (older agents send none)")
    class_name: str = Field(min_length=1, max_length=100)
    score: float = Field(ge=0, le=1)
    xyxy: list[float] = Field(
        min_length=4,
        max_length=4,
        validation_alias=AliasChoices("xyxy", "box"),
        description="x1, y1, x2, y2 in image pixels (``box`` from agents before the record)",
    )

    def record(self) -> DetectionRecord:
        return DetectionRecord(-1 if self.class_id is None else self.class_id, self.class_name, self.score, self.xyxy)


class EdgeIn(BaseModel):
    model_sha256: str = Field(min_length=64, max_length=64)
    duration_ms: float | None = Field(default=None, ge=0)
    detections: list[EdgeDetectionIn] = Field(default_factory=list, max_length=2000)


class ConfirmIn(BaseModel):
    edge: EdgeIn | None = Field(default=None, description="detections the camera's agent ran itself")
    kind: Literal["frame", "crops"] = "frame"


class SlotOut(BaseModel):
    capture_id: int
    status: CaptureStatus
    upload_url: str | None = None
    method: str = "PUT"
    #: headers the PUT must carry exactly (signed): a direct slot's checksum and no-overwrite condition
    upload_headers: dict[str, str] = Field(default_factory=dict)
    expires_at: dt.datetime | None = None
    duplicate: bool = False
    multipart: MultipartOut | None = None


class DetectionOut(_Out):
    id: int
    class_id: int
    class_name: str
    score: float
    x1: float
    y1: float
    x2: float
    y2: float
    source: DetectionSource
    review_state: ReviewState
    model_version_id: int | None


class CaptureOut(_Out):
    id: int
    camera_id: int
    plot_id: int
    sha256: str
    size_bytes: int
    width: int | None
    height: int | None
    captured_at: dt.datetime
    received_at: dt.datetime
    status: CaptureStatus
    attempts: int
    error: str | None
    flagged_at: dt.datetime | None = None
    reviewed_at: dt.datetime | None = None
    #: the photo was removed by the cooperative's retention policy (its detections and counts are kept)
    purged_at: dt.datetime | None = None


class CaptureDetail(CaptureOut):
    detections: list[DetectionOut]
    image_url: str | None = None


class UploadOut(BaseModel):
    capture: CaptureOut
    duplicate: bool


class AlertOut(_Out):
    id: int
    plot_id: int
    class_name: str
    level: AlertLevel
    status: AlertStatus
    count: int
    threshold: int
    local_day: dt.date
    message: str
    message_vi: str
    message_en: str
    evidence_capture_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    acknowledged_at: dt.datetime | None
    resolved_at: dt.datetime | None
    resolution: str | None
    snoozed_until: dt.datetime | None = None


class SnoozeIn(BaseModel):
    hours: float = Field(gt=0, le=24 * 14)


class ResolveIn(BaseModel):
    reason: str = Field(min_length=1, max_length=1000)


class DiaryOut(_Out):
    id: int
    plot_id: int
    occurred_at: dt.datetime
    type: DiaryType
    status: DiaryStatus
    source: DiarySource
    title: str
    notes: str
    subject: str | None = Field(default=None, description="automatic observations: the pest they are about")
    title_en: str | None = Field(default=None, description="automatic entries: the title in English")
    quantity_value: float | None
    quantity_unit: str | None
    product_name: str | None
    registration_no: str | None
    active_ingredient: str | None
    dose: str | None
    treated_area_m2: float | None
    operator: str | None
    phi_days: int | None
    photo_keys: list[str]
    capture_id: int | None
    alert_id: int | None
    detection_ids: list[int]
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None = Field(default=None, description="set when the entry was withdrawn (soft delete)")


class FieldChangeOut(BaseModel):
    field: str
    before: Any = None
    after: Any = None


class RevisionOut(_Out):
    revision: int
    changed_by: int | None
    changed_at: dt.datetime
    snapshot: dict = Field(description="the entry after this change; `_reason`: why it was edited or deleted")
    reason: str | None = None
    changes: list[FieldChangeOut] = Field(
        default=[], description="the fields this revision changed (none for the first)"
    )


class DiaryDetail(DiaryOut):
    revisions: list[RevisionOut]
    photo_urls: list[str] = []


class DiaryPatch(BaseModel):
    """Fields to change on a manual entry; an absent field stays. ``null`` clears an optional field (title and
    notes become empty; occurred_at, type and status cannot be cleared and ``null`` leaves them)."""

    model_config = ConfigDict(extra="forbid")
    occurred_at: Moment | None = None
    type: DiaryType | None = None
    status: DiaryStatus | None = None
    title: str | None = Field(default=None, max_length=300)
    notes: str | None = Field(default=None, max_length=10000)
    quantity_value: float | None = Field(default=None, allow_inf_nan=False)
    quantity_unit: str | None = Field(default=None, max_length=32)
    product_name: str | None = Field(default=None, max_length=200)
    registration_no: str | None = Field(default=None, max_length=100)
    active_ingredient: str | None = Field(default=None, max_length=200)
    dose: str | None = Field(default=None, max_length=100)
    treated_area_m2: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    operator: str | None = Field(default=None, max_length=200)
    phi_days: int | None = Field(default=None, ge=0, le=365)
    reason: str | None = Field(default=None, max_length=2000, description="why it is changed (kept in the revision)")
    phi_override_reason: str | None = Field(
        default=None,
        max_length=2000,
        description="an agronomist's reason to record a harvest inside a pre-harvest interval",
    )


class DiaryDeleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=2000, description="why it is withdrawn (kept in the revision)")


class ModelOut(_Out):
    id: int
    task: ModelTask
    name: str
    sha256: str
    classes: dict
    classes_vi: dict | None
    input_size: int
    metrics: dict | None
    stage: ModelStage
    created_at: dt.datetime
    promoted_at: dt.datetime | None
    variants: dict | None = None
    dataset_version_id: int | None = None
    training_run_id: int | None = None
    history: list | None = None
    cooperative_id: int | None = Field(default=None, description="owner cooperative; null: shared by the installation")
    family: str | None = Field(default=None, description="model family; promotion and rollback work per family")
    crops: list | None = Field(default=None, description="plot crops this version serves (null: any)")
    camera_kinds: list | None = Field(default=None, description="camera kinds this version serves (null: any)")
    detect_settings: dict | None = Field(default=None, description="conf, NMS IoU, max detections")


class ReviewIn(BaseModel):
    action: str = Field(description="confirm | reject | relabel | add_box | adjust_box | no_pest")
    detection_id: Id | None = None
    class_name: str | None = Field(default=None, max_length=100)
    box: list[float] | None = Field(default=None, min_length=4, max_length=4, description="x1, y1, x2, y2 in pixels")
    note: str | None = Field(default=None, max_length=2000)


class ReviewOut(_Out):
    id: int
    capture_id: int
    detection_id: int | None
    user_id: int
    action: str
    before: dict | None
    after: dict | None
    created_at: dt.datetime


class FlagIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class QueueItemOut(BaseModel):
    capture_id: int
    priority: float
    reasons: list[str]
    plot_id: int
    captured_at: dt.datetime
    detections: int
    classes: list[str]


class DatasetBuildIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    task: ModelTask = ModelTask.pest
    plot_ids: list[Id] | None = None
    crop: str | None = None
    since: Moment | None = None
    until: Moment | None = None
    classes: list[str] | None = Field(default=None, description="keep only these classes (by name)")


class DatasetVersionOut(_Out):
    id: int
    cooperative_id: int | None
    name: str
    version: int
    task: ModelTask
    manifest_sha256: str
    classes: dict
    stats: dict
    filters: dict | None
    created_at: dt.datetime
    preview_url: str | None = None


class TrainingRunIn(BaseModel):
    dataset_version_id: Id
    base_model_version_id: Id | None = Field(default=None, description="fine-tune from this version's weights")
    epochs: int = Field(default=30, ge=1, le=1000)
    imgsz: int = Field(default=320, ge=32, le=1280, multiple_of=32)
    batch: int = Field(default=16, ge=1, le=256)
    seed: int = 0
    start: Literal["auto", "pretrained", "scratch"] = Field(
        default="auto",
        description="auto: continue from the production model's weights when it has them, else the "
        "pretrained checkpoint, else from scratch",
    )
    allow_class_change: bool = Field(
        default=False, description="continue from a model with other classes (its head is rebuilt)"
    )


class TrainingRunOut(_Out):
    id: int
    dataset_version_id: int
    base_model_version_id: int | None
    params: dict
    status: str
    progress: float
    log: str
    metrics: dict | None
    error: str | None
    model_version_id: int | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class PromoteIn(BaseModel):
    reason: str | None = Field(
        default=None, max_length=2000, description="required to promote past the gate, recorded with the promotion"
    )
