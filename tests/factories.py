"""Factories that build real rows: a cooperative with a user of every role, a farm, a plot and a camera."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from cropwatch.core.enums import AlertLevel, ModelTask, Role
from cropwatch.core.orm import AlertRule, ApiToken, Camera, Cooperative, Farm, Membership, Plot, User
from cropwatch.core.security import hash_password, new_token, token_hash
from cropwatch.core.timeutil import utcnow


@dataclass
class Tenant:
    cooperative_id: int
    plot_id: int
    camera_id: int
    camera_token: str
    tokens: dict[Role, str] = field(default_factory=dict)  # user bearer token per role
    user_ids: dict[Role, int] = field(default_factory=dict)

    def auth(self, role: Role = Role.member) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    @property
    def camera_auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.camera_token}"}


def make_tenant(session: Session, code: str, *, task: ModelTask = ModelTask.pest, crop: str = "lúa") -> Tenant:
    coop = Cooperative(code=code, name=f"HTX {code}")
    session.add(coop)
    session.flush()
    tokens, ids = {}, {}
    for role in (Role.member, Role.agronomist, Role.ml_engineer, Role.coop_admin):
        u = User(username=f"{code}-{role.value}", full_name=role.value, password_hash=hash_password("pw-" + code))
        session.add(u)
        session.flush()
        session.add(Membership(user_id=u.id, cooperative_id=coop.id, role=role))
        tok = new_token("cw")
        session.add(
            ApiToken(
                token_hash=token_hash(tok),
                user_id=u.id,
                cooperative_id=coop.id,
                expires_at=utcnow() + dt.timedelta(hours=1),
            )
        )
        tokens[role], ids[role] = tok, u.id
    farm = Farm(cooperative_id=coop.id, name=f"farm {code}")
    session.add(farm)
    session.flush()
    plot = Plot(cooperative_id=coop.id, farm_id=farm.id, name=f"Lô {code}", crop=crop)
    session.add(plot)
    session.flush()
    cam_token = new_token("cam")
    cam = Camera(
        cooperative_id=coop.id, plot_id=plot.id, name=f"cam {code}", token_hash=token_hash(cam_token), model_task=task
    )
    session.add(cam)
    session.flush()
    return Tenant(coop.id, plot.id, cam.id, cam_token, tokens, ids)


def add_rule(
    session: Session, cooperative_id: int, class_name: str, threshold: int = 1, level: AlertLevel = AlertLevel.warning
) -> AlertRule:
    rule = AlertRule(
        cooperative_id=cooperative_id, class_name=class_name, threshold=threshold, level=level, min_score=0.0
    )
    session.add(rule)
    session.flush()
    return rule


def make_platform_ml(session: Session, user_id: int) -> None:
    """Make a user installation-level ML staff (what the operator does with ``cropwatch user-create --platform-ml``)."""
    session.get(User, user_id).platform_ml = True


def processed_capture(
    session: Session,
    tenant: Tenant,
    *,
    when: dt.datetime,
    counts: dict[str, int],
    score: float = 0.9,
    class_id: int = 6,
    plot_id: int | None = None,
):
    """A capture of the tenant's camera (on ``plot_id``, default the tenant's plot), processed (``done``) at
    ``when``, with ``counts`` detections per class."""
    import uuid

    from cropwatch.core.enums import CaptureStatus
    from cropwatch.core.orm import Capture, Detection

    cap = Capture(
        cooperative_id=tenant.cooperative_id,
        camera_id=tenant.camera_id,
        plot_id=plot_id or tenant.plot_id,
        object_key=f"raw/x/{uuid.uuid4().hex}.jpg",
        sha256=uuid.uuid4().hex * 2,
        size_bytes=1,
        captured_at=when,
        status=CaptureStatus.done,
    )
    session.add(cap)
    session.flush()
    session.add_all(
        [
            Detection(
                cooperative_id=tenant.cooperative_id,
                capture_id=cap.id,
                class_id=class_id,
                class_name=cls,
                score=score,
                x1=1,
                y1=1,
                x2=9,
                y2=9,
            )
            for cls, n in counts.items()
            for _ in range(n)
        ]
    )
    session.flush()
    return cap


def open_pest_alert(
    sessions, tenant: Tenant, level: AlertLevel = AlertLevel.warning, *, plot_id: int | None = None
) -> int:
    """A real alert raised by the rules from one stored planthopper detection (a threshold-1 rule at ``level``) on
    ``plot_id`` (default the tenant's plot)."""
    from cropwatch.alerts import rules as alerts

    with sessions.begin() as s:
        add_rule(s, tenant.cooperative_id, "planthopper", threshold=1, level=level)
        cap = processed_capture(s, tenant, when=utcnow(), counts={"planthopper": 1}, plot_id=plot_id)
        raised = alerts.evaluate(
            s,
            capture=cap,
            plot=s.get(Plot, plot_id or tenant.plot_id),
            class_names={"planthopper"},
            names_vi={"planthopper": "rầy nâu"},
        )
        return next(a.id for a in raised if a.level == level)


def served_by(worker, sessions, storage, settings, camera_id: int, photo) -> int:
    """Upload ``photo`` from the camera, process it with ``worker``; the model version that detected it."""
    from sqlalchemy import select

    from cropwatch.captures.ingest import direct_upload
    from cropwatch.core.orm import InferenceRun
    from cropwatch.worker.pipeline import Outcome

    with sessions() as s:
        cap, _ = direct_upload(
            s,
            storage,
            settings,
            camera=s.get(Camera, camera_id),
            data=photo.read_bytes(),
            captured_at=dt.datetime.now(dt.timezone.utc),
        )
        cid = cap.id
    assert worker.process(cid).outcome == Outcome.done
    with sessions() as s:
        return s.scalar(select(InferenceRun.model_version_id).where(InferenceRun.capture_id == cid))
