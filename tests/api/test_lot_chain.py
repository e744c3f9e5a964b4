"""The chain after harvest (issue 17): a lot is pre-processed, packed, stored, shipped and received; steps out of
order, heavier than the lot or before the harvest are refused with a reason; the public page shows the chain and
nothing private; the EPCIS 2.0 export carries every step, and is 404 for another cooperative's lot."""

from __future__ import annotations

import datetime as dt

import pytest
from epcis_schema import official_problems, problems

from cropwatch.core.enums import Role
from cropwatch.core.timeutil import LOCAL_TZ, utcnow

TODAY = utcnow().astimezone(LOCAL_TZ).date()


@pytest.fixture
def lot(client, tenant_a, sessions):
    r = client.post(
        "/api/v1/lots",
        headers=tenant_a.auth(Role.member),
        json={"plot_id": tenant_a.plot_id, "harvested_on": (TODAY - dt.timedelta(days=2)).isoformat(), "quantity": 500},
    )
    assert r.status_code == 201, r.text
    return r.json()


def _at(days_ago: float) -> str:
    return (utcnow() - dt.timedelta(days=days_ago)).astimezone(LOCAL_TZ).isoformat()


def _step(client, tenant, lot, kind, when, **kw):
    return client.post(
        f"/api/v1/lots/{lot['id']}/events",
        headers=tenant.auth(Role.member),
        json={"kind": kind, "occurred_at": when, **kw},
    )


def test_a_lot_goes_from_harvest_to_the_buyer_and_the_export_says_so(client, tenant_a, tenant_b, lot):
    assert (
        _step(
            client, tenant_a, lot, "preprocessing", _at(1.9), place="Nhà sơ chế HTX", details={"output_kg": 480}
        ).status_code
        == 201
    )
    # shipped before packed: refused, with the reason in Vietnamese
    early = _step(client, tenant_a, lot, "shipment", _at(1.8), details={"buyer": "Công ty Rau Sạch"})
    assert early.status_code == 409 and early.json()["detail"] == "Lô phải được đóng gói trước khi vận chuyển."
    heavy = _step(client, tenant_a, lot, "packing", _at(1.8), details={"packages": 60, "package_kg": 10})
    assert heavy.status_code == 422 and "600 kg nhiều hơn khối lượng của lô (500" in heavy.json()["detail"]
    assert (
        _step(
            client,
            tenant_a,
            lot,
            "packing",
            _at(1.8),
            details={"packages": 48, "package_kg": 10, "package_type": "thùng carton"},
        ).status_code
        == 201
    )
    twice = _step(client, tenant_a, lot, "packing", _at(1.7), details={"packages": 1, "package_kg": 1})
    assert twice.status_code == 409 and twice.json()["detail"] == "Lô đã có bước đóng gói."
    assert (
        _step(
            client, tenant_a, lot, "storage", _at(1.5), place="Kho lạnh Mỹ Tho", details={"temperature_c": 8}
        ).status_code
        == 201
    )
    assert _step(client, tenant_a, lot, "storage", _at(1.6)).json()["code"] == "chain_earlier_than_last"
    ship = _step(
        client,
        tenant_a,
        lot,
        "shipment",
        _at(1),
        details={"buyer": "Công ty Rau Sạch Sài Gòn", "vehicle": "63C-123.45"},
    )
    assert ship.status_code == 201
    back = _step(client, tenant_a, lot, "storage", _at(0.9))
    assert back.status_code == 409 and back.json()["detail"] == "Không thể ghi bảo quản sau khi đã vận chuyển."
    assert _step(client, tenant_a, lot, "receipt", _at(0.5), place="Kho Công ty Rau Sạch").status_code == 201
    assert (
        _step(client, tenant_a, lot, "storage", (utcnow() + dt.timedelta(days=1)).isoformat()).json()["code"]
        == "chain_in_future"
    )
    kinds = [e["kind"] for e in client.get(f"/api/v1/lots/{lot['id']}/events", headers=tenant_a.auth()).json()]
    assert kinds == ["preprocessing", "packing", "storage", "shipment", "receipt"]

    doc = client.get(f"/api/v1/lots/{lot['id']}/epcis", headers=tenant_a.auth(Role.agronomist))
    assert doc.status_code == 200 and doc.headers["content-type"].startswith("application/ld+json")
    body = doc.json()
    assert body["type"] == "EPCISDocument" and body["schemaVersion"] == "2.0"
    assert body["@context"] == ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
    events = body["epcisBody"]["eventList"]
    assert [(e["type"], e["bizStep"]) for e in events] == [
        ("ObjectEvent", "commissioning"),
        ("TransformationEvent", "commissioning"),
        ("AggregationEvent", "packing"),
        ("ObjectEvent", "storing"),
        ("ObjectEvent", "shipping"),
        ("ObjectEvent", "receiving"),
    ]
    for e in events:  # what EPCIS 2.0 requires of every event: when, its offset, an id, and what it is about
        assert e["eventTime"] and e["eventTimeZoneOffset"] == "+07:00" and e["eventID"].startswith("ni:///sha-256;")
        assert e.get("action") in ("ADD", "OBSERVE") or e["type"] == "TransformationEvent"
        assert e.get("quantityList") or e.get("childQuantityList") or e.get("inputQuantityList")
    assert len({e["eventID"] for e in events}) == len(events)
    assert problems(body) == []  # the EPCIS 2.0 JSON rules as we read them (tests/epcis_schema.py)
    assert official_problems(body) == []  # and GS1's own EPCIS 2.0 JSON schema
    broken = {**body, "epcisBody": {"eventList": [{**events[0], "eventTimeZoneOffset": "+7"}]}}
    assert problems(broken), "the rules catch a malformed offset, so passing them means something"
    assert official_problems(broken), "so does GS1's schema"
    lot_uri = lot["public_url"]
    assert events[0]["quantityList"] == [{"epcClass": lot_uri, "quantity": 500, "uom": "KGM"}]
    assert events[1]["outputQuantityList"][0]["quantity"] == 480
    assert events[2]["childQuantityList"][0]["quantity"] == 480 and events[2]["parentID"] == f"{lot_uri}#packages"
    assert events[4]["disposition"] == "in_transit"
    assert events[4]["destinationList"][0]["destination"] == "urn:cropwatch:party:C-ng-ty-Rau-S-ch-S-i-G-n"
    # another cooperative's lot is not there at all
    assert client.get(f"/api/v1/lots/{lot['id']}/epcis", headers=tenant_b.auth(Role.coop_admin)).status_code == 404
    assert _step(client, tenant_b, lot, "storage", _at(0.1)).status_code == 404

    page = client.get(f"/t/{lot['public_url'].rsplit('/', 1)[1]}").text
    assert "Sau thu hoạch" in page and "48 × 10 kg" in page and "Kho lạnh Mỹ Tho" in page and "8 °C" in page
    assert "Công ty Rau Sạch Sài Gòn" in page
    assert "63C-123.45" not in page, "the vehicle stays inside the cooperative"


