"""A farmer on a phone: sees the alert an uploaded capture raised, opens its photo with the boxes drawn,
acknowledges it, and writes a diary entry with a photo from the phone."""

from __future__ import annotations

from sqlalchemy import select

from conftest import SHARED
from cropwatch.domain import AlertStatus
from cropwatch.tables import Alert, DiaryEntry
from factories import add_rule, make_tenant

from .conftest import PHONE, screenshot, upload

PHOTO = next((SHARED / "rice-pests" / "images" / "test").glob("brown_0267_jpg*.jpg"))


def test_farmer_sees_acknowledges_alert_and_writes_diary_with_photo(live_server, open_page, sessions, tmp_path):
    with sessions.begin() as s:
        tenant = make_tenant(s, "a")
        add_rule(s, tenant.cooperative_id, "planthopper", threshold=3)
    capture = upload(live_server.url, tenant.camera_token, PHOTO.read_bytes())
    live_server.wait_processed(1)

    page = open_page("a-member", "pw-a", PHONE)
    assert page.url.endswith("/alerts")
    card = page.locator("article.alert").first
    card.wait_for()
    assert "rầy nâu" in card.inner_text().lower() or "planthopper" in card.inner_text().lower()
    assert card.get_attribute("data-status") == "open"
    boxes_on_card = card.locator("svg rect.box").count()
    assert boxes_on_card >= 3, "the evidence photo shows the planthoppers that raised the alert"
    # nothing wider than the phone: no sideways scrolling
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    screenshot(page, "farmer-alerts-phone")

    # the photo page: the image really loads and every detection has its box
    card.get_by_role("link", name="Xem ảnh").last.click()
    page.wait_for_url(f"**/captures/{capture['id']}")
    img = page.locator("figure.photo img")
    page.wait_for_function("() => document.querySelector('figure.photo img').naturalWidth > 0")
    assert img.evaluate("i => i.naturalWidth") > 100
    assert page.locator("figure.photo svg rect.box").count() == page.locator("tbody tr").count() >= boxes_on_card
    screenshot(page, "farmer-capture-phone")
    page.go_back()

    page.locator("article.alert").first.get_by_role("button", name="Tôi đã xem").click()
    page.wait_for_selector("article.alert[data-status=acknowledged]")
    with sessions() as s:
        alert = s.scalars(select(Alert).where(Alert.cooperative_id == tenant.cooperative_id)).one()
        assert alert.status == AlertStatus.acknowledged
        assert alert.acknowledged_by == tenant.user_ids[next(r for r in tenant.user_ids if r.value == "member")]

    # diary: a pest-control entry with a photo taken on the phone
    page.get_by_role("link", name="Lô của tôi").first.click() if page.locator("nav.wide").is_visible() else \
        page.goto("/plots")
    page.wait_for_url("**/plots")
    screenshot(page, "farmer-plots-phone")
    page.get_by_role("link", name="Nhật ký").first.click()
    page.locator("summary", has_text="Ghi nhật ký").click()
    page.get_by_label("Công việc").select_option("pest_control")
    page.get_by_label("Tiêu đề").fill("Phun thuốc trừ rầy")
    page.get_by_label("Chụp ảnh / chọn ảnh").set_input_files(str(PHOTO))
    assert page.get_by_label("Chụp ảnh / chọn ảnh").get_attribute("capture") == "environment"
    page.get_by_role("button", name="Lưu").click()
    page.wait_for_selector(".flash.ok")
    entry = page.locator("ol.timeline li").filter(has_text="Phun thuốc trừ rầy")
    assert entry.count() == 1
    page.wait_for_function("() => [...document.querySelectorAll('ol.timeline img')].some(i => i.naturalWidth > 0)")
    screenshot(page, "farmer-diary-phone")
    with sessions() as s:
        [row] = s.scalars(select(DiaryEntry).where(DiaryEntry.cooperative_id == tenant.cooperative_id,
                                                   DiaryEntry.title == "Phun thuốc trừ rầy")).all()
        assert row.type.value == "pest_control" and len(row.photo_keys) == 1
