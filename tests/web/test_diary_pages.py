"""The farmer's diary pages for an audit (issue 14): an entry's page shows its change history (who, when, field:
before → after) in the reader's language; manual entries are edited through a prefilled form and deleted after a
confirmation (POST-redirect-GET, CSRF); an empty entry is refused and the form comes back with what was typed."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from factories import make_tenant
from fastapi.testclient import TestClient

from api.app import create_app
from api.web.session import CSRF_COOKIE
from cropwatch.core.enums import DiarySource, DiaryStatus, DiaryType, Role
from cropwatch.core.orm import DiaryEntry, DiaryRevision
from cropwatch.core.timeutil import local_day_bounds
from cropwatch.diary import entries as diary

DAY = dt.date(2026, 9, 5)


@pytest.fixture
def app_client(settings, storage):
    with TestClient(
        create_app(settings, enqueue=lambda cid: None, enqueue_training=lambda rid: None), follow_redirects=False
    ) as c:
        yield c


@pytest.fixture
def tenants(sessions):
    with sessions.begin() as s:
        return make_tenant(s, "a"), make_tenant(s, "b")


def _login(c: TestClient, username: str) -> str:
    c.cookies.clear()
    c.get("/login")
    r = c.post(
        "/login", data={"username": username, "password": "pw-" + username[0], "csrf_token": c.cookies.get(CSRF_COOKIE)}
    )
    assert r.status_code == 303, r.text
    return c.cookies.get(CSRF_COOKIE)


def _entry(sessions, tenant, *, source: DiarySource = DiarySource.manual, **fields) -> int:
    values = {
        "type": DiaryType.fertilizing,
        "status": DiaryStatus.done,
        "title": "Bón thúc đợt 1",
        "notes": "",
        "product_name": "NPK 20-20-15",
        "quantity_value": 50.0,
        "quantity_unit": "kg",
    } | fields
    with sessions.begin() as s:
        entry = diary.create_entry(
            s,
            cooperative_id=tenant.cooperative_id,
            user_id=tenant.user_ids[Role.member],
            plot_id=tenant.plot_id,
            occurred_at=local_day_bounds(DAY)[0] + dt.timedelta(hours=7),
            source=source,
            **values,
        )
        s.flush()
        return entry.id


def _text(r) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", r.text)).split())


def _value(page: str, name: str) -> str:
    m = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page)
    return html.unescape(m.group(1)) if m else ""


def test_farmer_edits_an_entry_and_reads_the_change_in_its_history(app_client, tenants, sessions):
    a, _ = tenants
    entry_id = _entry(sessions, a)
    csrf = _login(app_client, "a-member")
    page = app_client.get(f"/diary/{entry_id}")
    assert page.status_code == 200
    # the edit form is prefilled with the entry as written
    assert _value(page.text, "title") == "Bón thúc đợt 1" and _value(page.text, "quantity_value") == "50"
    assert _value(page.text, "day") == "2026-09-05" and 'value="fertilizing" selected' in page.text
    form = {
        "csrf_token": csrf,
        "type": "fertilizing",
        "day": "2026-09-05",
        "title": "Bón thúc đợt 1",
        "notes": "",
        "product_name": "NPK 20-20-15",
        "dose": "",
        "phi_days": "",
        "quantity_value": "45",
        "quantity_unit": "kg",
        "reason": "cân lại bao phân",
    }
    r = app_client.post(f"/diary/{entry_id}/edit", data=form)
    assert r.status_code == 303 and r.headers["location"] == f"/diary/{entry_id}?saved=1"  # POST-redirect-GET
    text = _text(app_client.get(r.headers["location"]))
    assert "Đã lưu thay đổi" in text and "Lịch sử thay đổi" in text
    assert "Số lượng: 50 → 45" in text and "Lý do: cân lại bao phân" in text
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d · member · Sửa", text), text
    english = _text(app_client.get(f"/diary/{entry_id}?lang=en"))
    assert "Quantity: 50 → 45" in english and "Change history" in english and "Edited" in english
    with sessions() as s:
        assert s.get(DiaryEntry, entry_id).quantity_value == 45
        assert s.query(DiaryRevision).filter_by(entry_id=entry_id).count() == 2


def test_an_unchanged_form_writes_no_revision(app_client, tenants, sessions):
    a, _ = tenants
    entry_id = _entry(sessions, a)
    csrf = _login(app_client, "a-agronomist")
    page = app_client.get(f"/diary/{entry_id}").text
    form = {
        name: _value(page, name)
        for name in ("day", "title", "product_name", "dose", "phi_days", "quantity_value", "quantity_unit")
    }
    r = app_client.post(f"/diary/{entry_id}/edit", data=form | {"csrf_token": csrf, "type": "fertilizing"})
    assert r.status_code == 303
    with sessions() as s:
        assert s.query(DiaryRevision).filter_by(entry_id=entry_id).count() == 1


def test_delete_asks_first_hides_the_entry_and_keeps_it_readable(app_client, tenants, sessions):
    a, _ = tenants
    keep, gone = _entry(sessions, a, title="Tưới rãnh"), _entry(sessions, a, title="Bón nhầm lô")
    csrf = _login(app_client, "a-member")
    page = app_client.get(f"/diary/{gone}").text
    form = re.search(r'<form[^>]*action="/diary/\d+/delete"[^>]*>', page).group(0)
    assert "data-confirm=" in form and "Xoá mục nhật ký này?" in html.unescape(form)
    r = app_client.post(f"/diary/{gone}/delete", data={"csrf_token": csrf, "reason": "ghi nhầm lô"})
    assert r.status_code == 303 and r.headers["location"] == f"/plots/{a.plot_id}?deleted=1"
    plot = _text(app_client.get(r.headers["location"]))
    assert "Đã xoá mục nhật ký" in plot and "Bón nhầm lô" not in plot and "Tưới rãnh" in plot
    page = app_client.get(f"/diary/{gone}")
    text = _text(page)
    assert "Mục này đã bị xoá lúc" in text and "bởi member" in text and "Lý do: ghi nhầm lô" in text
    assert "member · Xoá" in text  # the history's last line
    assert "edit-form" not in page.text and "delete-form" not in page.text  # nothing to change any more
    with sessions() as s:
        assert s.get(DiaryEntry, gone).deleted_at is not None and s.get(DiaryEntry, keep).deleted_at is None


def test_another_cooperative_gets_404_on_the_entry_page_edit_and_delete(app_client, tenants, sessions):
    a, _ = tenants
    entry_id = _entry(sessions, a)
    for role in ("member", "agronomist", "coop_admin"):
        csrf = _login(app_client, f"b-{role}")
        assert app_client.get(f"/diary/{entry_id}").status_code == 404
        assert (
            app_client.post(
                f"/diary/{entry_id}/edit", data={"csrf_token": csrf, "type": "other", "title": "x"}
            ).status_code
            == 404
        )
        assert app_client.post(f"/diary/{entry_id}/delete", data={"csrf_token": csrf}).status_code == 404
    with sessions() as s:
        row = s.get(DiaryEntry, entry_id)
        assert row.title == "Bón thúc đợt 1" and row.deleted_at is None


def test_edit_and_delete_need_the_csrf_token(app_client, tenants, sessions):
    a, _ = tenants
    entry_id = _entry(sessions, a)
    _login(app_client, "a-member")
    assert app_client.post(f"/diary/{entry_id}/edit", data={"type": "other", "title": "x"}).status_code == 403
    assert app_client.post(f"/diary/{entry_id}/delete", data={"csrf_token": "forged"}).status_code == 403
    with sessions() as s:
        assert s.get(DiaryEntry, entry_id).deleted_at is None


def test_an_automatic_observation_offers_no_edit_and_refuses_one(app_client, tenants, sessions):
    a, _ = tenants
    entry_id = _entry(
        sessions,
        a,
        source=DiarySource.automatic,
        type=DiaryType.observation,
        status=DiaryStatus.pending,
        title="Quan sát tự động: 3 rầy nâu",
        product_name=None,
        quantity_value=None,
        quantity_unit=None,
    )
    csrf = _login(app_client, "a-member")
    page = app_client.get(f"/diary/{entry_id}")
    assert "edit-form" not in page.text and "delete-form" not in page.text
    assert "không sửa hay xoá" in _text(page)
    r = app_client.post(f"/diary/{entry_id}/edit", data={"csrf_token": csrf, "type": "observation", "title": "x"})
    assert r.status_code == 409 and "Quan sát tự động" in _text(r)
    with sessions() as s:
        assert s.get(DiaryEntry, entry_id).title == "Quan sát tự động: 3 rầy nâu"


def test_an_empty_entry_comes_back_with_what_was_typed_and_the_reason(app_client, tenants, sessions):
    a, _ = tenants
    csrf = _login(app_client, "a-member")
    r = app_client.post(
        f"/plots/{a.plot_id}/diary",
        data={
            "csrf_token": csrf,
            "type": "irrigation",
            "day": "2026-09-05",
            "title": "  ",
            "notes": "",
            "dose": "2 lần",
            "quantity_unit": "m³",
        },
    )
    assert r.status_code == 422
    text = _text(r)
    assert "Mục nhật ký đang trống" in text
    assert 'value="irrigation" selected' in r.text and _value(r.text, "day") == "2026-09-05"
    assert _value(r.text, "dose") == "2 lần" and _value(r.text, "quantity_unit") == "m³"
    english = app_client.post(f"/plots/{a.plot_id}/diary?lang=en", data={"csrf_token": csrf, "type": "other"})
    assert english.status_code == 422 and "The diary entry is empty" in _text(english)
    with sessions() as s:
        assert s.query(DiaryEntry).count() == 0


def test_an_edit_that_empties_the_entry_comes_back_with_the_reason(app_client, tenants, sessions):
    a, _ = tenants
    entry_id = _entry(sessions, a, product_name=None, quantity_value=None)
    csrf = _login(app_client, "a-member")
    r = app_client.post(
        f"/diary/{entry_id}/edit",
        data={"csrf_token": csrf, "type": "fertilizing", "title": "", "quantity_unit": "kg", "reason": "thử"},
    )
    assert r.status_code == 422, r.text
    assert "Mục nhật ký đang trống" in _text(r), _text(r)[:600]
    assert _value(r.text, "quantity_unit") == "kg" and _value(r.text, "reason") == "thử"
    with sessions() as s:
        assert s.get(DiaryEntry, entry_id).title == "Bón thúc đợt 1"


def test_the_season_diary_downloads_from_the_plot_page_in_the_readers_language(app_client, sessions, tenants):
    """Issue 14: the VietGAP PDF, Excel and CSV are one tap from the plot page (the API needed a bearer token)."""
    import pypdfium2

    a, b = tenants
    _entry(sessions, a, title="Bón lót phân chuồng")
    _login(app_client, "a-member")
    page = app_client.get(f"/plots/{a.plot_id}")
    assert f'href="/plots/{a.plot_id}/diary.pdf"' in page.text
    pdf = app_client.get(f"/plots/{a.plot_id}/diary.pdf?since=2026-09-01&until=2026-09-30")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    doc = pypdfium2.PdfDocument(pdf.content)
    text = "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    assert "Bón lót phân chuồng" in text and "Bón phân" in text  # the entry, its type in Vietnamese
    csv_en = app_client.get(f"/plots/{a.plot_id}/diary.csv?since=2026-09-01&until=2026-09-30&lang=en")
    assert csv_en.status_code == 200 and "Bón lót phân chuồng" in csv_en.content.decode("utf-8-sig")
    assert app_client.get(f"/plots/{b.plot_id}/diary.pdf").status_code == 404  # another cooperative's plot
    assert app_client.get(f"/plots/{a.plot_id}/diary.docx").status_code == 404


def test_the_edit_form_takes_a_photo_off_and_adds_one_in_one_revision(app_client, tenants, sessions, storage):
    from helpers import SHARED

    a, b = tenants
    photos = sorted((SHARED / "rice-pests" / "images" / "test").glob("*.jpg"))[:2]
    keys = []
    for i, photo in enumerate(photos):
        key = f"diary/{a.cooperative_id}/{a.plot_id}/seed-{i}.jpg"
        storage.put_bytes(key, photo.read_bytes(), "image/jpeg")
        keys.append(key)
    entry_id = _entry(sessions, a, photo_keys=keys)
    csrf = _login(app_client, "a-member")
    page = app_client.get(f"/diary/{entry_id}").text
    assert page.count('name="remove_photo"') == 2 and 'enctype="multipart/form-data"' in page
    form = {name: _value(page, name) for name in ("day", "title", "product_name", "quantity_value", "quantity_unit")}
    r = app_client.post(
        f"/diary/{entry_id}/edit",
        data=form | {"csrf_token": csrf, "type": "fertilizing", "remove_photo": ["0"], "reason": "ảnh nhầm lô"},
        files=[("photos", ("new.jpg", photos[1].read_bytes(), "image/jpeg"))],
    )
    assert r.status_code == 303, r.text
    with sessions() as s:
        now = list(s.get(DiaryEntry, entry_id).photo_keys)
        assert s.query(DiaryRevision).filter_by(entry_id=entry_id).count() == 2
    assert now[0] == keys[1] and len(now) == 2 and now[1].startswith(f"diary/{a.cooperative_id}/{a.plot_id}/")
    shown = app_client.get(f"/diary/{entry_id}")
    text = _text(shown)
    assert (
        "Ảnh: 2 ảnh → 2 ảnh (gỡ 1, thêm 1)" in text
        and "Ảnh đã gỡ (vẫn được lưu):" in text
        and "Lý do: ảnh nhầm lô" in text
    )
    # the photo taken off is still shown from the history, as it was
    removed = re.search(r'src="(/diary/\d+/revisions/1/photos/0)"', shown.text).group(1)
    got = app_client.get(removed)
    assert got.status_code == 200 and got.content == photos[0].read_bytes()
    assert app_client.get(f"/diary/{entry_id}/revisions/1/photos/7").status_code == 404
    _login(app_client, "b-member")
    assert app_client.get(removed).status_code == 404  # another cooperative's entry


def test_a_bad_photo_on_the_edit_form_comes_back_with_the_reason_and_changes_nothing(app_client, tenants, sessions):
    a, _ = tenants
    entry_id = _entry(sessions, a)
    csrf = _login(app_client, "a-member")
    page = app_client.get(f"/diary/{entry_id}").text
    form = {name: _value(page, name) for name in ("day", "product_name", "quantity_value", "quantity_unit")}
    r = app_client.post(
        f"/diary/{entry_id}/edit",
        data=form | {"csrf_token": csrf, "type": "fertilizing", "title": "Bón thúc đợt 2"},
        files=[("photos", ("scan.jpg", b"GIF89a not a jpeg at all", "image/jpeg"))],
    )
    assert r.status_code in (415, 422), r.text
    assert 'class="flash error"' in r.text and _value(r.text, "title") == "Bón thúc đợt 2"  # what was typed stays
    with sessions() as s:
        assert s.get(DiaryEntry, entry_id).title == "Bón thúc đợt 1"
        assert s.query(DiaryRevision).filter_by(entry_id=entry_id).count() == 1
