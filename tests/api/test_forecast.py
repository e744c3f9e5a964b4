"""The production forecast (issue 17): area × profile yield timed by the plot's dates, corrected by the
cooperative's earlier seasons, by what is already harvested and by a fruit camera; what is missing is said, not
guessed; the union reads its cooperatives' totals; the backtest beats the naive figure where the evidence says so."""

from __future__ import annotations

import datetime as dt
import secrets

from factories import make_tenant, processed_capture
from sqlalchemy import select

from cropwatch.core.enums import CameraKind, ModelTask, Role
from cropwatch.core.orm import Camera, Cooperative, HarvestLot, Membership, Plot, PlotSeason
from cropwatch.core.timeutil import LOCAL_TZ, utcnow
from cropwatch.union import forecast

TODAY = utcnow().astimezone(LOCAL_TZ).date()


def _plot(s, tenant, **kw) -> Plot:
    plot = s.get(Plot, tenant.plot_id)
    for k, v in kw.items():
        setattr(plot, k, v)
    s.flush()
    return plot


def _lot(s, tenant, plot_id, on, kg):
    s.add(
        HarvestLot(
            cooperative_id=tenant.cooperative_id,
            plot_id=plot_id,
            public_code=secrets.token_urlsafe(16),
            harvested_on=on,
            quantity=kg,
            unit="kg",
        )
    )


def _season(s, tenant, plot_id, planted, kg, area=5000):
    s.add(
        PlotSeason(
            cooperative_id=tenant.cooperative_id,
            plot_id=plot_id,
            crop="lúa",
            area_m2=area,
            planting_date=planted,
            expected_harvest=planted + dt.timedelta(days=100),
            ended_on=planted + dt.timedelta(days=107),
        )
    )
    _lot(s, tenant, plot_id, planted + dt.timedelta(days=101), kg)


def _total(rows, crop="lúa"):
    return round(sum(r["expected_kg"] for r in rows if r["crop"] == crop), 1)


def test_a_plot_is_forecast_from_its_area_and_dates_and_corrected_by_earlier_seasons(client, sessions, tenant_a):
    admin = tenant_a.auth(Role.coop_admin)
    with sessions.begin() as s:
        _plot(
            s,
            tenant_a,
            area_m2=5000,
            planting_date=TODAY - dt.timedelta(days=80),
            expected_harvest=TODAY + dt.timedelta(days=20),
        )
    got = client.get("/api/v1/forecast", headers=admin).json()
    assert _total(got["rows"]) == 3000.0  # 0,5 ha × 6 000 kg/ha, nothing else known
    weeks = {r["week"] for r in got["rows"]}
    harvest = TODAY + dt.timedelta(days=20)
    assert all(abs((dt.date.fromisoformat(w) - harvest).days) <= 10 for w in weeks), "timed around the harvest date"
    low, high = (sum(r[k] for r in got["rows"]) for k in ("low_kg", "high_kg"))
    assert (round(low), round(high)) == (2400, 3600), "±20% until three seasons are recorded"
    # three earlier seasons realised 80% of the profile: the forecast follows them, and the band is theirs
    with sessions.begin() as s:
        for k, kg in ((3, 2300), (2, 2400), (1, 2500)):
            _season(s, tenant_a, tenant_a.plot_id, TODAY - dt.timedelta(days=80 + 130 * k), kg)
    got = client.get("/api/v1/forecast", headers=admin).json()
    assert _total(got["rows"]) == 2400.0
    assert (
        round(sum(r["low_kg"] for r in got["rows"])) == 2300 and round(sum(r["high_kg"] for r in got["rows"])) == 2500
    )
    # 900 kg already harvested this season: 1 500 kg are still to come, and the week's harvest is shown
    with sessions.begin() as s:
        _lot(s, tenant_a, tenant_a.plot_id, TODAY, 900)
    got = client.get("/api/v1/forecast", headers=admin).json()
    assert _total(got["rows"]) == 1500.0
    assert sum(r["recorded_kg"] for r in got["rows"]) == 900
    back = {b["crop"]: b for b in got["backtest"]}["lúa"]
    assert back["seasons"] == 3 and back["mape_forecast"] < back["mape_naive"]
    assert "MAPE" in got["how"] and "diện tích × năng suất" in got["how"]


def test_a_plot_without_area_or_dates_says_what_is_missing(client, sessions, tenant_a):
    with sessions.begin() as s:
        _plot(s, tenant_a, area_m2=None, planting_date=None, expected_harvest=None)
        farm_id = s.get(Plot, tenant_a.plot_id).farm_id
        s.add(
            Plot(cooperative_id=tenant_a.cooperative_id, farm_id=farm_id, name="Lô không ngày", crop="lúa", area_m2=900)
        )
        s.add(
            Plot(
                cooperative_id=tenant_a.cooperative_id,
                farm_id=farm_id,
                name="Lô thanh long",
                crop="thanh long",
                area_m2=900,
                expected_harvest=TODAY,
            )
        )
    got = client.get("/api/v1/forecast", headers=tenant_a.auth(Role.agronomist)).json()
    assert got["rows"] == []
    said = sorted(m["message"] for m in got["missing"])
    assert said == [
        "Lô Lô a: chưa có diện tích, chưa thể dự báo sản lượng.",
        "Lô Lô không ngày: chưa có ngày trồng hay ngày thu hoạch dự kiến, chưa thể dự báo.",
        "Lô Lô thanh long: cây trồng chưa có hồ sơ năng suất, hợp tác xã cần nhập năng suất dự kiến.",
    ]
    # the admin enters a profile for the crop: the plot is forecast from it
    r = client.put(
        "/api/v1/crop-profiles",
        headers=tenant_a.auth(Role.coop_admin),
        json={"crop": "thanh long", "yield_kg_per_ha": 20000, "days_to_harvest": 30, "harvest_days": 1},
    )
    assert r.status_code == 200 and r.json()["source"] == "cooperative"
    got = client.get("/api/v1/forecast", headers=tenant_a.auth(Role.agronomist)).json()
    assert _total(got["rows"], "thanh long") == 1800.0
    assert (
        client.put(
            "/api/v1/crop-profiles",
            headers=tenant_a.auth(Role.agronomist),
            json={"crop": "lúa", "yield_kg_per_ha": 1, "days_to_harvest": 1},
        ).status_code
        == 403
    )
    assert client.get("/api/v1/forecast", headers=tenant_a.auth(Role.member)).status_code == 403


