"""In the browser: a user of cooperative B cannot see cooperative A's alerts, pages or images."""

from __future__ import annotations

from factories import add_rule, make_tenant
from helpers import planthopper_photo

from .browsing import PHONE, screenshot, upload

PHOTO = planthopper_photo()


def test_other_cooperative_sees_nothing_of_cooperative_a(live_server, open_page, sessions):
    with sessions.begin() as s:
        a = make_tenant(s, "a")
        make_tenant(s, "b")
        add_rule(s, a.cooperative_id, "planthopper", threshold=3)
    capture = upload(live_server.url, a.camera_token, PHOTO.read_bytes())
    live_server.wait_processed(1)

    owner = open_page("a-member", "pw-a", PHONE)
    assert owner.locator("article.alert").count() == 1
    assert owner.goto(f"/captures/{capture['id']}/image").status == 200

    for role in ("member", "agronomist", "coop_admin"):
        page = open_page(f"b-{role}", "pw-b", PHONE)
        page.goto("/alerts")
        assert page.locator("article.alert").count() == 0
        for path in (
            f"/captures/{capture['id']}",
            f"/captures/{capture['id']}/image",
            f"/plots/{a.plot_id}",
            f"/review/{capture['id']}",
        ):
            response = page.goto(path)
            assert response.status in (403, 404), (role, path, response.status)
            assert "Lô a" not in page.content()
        if role == "member":
            screenshot(page, "tenant-isolation-404")
        # the image does not leak into an <img> either
        page.goto("/alerts")
        loaded = page.evaluate(f"""() => new Promise(done => {{
            const img = new Image(); img.onload = () => done(img.naturalWidth); img.onerror = () => done(-1);
            img.src = '/captures/{capture["id"]}/image'; }})""")
        assert loaded == -1
