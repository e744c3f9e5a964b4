"""A diary fit for an audit (issue 14): manual entries are edited and deleted with a revision each (who, when,
field: before → after), deleted ones leave the lists but stay in the exports marked as deleted, the exports speak
the export's language, and an empty entry is refused with a reason."""

from __future__ import annotations

import csv as csvmod
import datetime as dt
import io
import re

import pytest

from cropwatch.core.enums import DiarySource, DiaryStatus, DiaryType, Role
from cropwatch.core.orm import DiaryEntry, DiaryRevision
from cropwatch.core.timeutil import utcnow
from cropwatch.diary import entries as diary

SEASON = {"since": "2026-09-01", "until": "2026-09-30"}


def _entry(client, tenant, role: Role = Role.member, **fields) -> dict:
    data = {
        "plot_id": tenant.plot_id,
        "type": "fertilizing",
        "occurred_at": "2026-09-05T02:00:00+00:00",
        "title": "Bón thúc đợt 1",
        "product_name": "NPK 20-20-15",
        "quantity_value": 50,
        "quantity_unit": "kg",
    }
    r = client.post("/api/v1/diary", headers=tenant.auth(role), data=data | fields)
    assert r.status_code == 201, r.text
    return r.json()


def _automatic(sessions, tenant) -> int:
    with sessions.begin() as s:
        entry = diary.create_entry(
            s,
            cooperative_id=tenant.cooperative_id,
            user_id=None,
            plot_id=tenant.plot_id,
            occurred_at=utcnow(),
            type=DiaryType.observation,
            status=DiaryStatus.pending,
            source=DiarySource.automatic,
            subject="planthopper",
            title="Quan sát tự động: 3 rầy nâu",
            title_en="Automatic observation: 3",
            notes="",
        )
        s.flush()
        return entry.id


def _listed(client, tenant) -> list[int]:
    r = client.get("/api/v1/diary", headers=tenant.auth(), params={"plot_id": tenant.plot_id})
    return [e["id"] for e in r.json()]