def test_a_fruit_camera_moves_the_harvest_to_when_the_fruit_ripens(sessions):
    with sessions.begin() as s:
        t = make_tenant(s, "ripe", task=ModelTask.ripeness, crop="cà chua")
        s.get(Camera, t.camera_id).kind = CameraKind.fruit
        plot = _plot(
            s,
            t,
            area_m2=1000,
            planting_date=TODAY - dt.timedelta(days=40),
            expected_harvest=TODAY + dt.timedelta(days=40),
        )
        # the ripe share rises 10 points a day: 40% today, 80% in four days
        for back, ripe in ((3, 1), (2, 2), (1, 3), (0, 4)):
            when = dt.datetime.combine(TODAY - dt.timedelta(days=back), dt.time(9), LOCAL_TZ)
            processed_capture(s, t, when=when, counts={"ripe": ripe, "unripe": 10 - ripe}, class_id=0)
    with sessions() as s:
        got = forecast.plot_forecast(s, s.get(Plot, plot.id), TODAY)
    assert got.centre == TODAY + dt.timedelta(days=4) and "forecast_how_ripeness" in got.how


def test_a_fruit_cameras_slow_start_leaves_the_typed_date(sessions):
    """Below a 30% ripe share the trend of a slow start runs off by weeks (the timing backtest: 69 days at the first
    pick): the picking stays where the member's date puts it, starting on that date."""
    with sessions.begin() as s:
        t = make_tenant(s, "slow", task=ModelTask.ripeness, crop="cà chua")
        s.get(Camera, t.camera_id).kind = CameraKind.fruit
        typed = TODAY + dt.timedelta(days=5)
        plot = _plot(s, t, area_m2=1000, planting_date=TODAY - dt.timedelta(days=60), expected_harvest=typed)
        for back, ripe in ((3, 1), (2, 1), (1, 2), (0, 2)):  # 5% rising to 10%
            when = dt.datetime.combine(TODAY - dt.timedelta(days=back), dt.time(9), LOCAL_TZ)
            processed_capture(s, t, when=when, counts={"ripe": ripe, "unripe": 20 - ripe}, class_id=0)
    with sessions() as s:
        got = forecast.plot_forecast(s, s.get(Plot, plot.id), TODAY)
    half = forecast.DEFAULT_PROFILES["cà chua"].harvest_days // 2
    assert "forecast_how_ripeness" not in got.how and got.centre == typed + dt.timedelta(days=half)
    assert min(got.by_day) == typed  # the typed date is the first pick


def test_the_union_admin_reads_the_unions_totals_without_plot_names(client, sessions, tenant_a, tenant_b):
    with sessions.begin() as s:
        for t, area in ((tenant_a, 5000), (tenant_b, 2000)):
            _plot(s, t, area_m2=area, expected_harvest=TODAY + dt.timedelta(days=10))
        s.get(Cooperative, tenant_a.cooperative_id).union_code = "lm-x"
        s.get(Cooperative, tenant_b.cooperative_id).union_code = "lm-x"
        other = make_tenant(s, "other")  # another union's cooperative is not in the sum
        _plot(s, other, area_m2=9000, expected_harvest=TODAY + dt.timedelta(days=10))
        s.get(Cooperative, other.cooperative_id).union_code = "lm-y"
        farm_id = s.get(Plot, tenant_b.plot_id).farm_id
        s.add(Plot(cooperative_id=tenant_b.cooperative_id, farm_id=farm_id, name="Lô bí mật", crop="lúa"))
        s.scalars(
            select(Membership).where(Membership.user_id == tenant_a.user_ids[Role.coop_admin])
        ).one().role = Role.union_admin
    r = client.get("/api/v1/forecast", headers=tenant_a.auth(Role.coop_admin))
    got = r.json()
    assert got["scope"] == "union" and _total(got["rows"]) == 4200.0  # (0,5 + 0,2 ha) × 6 000
    assert [(m["cooperative_id"], m["plot_name"]) for m in got["missing"]] == [(tenant_b.cooperative_id, None)]
    assert "bí mật" not in r.text
    csv = client.get("/api/v1/forecast.csv", headers=tenant_a.auth(Role.coop_admin))
    assert csv.status_code == 200 and csv.text.startswith("\ufeffCây trồng,Tuần bắt đầu,Dự kiến (kg)")
    week = csv.text.splitlines()[1].split(",")[1]
    assert dt.datetime.strptime(week, "%d/%m/%Y").weekday() == 0, "weeks start on Monday, dd/mm/yyyy"
    # the same table as a spreadsheet
    import io

    from openpyxl import load_workbook

    xlsx = client.get("/api/v1/forecast.xlsx", headers=tenant_a.auth(Role.coop_admin))
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    rows = [[str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    assert sheet.title == "Dự báo sản lượng" and rows[0][:3] == ["Cây trồng", "Tuần bắt đầu", "Dự kiến (kg)"]
    assert [r[:2] for r in rows[1:]] == [line.split(",")[:2] for line in csv.text.splitlines()[1:]]
