"""A demo cooperative for the one-command setup: two farms, four plots (two of rice, cabbage, tomato), a camera on
each with the photos its model is for, users (idempotent)."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cropwatch.core.enums import AlertLevel, CameraKind, CaptureStatus, DiaryType, ModelStage, ModelTask, Role
from cropwatch.core.orm import (
    AlertRule,
    Camera,
    Capture,
    Certification,
    Cooperative,
    Detection,
    DiaryEntry,
    Farm,
    HarvestLot,
    Membership,
    ModelVersion,
    Plot,
    PlotSeason,
    User,
)
from cropwatch.core.security import hash_password, new_token, token_hash
from cropwatch.core.timeutil import LOCAL_TZ
from cropwatch.union.forecast import DEFAULT_PROFILES

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
    #: which real photos the demo sends: rice-pests (its test split), field-pests (the carved test share of
    #: field-pests-15), sticky-trap (the glue-board test cards), tomato (Laboro Tomato test split); empty in a
    #: cameras.json written before it existed
    photos: str = ""


DEMO_UNION_NAME = "Liên minh HTX tỉnh Tiền Giang"

#: warning / danger thresholds of the default rules: a pest species per day (new per trap, or per sample photo)
SPECIES_THRESHOLDS = (3, 10)
#: for the sticky-trap model's classes, which count every insect on a glue board ("fly", "other insect"), not one
#: species: new insects per card per day, an order of magnitude above a species' threshold
TRAP_CARD_THRESHOLDS = (50, 200)


def default_rules(session: Session, cooperative_id: int) -> int:
    """Warning at 3 and danger at 10 of a pest per day (new per trap on a trap, per sample photo on a camera: the
    automatic unit), for each production pest class; what each checks is generated from it (rule_text)."""
    pest_models = session.scalars(
        select(ModelVersion)
        .where(ModelVersion.task == ModelTask.pest, ModelVersion.stage == ModelStage.production)
        .where(or_(ModelVersion.cooperative_id.is_(None), ModelVersion.cooperative_id == cooperative_id))
        .order_by(ModelVersion.id)
    )
    thresholds: dict[str, tuple[int, int]] = {}  # every crop's model, and the sticky-trap one
    for mv in pest_models:
        card_counter = CameraKind.sticky_trap.value in (mv.camera_kinds or [])
        for name in mv.classes.values():
            thresholds.setdefault(name, TRAP_CARD_THRESHOLDS if card_counter else SPECIES_THRESHOLDS)
    have = set(session.scalars(select(AlertRule.class_name).where(AlertRule.cooperative_id == cooperative_id)))
    added = 0
    for name, (warning, danger) in thresholds.items():
        if name in have:
            continue
        for level, threshold in ((AlertLevel.warning, warning), (AlertLevel.danger, danger)):
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
    if coop is not None and not coop.union_name:  # a demo seeded before the union had a name
        coop.union_name = DEMO_UNION_NAME
    if coop is not None and tokens_file.exists():
        default_rules(session, coop.id)
        seed_union(session, coop)
        session.commit()
        return [DemoCamera(**c) for c in json.loads(tokens_file.read_text())]
    if coop is None:
        coop = Cooperative(
            code="demo",
            name="HTX Nông nghiệp Xanh (demo)",
            province="Tiền Giang",
            union_code="lm-tg",
            union_name=DEMO_UNION_NAME,
        )
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
    vegetables = _vegetable_plot(session, coop.id)
    plots = list(session.scalars(select(Plot).where(Plot.cooperative_id == coop.id).order_by(Plot.id)))
    specs = [
        (plots[0], "Bẫy dính A1", CameraKind.sticky_trap, ModelTask.pest, "sticky-trap"),
        (plots[1], "Camera ruộng A2", CameraKind.garden, ModelTask.pest, "rice-pests"),
        (plots[2], "Camera quả B1", CameraKind.fruit, ModelTask.ripeness, "tomato"),
        (vegetables, "Camera rau C1", CameraKind.garden, ModelTask.pest, "field-pests"),
    ]
    _drop_other_cameras(session, coop.id, {(plot.id, name) for plot, name, *_ in specs})
    cams = [
        _demo_camera(session, plot, name, kind, task, photos, interval_s=10) for plot, name, kind, task, photos in specs
    ]
    default_rules(session, coop.id)
    seed_union(session, coop)
    cams += _union_cameras(session)
    session.commit()
    tokens_file.parent.mkdir(parents=True, exist_ok=True)
    tokens_file.write_text(json.dumps([c.__dict__ for c in cams], ensure_ascii=False, indent=1))
    os.chmod(tokens_file, 0o600)
    return cams


def _vegetable_plot(session: Session, cooperative_id: int) -> Plot:
    """The demo's cabbage plot (read by the vegetable pest model), added to a demo seeded before it existed."""
    plot = session.scalar(select(Plot).where(Plot.cooperative_id == cooperative_id, Plot.name == "Lô rau cải C1"))
    if plot is not None:
        return plot
    farm = session.scalar(select(Farm).where(Farm.cooperative_id == cooperative_id).order_by(Farm.id.desc()))
    today = dt.date.today()
    plot = Plot(
        cooperative_id=cooperative_id,
        farm_id=farm.id,
        name="Lô rau cải C1",
        crop="cải bắp",
        variety="KK Cross",
        area_m2=800,
        planting_date=today - dt.timedelta(days=30),
        expected_harvest=today + dt.timedelta(days=45),
        growing_area_code="TG-MT-002",
    )
    session.add(plot)
    session.flush()
    return plot


