"""A farmer on a phone: sees the alert an uploaded capture raised, opens its photo with the boxes drawn,
acknowledges it, and writes a diary entry with a photo from the phone."""

from __future__ import annotations

import datetime as dt

import pytest
from factories import add_rule, make_tenant
from helpers import SHARED, planthopper_photo
from sqlalchemy import select

from cropwatch.core.enums import AlertStatus
from cropwatch.core.orm import Alert, DiaryEntry

from .browsing import PHONE, screenshot, upload

PHOTO = planthopper_photo()


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
    text = card.inner_text().lower()
    assert "rầy nâu" in text and "planthopper" not in text  # the pest in Vietnamese only
    assert "con/ảnh mẫu" in text  # the figure says its unit: a garden camera's photo is a sample
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
    page.get_by_role("link", name="Lô của tôi").first.click() if page.locator("nav.wide").is_visible() else page.goto(
        "/plots"
    )
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
        [row] = s.scalars(
            select(DiaryEntry).where(
                DiaryEntry.cooperative_id == tenant.cooperative_id, DiaryEntry.title == "Phun thuốc trừ rầy"
            )
        ).all()
        assert row.type.value == "pest_control" and len(row.photo_keys) == 1


def test_farmer_records_a_lot_behind_the_phi_guard_and_prints_its_qr_label(live_server, open_page, sessions):
    import datetime as dt

    from cropwatch.core.enums import DiarySource, DiaryStatus, DiaryType
    from cropwatch.core.orm import HarvestLot
    from cropwatch.core.timeutil import utcnow
    from cropwatch.diary import entries as diary

    with sessions.begin() as s:
        tenant = make_tenant(s, "a")
        member = next(uid for role, uid in tenant.user_ids.items() if role.value == "member")
        diary.create_entry(
            s,
            cooperative_id=tenant.cooperative_id,
            user_id=member,
            plot_id=tenant.plot_id,
            occurred_at=utcnow() - dt.timedelta(days=20),
            type=DiaryType.pest_control,
            status=DiaryStatus.done,
            source=DiarySource.manual,
            title="",
            notes="",
            product_name="Chess 50WG",
            phi_days=7,
            photo_keys=[],
        )
        diary.create_entry(
            s,
            cooperative_id=tenant.cooperative_id,
            user_id=member,
            plot_id=tenant.plot_id,
            occurred_at=utcnow() - dt.timedelta(days=2),
            type=DiaryType.pest_control,
            status=DiaryStatus.done,
            source=DiarySource.manual,
            title="",
            notes="",
            product_name="Regent 800WG",
            phi_days=14,
            photo_keys=[],
        )
    page = open_page("a-member", "pw-a", PHONE)
    page.goto("/lots")
    page.get_by_label("Khối lượng").fill("350")
    page.get_by_role("button", name="Lưu").click()
    error = page.locator(".flash.error")
    assert "Regent 800WG" in error.inner_text()  # refused, naming the product still inside its interval
    with sessions() as s:
        assert s.query(HarvestLot).count() == 0

    # a harvest after the interval is accepted, with its QR label
    later = (dt.date.today() + dt.timedelta(days=14)).isoformat()
    page.get_by_label("Ngày thu hoạch").fill(later)
    page.get_by_label("Khối lượng").fill("350")
    page.get_by_role("button", name="Lưu").click()
    page.wait_for_selector(".flash.ok")
    with sessions() as s:
        lot = s.query(HarvestLot).one()
    card = page.locator(f"article.lot[data-code='{lot.public_code}']")
    page.wait_for_function("() => [...document.querySelectorAll('article.lot .qr img')].every(i => i.naturalWidth > 0)")
    screenshot(page, "farmer-lots-phone")
    with page.expect_download() as download:
        page.get_by_role("button", name="In tem (A4)").click()
    assert download.value.suggested_filename.endswith(".pdf")
    assert open(download.value.path(), "rb").read(5) == b"%PDF-"
    card.get_by_role("link", name="Trang truy xuất").click()
    page.wait_for_url(f"**/t/{lot.public_code}")
    assert "350" in page.inner_text("body") and "Regent" not in page.inner_text("body").split("Nhật ký")[0]


