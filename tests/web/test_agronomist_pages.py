"""An agronomist reviews with keyboard and mouse (reject a false positive, draw a missed box, relabel), and the
capture's counts, the stored detections and the plot's alert follow; pest pressure and rule editing pages."""

from __future__ import annotations

from factories import add_rule, make_tenant
from helpers import planthopper_photo
from sqlalchemy import select

from cropwatch.core.enums import DetectionSource, ReviewState, Role
from cropwatch.core.orm import Alert, AlertRule, Capture, Detection, Review
from cropwatch.core.timeutil import utcnow

from .browsing import DESKTOP, screenshot, upload

PHOTO = planthopper_photo()


def _count(page, cls: str) -> int:
    cell = page.locator(f"#counts tr[data-cls='{cls}'] td.count")
    return int(cell.inner_text()) if cell.count() else 0


def _free_spot(page) -> tuple[float, float, float, float]:
    """Client coordinates of a drag inside the photo that starts and ends outside every box."""
    return page.evaluate("""() => {
      const cfg = CropWatch.data('review-data').state, svg = document.getElementById('boxes');
      const r = svg.getBoundingClientRect(), W = cfg.width, H = cfg.height;
      const hit = (x, y) => cfg.detections.some(d => x >= d.box[0] - 5 && x <= d.box[2] + 5 && y >= d.box[1] - 5 && y <= d.box[3] + 5);
      for (let fy = 0.05; fy < 0.9; fy += 0.05) for (let fx = 0.05; fx < 0.9; fx += 0.05) {
        const x1 = fx * W, y1 = fy * H, x2 = x1 + 0.08 * W, y2 = y1 + 0.08 * H;
        let clear = true;
        for (let t = 0; t <= 1; t += 0.25) for (let u = 0; u <= 1; u += 0.25)
          if (hit(x1 + t * (x2 - x1), y1 + u * (y2 - y1))) clear = false;
        if (clear) return [r.left + x1 * r.width / W, r.top + y1 * r.height / H,
                           r.left + x2 * r.width / W, r.top + y2 * r.height / H];
      }
      return null;
    }""")


def test_agronomist_rejects_draws_and_relabels_and_counts_follow(live_server, open_page, sessions):
    with sessions.begin() as s:
        tenant = make_tenant(s, "a")
        add_rule(s, tenant.cooperative_id, "planthopper", threshold=3)
    capture = upload(live_server.url, tenant.camera_token, PHOTO.read_bytes())
    live_server.wait_processed(1)
    with sessions.begin() as s:  # the farmer asked for a second look: first in the queue
        s.get(Capture, capture["id"]).flagged_at = utcnow()

    page = open_page("a-agronomist", "pw-a", DESKTOP)
    assert page.url.endswith("/review")
    assert page.locator(f"tr[data-capture='{capture['id']}']").count() == 1
    screenshot(page, "agronomist-queue")
    page.get_by_role("link", name="Bắt đầu duyệt").click()
    page.wait_for_url(f"**/review/{capture['id']}")
    page.wait_for_function("() => document.querySelector('#annotator img').naturalWidth > 0")
    classes = page.evaluate("CropWatch.data('review-data').classes")
    hopper_key = str(classes.index("planthopper") + 1)
    before = _count(page, "planthopper")
    assert before >= 3

    # X rejects the selected (first) box: the count drops, the box is drawn as rejected
    first_id = int(page.locator("#det-list li[aria-selected=true]").get_attribute("data-det"))
    page.keyboard.press("x")
    page.wait_for_function(
        f"() => document.querySelector('#det-list li[data-det=\"{first_id}\"]').dataset.state === 'rejected'"
    )
    assert _count(page, "planthopper") == before - 1

    # drag a missed box with the mouse, then press the class number: a human box is added, the count goes up
    x1, y1, x2, y2 = _free_spot(page)
    page.mouse.move(x1, y1)
    page.mouse.down()
    page.mouse.move((x1 + x2) / 2, (y1 + y2) / 2, steps=4)
    page.mouse.move(x2, y2, steps=4)
    page.mouse.up()
    assert page.locator("#pending-hint").is_visible()
    page.keyboard.press(hopper_key)
    page.wait_for_function(
        f"() => document.querySelector('#counts tr[data-cls=\"planthopper\"] td.count').textContent == '{before}'"
    )

    # J selects the next box (up to one the model drew), a number key relabels it to another class
    other = next(c for c in classes if c != "planthopper")
    for _ in range(20):
        page.keyboard.press("j")
        if page.locator("#det-list li[aria-selected=true]").get_attribute("data-state") == "unreviewed":
            break
    selected_id = int(page.locator("#det-list li[aria-selected=true]").get_attribute("data-det"))
    page.keyboard.press(str(classes.index(other) + 1))
    page.wait_for_function(
        f"() => document.querySelector('#det-list li[data-det=\"{selected_id}\"]').dataset.state === 'relabeled'"
    )
    assert _count(page, other) >= 1

    # arrows move the selected box, Enter saves the adjusted box
    box_before = page.evaluate(f"CropWatch.data('review-data').state.detections.find(d => d.id === {selected_id}).box")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowDown")
    page.evaluate("document.getElementById('flash').innerHTML = ''")
    page.keyboard.press("Enter")
    page.wait_for_selector("#flash .flash.ok")
    screenshot(page, "agronomist-review")

    with sessions() as s:
        dets = {d.id: d for d in s.scalars(select(Detection).where(Detection.capture_id == capture["id"]))}
        assert dets[first_id].review_state == ReviewState.rejected
        human = [d for d in dets.values() if d.source == DetectionSource.human]
        assert len(human) == 1 and human[0].class_name == "planthopper"
        assert human[0].x2 - human[0].x1 > 10 and human[0].y2 - human[0].y1 > 10
        assert dets[selected_id].class_name == other
        adjusted = dets[selected_id]
        assert adjusted.x1 > box_before[0] and adjusted.x2 > box_before[2] and adjusted.y2 > box_before[3]
        assert abs(adjusted.y1 - box_before[1]) < 0.2
        actions = [
            r.action for r in s.scalars(select(Review).where(Review.capture_id == capture["id"]).order_by(Review.id))
        ]
        assert actions == ["reject", "add_box", "relabel", "adjust_box"]
        assert all(
            r.user_id == tenant.user_ids[Role.agronomist]
            for r in s.scalars(select(Review).where(Review.capture_id == capture["id"]))
        )
        alert = s.scalars(
            select(Alert).where(Alert.cooperative_id == tenant.cooperative_id, Alert.class_name == "planthopper")
        ).one()
        hoppers_now = sum(
            1
            for d in dets.values()
            if d.class_name == "planthopper" and d.review_state != ReviewState.rejected and d.score >= 0
        )
        assert alert.count == hoppers_now

    # N goes to the next capture in the queue (none left: the queue page says so)
    page.keyboard.press("n")
    page.wait_for_url("**/review?done=1")


