"""Pages read without a browser: the rules form makes every kind of rule (the seasonal one with its margin), the
plots page writes numbers the Vietnamese way."""

from __future__ import annotations

import re

import pytest
from factories import make_tenant
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.web.session import CSRF_COOKIE
from cropwatch.core.enums import Role
from cropwatch.core.orm import AlertRule


def _login(client: TestClient, username: str, password: str) -> None:
    client.get("/login")
    client.post(
        "/login", data={"username": username, "password": password, "csrf_token": client.cookies.get(CSRF_COOKIE)}
    )


@pytest.fixture
def app_client(settings, storage):
    with TestClient(create_app(settings, enqueue=lambda cid: None), follow_redirects=False) as c:
        yield c


def test_the_form_makes_a_seasonal_rule_and_the_page_says_what_it_checks(app_client, sessions, models_registered):
    with sessions.begin() as s:
        tenant = make_tenant(s, "form")
    _login(app_client, "form-agronomist", "pw-form")
    form = {"class_name": "rầy nâu", "threshold": "2", "kind": "seasonal", "margin_pct": "30", "unit": "trap_day"}
    r = app_client.post("/rules", data=form | {"csrf_token": app_client.cookies.get(CSRF_COOKIE)})
    assert r.status_code == 303, r.text[:500]
    with sessions() as s:
        rule = s.scalars(select(AlertRule).where(AlertRule.cooperative_id == tenant.cooperative_id)).one()
    assert (rule.kind, rule.class_name, rule.params, rule.unit) == (
        "seasonal",
        "planthopper",
        {"margin_pct": 30},
        "trap_day",
    )
    page = app_client.get("/rules").text
    assert "Cao hơn mùa trước" in page and "tuần này cao hơn trung vị cùng tuần các mùa trước 30%" in page


def test_the_plots_page_counts_fruit_in_vietnamese_numbers(app_client, sessions):
    """A day's fruit count is a mean over the plot's cameras: "4 quả", never "4.0 quả"."""
    import datetime as dt

    from factories import processed_capture

    from cropwatch.core.enums import ModelTask
    from cropwatch.core.timeutil import utcnow

    with sessions.begin() as s:
        tenant = make_tenant(s, "fruit", task=ModelTask.ripeness, crop="cà chua")
        processed_capture(
            s, tenant, when=utcnow() - dt.timedelta(minutes=5), counts={"ripe": 1, "unripe": 3}, class_id=0
        )
    _login(app_client, "fruit-member", "pw-fruit")
    page = app_client.get("/plots").text
    assert "Quả chín: 25% (4 quả)" in page, page[page.find("Quả chín") - 200 : page.find("Quả chín") + 200]


@pytest.mark.parametrize(
    ("union_name", "heading"),
    [("Liên minh HTX tỉnh Bến Tre", "Liên minh HTX tỉnh Bến Tre · 2 hợp tác xã"), (None, "Liên minh (mã lm-bt)")],
)
def test_the_union_page_names_the_union_not_its_code(app_client, sessions, union_name, heading):
    from cropwatch.core.enums import Role
    from cropwatch.core.orm import Cooperative, Membership, User
    from cropwatch.core.security import hash_password

    with sessions.begin() as s:
        home, other = make_tenant(s, "u1"), make_tenant(s, "u2")
        for t in (home, other):
            coop = s.get(Cooperative, t.cooperative_id)
            coop.union_code, coop.union_name = "lm-bt", union_name
        boss = User(username="u-boss", full_name="Liên minh", password_hash=hash_password("pw-boss-123456"))
        s.add(boss)
        s.flush()
        s.add(Membership(user_id=boss.id, cooperative_id=home.cooperative_id, role=Role.union_admin))
    _login(app_client, "u-boss", "pw-boss-123456")
    page = app_client.get("/union").text
    assert heading in page
    assert "Liên minh lm-bt" not in page, "a raw code on a Vietnamese screen"


