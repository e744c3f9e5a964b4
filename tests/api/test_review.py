"""Agronomists review detections: each action is recorded, counts and alerts follow, human labels stay."""

from __future__ import annotations

import pytest
from factories import add_rule
from helpers import planthopper_photo, presigned_upload

from cropwatch.core.enums import Role
from cropwatch.worker.pipeline import CaptureProcessor, Outcome

PHOTO = planthopper_photo()


@pytest.fixture
def processed(client, tenant_a, sessions, storage, settings, models_registered):
    """A real photo of brown planthoppers, uploaded by the camera and processed by the worker's service at the
    production threshold; a rule 'planthopper >= 5 per day' is in force."""
    with sessions.begin() as s:
        add_rule(s, tenant_a.cooperative_id, "planthopper", threshold=5)
        add_rule(s, tenant_a.cooperative_id, "rice bug", threshold=1)
    cap = presigned_upload(client, tenant_a.camera_auth, PHOTO.read_bytes()).json()
    worker = CaptureProcessor(settings.model_copy(update={"detect_conf": 0.25}), sessions, storage)
    assert worker.process(cap["id"]).outcome == Outcome.done
    detail = client.get(f"/api/v1/captures/{cap['id']}", headers=tenant_a.auth(Role.agronomist)).json()
    hoppers = [d for d in detail["detections"] if d["class_name"] == "planthopper"]
    assert len(hoppers) >= 6, "the shipped model should see the planthoppers of this photo"
    return detail, hoppers


def _alerts(client, tenant, **params):
    return client.get("/api/v1/alerts", headers=tenant.auth(Role.agronomist), params=params).json()


def _review(client, tenant, cap_id, role=Role.agronomist, **body):
    return client.post(f"/api/v1/captures/{cap_id}/reviews", headers=tenant.auth(role), json=body)


def test_rejecting_false_positives_resolves_the_alert_they_raised(client, tenant_a, processed):
    detail, hoppers = processed
    [alert] = [a for a in _alerts(client, tenant_a) if a["class_name"] == "planthopper"]
    assert alert["status"] == "open" and alert["count"] == len(hoppers)
    to_reject = hoppers[: len(hoppers) - 4]  # leaves 4, under the threshold of 5
    for d in to_reject:
        r = _review(client, tenant_a, detail["id"], action="reject", detection_id=d["id"])
        assert r.status_code == 200, r.text
    after = {d["id"]: d for d in r.json()["detections"]}
    assert all(after[d["id"]]["review_state"] == "rejected" for d in to_reject)
    alert = client.get(f"/api/v1/alerts/{alert['id']}", headers=tenant_a.auth(Role.agronomist)).json()
    assert alert["status"] == "resolved" and alert["count"] == 4
    assert "review" in alert["resolution"] and "threshold" in alert["resolution"]
    history = client.get(f"/api/v1/captures/{detail['id']}/reviews", headers=tenant_a.auth(Role.member)).json()
    assert [h["action"] for h in history] == ["reject"] * len(to_reject)
    assert history[0]["before"]["review_state"] == "unreviewed" and history[0]["after"]["review_state"] == "rejected"
    assert history[0]["user_id"] == tenant_a.user_ids[Role.agronomist]
    # the automatic diary observation of the capture is marked done by the review
    diary = client.get("/api/v1/diary", headers=tenant_a.auth(Role.member), params={"source": "automatic"}).json()
    assert [e["status"] for e in diary if e["capture_id"] == detail["id"]] == ["done"]


def test_relabel_and_a_missed_box_count_for_their_new_class(client, tenant_a, processed):
    detail, hoppers = processed
    assert not [a for a in _alerts(client, tenant_a) if a["class_name"] == "rice bug"]
    r = _review(client, tenant_a, detail["id"], action="relabel", detection_id=hoppers[0]["id"], class_name="rice bug")
    assert r.status_code == 200, r.text
    relabeled = next(d for d in r.json()["detections"] if d["id"] == hoppers[0]["id"])
    assert relabeled["class_name"] == "rice bug" and relabeled["review_state"] == "relabeled"
    [bug_alert] = [a for a in _alerts(client, tenant_a) if a["class_name"] == "rice bug"]
    assert bug_alert["count"] == 1
    r = _review(
        client,
        tenant_a,
        detail["id"],
        action="add_box",
        class_name="rice bug",
        box=[10, 10, 60, 50],
        note="con bọ ở góc trái bị bỏ sót",
    )
    assert r.status_code == 200, r.text
    added = [d for d in r.json()["detections"] if d["source"] == "human"]
    assert len(added) == 1 and added[0]["review_state"] == "confirmed" and added[0]["model_version_id"] is None
    bug_alert = client.get(f"/api/v1/alerts/{bug_alert['id']}", headers=tenant_a.auth(Role.member)).json()
    assert bug_alert["count"] == 2
    r = _review(client, tenant_a, detail["id"], action="adjust_box", detection_id=added[0]["id"], box=[12, 12, 70, 55])
    adjusted = next(d for d in r.json()["detections"] if d["id"] == added[0]["id"])
    assert (adjusted["x1"], adjusted["x2"]) == (12, 70)