def test_pressure_chart_and_rule_editing(live_server, open_page, sessions):
    with sessions.begin() as s:
        tenant = make_tenant(s, "a")
        rule = add_rule(s, tenant.cooperative_id, "planthopper", threshold=3)
        rule_id = rule.id
    upload(live_server.url, tenant.camera_token, PHOTO.read_bytes())
    live_server.wait_processed(1)
    page = open_page("a-agronomist", "pw-a", DESKTOP)
    page.goto("/pressure")
    tile = page.locator(f".tile[data-plot='{tenant.plot_id}']")
    assert tile.get_attribute("data-level") == "warning"
    tile.click()
    page.wait_for_selector("#plot-chart")
    page.wait_for_function("() => window.Chart && Chart.getChart('plot-chart') && Chart.getChart('coop-chart')")
    datasets = dict(page.evaluate("Chart.getChart('plot-chart').data.datasets.map(d => [d.cwName, d.data])"))
    assert set(datasets["threshold:planthopper"]) == {3}  # the rule's threshold, drawn as a line
    assert datasets["planthopper"][-1] >= 3 and sum(datasets["planthopper"][:-1]) == 0  # today's count
    screenshot(page, "agronomist-pressure")

    page.goto("/rules")
    row = page.locator(f"tr[data-rule='{rule_id}']")
    row.get_by_label("Ngưỡng (cá thể/lô/ngày)").fill("12")
    row.get_by_label("Mức").select_option("danger")
    row.get_by_role("button", name="Lưu").click()
    page.wait_for_selector(".flash.ok")
    screenshot(page, "agronomist-rules")
    with sessions() as s:
        saved = s.get(AlertRule, rule_id)
        assert saved.threshold == 12 and saved.level.value == "danger" and saved.enabled


def test_member_cannot_review_or_edit_rules(live_server, open_page, sessions):
    with sessions.begin() as s:
        tenant = make_tenant(s, "a")
        rule_id = add_rule(s, tenant.cooperative_id, "planthopper", threshold=3).id
    page = open_page("a-member", "pw-a", DESKTOP)
    assert page.goto("/review").status == 403
    assert "không có quyền" in page.inner_text("main")
    assert page.goto("/pressure").status == 403
    page.goto("/rules")
    assert page.locator(f"tr[data-rule='{rule_id}'] input").count() == 0  # read only
    # a forged POST (with a valid CSRF token) is still refused by the role check
    csrf = page.locator("body").get_attribute("data-csrf")
    r = page.request.post(
        f"/rules/{rule_id}",
        form={"csrf_token": csrf, "threshold": "1", "level": "watch", "min_score": "0", "cooldown_minutes": "0"},
    )
    assert r.status == 403
    with sessions() as s:
        assert s.get(AlertRule, rule_id).threshold == 3