def test_the_annotator_offers_the_classes_of_the_model_that_read_the_photo(app_client, sessions, all_models_registered):
    """A rice photo in a cooperative that also grows cabbage: the keyboard holds the rice model's classes, and every
    name on the page is Vietnamese (the vegetable model's classes and English names were shown before)."""
    import datetime as dt
    import json
    import re

    from factories import processed_capture

    from cropwatch.core.orm import InferenceRun, ModelVersion
    from cropwatch.core.timeutil import utcnow

    with sessions.begin() as s:
        tenant = make_tenant(s, "rv")
        rice = processed_capture(s, tenant, when=utcnow() - dt.timedelta(minutes=3), counts={"planthopper": 2})
        rice_id = rice.id
        field = s.get(ModelVersion, all_models_registered["pest-field"])
        read_by_field = processed_capture(s, tenant, when=utcnow(), counts={"mealy bug": 1}, class_id=8)
        s.add(
            InferenceRun(
                cooperative_id=tenant.cooperative_id, capture_id=read_by_field.id, model_version_id=field.id,
                detection_count=1,
            )
        )  # fmt: skip
        field_id = read_by_field.id
        rice_classes = set(s.get(ModelVersion, all_models_registered["pest-rice"]).classes.values())
        field_classes = set(field.classes.values())
    _login(app_client, "rv-agronomist", "pw-rv")

    def review_data(capture_id: int) -> dict:
        page = app_client.get(f"/review/{capture_id}").text
        return json.loads(re.search(r'<script type="application/json" id="review-data">(.*?)</script>', page, re.S)[1])

    data = review_data(rice_id)
    assert set(data["classes"]) == rice_classes, "the plot's crop picks the model when no run is recorded"
    assert data["labels"]["planthopper"] == "rầy nâu"
    assert data["state"]["detections"][0]["class_name"] == "planthopper"
    data = review_data(field_id)
    assert set(data["classes"]) == field_classes, "the model that read the photo"
    assert data["labels"]["mealy bug"] == "rệp sáp"


def test_the_pressure_page_writes_todays_figures_the_vietnamese_way(app_client, sessions):
    import datetime as dt

    from factories import processed_capture

    from cropwatch.core.timeutil import utcnow

    with sessions.begin() as s:
        tenant = make_tenant(s, "pr")
        processed_capture(s, tenant, when=utcnow() - dt.timedelta(minutes=2), counts={"planthopper": 3}, class_id=6)
    _login(app_client, "pr-agronomist", "pw-pr")
    page = app_client.get("/pressure").text
    assert "3 cá thể hôm nay" in page and "3.0 cá thể" not in page


def test_the_cameras_page_shows_photo_storage_and_sets_the_retention_policy(app_client, sessions, storage, settings):
    """The cooperative admin sees what each camera's photos take and what the policy frees, and changes the days;
    a bad value is refused in Vietnamese and changes nothing; an agronomist does not see the section."""
    import datetime as dt

    from helpers import bare_model_version, processed_photos

    from cropwatch.core.orm import Cooperative
    from cropwatch.core.timeutil import utcnow

    with sessions.begin() as s:
        tenant = make_tenant(s, "store")
    old = utcnow() - dt.timedelta(days=40)
    processed_photos(sessions, storage, settings, tenant, bare_model_version(sessions), 3, when=old)
    _login(app_client, "store-coop_admin", "pw-store")
    page = app_client.get("/admin/cameras").text
    assert "Lưu trữ ảnh" in page and "được xoá sau 30 ngày" in page
    row = page[page.index(f'<tr data-storage-camera="{tenant.camera_id}"><td>cam store') :].split("</tr>")[0]
    name, photos, size, removed, to_free = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    assert (name, photos, removed) == ("cam store", "3", "0")
    assert to_free.startswith("2 / ") and "." not in size, row  # 2 of 3 photos go (the day's first stays); 0,3 MB
    csrf = app_client.cookies.get(CSRF_COOKIE)
    bad = app_client.post("/admin/retention", data={"days": "2", "csrf_token": csrf})
    assert bad.status_code == 400 and "từ 7 đến 3650" in bad.text
    ok = app_client.post("/admin/retention", data={"days": "", "csrf_token": csrf})
    assert ok.status_code == 303
    with sessions() as s:
        assert s.get(Cooperative, tenant.cooperative_id).photo_retention_days is None
    assert "giữ mọi ảnh" in app_client.get("/admin/cameras?done=retention").text
    app_client.cookies.clear()
    _login(app_client, "store-agronomist", "pw-store")
    assert "Lưu trữ ảnh" not in app_client.get("/admin/cameras").text