def test_an_edit_is_a_revision_with_each_field_before_and_after(client, tenant_a):
    entry = _entry(client, tenant_a)
    r = client.patch(
        f"/api/v1/diary/{entry['id']}",
        headers=tenant_a.auth(Role.member),
        json={"quantity_value": 45, "notes": "ruộng ướt, bón ít hơn", "reason": "cân lại bao phân"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["quantity_value"] == 45 and r.json()["notes"] == "ruộng ướt, bón ít hơn"
    detail = client.get(f"/api/v1/diary/{entry['id']}", headers=tenant_a.auth()).json()
    first, second = detail["revisions"]
    assert first["changes"] == [] and second["changed_by"] == tenant_a.user_ids[Role.member]
    assert second["reason"] == "cân lại bao phân"
    assert {c["field"]: (c["before"], c["after"]) for c in second["changes"]} == {
        "quantity_value": (50, 45),
        "notes": ("", "ruộng ướt, bón ít hơn"),
    }
    # the same values again: nothing changed, no revision
    again = client.patch(f"/api/v1/diary/{entry['id']}", headers=tenant_a.auth(), json={"quantity_value": 45})
    assert again.status_code == 200
    assert len(client.get(f"/api/v1/diary/{entry['id']}", headers=tenant_a.auth()).json()["revisions"]) == 2


def test_the_history_reads_in_the_readers_language_with_local_dates(client, tenant_a, sessions):
    entry = _entry(client, tenant_a)
    client.patch(
        f"/api/v1/diary/{entry['id']}",
        headers=tenant_a.auth(Role.agronomist),
        json={"status": "pending", "occurred_at": "2026-09-06T01:30:00+00:00"},
    )
    with sessions() as s:
        row = s.get(DiaryEntry, entry["id"])
        vi, en = diary.history(s, row, "vi"), diary.history(s, row, "en")
    assert [h.action for h in vi] == ["created", "edited"] and vi[1].who == "agronomist"
    changes = {c.label: (c.before, c.after) for c in vi[1].changes}
    assert changes == {
        "Trạng thái": ("Đã thực hiện", "Chờ xác nhận"),
        "Thời gian": ("05/09/2026 09:00", "06/09/2026 08:30"),
    }  # Asia/Ho_Chi_Minh, dd/mm/yyyy
    assert {c.label: (c.before, c.after) for c in en[1].changes}["Status"] == ("Done", "Pending")


def test_a_farmer_of_the_cooperative_edits_what_staff_wrote(client, tenant_a):
    entry = _entry(client, tenant_a, Role.agronomist)
    r = client.patch(f"/api/v1/diary/{entry['id']}", headers=tenant_a.auth(Role.member), json={"dose": "2 bao/sào"})
    assert r.status_code == 200 and r.json()["dose"] == "2 bao/sào"


@pytest.mark.parametrize("role", [Role.member, Role.agronomist, Role.coop_admin, Role.ml_engineer])
def test_another_cooperative_gets_404_on_edit_and_delete(client, tenant_a, tenant_b, sessions, role):
    entry = _entry(client, tenant_a)
    auth = tenant_b.auth(role)
    expected = 403 if role == Role.ml_engineer else 404  # a role that never writes the diary is refused first
    assert client.patch(f"/api/v1/diary/{entry['id']}", headers=auth, json={"title": "x"}).status_code == expected
    assert client.delete(f"/api/v1/diary/{entry['id']}", headers=auth).status_code == expected
    with sessions() as s:
        row = s.get(DiaryEntry, entry["id"])
        assert row.title == "Bón thúc đợt 1" and row.deleted_at is None
        assert s.query(DiaryRevision).filter_by(entry_id=entry["id"]).count() == 1


def test_a_role_that_does_not_write_the_diary_gets_403(client, tenant_a, sessions):
    entry = _entry(client, tenant_a)
    ml = tenant_a.auth(Role.ml_engineer)
    r = client.patch(f"/api/v1/diary/{entry['id']}", headers=ml, json={"title": "x"})
    assert (r.status_code, r.json()["code"]) == (403, "forbidden_role")
    assert client.delete(f"/api/v1/diary/{entry['id']}", headers=ml).status_code == 403


def test_the_union_admin_gets_403_on_diary_entries(client, tenant_a, sessions):
    from cropwatch.core.orm import Membership

    entry = _entry(client, tenant_a)
    with sessions.begin() as s:
        s.query(Membership).filter_by(user_id=tenant_a.user_ids[Role.coop_admin]).one().role = Role.union_admin
    union = tenant_a.auth(Role.coop_admin)
    assert client.patch(f"/api/v1/diary/{entry['id']}", headers=union, json={"title": "x"}).status_code == 403
    assert client.delete(f"/api/v1/diary/{entry['id']}", headers=union).status_code == 403


def test_delete_hides_the_entry_but_keeps_it_for_the_audit(client, tenant_a, sessions):
    keep, gone = _entry(client, tenant_a), _entry(client, tenant_a, title="Bón nhầm lô")
    r = client.request(
        "DELETE", f"/api/v1/diary/{gone['id']}", headers=tenant_a.auth(Role.member), json={"reason": "ghi nhầm lô"}
    )
    assert r.status_code == 204, r.text
    assert _listed(client, tenant_a) == [keep["id"]]
    detail = client.get(f"/api/v1/diary/{gone['id']}", headers=tenant_a.auth()).json()
    assert detail["deleted_at"] and detail["revisions"][-1]["reason"] == "ghi nhầm lô"
    assert [c["field"] for c in detail["revisions"][-1]["changes"]] == ["deleted_at"]
    # deleting again changes nothing; a deleted entry is not edited or confirmed any more
    assert client.delete(f"/api/v1/diary/{gone['id']}", headers=tenant_a.auth()).status_code == 204
    assert len(client.get(f"/api/v1/diary/{gone['id']}", headers=tenant_a.auth()).json()["revisions"]) == 2
    r = client.patch(f"/api/v1/diary/{gone['id']}", headers=tenant_a.auth(), json={"title": "sửa"})
    assert (r.status_code, r.json()["code"]) == (409, "diary_entry_deleted")
    assert "đã bị xoá" in r.json()["detail"] and "deleted" in r.json()["detail_en"]
    assert client.post(f"/api/v1/diary/{gone['id']}/done", headers=tenant_a.auth()).status_code == 409
    with sessions() as s:
        assert s.get(DiaryEntry, gone["id"]).title == "Bón nhầm lô"


def test_automatic_observations_are_not_edited_or_deleted_as_text(client, tenant_a, sessions):
    entry_id = _automatic(sessions, tenant_a)
    for role in (Role.member, Role.agronomist):
        r = client.patch(f"/api/v1/diary/{entry_id}", headers=tenant_a.auth(role), json={"title": "không có rầy"})
        assert (r.status_code, r.json()["code"]) == (409, "diary_automatic_locked")
        r = client.delete(f"/api/v1/diary/{entry_id}", headers=tenant_a.auth(role))
        assert (r.status_code, r.json()["code"]) == (409, "diary_automatic_locked")
    # confirming it stays possible, as before
    assert client.post(f"/api/v1/diary/{entry_id}/done", headers=tenant_a.auth()).json()["status"] == "done"


def test_an_empty_entry_is_refused_with_a_reason(client, tenant_a, sessions):
    r = client.post(
        "/api/v1/diary",
        headers=tenant_a.auth(),
        data={"plot_id": tenant_a.plot_id, "type": "irrigation", "title": "   ", "notes": ""},
    )
    assert (r.status_code, r.json()["code"]) == (422, "diary_entry_empty")
    assert "trống" in r.json()["detail"] and "empty" in r.json()["detail_en"]
    en = client.post(
        "/api/v1/diary",
        headers=tenant_a.auth() | {"Accept-Language": "en"},
        data={"plot_id": tenant_a.plot_id, "type": "irrigation"},
    )
    assert en.json()["detail"].startswith("The diary entry is empty")
    with sessions() as s:
        assert s.query(DiaryEntry).count() == 0
    # any one thing written is enough: a quantity (even 0), a product, or notes
    for fields in ({"quantity_value": 0}, {"product_name": "Ure"}, {"notes": "tưới rãnh"}):
        r = client.post(
            "/api/v1/diary", headers=tenant_a.auth(), data={"plot_id": tenant_a.plot_id, "type": "irrigation"} | fields
        )
        assert r.status_code == 201, (fields, r.text)


def test_an_edit_that_empties_an_entry_is_refused(client, tenant_a, sessions):
    entry = _entry(client, tenant_a, product_name="", quantity_value="")
    r = client.patch(f"/api/v1/diary/{entry['id']}", headers=tenant_a.auth(), json={"title": " "})
    assert (r.status_code, r.json()["code"]) == (422, "diary_entry_empty")
    with sessions() as s:
        assert s.get(DiaryEntry, entry["id"]).title == "Bón thúc đợt 1"


def test_a_harvest_moved_into_a_pre_harvest_interval_meets_the_guard(client, tenant_a):
    _entry(
        client,
        tenant_a,
        type="pest_control",
        product_name="Chess 50WG",
        phi_days=7,
        occurred_at="2026-09-01T01:00:00+00:00",
    )
    harvest = _entry(client, tenant_a, type="harvest", title="Thu hoạch", occurred_at="2026-09-20T01:00:00+00:00")
    r = client.patch(
        f"/api/v1/diary/{harvest['id']}", headers=tenant_a.auth(), json={"occurred_at": "2026-09-03T01:00:00+00:00"}
    )
    assert (r.status_code, r.json()["code"]) == (409, "phi_active")


def _export(client, tenant, fmt: str, **params) -> bytes:
    r = client.get(
        "/api/v1/diary/export",
        headers=tenant.auth(),
        params={"plot_id": tenant.plot_id, "format": fmt} | SEASON | params,
    )
    assert r.status_code == 200, r.text
    return r.content


def _pdf_text(data: bytes) -> str:
    import pypdfium2

    doc = pypdfium2.PdfDocument(data)
    return " ".join(" ".join(doc[i].get_textpage().get_text_range() for i in range(len(doc))).split())


@pytest.fixture
def audited_season(client, tenant_a, sessions):
    """A season with a pending entry, an edited one, a deleted one (with a reason) and an automatic observation."""
    pending = _entry(
        client,
        tenant_a,
        status="pending",
        title="Phun thuốc trừ rầy",
        product_name="Chess 50WG",
        type="pest_control",
        occurred_at="2026-09-03T01:00:00+00:00",
    )
    edited = _entry(client, tenant_a)
    client.patch(f"/api/v1/diary/{edited['id']}", headers=tenant_a.auth(Role.agronomist), json={"quantity_value": 45})
    gone = _entry(client, tenant_a, title="Bón nhầm lô", product_name="Ure", occurred_at="2026-09-06T01:00:00+00:00")
    client.request(
        "DELETE", f"/api/v1/diary/{gone['id']}", headers=tenant_a.auth(Role.member), json={"reason": "ghi nhầm lô"}
    )
    with sessions.begin() as s:
        diary.create_entry(
            s,
            cooperative_id=tenant_a.cooperative_id,
            user_id=None,
            plot_id=tenant_a.plot_id,
            occurred_at=dt.datetime(2026, 9, 7, 2, tzinfo=dt.timezone.utc),
            type=DiaryType.observation,
            status=DiaryStatus.pending,
            source=DiarySource.automatic,
            subject="planthopper",
            title="Quan sát tự động: 3 rầy nâu trong ngày 07/09/2026",
            title_en="Automatic observation: 3 planthopper on 07/09/2026",
            notes="",
        )
    return {"pending": pending, "edited": edited, "gone": gone}


ENGLISH_VALUES = re.compile(
    r"\b(pending|done|manual|automatic|deleted|observation|fertilizing|pest_control)\b", re.IGNORECASE
)


def test_the_pdf_speaks_vietnamese_and_shows_changes_and_deletions(client, tenant_a, audited_season):
    text = _pdf_text(_export(client, tenant_a, "pdf"))
    assert "NHẬT KÝ CANH TÁC" in text and "Số mục: 4 (đã xoá: 1)" in text
    assert "Chờ xác nhận" in text and "Đã thực hiện" in text  # statuses
    assert "Phòng trừ sâu bệnh" in text and "Bón phân" in text and "Quan sát" in text  # types
    assert "Ghi tay" in text and "Tự động" in text  # sources
    assert re.search(r"Sửa 1 lần, gần nhất \d\d/\d\d/\d{4} \d\d:\d\d — agronomist", text), text
    assert re.search(r"\[ĐÃ XOÁ \d\d/\d\d/\d{4} \d\d:\d\d bởi member; lý do: ghi nhầm lô\]", text), text
    assert "Bón nhầm lô" in text  # the withdrawn entry is still there, marked
    assert not ENGLISH_VALUES.findall(text), ENGLISH_VALUES.findall(text)


def test_the_pdf_in_english_says_the_same_in_english(client, tenant_a, audited_season):
    text = _pdf_text(_export(client, tenant_a, "pdf", lang="en"))
    assert "CULTIVATION DIARY" in text and "Entries: 4 (deleted: 1)" in text
    assert "Pending" in text and "Done" in text and "Pest control" in text and "Manual" in text
    assert "[DELETED" in text and "by member; reason: ghi nhầm lô]" in text
    assert "Automatic observation: 3 planthopper" in text and "Quan sát tự động" not in text
    assert "Chờ xác nhận" not in text


def test_csv_and_xlsx_count_the_changes_and_mark_what_was_deleted(client, tenant_a, audited_season):
    from openpyxl import load_workbook

    rows = list(csvmod.reader(_export(client, tenant_a, "csv").decode("utf-8-sig").splitlines()))
    head = rows[0]
    assert head[:3] == ["Ngày", "Công việc", "Trạng thái"] and head[-3:] == ["Đã xoá", "Số lần sửa", "Sửa lần cuối"]
    by_title = {r[3]: dict(zip(head, r, strict=True)) for r in rows[1:]}
    assert len(by_title) == 4
    edited, gone = by_title["Bón thúc đợt 1"], by_title["Bón nhầm lô"]
    assert edited["Số lần sửa"] == "1" and edited["Sửa lần cuối"].endswith("— agronomist") and edited["Đã xoá"] == ""
    assert gone["Đã xoá"].endswith("bởi member; lý do: ghi nhầm lô") and gone["Số lần sửa"] == "1"
    assert by_title["Phun thuốc trừ rầy"]["Trạng thái"] == "Chờ xác nhận"
    assert by_title["Phun thuốc trừ rầy"]["Số lần sửa"] == "0" and by_title["Phun thuốc trừ rầy"]["Nguồn"] == "Ghi tay"
    assert not ENGLISH_VALUES.findall(" ".join(" ".join(r) for r in rows))
    wb = load_workbook(io.BytesIO(_export(client, tenant_a, "xlsx", lang="en")))
    sheet = wb.active
    assert sheet.title == "Diary" and [c.value for c in sheet[2]][-3:] == ["Deleted", "Changes", "Last change"]
    statuses = {row[2] for row in sheet.iter_rows(min_row=3, values_only=True)}
    assert statuses == {"Pending", "Done"}


def test_an_export_language_other_than_vi_or_en_is_refused(client, tenant_a):
    r = client.get(
        "/api/v1/diary/export",
        headers=tenant_a.auth(),
        params={"plot_id": tenant_a.plot_id, "format": "csv", "lang": "fr"} | SEASON,
    )
    assert r.status_code == 422
