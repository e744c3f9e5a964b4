"""The rules page's form makes every kind of rule, the seasonal one with its margin (no browser needed)."""

from __future__ import annotations

import pytest
from factories import make_tenant
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.web.session import CSRF_COOKIE
from cropwatch.core.orm import AlertRule


@pytest.fixture
def app_client(settings, storage):
    with TestClient(create_app(settings, enqueue=lambda cid: None), follow_redirects=False) as c:
        yield c


def test_the_form_makes_a_seasonal_rule_and_the_page_says_what_it_checks(app_client, sessions, models_registered):
    with sessions.begin() as s:
        tenant = make_tenant(s, "form")
    app_client.get("/login")
    app_client.post(
        "/login",
        data={"username": "form-agronomist", "password": "pw-form", "csrf_token": app_client.cookies.get(CSRF_COOKIE)},
    )
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