#: the demo union's other cooperatives (code, name, crop, variety, yield realised against the profile, plots' m²)
UNION_COOPS = (
    ("demo-rau", "HTX Rau an toàn Chợ Gạo (demo)", "cải bắp", "KK Cross", 1.12, (1200, 900, 1500)),
    ("demo-cachua", "HTX Cà chua Mỹ Tho (demo)", "cà chua", "Savior", 0.85, (2000, 1600, 2500)),
)
#: the demo cooperative's own plots realise this share of the profile's yield
DEMO_REALISED = 0.92
PAST_SEASONS = 4


def seed_union(session: Session, home: Cooperative) -> None:
    """The demo union: the demo cooperative plus a vegetable and a fruit cooperative, each with finished seasons of
    its plots and the harvest lots recorded in them, so the union pages, the production forecast and its backtest
    have something to show (synthetic figures: each cooperative realises its own share of the profile's yield, with
    a seeded ±6% per season). Idempotent: a cooperative or a plot that has seasons already is left alone."""
    today = dt.date.today()
    rng = random.Random(2026)
    coops = [(home, DEMO_REALISED)]
    for code, name, crop, variety, realised, areas in UNION_COOPS:
        coop = session.scalar(select(Cooperative).where(Cooperative.code == code))
        if coop is None:
            coop = Cooperative(
                code=code, name=name, province=home.province, union_code=home.union_code, union_name=home.union_name
            )
            session.add(coop)
            session.flush()
            admin = User(
                username=f"quantri-{code.removeprefix('demo-')}",
                full_name=f"Quản trị {name.split('(')[0].strip()}",
                password_hash=hash_password(DEMO_PASSWORD),
                locale="vi",
            )
            session.add(admin)
            session.flush()
            session.add(Membership(user_id=admin.id, cooperative_id=coop.id, role=Role.coop_admin))
            farm = Farm(cooperative_id=coop.id, name=f"Tổ sản xuất {code.removeprefix('demo-').title()} 1")
            session.add(farm)
            session.flush()
            for i, area in enumerate(areas):
                session.add(
                    Plot(
                        cooperative_id=coop.id,
                        farm_id=farm.id,
                        name=f"Lô {crop} {i + 1}",
                        crop=crop,
                        variety=variety,
                        area_m2=area,
                        planting_date=today - dt.timedelta(days=20 + 15 * i),
                        expected_harvest=today + dt.timedelta(days=40 - 10 * i),
                    )
                )
            session.flush()
            default_rules(session, coop.id)
        coops.append((coop, realised))
    for coop, _ in coops:
        _demo_certificate(session, coop, today)
        _demo_seasonal_rules(session, coop)
    for coop, realised in coops:
        for plot in session.scalars(select(Plot).where(Plot.cooperative_id == coop.id).order_by(Plot.id)):
            if session.scalar(select(PlotSeason.id).where(PlotSeason.plot_id == plot.id).limit(1)) is not None:
                continue
            _past_seasons(session, rng, coop, plot, realised)
            session.flush()
            for cam in session.scalars(
                select(Camera).where(Camera.plot_id == plot.id, Camera.kind == CameraKind.fruit)
            ):
                _past_ripeness(session, cam, plot)
    session.flush()


