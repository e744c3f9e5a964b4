"""Domain enumerations shared by the database, the API and the workers."""

from __future__ import annotations

import enum


class Role(str, enum.Enum):
    member = "member"  # farmer
    agronomist = "agronomist"
    ml_engineer = "ml_engineer"
    coop_admin = "coop_admin"
    union_admin = "union_admin"


class CameraKind(str, enum.Enum):
    garden = "garden"
    sticky_trap = "sticky_trap"
    fruit = "fruit"


class CaptureStatus(str, enum.Enum):
    pending = "pending"  # upload slot handed out, object not confirmed yet
    stored = "stored"  # object verified in S3, waiting for a worker
    processing = "processing"
    done = "done"
    failed = "failed"


class DetectionSource(str, enum.Enum):
    model = "model"
    edge = "edge"
    human = "human"


class ReviewState(str, enum.Enum):
    unreviewed = "unreviewed"
    confirmed = "confirmed"
    rejected = "rejected"
    relabeled = "relabeled"


class AlertLevel(str, enum.Enum):
    watch = "watch"
    warning = "warning"
    danger = "danger"


class AlertStatus(str, enum.Enum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class DiaryType(str, enum.Enum):
    land_prep = "land_prep"
    sowing = "sowing"
    transplanting = "transplanting"
    tilling = "tilling"
    fertilizing = "fertilizing"
    irrigation = "irrigation"
    pruning = "pruning"
    pest_control = "pest_control"
    observation = "observation"
    harvest = "harvest"
    other = "other"


class DiaryStatus(str, enum.Enum):
    pending = "pending"
    done = "done"


class DiarySource(str, enum.Enum):
    manual = "manual"
    automatic = "automatic"


class ModelTask(str, enum.Enum):
    pest = "pest"
    ripeness = "ripeness"


class ModelStage(str, enum.Enum):
    candidate = "candidate"
    shadow = "shadow"  # a candidate running beside production on a sample of live captures, never alerting
    production = "production"
    archived = "archived"
