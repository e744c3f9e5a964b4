"""The demo cooperative shows all three pest models and the ripeness model working: a rice trap reading glue
boards, a rice field camera, a cabbage plot whose camera sends field-pest photos the model never trained on, a
tomato camera; default rules for every class, with card-sized thresholds for the trap model's insect counts."""

from __future__ import annotations

from sqlalchemy import select

from cropwatch.core.enums import AlertLevel, CameraKind
from cropwatch.core.orm import AlertRule, Camera, Cooperative, Plot
from cropwatch.seed import SPECIES_THRESHOLDS, TRAP_CARD_THRESHOLDS, seed_demo
from datasets.splits import hash_fraction
from models import registry
from tests.helpers import need_shared
from training.recipes import PEST_FIELD


def test_the_demo_has_a_camera_for_each_model_and_rules_for_each_class(sessions, all_models_registered, tmp_path):
    with sessions() as s:  # seed_demo commits, as `cropwatch seed-demo` does
        cams = seed_demo(s, tmp_path / "cameras.json")
    assert {c.photos for c in cams} == {"sticky-trap", "rice-pests", "field-pests", "tomato"}
    with sessions() as s:
        coop = s.scalar(select(Cooperative).where(Cooperative.code == "demo"))
        served = {}
        for cam in s.scalars(select(Camera).where(Camera.cooperative_id == coop.id)):
            plot = s.get(Plot, cam.plot_id)
            mv = registry.production(s, cam.model_task, coop.id, crop=plot.crop, camera_kind=cam.kind)
            served[cam.name] = mv.family
        assert served == {
            "Bẫy dính A1": "pest-trap",
            "Camera ruộng A2": "pest-rice",
            "Camera rau C1": "pest-field",
            "Camera quả B1": "ripeness-tomato",
        }
        rules = {
            (r.class_name, r.level): r.threshold
            for r in s.scalars(
                select(AlertRule).where(AlertRule.cooperative_id == coop.id, AlertRule.kind == "threshold")
            )
        }
    assert rules[("planthopper", AlertLevel.warning)] == SPECIES_THRESHOLDS[0]
    assert rules[("diamondback moth", AlertLevel.danger)] == SPECIES_THRESHOLDS[1]
    assert (rules[("other insect", AlertLevel.warning)], rules[("other insect", AlertLevel.danger)]) == (
        TRAP_CARD_THRESHOLDS
    )
    with sessions() as s:  # seeding again (a restart) adds nothing
        again = seed_demo(s, tmp_path / "cameras.json")
        assert [c.token for c in again] == [c.token for c in cams]
        assert s.query(Camera).filter_by(kind=CameraKind.sticky_trap).count() == 1


def test_the_vegetable_camera_sends_only_photos_of_the_carved_test_share(tmp_path):
    from cropwatch import cli
    from cropwatch.seed import DemoCamera

    cam = DemoCamera(camera_id=4, name="Camera rau C1", kind="garden", token="x", photos="field-pests")
    folder = cli._demo_images(cam, tmp_path / "cam")
    sent = sorted(p.name for p in folder.iterdir())
    assert len(sent) > 30
    assert all(hash_fraction(n, "test:") < PEST_FIELD.test_fraction for n in sent), "never a training photo"