def test_a_step_before_the_harvest_is_refused(client, tenant_a, lot):
    r = _step(client, tenant_a, lot, "preprocessing", _at(5))
    assert r.status_code == 422 and r.json()["detail"] == "Bước này không thể trước ngày thu hoạch của lô."
    r = _step(client, tenant_a, lot, "receipt", _at(1))
    assert r.status_code == 409 and r.json()["code"] == "chain_receive_before_ship"


def test_a_product_with_a_gtin_gets_gs1_digital_link_qr_codes(client, tenant_a, settings):
    from helpers import decode_qr

    admin = tenant_a.auth(Role.coop_admin)
    profile = {"crop": "lúa", "yield_kg_per_ha": 6000, "days_to_harvest": 100}
    bad = client.put("/api/v1/crop-profiles", headers=admin, json=profile | {"gtin": "8931234567891"})
    assert bad.status_code == 422 and "số kiểm tra" in bad.json()["detail"]
    ok = client.put("/api/v1/crop-profiles", headers=admin, json=profile | {"gtin": "8931234567897"})
    assert ok.status_code == 200 and ok.json()["gtin"] == "08931234567897"
    r = client.post(
        "/api/v1/lots",
        headers=tenant_a.auth(Role.member),
        json={"plot_id": tenant_a.plot_id, "harvested_on": TODAY.isoformat(), "quantity": 120},
    )
    lot = r.json()
    code = lot["public_url"].rsplit("/", 1)[1]
    link = f"{settings.public_base_url.rstrip('/')}/01/08931234567897/10/{code}"
    assert lot["public_url"] == link
    png = client.get(f"/api/v1/lots/{lot['id']}/qr.png", headers=tenant_a.auth(Role.member)).content
    decoded = decode_qr(png)
    assert decoded == link, "the printed QR scans back to the Digital Link"
    hop = client.get(f"/01/08931234567897/10/{code}", follow_redirects=False)
    assert hop.status_code == 307 and hop.headers["location"] == f"/t/{code}"
    assert "Nhật ký canh tác" in client.get(hop.headers["location"]).text
    assert client.get(f"/01/00000000000000/10/{code}", follow_redirects=False).status_code == 404
    epcis = client.get(f"/api/v1/lots/{lot['id']}/epcis", headers=admin).json()
    assert epcis["epcisBody"]["eventList"][0]["quantityList"][0]["epcClass"] == link


