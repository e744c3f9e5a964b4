"""Harvest lots: the pre-harvest interval guard, QR labels, and a public page without login or private data."""

from __future__ import annotations

import datetime as dt
import io

from PIL import Image

from cropwatch.core.enums import Role
from cropwatch.core.timeutil import local_day_bounds


def _spray(client, tenant, day: dt.date, *, phi: int = 7, product: str = "Regent 800WG"):
    start, _ = local_day_bounds(day)
    r = client.post(
        "/api/v1/diary",
        headers=tenant.auth(Role.member),
        data={
            "plot_id": tenant.plot_id,
            "type": "pest_control",
            "occurred_at": (start + dt.timedelta(hours=8)).isoformat(),
            "title": "Phun thuốc trừ rầy",
            "product_name": product,
            "registration_no": "VN-123",
            "active_ingredient": "Fipronil",
            "dose": "32 g/ha",
            "operator": "Nguyễn Văn Bí Mật",
            "phi_days": phi,
            "notes": "SĐT 0912 345 678",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_harvest_inside_a_pre_harvest_interval_is_refused_with_the_date_it_ends(client, tenant_a):
    sprayed = dt.date(2026, 11, 10)
    _spray(client, tenant_a, sprayed, phi=7)
    body = {"plot_id": tenant_a.plot_id, "harvested_on": "2026-11-15", "quantity": 1200, "unit": "kg"}
    r = client.post("/api/v1/lots", headers=tenant_a.auth(Role.member), json=body)
    assert (r.status_code, r.json()["code"]) == (409, "phi_active")
    assert "Regent 800WG" in r.json()["detail"] and "17/11/2026" in r.json()["detail"]
    # a diary harvest entry is guarded the same way
    r = client.post(
        "/api/v1/diary",
        headers=tenant_a.auth(Role.member),
        data={"plot_id": tenant_a.plot_id, "type": "harvest", "occurred_at": "2026-11-15T03:00:00+00:00"},
    )
    assert (r.status_code, r.json()["code"]) == (409, "phi_active")
    # a farmer cannot override; an agronomist can, with a reason that is kept
    r = client.post("/api/v1/lots", headers=tenant_a.auth(Role.member), json=body | {"phi_override_reason": "x"})
    assert r.status_code == 409
    r = client.post(
        "/api/v1/lots",
        headers=tenant_a.auth(Role.agronomist),
        json=body | {"phi_override_reason": "mẫu kiểm tra dư lượng đạt"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["phi_override"]["reason"] == "mẫu kiểm tra dư lượng đạt"
    assert r.json()["phi_override"]["products"][0]["ends_on"] == "2026-11-17"
    # from the day the interval ends, no guard
    r = client.post("/api/v1/lots", headers=tenant_a.auth(Role.member), json=body | {"harvested_on": "2026-11-17"})
    assert r.status_code == 201


def test_a_lot_has_a_qr_label_and_a_public_page_without_private_data(client, tenant_a, tenant_b):
    _spray(client, tenant_a, dt.date(2026, 10, 1), phi=14)
    lot = client.post(
        "/api/v1/lots",
        headers=tenant_a.auth(Role.member),
        json={
            "plot_id": tenant_a.plot_id,
            "harvested_on": "2026-11-20",
            "quantity": 850.5,
            "unit": "kg",
            "ripeness_grade": "chín",
        },
    ).json()
    assert len(lot["public_code"]) >= 20 and lot["public_url"].endswith(f"/t/{lot['public_code']}")
    png = client.get(f"/api/v1/lots/{lot['id']}/qr.png", headers=tenant_a.auth(Role.member))
    assert png.status_code == 200 and Image.open(io.BytesIO(png.content)).size[0] > 100
    svg = client.get(f"/api/v1/lots/{lot['id']}/qr.svg", headers=tenant_a.auth(Role.member))
    assert svg.status_code == 200 and b"<svg" in svg.content
    assert client.get(f"/api/v1/lots/{lot['id']}/qr.png", headers=tenant_b.auth(Role.coop_admin)).status_code == 404
    sheet = client.get("/api/v1/lots/labels.pdf", headers=tenant_a.auth(Role.member), params={"ids": str(lot["id"])})
    assert sheet.status_code == 200 and sheet.content.startswith(b"%PDF")
    import pypdfium2

    text = pypdfium2.PdfDocument(sheet.content)[0].get_textpage().get_text_range()
    assert "20/11/2026" in text and "850.5 kg" in text
    assert (
        client.get(
            "/api/v1/lots/labels.pdf", headers=tenant_b.auth(Role.member), params={"ids": str(lot["id"])}
        ).status_code
        == 404
    )
    assert lot["id"] not in [x["id"] for x in client.get("/api/v1/lots", headers=tenant_b.auth(Role.member)).json()]

    page = client.get(f"/t/{lot['public_code']}")  # no Authorization header at all
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    html = page.text
    assert "Truy xuất nguồn gốc" in html and "HTX a" in html and "Regent 800WG" in html and "20/11/2026" in html
    assert "15/10/2026" in html  # the end of the interval, dd/mm/yyyy
    for private in ("Nguyễn Văn Bí Mật", "0912 345 678", "SĐT"):
        assert private not in html
    data = client.get(f"/t/{lot['public_code']}.json").json()
    assert {e["type"] for e in data["diary"]} >= {"pest_control", "harvest"}
    assert "operator" not in str(data) and "notes" not in str(data) and "0912" not in str(data)
    assert client.get(f"/t/{lot['public_code']}?lang=en").text.count("Harvest lot traceability") == 2
    assert client.get("/t/not-a-real-code").status_code == 404


def test_diary_exports_open_and_hold_every_entry(client, tenant_a, tenant_b):
    import csv as csvmod

    import pypdfium2
    from openpyxl import load_workbook

    _spray(client, tenant_a, dt.date(2026, 9, 1), phi=7, product="Chess 50WG")
    from helpers import rice_photos

    r = client.post(
        "/api/v1/diary",
        headers=tenant_a.auth(Role.member),
        data={
            "plot_id": tenant_a.plot_id,
            "type": "fertilizing",
            "occurred_at": "2026-09-05T02:00:00+00:00",
            "title": "Bón thúc đợt 1",
            "product_name": "NPK 20-20-15",
            "quantity_value": 50,
            "quantity_unit": "kg",
        },
        files=[("photos", ("ruong.jpg", rice_photos(1)[0].read_bytes(), "image/jpeg"))],
    )
    assert r.status_code == 201, r.text
    q = {"plot_id": tenant_a.plot_id, "since": "2026-08-01", "until": "2026-09-30"}
    member = tenant_a.auth(Role.member)

    pdf = client.get("/api/v1/diary/export", headers=member, params=q | {"format": "pdf"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    doc = pypdfium2.PdfDocument(pdf.content)
    page = doc[0]
    bitmap = page.render(scale=1).to_pil()
    assert bitmap.size[0] > 500 and len(set(bitmap.convert("L").getdata())) > 2  # rendered, not blank
    text = page.get_textpage().get_text_range()
    assert "NHẬT KÝ CANH TÁC" in text and "Chess 50WG" in text and "NPK 20-20-15" in text and "01/09/2026" in text
    assert len(doc) == 2, "the photo page follows the table"

    rows = list(
        csvmod.reader(
            client.get("/api/v1/diary/export", headers=member, params=q | {"format": "csv"})
            .content.decode("utf-8-sig")
            .splitlines()
        )
    )
    assert rows[0][0] == "Ngày" and len(rows) == 3 and {r[4] for r in rows[1:]} == {"Chess 50WG", "NPK 20-20-15"}
    wb = load_workbook(
        io.BytesIO(client.get("/api/v1/diary/export", headers=member, params=q | {"format": "xlsx"}).content)
    )
    assert wb.active.max_row == 4  # title, header, 2 entries
    assert client.get("/api/v1/diary/export", headers=member, params=q | {"format": "doc"}).status_code == 422
    assert (
        client.get(
            "/api/v1/diary/export", headers=tenant_b.auth(Role.coop_admin), params=q | {"format": "csv"}
        ).status_code
        == 404
    )


def test_diary_exports_never_carry_a_formula(client, tenant_a):
    """Finding 4: ``=HYPERLINK(...)`` in a title, ``=1+2`` in notes, ``+SUM(1,1)`` in a product name stay text."""
    import csv as csvmod

    from openpyxl import load_workbook

    member = tenant_a.auth(Role.member)
    r = client.post(
        "/api/v1/diary",
        headers=member,
        data={
            "plot_id": tenant_a.plot_id,
            "type": "pest_control",
            "occurred_at": "2026-09-03T02:00:00+00:00",
            "title": '=HYPERLINK("http://evil.example","bấm")',
            "product_name": "+SUM(1,1)",
            "notes": "=1+2",
            "operator": "@cmd",
        },
    )
    assert r.status_code == 201, r.text
    q = {"plot_id": tenant_a.plot_id, "since": "2026-09-01", "until": "2026-09-30"}
    rows = list(
        csvmod.reader(
            client.get("/api/v1/diary/export", headers=member, params=q | {"format": "csv"})
            .content.decode("utf-8-sig")
            .splitlines()
        )
    )
    cells = rows[1]
    assert '\'=HYPERLINK("http://evil.example","bấm")' in cells and "'+SUM(1,1)" in cells and "'=1+2" in cells
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    wb = load_workbook(
        io.BytesIO(client.get("/api/v1/diary/export", headers=member, params=q | {"format": "xlsx"}).content)
    )
    values = [c for c in wb.active.iter_rows(min_row=3, max_row=3)][0]
    texts = {c.value: c.data_type for c in values if isinstance(c.value, str)}
    assert texts['=HYPERLINK("http://evil.example","bấm")'] == "s" and texts["=1+2"] == "s"
    assert texts["+SUM(1,1)"] == "s" and all(t == "s" for t in texts.values()), "no cell stored as a formula"


def test_the_public_page_is_hardened_and_its_links_ignore_the_host_header(client, tenant_a, storage):
    """Finding 13: QR and public links come from CROPWATCH_PUBLIC_BASE_URL, not the Host header; the public page
    sends CSP, X-Frame-Options and nosniff, and its photos come through the app, never as S3 links."""
    from helpers import rice_photos

    member = tenant_a.auth(Role.member)
    r = client.post(
        "/api/v1/diary",
        headers=member,
        data={
            "plot_id": tenant_a.plot_id,
            "type": "fertilizing",
            "occurred_at": "2026-09-05T02:00:00+00:00",
            "title": "Bón lót",
        },
        files=[("photos", ("a.jpg", rice_photos(1)[0].read_bytes(), "image/jpeg"))],
    )
    assert r.status_code == 201, r.text
    lot = client.post(
        "/api/v1/lots",
        headers=member | {"Host": "evil.example"},
        json={"plot_id": tenant_a.plot_id, "harvested_on": "2026-09-20", "quantity": 10, "unit": "kg"},
    ).json()
    base = client.app.state.settings.public_base_url.rstrip("/")
    assert lot["public_url"] == f"{base}/t/{lot['public_code']}" and "evil.example" not in lot["public_url"]
    page = client.get(f"/t/{lot['public_code']}", headers={"Host": "evil.example"})
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    settings = client.app.state.settings
    for leak in (settings.s3_bucket, settings.s3_access_key, "X-Amz-", settings.s3_endpoint):
        assert leak not in page.text and leak not in client.get(f"/t/{lot['public_code']}.json").text, leak
    photo = client.get(f"/t/{lot['public_code']}/photos/0")
    assert photo.status_code == 200 and photo.content == rice_photos(1)[0].read_bytes()
    assert client.get(f"/t/{lot['public_code']}/photos/1").status_code == 404
