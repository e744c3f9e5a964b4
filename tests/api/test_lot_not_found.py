"""Issue 14: a buyer who scans a damaged QR label or mistypes a lot's address gets a page in Vietnamese (English when
the browser prefers it or with ?lang=en) saying the lot was not found and how to check the code, with the lot page's
security headers and status 404; a client that asks for JSON keeps the JSON error."""

from __future__ import annotations

import pytest

from api.routers.lots import PUBLIC_HEADERS
from cropwatch.core.enums import Role

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _lot(client, tenant) -> dict:
    r = client.post(
        "/api/v1/lots",
        headers=tenant.auth(Role.member),
        json={"plot_id": tenant.plot_id, "harvested_on": "2026-11-20", "quantity": 12},
    )
    assert r.status_code == 201, r.text
    return r.json()


def _assert_not_found_page(r, *words: str) -> None:
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), (r.status_code, r.text)
    for name, value in PUBLIC_HEADERS.items():
        assert r.headers[name] == value, name
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert "<script" not in r.text and "detail" not in r.text
    for word in words:
        assert word in r.text, (word, r.text)


@pytest.mark.parametrize("path", ["/t/not-a-real-code", "/t/", "/t", "/t/abc/def", "/t/" + "x" * 200])
def test_a_bad_code_answers_a_vietnamese_page_saying_how_to_check_it(client, tenant_a, path):
    r = client.get(path, headers=BROWSER)
    _assert_not_found_page(r, "Không tìm thấy lô hàng", "Quét lại mã QR", 'lang="vi"')
    if path == "/t/not-a-real-code":
        assert "“not-a-real-code”" in r.text
    if path in ("/t/", "/t"):
        assert "không có mã lô hàng" in r.text


def test_a_nearly_right_code_is_refused_too(client, tenant_a):
    """One character off (what a smudged label gives) finds nothing, and the real lot's facts do not show."""
    code = _lot(client, tenant_a)["public_code"]
    wrong = code[:-1] + ("A" if code[-1] != "A" else "B")
    r = client.get(f"/t/{wrong}", headers=BROWSER)
    _assert_not_found_page(r, "Không tìm thấy lô hàng")
    assert "HTX a" not in r.text
    assert client.get(f"/t/{code}", headers=BROWSER).status_code == 200  # the right one still opens


@pytest.mark.parametrize(
    "headers, query",
    [({"Accept-Language": "en-GB,en;q=0.9,vi;q=0.5"}, ""), ({"Accept-Language": "vi-VN,vi;q=0.9"}, "?lang=en")],
)
def test_english_when_the_browser_prefers_it_or_asks(client, tenant_a, headers, query):
    r = client.get(f"/t/no-such-lot{query}", headers=BROWSER | headers)
    _assert_not_found_page(r, "Lot not found", "Scan the QR label again", 'lang="en"')
    assert "Không tìm thấy" not in r.text


def test_the_page_is_escaped(client):
    r = client.get("/t/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E", headers=BROWSER)
    _assert_not_found_page(r)
    assert "<img" not in r.text and "&lt;img" in r.text


def test_api_clients_that_ask_for_json_keep_json(client):
    for path in ("/t/not-a-real-code", "/t/", "/t/a/b"):
        r = client.get(path, headers={"Accept": "application/json"})
        assert r.status_code == 404 and r.headers["content-type"] == "application/json", path
        body = r.json()
        assert body["code"] == "not_found" and body["detail_en"] and "Không tìm thấy" in body["detail"]
    r = client.get("/t/not-a-real-code.json")  # the JSON view stays JSON whatever is asked
    assert r.status_code == 404 and r.json()["code"] == "not_found"