def test_a_member_sets_their_own_quiet_hours_and_daily_digest(app_client, sessions):
    from cropwatch.core.orm import NotificationChannel

    with sessions.begin() as s:
        tenant = make_tenant(s, "quiet")
    _login(app_client, "quiet-member", "pw-quiet")
    csrf = app_client.cookies.get(CSRF_COOKIE)
    form = {"kind": "email", "address": "nong.dan@example.vn", "min_level": "warning", "csrf_token": csrf}
    half = app_client.post("/account/notifications", data=form | {"quiet_start": "21:00"})
    assert half.status_code == 422 and "cần cả giờ bắt đầu và giờ kết thúc" in half.text
    bad = app_client.post("/account/notifications", data=form | {"daily_digest": "25:00"})
    assert bad.status_code == 422 and "tóm tắt hằng ngày phải viết dạng 18:00" in bad.text
    ok = app_client.post(
        "/account/notifications",
        data=form | {"quiet_start": "21:00", "quiet_end": "06:00", "daily_digest": "18:00"},
    )
    assert ok.status_code == 303, ok.text[:300]
    with sessions() as s:
        ch = s.scalars(select(NotificationChannel).where(NotificationChannel.user_id.is_not(None))).one()
    assert ch.user_id == tenant.user_ids[Role.member]
    assert ch.config == {
        "to": ["nong.dan@example.vn"],
        "quiet_hours": {"start": "21:00", "end": "06:00"},
        "daily_digest": "18:00",
    }
    page = app_client.get("/account/notifications").text
    assert "yên lặng 21:00–06:00" in page and "tóm tắt hằng ngày lúc 18:00" in page


def test_the_forecast_page_shows_the_weeks_the_missing_plots_and_the_backtest(app_client, sessions):
    import datetime as dt

    from cropwatch.core.orm import Plot
    from cropwatch.core.timeutil import LOCAL_TZ, utcnow

    today = utcnow().astimezone(LOCAL_TZ).date()
    with sessions.begin() as s:
        tenant = make_tenant(s, "fc")
        plot = s.get(Plot, tenant.plot_id)
        plot.area_m2, plot.expected_harvest = 5000, today + dt.timedelta(days=14)
        s.add(Plot(cooperative_id=tenant.cooperative_id, farm_id=plot.farm_id, name="Lô trống", crop="lúa"))
    _login(app_client, "fc-coop_admin", "pw-fc")
    r = app_client.get("/forecast")
    assert r.status_code == 200
    page = r.text
    assert "Dự báo sản lượng" in page and "Lô Lô trống: chưa có diện tích" in page
    rows = re.findall(r'<tr data-week="([0-9-]+)"><td>([0-9/]+)</td><td class="num"><b>([0-9.,]+)</b>', page)
    assert rows and all(dt.date.fromisoformat(iso).weekday() == 0 for iso, _, _ in rows)
    assert sum(float(kg.replace(".", "").replace(",", ".")) for _, _, kg in rows) == 3000
    assert all(re.fullmatch(r"\d\d/\d\d/\d{4}", shown) for _, shown, _ in rows)
    assert app_client.get("/forecast.csv").text.startswith("\ufeffCây trồng")
    app_client.cookies.clear()
    _login(app_client, "fc-member", "pw-fc")
    assert app_client.get("/forecast").status_code == 403


def test_the_forecast_page_says_how_well_the_fruit_cameras_timed_past_pickings(
    app_client, sessions, all_models_registered, tmp_path
):
    """The demo union's fruit cameras saw 8 past tomato seasons: the page shows the timing's backtest next to the
    typed date's, by days after the first pick (before the fruit turns, the typed date stands)."""
    from cropwatch.seed import DEMO_PASSWORD, seed_demo

    with sessions() as s:
        seed_demo(s, tmp_path / "cameras.json")
    _login(app_client, "lienminh", DEMO_PASSWORD)
    page = app_client.get("/forecast").text
    assert "Kiểm tra lại thời điểm thu hoạch" in page
    rows = dict(re.findall(r'<tr data-lead="(\d+)"><td class="num">\d+</td><td class="num">(\d+)</td>', page))
    assert rows == {"0": "8", "7": "8", "14": "8", "21": "8"}
    token = app_client.post("/api/v1/auth/token", data={"username": "lienminh", "password": DEMO_PASSWORD}).json()[
        "access_token"
    ]
    api = app_client.get("/api/v1/forecast", headers={"Authorization": f"Bearer {token}"}).json()
    timing = {m["lead_days"]: m for m in api["timing"]}  # the API's figures are the page's
    assert {str(k): str(m["seasons"]) for k, m in timing.items()} == rows
    assert timing[0]["from_camera"] == 0 and timing[14]["from_camera"] == 8
    assert timing[14]["mae_days_forecast"] < timing[14]["mae_days_naive"]