def _demo_seasonal_rules(session: Session, coop: Cooperative) -> None:
    """A seasonal rule (this week above the median of the same week in earlier seasons by half, and at least 2 a
    photo) for the main pest of each crop the cooperative grows that the demo's cameras have a history of
    (:data:`PAST_PESTS`); left alone where the cooperative has a seasonal rule for that pest."""
    crops = set(session.scalars(select(Plot.crop).where(Plot.cooperative_id == coop.id)))
    have = set(
        session.scalars(
            select(AlertRule.class_name).where(AlertRule.cooperative_id == coop.id, AlertRule.kind == "seasonal")
        )
    )
    for crop, pests in PAST_PESTS.items():
        main = next(iter(pests))
        if crop in crops and main not in have:
            session.add(
                AlertRule(
                    cooperative_id=coop.id,
                    crop=crop,
                    class_name=main,
                    kind="seasonal",
                    threshold=2,
                    level=AlertLevel.warning,
                    params={"margin_pct": 50},
                    unit="sample",
                    cooldown_minutes=24 * 60,
                )
            )


def _demo_certificate(session: Session, coop: Cooperative, today: dt.date) -> None:
    """A VietGAP certificate (a made-up number, marked demo) covering the cooperative's crops, so a lot's public page
    shows one; left alone if the cooperative has any."""
    if session.scalar(select(Certification.id).where(Certification.cooperative_id == coop.id).limit(1)):
        return
    crops = sorted(set(session.scalars(select(Plot.crop).where(Plot.cooperative_id == coop.id))))
    session.add(
        Certification(
            cooperative_id=coop.id,
            scheme="vietgap",
            code=f"VietGAP-DEMO-{coop.code.upper()}",
            issued_by="Tổ chức chứng nhận (demo)",
            valid_from=today - dt.timedelta(days=3 * 365),
            valid_until=today + dt.timedelta(days=365),
            crops=crops,
        )
    )


#: a camera on the first plot of each other demo cooperative (name, kind, task, photos), so the union's counts and
#: harvest windows come from the real pipeline as the demo cooperative's do
UNION_CAMERAS = {
    "demo-rau": ("Camera rau Chợ Gạo", CameraKind.garden, ModelTask.pest, "field-pests"),
    "demo-cachua": ("Camera quả Mỹ Tho", CameraKind.fruit, ModelTask.ripeness, "tomato"),
}


def _union_cameras(session: Session) -> list[DemoCamera]:
    """New cameras (new tokens: the file that kept the old ones is gone) for the union's other cooperatives."""
    out = []
    for code, (name, kind, task, photos) in UNION_CAMERAS.items():
        coop = session.scalar(select(Cooperative).where(Cooperative.code == code))
        plot = session.scalar(select(Plot).where(Plot.cooperative_id == coop.id).order_by(Plot.id))
        _drop_other_cameras(session, coop.id, {(plot.id, name)})
        out.append(_demo_camera(session, plot, name, kind, task, photos, interval_s=20))
    return out


def _drop_other_cameras(session: Session, cooperative_id: int, keep: set[tuple[int, str]]) -> None:
    """Remove the cooperative's cameras that are not the demo's (plot, name) ones."""
    for cam in session.scalars(select(Camera).where(Camera.cooperative_id == cooperative_id)):
        if (cam.plot_id, cam.name) not in keep:
            session.delete(cam)
    session.flush()


def _demo_camera(
    session: Session, plot: Plot, name: str, kind: CameraKind, task: ModelTask, photos: str, *, interval_s: int
) -> DemoCamera:
    """The camera ``name`` on ``plot`` with a new device token (created if missing: a camera whose token file was
    lost keeps its photos and history), and what the demo's sender needs of it. A new fruit camera on a plot with
    finished seasons gets what it saw in them (:func:`_past_ripeness`), a garden pest camera what it counted in
    the same weeks of earlier years (:func:`_past_pest_counts`)."""
    token = new_token("cam")
    cam = session.scalar(select(Camera).where(Camera.plot_id == plot.id, Camera.name == name))
    if cam is None:
        cam = Camera(
            cooperative_id=plot.cooperative_id,
            plot_id=plot.id,
            name=name,
            kind=kind,
            model_task=task,
            capture_interval_s=interval_s,
        )
        session.add(cam)
    cam.token_hash = token_hash(token)
    session.flush()
    if kind == CameraKind.fruit:
        _past_ripeness(session, cam, plot)
    if kind == CameraKind.garden and task == ModelTask.pest:
        _past_pest_counts(session, cam, plot)
    return DemoCamera(camera_id=cam.id, name=name, kind=kind.value, token=token, photos=photos)