def test_snoozed_alert_leaves_the_list_until_its_time(live_server, open_page, sessions):
    with sessions.begin() as s:
        tenant = make_tenant(s, "a")
        add_rule(s, tenant.cooperative_id, "planthopper", threshold=3)
    upload(live_server.url, tenant.camera_token, PHOTO.read_bytes())
    live_server.wait_processed(1)
    page = open_page("a-member", "pw-a", PHONE)
    card = page.locator("article.alert").first
    card.get_by_label("Tạm ẩn trong").select_option("24")
    card.get_by_role("button", name="Tạm ẩn").click()
    page.wait_for_selector("article.alert >> text=Đã tạm ẩn đến")
    page.reload()
    assert page.locator("article.alert").count() == 0
    with sessions() as s:
        alert = s.scalars(select(Alert)).one()
        import datetime as dt

        from cropwatch.core.timeutil import utcnow

        assert dt.timedelta(hours=23) < alert.snoozed_until - utcnow() <= dt.timedelta(hours=24)


def test_farmer_marks_a_trap_card_changed_in_one_tap(live_server, open_page, sessions):
    from cropwatch.core.enums import CameraKind
    from cropwatch.core.orm import Camera, TrapChange

    with sessions.begin() as s:
        tenant = make_tenant(s, "a")
        cam = s.get(Camera, tenant.camera_id)
        cam.kind, cam.name = CameraKind.sticky_trap, "Bẫy dính 1"
    page = open_page("a-member", "pw-a", PHONE)
    page.goto("/plots")
    trap = page.locator(f"form[data-trap='{tenant.camera_id}']")
    assert "Chưa ghi nhận lần thay bẫy nào" in trap.inner_text()
    button = trap.get_by_role("button", name="Đã thay bẫy (Bẫy dính 1)")
    assert button.bounding_box()["height"] >= 44  # a thumb's tap target
    button.click()
    page.wait_for_url("**/plots?trap_changed=*")
    assert page.get_by_role("status").inner_text().startswith("Đã ghi nhận thay tấm bẫy")
    assert "Thay lần cuối:" in page.locator(f"form[data-trap='{tenant.camera_id}']").inner_text()
    page.reload()  # POST-redirect-GET: a reload records nothing twice
    with sessions() as s:
        assert s.query(TrapChange).filter_by(camera_id=tenant.camera_id).count() == 1


@pytest.fixture
def fast_refresh(settings):
    settings.alerts_refresh_seconds = 2
    return settings


def test_alerts_page_refreshes_itself_and_the_unread_badge_follows(fast_refresh, live_server, open_page, sessions):
    """A farmer leaves the alerts page open: a new alert appears without a reload, and the badge counts the open
    (not yet acknowledged) alerts; acknowledging one lowers it."""
    from factories import open_pest_alert
    from playwright.sync_api import expect

    from cropwatch.core.enums import AlertLevel
    from cropwatch.core.orm import Alert

    with sessions.begin() as s:
        tenant = make_tenant(s, "a")
    open_pest_alert(sessions, tenant)
    page = open_page("a-member", "pw-a", PHONE)
    page.goto("/alerts")
    assert page.locator("article.alert").count() == 1
    assert page.locator("#unread-menu").inner_text() == "1"
    with sessions.begin() as s:
        s.add(
            Alert(
                cooperative_id=tenant.cooperative_id,
                plot_id=tenant.plot_id,
                class_name="rice bug",
                level=AlertLevel.danger,
                count=12,
                threshold=10,
                local_day=dt.date.today(),
                message_vi="Nguy hiểm: bọ xít hại lúa",
                message_en="Danger: rice bug",
            )
        )
    page.locator("article.alert").nth(1).wait_for(timeout=10_000)  # arrived by itself
    expect(page.locator("#unread-menu")).to_have_text("2", timeout=10_000)
    page.locator("article.alert").first.get_by_role("button", name="Tôi đã xem").click()
    expect(page.locator("#unread-menu")).to_have_text("1", timeout=10_000)


