"""Issue 17: on a phone, a cooperative member records a harvest lot, packs it, is refused a shipment before the
packing, ships it to a buyer, and the lot's printed QR code, scanned (decoded) back, opens the public page with the
chain after harvest and without the vehicle."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from factories import make_tenant
from helpers import SHARED, decode_qr

from .browsing import PHONE


def test_a_lot_walks_from_harvest_through_packing_and_shipment_to_its_public_page(live_server, open_page, sessions):
    with sessions.begin() as s:
        make_tenant(s, "ch")
    page = open_page("ch-member", "pw-ch", PHONE)
    page.goto("/lots")
    page.fill("#l-qty", "300")
    page.get_by_role("button", name="Lưu").first.click()
    page.wait_for_url("**/lots?created=*")
    code = page.locator("article.lot").first.get_attribute("data-code")

    def step(kind: str, photo: Path | None = None, **fields: str) -> None:
        page.select_option("#c-kind", kind)
        for name, value in fields.items():
            page.fill(f"#c-{name}", value)
        if photo is not None:
            page.set_input_files("#c-photos", str(photo))
        page.locator("#chain-form").get_by_role("button", name="Lưu").click()
        page.wait_for_load_state("networkidle")

    step("shipment", buyer="Siêu thị Xanh")
    assert "Lô phải được đóng gói trước khi vận chuyển." in page.get_by_role("alert").inner_text()
    boxes = sorted((SHARED / "rice-pests" / "images" / "test").glob("*.jpg"))[0]
    step("packing", photo=boxes, n="30", each="10", place="Nhà đóng gói HTX")
    step("shipment", buyer="Siêu thị Xanh", vehicle="63C-999.99")
    card = page.locator(f"article.lot[data-code='{code}']")
    assert [li.get_attribute("data-step") for li in card.locator("ol.chain li").all()] == ["packing", "shipment"]
    assert "30 × 10 kg" in card.inner_text() and "1 ảnh" in card.inner_text()

    png = page.request.get(card.get_by_role("link", name="Tải QR (PNG)").get_attribute("href")).body()
    decoded = decode_qr(png)
    assert decoded.endswith(f"/t/{code}"), decoded
    public = open_page("ch-agronomist", "pw-ch", PHONE)
    public.goto(urlparse(decoded).path)
    text = public.locator("body").inner_text()
    assert "Sau thu hoạch" in text and "đóng gói" in text and "Siêu thị Xanh" in text and "30 × 10 kg" in text
    assert "63C-999.99" not in public.content()
    shown = public.locator("tr[data-step='packing'] img")
    assert shown.count() == 1 and shown.evaluate("img => img.complete && img.naturalWidth > 0")


def test_two_members_harvests_merge_into_one_lot_from_the_lots_page(live_server, open_page, sessions):
    with sessions.begin() as s:
        make_tenant(s, "mg")
    page = open_page("mg-member", "pw-mg", PHONE)
    page.goto("/lots")
    codes = []
    for kg in ("120", "80"):
        if codes:  # with a lot on the page, the new-lot form starts folded
            page.locator("details.card summary").click()
        page.fill("#l-qty", kg)
        page.get_by_role("button", name="Lưu").first.click()
        page.wait_for_url("**/lots?created=*")
        codes.append(page.url.rsplit("=", 1)[1])
    form = page.locator("#merge-form")
    form.get_by_role("button", name="Gộp thành một lô").click()  # nothing ticked: refused with the reason
    assert "Cần từ 2 đến 50 lô khác nhau để gộp." in page.get_by_role("alert").inner_text()
    for box in page.locator("#merge-form input[name=lot_ids]").all():
        box.check()
    page.fill("#m-place", "Nhà sơ chế HTX")
    page.locator("#merge-form").get_by_role("button", name="Gộp thành một lô").click()
    page.wait_for_url("**/lots?created=*")
    merged = page.url.rsplit("=", 1)[1]
    assert merged not in codes
    card = page.locator(f"article.lot[data-code='{merged}']")
    assert "200 kg" in card.inner_text() and "gộp lô" in card.inner_text() and "2 lô" in card.inner_text()
    public = open_page("mg-agronomist", "pw-mg", PHONE)
    public.goto(f"/t/{merged}")
    text = public.locator("body").inner_text()
    assert "Nguồn gốc các lô đã gộp" in text and "120 kg" in text and "80 kg" in text and "Nhà sơ chế HTX" in text
    assert not any(c in public.content() for c in codes)
