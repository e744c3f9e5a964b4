"""A demo cooperative for the one-command setup: two farms, plots, cameras, users (idempotent)."""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from cropwatch.domain import AlertLevel, CameraKind, ModelTask, Role
from cropwatch.security import hash_password, new_token, token_hash
from cropwatch.tables import AlertRule, Camera, Cooperative, Farm, Membership, Plot, User
from models import registry

DEMO_PASSWORD = "cropwatch-demo"
DEMO_USERS = (
    ("nongdan", "Nguyễn Văn Nông", Role.member),
    ("kysu", "Trần Thị Kỹ Sư", Role.agronomist),
    ("ml", "Lê Minh Học Máy", Role.ml_engineer),
    ("quantri", "Phạm Quản Trị", Role.coop_admin),
    ("lienminh", "Võ Liên Minh", Role.union_admin),
)


@dataclass
class DemoCamera:
    camera_id: int
    name: str
    kind: str
    token: str


def default_rules(session: Session, cooperative_id: int) -> int:
    """Warning at 3 and danger at 10 of a pest per day (new per trap on a trap, per sample photo on a camera: the
    automatic unit), for each production pest class; what each checks is generated from it (rule_text)."""
    mv = registry.production(session, ModelTask.pest)
    if mv is None:
        return 0
    have = set(session.scalars(select(AlertRule.class_name).where(AlertRule.cooperative_id == cooperative_id)))
    added = 0
    for name in mv.classes.values():
        if name in have:
            continue
        for level, threshold in ((AlertLevel.warning, 3), (AlertLevel.danger, 10)):
            session.add(
                AlertRule(
                    cooperative_id=cooperative_id,
                    class_name=name,
                    threshold=threshold,
                    level=level,
                    cooldown_minutes=360,
                )
            )
            added += 1
    return added


def seed_demo(session: Session, tokens_file: Path) -> list[DemoCamera]:
    """Create the demo cooperative once; returns its cameras with device tokens (kept in ``tokens_file``)."""
    coop = session.scalar(select(Cooperative).where(Cooperative.code == "demo"))
    if coop is not None and tokens_file.exists():
        default_rules(session, coop.id)
        session.commit()
        return [DemoCamera(**c) for c in json.loads(tokens_file.read_text())]
    if coop is None:
        coop = Cooperative(code="demo", name="HTX Nông nghiệp Xanh (demo)", province="Tiền Giang", union_code="lm-tg")
        session.add(coop)
        session.flush()
        users = {}
        for username, full_name, role in DEMO_USERS:
            u = User(
                username=username,
                full_name=full_name,
                password_hash=hash_password(DEMO_PASSWORD),
                locale="vi",
                platform_ml=role == Role.ml_engineer,
            )  # the demo's ML engineer is also the installation's
            session.add(u)
            session.flush()
            session.add(Membership(user_id=u.id, cooperative_id=coop.id, role=role))
            users[role] = u
        farmer = users[Role.member]
        f1 = Farm(
            cooperative_id=coop.id, name="Trang trại Cái Bè", latitude=10.34, longitude=106.03, owner_id=farmer.id
        )
        f2 = Farm(cooperative_id=coop.id, name="Vườn Mỹ Thuận", latitude=10.28, longitude=105.91, owner_id=farmer.id)
        session.add_all([f1, f2])
        session.flush()
        today = dt.date.today()
        session.add_all(
            [
                Plot(
                    cooperative_id=coop.id,
                    farm_id=f1.id,
                    name="Lô lúa A1",
                    crop="lúa",
                    variety="OM5451",
                    area_m2=5000,
                    planting_date=today - dt.timedelta(days=40),
                    expected_harvest=today + dt.timedelta(days=55),
                    growing_area_code="TG-CB-001",
                ),
                Plot(
                    cooperative_id=coop.id,
                    farm_id=f1.id,
                    name="Lô lúa A2",
                    crop="lúa",
                    variety="ST25",
                    area_m2=4200,
                    planting_date=today - dt.timedelta(days=35),
                    expected_harvest=today + dt.timedelta(days=60),
                    growing_area_code="TG-CB-002",
                ),
                Plot(
                    cooperative_id=coop.id,
                    farm_id=f2.id,
                    name="Lô cà chua B1",
                    crop="cà chua",
                    variety="Savior",
                    area_m2=1500,
                    planting_date=today - dt.timedelta(days=70),
                    expected_harvest=today + dt.timedelta(days=10),
                    growing_area_code="TG-MT-001",
                ),
            ]
        )
        session.flush()
    plots = list(session.scalars(select(Plot).where(Plot.cooperative_id == coop.id).order_by(Plot.id)))
    for cam in session.scalars(select(Camera).where(Camera.cooperative_id == coop.id)):
        session.delete(cam)  # tokens were lost with the file: issue new cameras
    session.flush()
    specs = [
        (plots[0], "Bẫy dính A1", CameraKind.sticky_trap, ModelTask.pest),
        (plots[1], "Camera ruộng A2", CameraKind.garden, ModelTask.pest),
        (plots[2], "Camera quả B1", CameraKind.fruit, ModelTask.ripeness),
    ]
    cams = []
    for plot, name, kind, task in specs:
        token = new_token("cam")
        cam = Camera(
            cooperative_id=coop.id,
            plot_id=plot.id,
            name=name,
            kind=kind,
            model_task=task,
            token_hash=token_hash(token),
            capture_interval_s=10,
        )
        session.add(cam)
        session.flush()
        cams.append(DemoCamera(camera_id=cam.id, name=name, kind=kind.value, token=token))
    default_rules(session, coop.id)
    session.commit()
    tokens_file.parent.mkdir(parents=True, exist_ok=True)
    tokens_file.write_text(json.dumps([c.__dict__ for c in cams], ensure_ascii=False, indent=1))
    os.chmod(tokens_file, 0o600)
    return cams
