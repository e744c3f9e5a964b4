"""Issue 14: the catalogue lint extended to what pages fill in at run time. A cooperative with an alert, a photo
with detections, the day's automatic diary observation and one rule of every kind; every page of the farmer and
the agronomist, read in Vietnamese, shows no English model class, no raw enum value and no raw JSON."""

from __future__ import annotations

import re

import pytest
from factories import make_tenant, open_pest_alert

from cropwatch.core.enums import AlertLevel, Role
from cropwatch.core.orm import AlertRule, Capture
from training.recipes import RICE_PESTS_NAMES

from .browsing import DESKTOP

ENGLISH_CLASSES = sorted(RICE_PESTS_NAMES.values(), key=len, reverse=True)
RAW = re.compile(
    r"\{\s*\"|\b(pending|automatic|manual|threshold|trend|silence|harvest_window|camera_silent|"
    r"trap_day|sticky_trap|garden|warning|danger|watch|observation)\b"
)


def _english_in(text: str) -> list[str]:
    low = text.lower()
    found = [c for c in ENGLISH_CLASSES if re.search(rf"\b{re.escape(c)}\b", low)]
    found += [m.group(0) for m in RAW.finditer(low)]
    return found


@pytest.fixture
def world(sessions):
    with sessions.begin() as s:
        tenant = make_tenant(s, "a")
        for kind, cls, params in (
            ("trend", "planthopper", {"rise_pct": 40}),
            ("silence", "camera_silent", {"hours": 2}),
            ("harvest_window", "harvest_window", {"share": 0.3, "target": 0.8, "days": 7}),
        ):
            s.add(
                AlertRule(
                    cooperative_id=tenant.cooperative_id,
                    name="",
                    class_name=cls,
                    threshold=2,
                    level=AlertLevel.watch,
                    kind=kind,
                    params=params,
                )
            )
    alert_id = open_pest_alert(sessions, tenant)
    with sessions() as s:
        capture_id = s.query(Capture.id).filter_by(cooperative_id=tenant.cooperative_id).scalar()
    return tenant, alert_id, capture_id


@pytest.mark.parametrize("role,username", [(Role.member, "a-member"), (Role.agronomist, "a-agronomist")])
def test_vietnamese_pages_show_no_english(world, live_server, open_page, role, username):
    tenant, _, capture_id = world
    page = open_page(username, "pw-a", DESKTOP)
    paths = ["/alerts", "/plots", f"/plots/{tenant.plot_id}", f"/captures/{capture_id}"]
    if role == Role.agronomist:
        paths += [
            "/rules",
            "/pressure",
            f"/pressure?plot_id={tenant.plot_id}",
            "/review",
            "/admin/cameras",
            "/admin/channels",
        ]
    problems = {}
    for path in paths:
        assert page.goto(path).status == 200, path
        found = _english_in(page.locator("main").inner_text())
        if found:
            problems[path] = found
    assert problems == {}