#: fruit a demo fruit camera "saw" in each photo of a past season
_FRUIT_SEEN = 24


def _past_ripeness(session: Session, cam: Camera, plot: Plot) -> None:
    """What ``cam`` saw of the plot's finished seasons: one photo a day from two weeks before each season's first
    pick to a week past the middle of its picking, its fruit counted by class (the ripeness model's), the ripe share rising along a
    logistic curve that reaches 80% in the middle of the season's picking (synthetic, seeded per season; the photos
    themselves are not kept: `purged_at`, as the retention policy leaves old photos). The forecast's timing backtest
    (:func:`cropwatch.union.forecast.timing_backtest`) replays these. Idempotent per season."""
    import math

    prof = DEFAULT_PROFILES.get(plot.crop)
    if prof is None:
        return
    seasons = session.scalars(
        select(PlotSeason).where(PlotSeason.plot_id == plot.id).order_by(PlotSeason.planting_date)
    )
    for season in seasons:
        first = session.scalar(
            select(HarvestLot.harvested_on)
            .where(HarvestLot.plot_id == plot.id, HarvestLot.harvested_on >= season.planting_date)
            .where(HarvestLot.harvested_on <= season.ended_on)
            .order_by(HarvestLot.harvested_on)
            .limit(1)
        )
        if first is None:
            continue
        days = range(-14, prof.harvest_days // 2 + 8)  # two weeks before the first pick to past the middle
        window = (dt.datetime.combine(first + dt.timedelta(days=days[0]), dt.time(0), LOCAL_TZ),
                  dt.datetime.combine(first + dt.timedelta(days=days[-1] + 1), dt.time(0), LOCAL_TZ))  # fmt: skip
        seen = session.scalar(
            select(Capture.id).where(Capture.camera_id == cam.id, Capture.captured_at.between(*window)).limit(1)
        )
        if seen is not None:
            continue
        rng = random.Random(f"{plot.name}/{season.planting_date}")
        t80 = prof.harvest_days / 2 + rng.gauss(0, 2)  # days after the first pick
        slope = 5.0
        mid = t80 - slope * math.log(4)
        for d in days:
            day = first + dt.timedelta(days=d)
            share = min(1.0, max(0.0, 1 / (1 + math.exp(-(d - mid) / slope)) + rng.gauss(0, 0.02)))
            ripe = round(share * _FRUIT_SEEN)
            turning = round((_FRUIT_SEEN - ripe) * 0.3)
            counts = {"ripe": ripe, "turning": turning, "unripe": _FRUIT_SEEN - ripe - turning}
            at = dt.datetime.combine(day, dt.time(9), LOCAL_TZ)
            # the shipped ripeness model's classes
            _past_photo(
                session, cam, plot, at, [(i, n, counts[n]) for i, n in enumerate(("unripe", "turning", "ripe"))]
            )
    session.flush()


def _past_photo(session: Session, cam: Camera, plot: Plot, at: dt.datetime, seen: list[tuple[int, str, int]]) -> None:
    """One photo ``cam`` took at ``at`` in an earlier season, done, with ``n`` detections of each (class id, class
    name, n) of ``seen``; the photo itself is not kept (`purged_at`, as the retention policy leaves old photos)."""
    cap = Capture(
        cooperative_id=cam.cooperative_id,
        camera_id=cam.id,
        plot_id=plot.id,
        object_key=f"raw/{cam.cooperative_id}/{cam.id}/past/{secrets.token_hex(12)}.jpg",
        sha256=secrets.token_hex(32),
        size_bytes=0,
        width=1280,
        height=720,
        captured_at=at,
        received_at=at,
        processed_at=at,
        purged_at=at,
        status=CaptureStatus.done,
    )
    session.add(cap)
    session.flush()
    k = 0
    for class_id, name, n in seen:
        for _ in range(n):
            x, y = 40 + (k % 8) * 150, 40 + (k // 8) * 200
            session.add(
                Detection(
                    cooperative_id=cam.cooperative_id,
                    capture_id=cap.id,
                    class_id=class_id,
                    class_name=name,
                    score=0.8,
                    x1=x,
                    y1=y,
                    x2=x + 90,
                    y2=y + 90,
                )
            )
            k += 1


#: what a demo garden camera on a plot of each crop counted in earlier years, per photo at the height of the
#: pests' season (synthetic): the crop's main pests in the shipped models' class names
PAST_PESTS = {
    "lúa": {"planthopper": 2.5, "rice leaf roller": 1.2},
    "cải bắp": {"diamondback moth": 2.0, "cabbage white": 0.8},
}
#: how many earlier years, and how many weeks either side of this one, the demo's garden cameras "saw"
PAST_PEST_YEARS, PAST_PEST_WEEKS = 2, 4


def _past_pest_counts(session: Session, cam: Camera, plot: Plot, today: dt.date | None = None) -> None:
    """What a garden pest camera counted on its plot in the same weeks of earlier years (:data:`PAST_PEST_YEARS`,
    ±:data:`PAST_PEST_WEEKS` ISO weeks around this one): one photo a day, each pest a Poisson count whose mean rises
    to :data:`PAST_PESTS`'s figure at a seeded peak week and falls after it (synthetic), so the seasonal rule
    (this week against the median of the same week in earlier seasons) has a history to compare with, as it would
    after two seasons of a real camera. Idempotent per year; the classes are the camera's production model's."""
    import math

    from models import registry

    means = PAST_PESTS.get(plot.crop)
    mv = registry.production(session, ModelTask.pest, cam.cooperative_id, crop=plot.crop, camera_kind=cam.kind)
    if not means or mv is None:
        return
    ids = {name: int(i) for i, name in mv.classes.items()}
    today = today or dt.date.today()
    year, week, _ = today.isocalendar()
    for back in range(1, PAST_PEST_YEARS + 1):
        try:
            centre = dt.date.fromisocalendar(year - back, min(week, 52), 1)
        except ValueError:
            continue
        start, end = centre - dt.timedelta(weeks=PAST_PEST_WEEKS), centre + dt.timedelta(weeks=PAST_PEST_WEEKS + 1)
        window = (dt.datetime.combine(start, dt.time(0), LOCAL_TZ), dt.datetime.combine(end, dt.time(0), LOCAL_TZ))
        if session.scalar(
            select(Capture.id).where(Capture.camera_id == cam.id, Capture.captured_at.between(*window)).limit(1)
        ):
            continue
        rng = random.Random(f"{plot.name}/pests/{year - back}")
        peak = rng.uniform(-10, 10)  # days from this week's Monday, that year
        for d in range((end - start).days):
            day = start + dt.timedelta(days=d)
            bell = math.exp(-((((day - centre).days - peak) / 12) ** 2))
            seen = [
                (ids[name], name, _poisson(rng, mean * (0.2 + 0.8 * bell)))
                for name, mean in means.items()
                if name in ids
            ]
            at = dt.datetime.combine(day, dt.time(7, 30), LOCAL_TZ)
            _past_photo(session, cam, plot, at, seen)
    session.flush()


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method: the means here are a few insects)."""
    import math

    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


#: a season's diary in the demo (days after planting, type, title, product, active ingredient, dose, interval), per
#: crop: what a VietGAP diary of that crop holds; products are common ones of each crop (demo data, not advice)
SEASON_DIARY = {
    "lúa": (
        (0, DiaryType.sowing, "Sạ lúa", None, None, "100 kg/ha", None),
        (20, DiaryType.fertilizing, "Bón thúc lần 1", "NPK 20-20-15", None, "150 kg/ha", None),
        (45, DiaryType.pest_control, "Phun trừ rầy nâu", "Chess 50WG", "Pymetrozine", "0,3 kg/ha", 14),
        (60, DiaryType.fertilizing, "Bón đón đòng", "Kali clorua", None, "50 kg/ha", None),
    ),
    "cải bắp": (
        (0, DiaryType.transplanting, "Trồng cây con", None, None, None, None),
        (15, DiaryType.fertilizing, "Bón thúc", "Phân hữu cơ vi sinh", None, "1 tấn/ha", None),
        (35, DiaryType.pest_control, "Phun trừ sâu tơ", "Radiant 60SC", "Spinetoram", "0,5 l/ha", 7),
    ),
    "cà chua": (
        (0, DiaryType.transplanting, "Trồng cây con", None, None, None, None),
        (20, DiaryType.fertilizing, "Bón thúc lần 1", "NPK 16-16-8", None, "200 kg/ha", None),
        (40, DiaryType.pest_control, "Phun phòng bọ phấn trắng", "Actara 25WG", "Thiamethoxam", "0,1 kg/ha", 7),
        (55, DiaryType.pruning, "Tỉa cành, buộc dây", None, None, None, None),
    ),
}


def _season_diary(session: Session, coop: Cooperative, plot: Plot, planted: dt.date) -> None:
    """A finished season's diary: its work (planting, inputs with their intervals) at the local morning."""
    for days, kind, title, product, ingredient, dose, phi in SEASON_DIARY.get(plot.crop, ()):
        _entry(
            session,
            DiaryEntry(
                cooperative_id=coop.id,
                plot_id=plot.id,
                occurred_at=dt.datetime.combine(planted + dt.timedelta(days=days), dt.time(7), LOCAL_TZ),
                type=kind,
                title=title,
                product_name=product,
                active_ingredient=ingredient,
                dose=dose,
                phi_days=phi,
                treated_area_m2=plot.area_m2 if product else None,
            ),
        )


def _entry(session: Session, entry: DiaryEntry) -> DiaryEntry:
    """A seeded diary entry with its first revision, as one written on the diary page has."""
    from cropwatch.diary.entries import record_revision

    session.add(entry)
    record_revision(session, entry, user_id=None)
    return entry


def _past_seasons(session: Session, rng, coop: Cooperative, plot: Plot, realised: float) -> None:
    """Finished seasons of ``plot`` before its current one, each with its harvest recorded as lots."""

    prof = DEFAULT_PROFILES.get(plot.crop)
    if prof is None or not plot.area_m2 or plot.planting_date is None:
        return
    length = prof.days_to_harvest + prof.harvest_days + 20  # planting to planting, with a fallow
    for k in range(PAST_SEASONS, 0, -1):
        planted = plot.planting_date - dt.timedelta(days=length * k)
        typed = planted + dt.timedelta(days=prof.days_to_harvest)  # what the member wrote as the expected harvest
        # the weather moves the real first pick from the typed date (a seeded ±5 days per season, its own stream so
        # the yields keep theirs)
        late = round(random.Random(f"{coop.code}/{plot.name}/{k}").gauss(0, 5))
        start = typed + dt.timedelta(days=max(-10, min(10, late)))
        ended = start + dt.timedelta(days=prof.harvest_days)
        session.add(
            PlotSeason(
                cooperative_id=coop.id,
                plot_id=plot.id,
                crop=plot.crop,
                variety=plot.variety,
                area_m2=plot.area_m2,
                planting_date=planted,
                expected_harvest=typed,
                ended_on=ended,
            )
        )
        _season_diary(session, coop, plot, planted)
        total = plot.area_m2 / 10_000 * prof.yield_kg_per_ha * realised * rng.gauss(1.0, 0.06)
        picks = 3 if prof.harvest_days > 14 else 1
        for j in range(picks):
            day = start + dt.timedelta(days=j * (prof.harvest_days // picks))
            entry = _entry(
                session,
                DiaryEntry(
                    cooperative_id=coop.id,
                    plot_id=plot.id,
                    occurred_at=dt.datetime.combine(day, dt.time(6), LOCAL_TZ),
                    type=DiaryType.harvest,
                    title="Thu hoạch",
                    quantity_value=round(total / picks, 1),
                    quantity_unit="kg",
                ),
            )
            session.add(
                HarvestLot(
                    cooperative_id=coop.id,
                    plot_id=plot.id,
                    public_code=secrets.token_urlsafe(16),
                    harvested_on=day,
                    quantity=round(total / picks, 1),
                    unit="kg",
                    diary_entry_id=entry.id,
                )
            )