def test_farmer_corrects_an_entry_with_its_photos_then_deletes_it_after_the_question(
    live_server, open_page, sessions, storage
):
    """The diary walk of an audit: a farmer fixes an entry's title and swaps its photo on the phone, reads the
    change in the history (the photo taken off is still shown), then deletes the entry: the browser asks first,
    cancelling keeps it, confirming takes it off the plot's diary and the entry's page says who deleted it."""
    from cropwatch.core.enums import DiarySource, DiaryStatus, DiaryType
    from cropwatch.core.timeutil import utcnow
    from cropwatch.diary import entries as diary

    other = next((SHARED / "rice-pests" / "images" / "test").glob("*.jpg"))
    with sessions.begin() as s:
        tenant = make_tenant(s, "a")
        key = f"diary/{tenant.cooperative_id}/{tenant.plot_id}/first.jpg"
        storage.put_bytes(key, PHOTO.read_bytes(), "image/jpeg")
        entry = diary.create_entry(
            s,
            cooperative_id=tenant.cooperative_id,
            user_id=tenant.user_ids[next(r for r in tenant.user_ids if r.value == "member")],
            plot_id=tenant.plot_id,
            occurred_at=utcnow(),
            type=DiaryType.pest_control,
            status=DiaryStatus.done,
            source=DiarySource.manual,
            title="Phun thuốc trừ rày",
            notes="",
            photo_keys=[key],
        )
        s.flush()
        entry_id = entry.id

    page = open_page("a-member", "pw-a", PHONE)
    page.goto(f"/plots/{tenant.plot_id}")
    page.locator("ol.timeline li").filter(has_text="Phun thuốc trừ rày").get_by_role("link").first.click()
    page.wait_for_url(f"**/diary/{entry_id}")
    page.locator("summary", has_text="Sửa").click()
    page.get_by_label("Tiêu đề").fill("Phun thuốc trừ rầy")
    page.get_by_label("Gỡ ảnh này").check()
    page.get_by_label("Thêm ảnh (chụp / chọn)").set_input_files(str(other))
    page.get_by_label("Lý do sửa").fill("sửa lỗi chính tả, ảnh đúng lô")
    page.get_by_role("button", name="Lưu").click()
    page.wait_for_selector(".flash.ok")
    history = page.locator("ol.history").inner_text()
    assert "Ảnh: 1 ảnh → 1 ảnh (gỡ 1, thêm 1)" in history
    assert "Phun thuốc trừ rày → Phun thuốc trừ rầy" in history and "sửa lỗi chính tả, ảnh đúng lô" in history
    page.wait_for_function(
        "() => [...document.querySelectorAll('.thumbs.removed img')].some(i => i.naturalWidth > 0)"
    )  # the photo taken off still shows in the history
    assert page.locator("article.card .thumbs img").count() == 1
    screenshot(page, "farmer-diary-entry-phone")

    questions = []
    page.once("dialog", lambda d: (questions.append(d.message), d.dismiss()))
    page.get_by_role("button", name="Xoá mục này").click()
    assert len(questions) == 1 and questions[0].startswith("Xoá mục nhật ký này?"), questions
    assert page.url.endswith(f"/diary/{entry_id}?saved=1")  # cancelled: still on the entry, which is kept
    with sessions() as s:
        from cropwatch.core.orm import DiaryEntry

        assert s.get(DiaryEntry, entry_id).deleted_at is None
    page.once("dialog", lambda d: d.accept())
    page.get_by_label("Lý do xoá").fill("ghi trùng")
    page.get_by_role("button", name="Xoá mục này").click()
    page.wait_for_url(f"**/plots/{tenant.plot_id}?deleted=1")
    assert "Phun thuốc trừ rầy" not in page.inner_text("main")  # off the plot's diary
    page.goto(f"/diary/{entry_id}")
    banner = page.locator("[data-deleted]").inner_text()
    assert "member" in banner and "ghi trùng" in banner
    with sessions() as s:
        row = s.get(DiaryEntry, entry_id)
        assert row.deleted_at is not None and len(row.photo_keys) == 1 and row.title == "Phun thuốc trừ rầy"
