"""Issue 14 item 8 in a browser: with every request off this app refused, /docs and /redoc still draw the API, and
their Content-Security-Policy refuses nothing they need (only ReDoc's attempt at Redocly's logo on its CDN)."""

from __future__ import annotations


def test_docs_and_redoc_render_with_the_outside_network_cut_off(browser, live_server):
    ctx = browser.new_context(base_url=live_server.url)
    ctx.set_default_timeout(30_000)
    outside: list[str] = []

    def only_this_app(route) -> None:
        url = route.request.url
        if url.startswith((live_server.url, "data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    ctx.route("**/*", only_this_app)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        assert page.goto("/docs").status == 200
        title = page.wait_for_selector(".swagger-ui .info .title")
        assert "CropWatch" in title.inner_text()
        page.wait_for_selector(".swagger-ui .opblock-tag")  # the operations are listed
        assert page.goto("/redoc").status == 200
        heading = page.wait_for_selector("redoc h1, .api-info h1")
        assert "CropWatch" in heading.inner_text()
        page.wait_for_selector("[data-section-id^='operation/']", state="attached")  # the operations are listed
        assert page.locator("[data-section-id^='operation/']").count() > 10
    finally:
        ctx.close()
    assert outside == [], f"the docs reached outside this app: {outside}"
    refused = [e for e in errors if not ("Content Security Policy" in e and "cdn.redoc.ly/redoc/logo-mini.svg" in e)]
    assert refused == [], refused