def test_a_packed_lot_splits_into_packages_with_their_own_codes_once(client, tenant_a, tenant_b, lot):
    assert (
        _step(client, tenant_a, lot, "packing", _at(1), details={"packages": 3, "package_kg": 100}).status_code == 201
    )
    heavy = client.post(f"/api/v1/lots/{lot['id']}/split", headers=tenant_a.auth(), json={"packages_kg": [300, 300]})
    assert heavy.status_code == 422 and "600 kg nhiều hơn khối lượng của lô (500" in heavy.json()["detail"]
    r = client.post(f"/api/v1/lots/{lot['id']}/split", headers=tenant_a.auth(), json={"packages_kg": [100, 100, 100]})
    assert r.status_code == 201, r.text
    packages = r.json()
    codes = {p["public_code"] for p in packages}
    assert len(codes) == 3 and lot["public_code"] not in codes
    assert all(p["parent_lot_id"] == lot["id"] and p["quantity"] == 100 for p in packages)
    again = client.post(f"/api/v1/lots/{lot['id']}/split", headers=tenant_a.auth(), json={"packages_kg": [1]})
    assert again.status_code == 409 and again.json()["detail"] == "Lô này đã được tách thành kiện."
    sub = client.post(f"/api/v1/lots/{packages[0]['id']}/split", headers=tenant_a.auth(), json={"packages_kg": [50]})
    assert sub.status_code == 409 and sub.json()["code"] == "chain_split_package"
    assert (
        client.post(
            f"/api/v1/lots/{lot['id']}/split", headers=tenant_b.auth(Role.coop_admin), json={"packages_kg": [1]}
        ).status_code
        == 404
    )
    # a package's page carries its lot's chain and its own weight, and names no other lot
    # a package ships on its own (it was packed with its lot); its page carries its lot's chain and its own weight,
    # and names no other lot
    shipped = _step(client, tenant_a, packages[0], "shipment", _at(0.5), details={"buyer": "Cửa hàng Cô Ba"})
    assert shipped.status_code == 201, shipped.text
    page = client.get(f"/t/{packages[0]['public_code']}").text
    assert "đóng gói" in page and "Cửa hàng Cô Ba" in page and "100 kg" in page and lot["public_code"] not in page
    assert "Cửa hàng Cô Ba" not in client.get(f"/t/{lot['public_code']}").text
    export = client.get(f"/api/v1/lots/{packages[0]['id']}/epcis", headers=tenant_a.auth()).json()
    assert problems(export) == [] and official_problems(export) == []
    assert [e["bizStep"] for e in export["epcisBody"]["eventList"]] == ["commissioning", "packing", "shipping"]


