"""A diary entry's photos change like its words (issue 14): photos are added to and taken off a manual entry,
each change one revision; a photo taken off stays in storage and its revision still names it; the photo checks,
the photo limit and the empty-entry rule hold on an edit as on a new entry."""

from __future__ import annotations

import io

from helpers import SHARED

from cropwatch.core.enums import Role
from cropwatch.core.orm import DiaryEntry, DiaryRevision

PHOTOS = sorted((SHARED / "rice-pests" / "images" / "test").glob("*.jpg"))[:3]


def _photo(i: int) -> tuple[str, io.BytesIO, str]:
    return (f"phone-{i}.jpg", io.BytesIO(PHOTOS[i].read_bytes()), "image/jpeg")


def _entry_with_photo(client, tenant, **fields) -> dict:
    data = {"plot_id": tenant.plot_id, "type": "pest_control", "title": "Phun thuốc trừ rầy"} | fields
    r = client.post("/api/v1/diary", headers=tenant.auth(), data=data, files=[("photos", _photo(0))])
    assert r.status_code == 201, r.text
    return r.json()


def _revisions(sessions, entry_id: int) -> list[dict]:
    with sessions() as s:
        rows = s.query(DiaryRevision).filter_by(entry_id=entry_id).order_by(DiaryRevision.revision).all()
        return [r.snapshot for r in rows]


def test_photos_added_then_one_taken_off_each_as_a_revision_and_kept_in_storage(client, tenant_a, sessions, storage):
    entry = _entry_with_photo(client, tenant_a)
    r = client.post(
        f"/api/v1/diary/{entry['id']}/photos",
        headers=tenant_a.auth(),
        files=[("photos", _photo(1)), ("photos", _photo(2))],
        data={"reason": "thêm ảnh sau khi phun"},
    )
    assert r.status_code == 200, r.text
    with sessions() as s:
        keys = list(s.get(DiaryEntry, entry["id"]).photo_keys)
    assert len(keys) == 3
    assert storage.get_bytes(keys[1]) == PHOTOS[1].read_bytes()  # stored as sent (a plain JPEG: nothing trimmed)

    r = client.request(
        "DELETE", f"/api/v1/diary/{entry['id']}/photos/0", headers=tenant_a.auth(), json={"reason": "ảnh mờ"}
    )
    assert r.status_code == 200, r.text
    with sessions() as s:
        assert list(s.get(DiaryEntry, entry["id"]).photo_keys) == keys[1:]
    snaps = _revisions(sessions, entry["id"])
    assert [len(x["photo_keys"]) for x in snaps] == [1, 3, 2]
    assert snaps[1]["_reason"] == "thêm ảnh sau khi phun" and snaps[2]["_reason"] == "ảnh mờ"
    assert storage.get_bytes(keys[0]) == PHOTOS[0].read_bytes()  # taken off the entry, not out of the record

    detail = client.get(f"/api/v1/diary/{entry['id']}", headers=tenant_a.auth()).json()
    assert len(detail["photo_urls"]) == 2
    changes = {c["field"]: c for c in detail["revisions"][2]["changes"]}
    assert "photo_keys" in changes, detail["revisions"][2]


def test_taking_off_the_only_content_is_refused_as_an_empty_entry(client, tenant_a, sessions):
    entry = _entry_with_photo(client, tenant_a, title="")
    r = client.request("DELETE", f"/api/v1/diary/{entry['id']}/photos/0", headers=tenant_a.auth())
    assert r.status_code == 422 and r.json()["code"] == "diary_entry_empty", r.text
    with sessions() as s:
        assert len(s.get(DiaryEntry, entry["id"]).photo_keys) == 1
    assert len(_revisions(sessions, entry["id"])) == 1


def test_the_photo_limit_counts_the_photos_already_there(client, tenant_a, settings, sessions, storage):
    entry = _entry_with_photo(client, tenant_a)
    before = set(storage.list_keys("diary/"))
    files = [("photos", _photo(i % 3)) for i in range(settings.max_diary_photos)]  # one more than the room left
    r = client.post(f"/api/v1/diary/{entry['id']}/photos", headers=tenant_a.auth(), files=files)
    assert r.status_code == 422 and r.json()["code"] == "diary_too_many_photos", r.text
    assert set(storage.list_keys("diary/")) == before  # nothing stored for a refused change
    assert len(_revisions(sessions, entry["id"])) == 1


def test_a_file_that_is_not_a_photo_is_refused_and_nothing_changes(client, tenant_a, sessions):
    entry = _entry_with_photo(client, tenant_a)
    r = client.post(
        f"/api/v1/diary/{entry['id']}/photos",
        headers=tenant_a.auth(),
        files=[("photos", ("notes.jpg", io.BytesIO(b"%PDF-1.7 not a photo"), "image/jpeg"))],
    )
    assert r.status_code in (415, 422), r.text
    assert len(_revisions(sessions, entry["id"])) == 1


def test_a_photo_index_past_the_end_is_404_and_other_roles_and_cooperatives_cannot(
    client, tenant_a, tenant_b, sessions
):
    entry = _entry_with_photo(client, tenant_a)
    url = f"/api/v1/diary/{entry['id']}/photos"
    assert client.request("DELETE", f"{url}/5", headers=tenant_a.auth()).status_code == 404
    assert client.request("DELETE", f"{url}/0", headers=tenant_b.auth()).status_code == 404
    assert client.post(url, headers=tenant_b.auth(), files=[("photos", _photo(1))]).status_code == 404
    ml = client.post(url, headers=tenant_a.auth(Role.ml_engineer), files=[("photos", _photo(1))])
    assert ml.status_code == 403, ml.text
    assert len(_revisions(sessions, entry["id"])) == 1
