"""Issue 14: a rule's pest may be typed in Vietnamese (with or without accents) and is stored as the model's class,
so it can fire; an unknown name is refused with the choices; what a rule checks is generated from the rule, in
the reader's language, with its unit, and follows every change."""

from __future__ import annotations

from cropwatch.core.enums import Role


def test_a_rule_typed_in_vietnamese_watches_the_models_class(client, tenant_a, models_registered):
    ag = tenant_a.auth(Role.agronomist)
    r = client.post(
        "/api/v1/alert-rules", headers=ag, json={"class_name": "rầy nâu", "threshold": 3, "unit": "trap_day"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["class_name"] == "planthopper"
    assert r.json()["label"] == "rầy nâu ≥ 3 con mới/bẫy/ngày"
    plain = client.post(
        "/api/v1/alert-rules",
        headers=ag,
        json={"class_name": "  Ray Nau ", "threshold": 10, "unit": "sample", "level": "danger"},
    )
    assert plain.status_code == 201 and plain.json()["class_name"] == "planthopper"
    changed = client.patch(f"/api/v1/alert-rules/{r.json()['id']}", headers=ag, json={"threshold": 8})
    assert changed.json()["label"] == "rầy nâu ≥ 8 con mới/bẫy/ngày"  # regenerated from the rule


def test_an_unknown_pest_is_refused_with_the_choices(client, tenant_a, models_registered):
    ag = tenant_a.auth(Role.agronomist)
    r = client.post("/api/v1/alert-rules", headers=ag, json={"class_name": "bọ rùa vàng", "threshold": 3})
    assert r.status_code == 422 and r.json()["code"] == "unknown_pest"
    assert "bọ rùa vàng" in r.json()["detail"] and "rầy nâu (planthopper)" in r.json()["detail"]
    assert client.get("/api/v1/alert-rules", headers=ag).json() == []


def test_a_vietnamese_name_two_models_share_asks_which_one(client, tenant_a, all_models_registered):
    """The rice model's "rice leaf roller" and the vegetable model's "leaf webber" are both "sâu cuốn lá": the rule
    is refused with the two choices rather than silently bound to the rice one, and the English name picks one."""
    ag = tenant_a.auth(Role.agronomist)
    r = client.post("/api/v1/alert-rules", headers=ag, json={"class_name": "sâu cuốn lá", "threshold": 3})
    assert r.status_code == 422 and r.json()["code"] == "ambiguous_pest", r.text
    assert "sâu cuốn lá (leaf webber)" in r.json()["detail"] and "sâu cuốn lá (rice leaf roller)" in r.json()["detail"]
    picked = client.post("/api/v1/alert-rules", headers=ag, json={"class_name": "Leaf Webber", "threshold": 3})
    assert picked.status_code == 201 and picked.json()["class_name"] == "leaf webber"
    assert picked.json()["label"].startswith("sâu cuốn lá ≥ 3")


def test_silence_and_harvest_rules_name_themselves(client, tenant_a, models_registered):
    ag = tenant_a.auth(Role.agronomist)
    silent = client.post(
        "/api/v1/alert-rules",
        headers=ag,
        json={"class_name": "-", "threshold": 1, "kind": "silence", "params": {"hours": 1.5}},
    )
    assert silent.status_code == 201 and silent.json()["class_name"] == "camera_silent"
    assert silent.json()["label"] == "Camera im lặng · không có ảnh trong 1,5 giờ"  # words, not {"hours": 1.5}
    assert (
        client.post(
            "/api/v1/alert-rules",
            headers=ag,
            json={"class_name": "-", "threshold": 1, "kind": "silence", "unit": "trap_day"},
        ).status_code
        == 422
    )


def test_a_seasonal_rule_says_what_it_compares_and_refuses_a_negative_margin(client, tenant_a, models_registered):
    ag = tenant_a.auth(Role.agronomist)
    body = {
        "class_name": "rầy nâu",
        "threshold": 2,
        "kind": "seasonal",
        "params": {"margin_pct": 25},
        "unit": "trap_day",
    }
    r = client.post("/api/v1/alert-rules", headers=ag, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["label"] == "rầy nâu ≥ 2 con mới/bẫy/ngày · tuần này cao hơn trung vị cùng tuần các mùa trước 25%"
    bad = client.post("/api/v1/alert-rules", headers=ag, json=body | {"params": {"margin_pct": -5}})
    assert bad.status_code == 422