def _lot(client, tenant, kg, days_ago=2, plot_id=None, unit="kg"):
    r = client.post(
        "/api/v1/lots",
        headers=tenant.auth(Role.member),
        json={
            "plot_id": plot_id or tenant.plot_id,
            "harvested_on": (TODAY - dt.timedelta(days=days_ago)).isoformat(),
            "quantity": kg,
            "unit": unit,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def _merge(client, tenant, lots, when, **kw):
    return client.post(
        "/api/v1/lots/merge",
        headers=tenant.auth(Role.member),
        json={"lot_ids": [x["id"] for x in lots], "occurred_at": when, **kw},
    )


def test_members_lots_merge_into_one_that_carries_their_origins(client, tenant_a, tenant_b, sessions):
    """Three members' harvests of one crop commingled at the packhouse: one new lot of their weight, with its own
    code; the sources take no more steps; the public page names each source's growing area and day, not its code;
    the export starts with each harvest and holds the merge as a TransformationEvent."""
    from cropwatch.core.orm import Plot

    with sessions() as s:
        plot = s.get(Plot, tenant_a.plot_id)
        plot.growing_area_code = "VN-TG-001"
        other = Plot(cooperative_id=plot.cooperative_id, farm_id=plot.farm_id, name="B2", crop=plot.crop)
        other.growing_area_code = "VN-TG-002"
        veg = Plot(cooperative_id=plot.cooperative_id, farm_id=plot.farm_id, name="V1", crop="cải bắp")
        s.add_all([other, veg])
        s.commit()
        other_id, veg_id = other.id, veg.id
    a, b = _lot(client, tenant_a, 120, days_ago=3), _lot(client, tenant_a, 80, days_ago=2, plot_id=other_id)
    c = _lot(client, tenant_a, 50, days_ago=2)
    cold = _step(client, tenant_a, a, "storage", _at(2.5), place="Kho lạnh HTX", details={"temperature_c": 6})
    assert cold.status_code == 201  # a night in the cold store does not stop a merge
    cabbage = _lot(client, tenant_a, 30, plot_id=veg_id)
    assert _merge(client, tenant_a, [a, cabbage], _at(1)).json()["code"] == "chain_merge_crops"
    assert _merge(client, tenant_a, [a], _at(1)).json()["code"] == "chain_merge_count"
    assert _merge(client, tenant_a, [a, a], _at(1)).json()["code"] == "chain_merge_count"
    assert _merge(client, tenant_a, [a, b], _at(2.6)).json()["code"] == "chain_earlier_than_last"
    assert _merge(client, tenant_b, [a, b], _at(1)).status_code == 404  # another cooperative's lots
    packed = _lot(client, tenant_a, 40)
    assert (
        _step(client, tenant_a, packed, "packing", _at(1.5), details={"packages": 4, "package_kg": 10}).status_code
        == 201
    )
    late = _merge(client, tenant_a, [a, packed], _at(1))
    assert late.status_code == 409 and late.json()["detail"] == (
        "Không thể gộp lô đã đóng gói; chỉ gộp lô chưa qua bước nào ngoài bảo quản."
    )

    r = _merge(client, tenant_a, [a, b, c], _at(1), place="Nhà sơ chế HTX")
    assert r.status_code == 201, r.text
    merged = r.json()
    assert merged["quantity"] == 250 and merged["public_code"] not in {a["public_code"], b["public_code"]}
    assert merged["harvested_on"] == (TODAY - dt.timedelta(days=2)).isoformat()  # the latest source's day
    again = _merge(client, tenant_a, [a, _lot(client, tenant_a, 10)], _at(0.5))
    assert again.status_code == 409 and again.json()["code"] == "chain_merged_already"
    gone = _step(client, tenant_a, b, "packing", _at(0.5), details={"packages": 8, "package_kg": 10})
    assert gone.status_code == 409 and gone.json()["detail"] == "Lô này đã được gộp vào một lô khác."
    assert _step(client, tenant_a, merged, "storage", _at(1.2)).json()["code"] == "chain_earlier_than_last"
    assert (
        _step(client, tenant_a, merged, "packing", _at(0.8), details={"packages": 25, "package_kg": 10}).status_code
        == 201
    )
    assert (
        _step(client, tenant_a, merged, "shipment", _at(0.5), details={"buyer": "Chợ đầu mối Thủ Đức"}).status_code
        == 201
    )

    page = client.get(f"/t/{merged['public_code']}").text
    assert "Nguồn gốc các lô đã gộp" in page and "VN-TG-001" in page and "VN-TG-002" in page
    assert "gộp lô" in page and "3 lô" in page and "Kho lạnh HTX" in page and "Chợ đầu mối Thủ Đức" in page
    assert not any(x["public_code"] in page for x in (a, b, c)), "a source lot's code is not on the public page"

    export = client.get(f"/api/v1/lots/{merged['id']}/epcis", headers=tenant_a.auth()).json()
    assert problems(export) == [] and official_problems(export) == []
    events = export["epcisBody"]["eventList"]
    assert [(e["type"], e["bizStep"]) for e in events] == [
        ("ObjectEvent", "commissioning"),  # a, three days ago
        ("ObjectEvent", "storing"),  # a in the cold store
        ("ObjectEvent", "commissioning"),  # b and c, two days ago
        ("ObjectEvent", "commissioning"),
        ("TransformationEvent", "creating_class_instance"),
        ("AggregationEvent", "packing"),
        ("ObjectEvent", "shipping"),
    ]
    merge = events[4]
    assert sorted(q["quantity"] for q in merge["inputQuantityList"]) == [50, 80, 120]
    assert {q["epcClass"] for q in merge["inputQuantityList"]} == {a["public_url"], b["public_url"], c["public_url"]}
    assert merge["outputQuantityList"] == [{"epcClass": merged["public_url"], "quantity": 250, "uom": "KGM"}]
    assert events[1]["quantityList"][0]["epcClass"] == a["public_url"]
    # a merged lot is not merged again (its sources would hide behind it)
    again = _merge(client, tenant_a, [merged, _lot(client, tenant_a, 5)], _at(0.2))
    assert again.status_code == 409 and again.json()["code"] == "chain_merge_merged"
    # its packages carry the merge and its sources
    parts = client.post(f"/api/v1/lots/{merged['id']}/split", headers=tenant_a.auth(), json={"packages_kg": [100, 150]})
    assert parts.status_code == 201, parts.text
    package = parts.json()[0]
    page = client.get(f"/t/{package['public_code']}").text
    assert "Nguồn gốc các lô đã gộp" in page and "VN-TG-002" in page and "gộp lô" in page
    export = client.get(f"/api/v1/lots/{package['id']}/epcis", headers=tenant_a.auth()).json()
    assert problems(export) == [] and official_problems(export) == []
    merge = next(e for e in export["epcisBody"]["eventList"] if e["bizStep"] == "creating_class_instance")
    assert merge["outputQuantityList"] == [{"epcClass": merged["public_url"], "quantity": 250, "uom": "KGM"}]
    # the lots page reads every lot's chain at once: the chains it shows are the lots' own, in two queries whatever
    # the number of lots (sources, the merge, packages and their inherited steps included)
    from sqlalchemy import event, select

    from cropwatch.core.orm import HarvestLot
    from cropwatch.diary import chain

    with sessions() as s:
        lots = list(s.scalars(select(HarvestLot).where(HarvestLot.cooperative_id == tenant_a.cooperative_id)))
        one_by_one = {x.id: chain.public_chain(s, x) for x in lots}
        statements: list[str] = []

        def count(conn, cursor, statement, *_):
            statements.append(statement)

        event.listen(s.get_bind(), "before_cursor_execute", count)
        try:
            together = chain.public_chains(s, lots)
        finally:
            event.remove(s.get_bind(), "before_cursor_execute", count)
    assert len(lots) >= 7 and together == one_by_one and len(statements) == 2
    assert any(c["kind"] == "merge" for c in together[package["id"]]), "a package shows its lot's merge"


def test_a_lot_counted_in_bags_exports_a_count_not_a_bad_unit(client, tenant_a):
    bags = _lot(client, tenant_a, 12, unit="bao")
    assert _step(client, tenant_a, bags, "preprocessing", _at(1)).status_code == 201  # no weight after sorting
    for _ in range(2):  # two storage records alike are two events, with two ids
        assert _step(client, tenant_a, bags, "storage", _at(0.5), place="Kho HTX").status_code == 201
    export = client.get(f"/api/v1/lots/{bags['id']}/epcis", headers=tenant_a.auth()).json()
    assert problems(export) == [] and official_problems(export) == []
    events = export["epcisBody"]["eventList"]
    assert events[0]["quantityList"] == [{"epcClass": bags["public_url"], "quantity": 12}]
    assert events[1]["outputQuantityList"] == [{"epcClass": bags["public_url"], "quantity": 12}]  # a count, no kg
    assert len({e["eventID"] for e in events}) == len(events) == 4


def test_a_steps_photos_are_checked_and_shown_on_the_public_page(client, tenant_a, tenant_b, lot):
    import io

    from helpers import SHARED

    photo = sorted((SHARED / "rice-pests" / "images" / "test").glob("*.jpg"))[0].read_bytes()
    packed = _step(client, tenant_a, lot, "packing", _at(1), details={"packages": 5, "package_kg": 10})
    assert packed.status_code == 201 and packed.json()["photo_count"] == 0
    url = f"/api/v1/lots/{lot['id']}/events/{packed.json()['id']}/photos"
    fake = client.post(
        url, headers=tenant_a.auth(), files=[("photos", ("x.jpg", io.BytesIO(b"not a photo"), "image/jpeg"))]
    )
    assert fake.status_code in (415, 422) and fake.json()["detail"]
    assert (
        client.post(
            url, headers=tenant_b.auth(Role.coop_admin), files=[("photos", ("a.jpg", photo, "image/jpeg"))]
        ).status_code
        == 404
    )
    r = client.post(url, headers=tenant_a.auth(), files=[("photos", ("boxes.jpg", io.BytesIO(photo), "image/jpeg"))])
    assert r.status_code == 201 and r.json()["photo_count"] == 1, r.text
    page = client.get(f"/t/{lot['public_code']}").text
    src = page.split('data-step="packing"', 1)[1].split('<img src="', 1)[1].split('"', 1)[0]
    assert src.startswith(f"/t/{lot['public_code']}/photos/")
    shown = client.get(src)
    assert shown.status_code == 200 and shown.content[:2] == b"\xff\xd8"  # the photo, served by the app, not S3
    other = _step(client, tenant_a, _lot(client, tenant_a, 10), "storage", _at(0.5))
    wrong = f"/api/v1/lots/{lot['id']}/events/{other.json()['id']}/photos"
    assert (
        client.post(wrong, headers=tenant_a.auth(), files=[("photos", ("a.jpg", photo, "image/jpeg"))]).status_code
        == 404
    )