def test_no_pest_rejects_everything_and_agreement_follows(client, tenant_a, processed):
    detail, hoppers = processed
    _review(client, tenant_a, detail["id"], action="confirm", detection_id=hoppers[0]["id"])
    r = _review(client, tenant_a, detail["id"], action="no_pest")
    assert r.status_code == 200
    assert {d["review_state"] for d in r.json()["detections"]} == {"rejected"}
    assert all(a["status"] == "resolved" for a in _alerts(client, tenant_a) if a["class_name"] == "planthopper")
    agreement = client.get("/api/v1/review/agreement", headers=tenant_a.auth(Role.ml_engineer)).json()["classes"]
    n = len(hoppers)
    assert agreement["planthopper"]["confirmed"] == 1 and agreement["planthopper"]["rejected"] == n
    assert agreement["planthopper"]["precision"] == round(1 / (n + 1), 4)
    weekly = client.get("/api/v1/review/agreement", headers=tenant_a.auth(Role.ml_engineer)).json()["weekly"]
    [this_week] = [w for w in weekly if w["class_name"] == "planthopper"]
    assert this_week["confirmed"] == 1 and this_week["precision"] == round(1 / (n + 1), 4)


def test_bad_reviews_are_refused_with_a_reason_and_change_nothing(client, tenant_a, tenant_b, processed):
    detail, hoppers = processed
    cid, did = detail["id"], hoppers[0]["id"]
    cases = [
        (dict(action="add_box", class_name="planthopper", box=[50, 50, 10, 10]), 422, "review_bad_box"),
        (dict(action="add_box", class_name="planthopper", box=[0, 0, 99999, 10]), 422, "review_bad_box"),
        (dict(action="relabel", detection_id=did, class_name="dragon"), 422, "review_unknown_class"),
        (dict(action="paint"), 422, "review_bad_action"),
        (dict(action="reject", detection_id=999999), 404, "not_found"),
    ]
    for body, status, code in cases:
        r = _review(client, tenant_a, cid, **body)
        assert (r.status_code, r.json().get("code")) == (status, code), (body, r.text)
    assert _review(client, tenant_a, cid, role=Role.member, action="reject", detection_id=did).status_code == 403
    r = _review(client, tenant_b, cid, action="reject", detection_id=did)
    assert r.status_code == 404
    for role in (Role.agronomist, Role.coop_admin):
        assert client.post(f"/api/v1/captures/{cid}/flag", headers=tenant_b.auth(role), json={}).status_code == 404
    assert client.get(f"/api/v1/captures/{cid}/reviews", headers=tenant_b.auth(Role.agronomist)).status_code == 404
    after = client.get(f"/api/v1/captures/{cid}", headers=tenant_a.auth(Role.agronomist)).json()
    assert after["detections"] == detail["detections"] and after["reviewed_at"] is None


def test_queue_puts_a_farmers_flag_first_and_drops_reviewed_captures(
    client, tenant_a, tenant_b, processed, sessions, storage, settings
):
    detail, hoppers = processed
    other = presigned_upload(
        client, tenant_a.camera_auth, next(iter(sorted(PHOTO.parent.glob("rice_*.jpg")))).read_bytes()
    ).json()
    CaptureProcessor(settings.model_copy(update={"detect_conf": 0.25}), sessions, storage).process(other["id"])
    r = client.post(
        f"/api/v1/captures/{other['id']}/flag",
        headers=tenant_a.auth(Role.member),
        json={"note": "lá bị cuốn, nhờ kỹ sư xem"},
    )
    assert r.status_code == 200 and r.json()["flagged_at"]
    queue = client.get("/api/v1/review/queue", headers=tenant_a.auth(Role.agronomist)).json()
    assert queue[0]["capture_id"] == other["id"] and "flagged_by_farmer" in queue[0]["reasons"]
    assert client.get("/api/v1/review/queue", headers=tenant_a.auth(Role.member)).status_code == 403
    assert client.get("/api/v1/review/queue", headers=tenant_b.auth(Role.agronomist)).json() == []
    _review(client, tenant_a, other["id"], action="no_pest")
    queue = client.get("/api/v1/review/queue", headers=tenant_a.auth(Role.agronomist)).json()
    assert other["id"] not in [q["capture_id"] for q in queue]
