"""Issue 17: on a phone, a cooperative member records a harvest lot, packs it, is refused a shipment before the
packing, ships it to a buyer, and the lot's printed QR code, scanned (decoded) back, opens the public page with the
chain after harvest and without the vehicle."""

from __future__ import annotations

from urllib.parse import urlparse

import cv2
import numpy as np
from factories import make_tenant

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

    def step(kind: str, **fields: str) -> None:
        page.select_option("#c-kind", kind)
        for name, value in fields.items():
            page.fill(f"#c-{name}", value)
        page.locator("#chain-form").get_by_role("button", name="Lưu").click()
        page.wait_for_load_state("networkidle")

    step("shipment", buyer="Siêu thị Xanh")
    assert "Lô phải được đóng gói trước khi vận chuyển." in page.get_by_role("alert").inner_text()
    step("packing", n="30", each="10", place="Nhà đóng gói HTX")
    step("shipment", buyer="Siêu thị Xanh", vehicle="63C-999.99")
    card = page.locator(f"article.lot[data-code='{code}']")
    assert [li.get_attribute("data-step") for li in card.locator("ol.chain li").all()] == ["packing", "shipment"]
    assert "30 × 10 kg" in card.inner_text()

    png = page.request.get(card.get_by_role("link", name="Tải QR (PNG)").get_attribute("href")).body()
    decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR))
    assert decoded.endswith(f"/t/{code}"), decoded
    public = open_page("ch-agronomist", "pw-ch", PHONE)
    public.goto(urlparse(decoded).path)
    text = public.locator("body").inner_text()
    assert "Sau thu hoạch" in text and "đóng gói" in text and "Siêu thị Xanh" in text and "30 × 10 kg" in text
    assert "63C-999.99" not in public.content()