def test_the_demo_trap_fills_up_one_card_a_day_from_a_warning_sized_card(tmp_path):
    from cropwatch import cli
    from cropwatch.seed import DemoCamera

    cam = DemoCamera(camera_id=1, name="Bẫy dính A1", kind="sticky_trap", token="x", photos="sticky-trap")
    labels = need_shared("sticky-trap-aiinsect", "labels", "test")
    cards = sorted(cli._demo_images(cam, tmp_path / "cam").iterdir())
    insects = [len((labels / (p.stem.split("-", 1)[1] + ".txt")).read_text().split()) // 5 for p in cards]
    assert len(cards) >= 5
    assert insects == sorted(insects), "each day's card holds more insects than the day before"
    assert insects[0] >= TRAP_CARD_THRESHOLDS[0], "the first demo day's card is no empty board"


def test_the_demo_union_has_three_cooperatives_with_past_seasons_to_forecast_from(
    sessions, all_models_registered, tmp_path
):
    """Issue 17: rice, vegetables and fruit, each with finished seasons and their harvests, so the union pages, the
    forecast and its backtest have something real to show; seeding again adds nothing."""
    from sqlalchemy import func

    from cropwatch.core.orm import HarvestLot, PlotSeason
    from cropwatch.union import forecast

    with sessions() as s:
        cams = seed_demo(s, tmp_path / "cameras.json")
    with sessions() as s:
        home = s.scalar(select(Cooperative).where(Cooperative.code == "demo"))
        union = s.scalars(select(Cooperative).where(Cooperative.union_code == home.union_code)).all()
        crops = {c.code: set(s.scalars(select(Plot.crop).where(Plot.cooperative_id == c.id))) for c in union}
        seasons = s.scalar(select(func.count(PlotSeason.id)))
        lots = s.scalar(select(func.count(HarvestLot.id)))
        back = forecast.backtest(s, [c.id for c in union])
        timing = forecast.timing_backtest(s, [c.id for c in union])
        ahead = forecast.weekly(s, [c.id for c in union], weeks=12)
    assert crops == {"demo": {"lúa", "cà chua", "cải bắp"}, "demo-rau": {"cải bắp"}, "demo-cachua": {"cà chua"}}
    assert seasons == 40 and lots > seasons  # 10 plots × 4 seasons; tomatoes are picked several times
    assert set(back) == {"lúa", "cà chua", "cải bắp"} and all(
        b["mape_forecast"] < b["mape_naive"] for b in back.values()
    )
    assert not ahead["missing"] and {r["crop"] for r in ahead["rows"]} == {"lúa", "cà chua", "cải bắp"}
    # the fruit cameras' past seasons time the picking once the fruit turns; before that the typed date stands
    assert timing[0]["seasons"] == 8 and timing[0]["from_camera"] == 0
    assert timing[0]["mae_days_forecast"] == timing[0]["mae_days_naive"] > 0
    assert timing[14]["from_camera"] == 8 and timing[14]["mae_days_forecast"] < timing[14]["mae_days_naive"]
    # each cooperative's counts and harvest windows come from a camera of its own, through the real pipeline
    with sessions() as s:
        by_coop = {
            c.code: {
                (cam.kind.value, cam.model_task.value)
                for cam in s.scalars(select(Camera).filter_by(cooperative_id=c.id))
            }
            for c in union
        }
    assert by_coop["demo-rau"] == {("garden", "pest")} and by_coop["demo-cachua"] == {("fruit", "ripeness")}
    union_cams = _union_camera_ids(sessions)
    assert {c.photos for c in cams if c.camera_id in union_cams} == {"field-pests", "tomato"}
    # a past season's lot carries its season's diary: sowing or planting, inputs with their intervals, the harvest
    with sessions() as s:
        from cropwatch.diary.lots import public_view

        rau = next(c for c in union if c.code == "demo-rau")
        old_lot = s.scalars(
            select(HarvestLot).filter_by(cooperative_id=rau.id).order_by(HarvestLot.harvested_on)
        ).first()
        view = public_view(s, old_lot)
    assert [e["type"] for e in view["diary"]] == ["transplanting", "fertilizing", "pest_control", "harvest"]
    assert view["diary"][2]["product"] == "Radiant 60SC" and view["diary"][2]["phi_days"] == 7
    assert [c["code"] for c in view["certifications"]] == ["VietGAP-DEMO-DEMO-RAU"]
    assert old_lot.diary_entry_id is not None
    with sessions() as s:
        seed_demo(s, tmp_path / "cameras.json")
        assert s.scalar(select(func.count(PlotSeason.id))) == seasons
        assert s.scalar(select(func.count(Cooperative.id))) == len(union)


def _union_camera_ids(sessions) -> set[int]:
    with sessions() as s:
        home = s.scalar(select(Cooperative).where(Cooperative.code == "demo"))
        return set(s.scalars(select(Camera.id).where(Camera.cooperative_id != home.id)))


def test_seeding_again_without_the_token_file_keeps_the_cameras_and_what_they_saw(sessions, tmp_path):
    """The token file lost (a new data folder for the sender): every demo camera gets a new token, but it is the same
    camera, with its photos and counts (the fruit cameras' past seasons feed the forecast's timing backtest)."""
    from sqlalchemy import func

    from cropwatch.core.orm import Capture

    with sessions() as s:
        first = seed_demo(s, tmp_path / "cameras.json")
    with sessions() as s:
        photos = s.scalar(select(func.count(Capture.id)))
    (tmp_path / "cameras.json").unlink()
    with sessions() as s:
        again = seed_demo(s, tmp_path / "cameras.json")
    with sessions() as s:
        assert s.scalar(select(func.count(Capture.id))) == photos > 0
        assert s.scalar(select(func.count(Camera.id))) == len(first)
    assert [c.camera_id for c in again] == [c.camera_id for c in first]
    assert all(a.token != b.token for a, b in zip(again, first))


def test_the_demo_garden_cameras_counted_the_same_weeks_of_earlier_years(sessions, all_models_registered, tmp_path):
    """Issue 17: each cooperative with a garden pest camera has its counts of the same weeks in two earlier years,
    so the seasonal rule it is given compares this week with a history, on the plot's own seasons."""
    import datetime as dt

    from sqlalchemy import func

    from cropwatch.alerts.counts import seasonal_figure
    from cropwatch.core.orm import Capture

    with sessions() as s:
        seed_demo(s, tmp_path / "cameras.json")
    today = dt.date.today()
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=300)
    with sessions() as s:
        figures = {}
        for cam in s.scalars(select(Camera).filter_by(kind=CameraKind.garden)):
            plot = s.get(Plot, cam.plot_id)
            coop = s.get(Cooperative, cam.cooperative_id)
            rule = s.scalar(select(AlertRule).filter_by(cooperative_id=coop.id, kind="seasonal", crop=plot.crop))
            fig = seasonal_figure(
                s, plot_id=plot.id, peer_plot_ids=[], class_name=rule.class_name, day=today, min_score=0.25,
                unit="sample",
            )  # fmt: skip
            figures[(coop.code, plot.crop, rule.class_name)] = (fig.seasons, fig.scope, fig.median > 0)
        past = s.scalar(select(func.count(Capture.id)).where(Capture.captured_at < old))
    assert figures == {
        ("demo", "lúa", "planthopper"): (2, "plot", True),
        ("demo", "cải bắp", "diamondback moth"): (2, "plot", True),
        ("demo-rau", "cải bắp", "diamondback moth"): (2, "plot", True),
    }
    with sessions() as s:  # seeding again adds neither photos nor rules
        rules = s.scalar(select(func.count(AlertRule.id)))
        seed_demo(s, tmp_path / "cameras.json")
        assert s.scalar(select(func.count(Capture.id)).where(Capture.captured_at < old)) == past
        assert s.scalar(select(func.count(AlertRule.id))) == rules
