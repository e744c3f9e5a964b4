"""Every form control of the main pages has a label a screen reader can announce, images have alt text, every
button, link button, dropdown and header link is a 44 px tap target, and the pages work at 360 px without sideways
scrolling."""

from __future__ import annotations

import pytest
from factories import add_rule, make_tenant
from helpers import planthopper_photo

from .browsing import PHONE, upload

PHOTO = planthopper_photo()
PAGES = {
    "member": ["/alerts", "/plots", "/plots/{plot_id}", "/lots", "/captures/{capture_id}", "/account", "/reset"],
    "agronomist": ["/review", "/review/{capture_id}", "/pressure", "/rules", "/ml/models"],
    "ml_engineer": ["/ml/models", "/ml/datasets", "/ml/runs"],
    "coop_admin": ["/admin/members", "/admin/cameras", "/admin/plots"],
}
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden' && !e.closest('[hidden]'))
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
  .map(e => e.outerHTML.slice(0, 120))"""
SMALL_TARGETS = """() => [...document.querySelectorAll('header a, header summary, header button, main button, main select, main a.button, main summary')]
  .filter(e => e.offsetParent !== null && !e.closest('[hidden]'))
  .map(e => [e, e.getBoundingClientRect()]).filter(([e, r]) => r.height < 44 || (r.width < 44 && e.tagName !== 'SUMMARY'))
  .map(([e, r]) => `${e.tagName} ${Math.round(r.width)}x${Math.round(r.height)} ${e.textContent.trim().slice(0, 30)}`)"""
NO_ALT = """() => [...document.querySelectorAll('img')].filter(i => !i.hasAttribute('alt')).map(i => i.outerHTML.slice(0, 120))"""


@pytest.mark.parametrize("role", list(PAGES))
def test_controls_are_labelled_and_pages_fit_a_phone(role, live_server, open_page, sessions):
    with sessions.begin() as s:
        tenant = make_tenant(s, "a")
        add_rule(s, tenant.cooperative_id, "planthopper", threshold=3)
    capture = upload(live_server.url, tenant.camera_token, PHOTO.read_bytes())
    live_server.wait_processed(1)
    page = open_page(f"a-{role}", "pw-a", PHONE)
    for path in PAGES[role]:
        url = path.format(plot_id=tenant.plot_id, capture_id=capture["id"])
        assert page.goto(url).status == 200, url
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        assert page.evaluate(UNLABELLED) == [], url
        assert page.evaluate(NO_ALT) == [], url
        small = page.evaluate(SMALL_TARGETS)
        assert not small, f"{url}: {small}"  # a thumb needs 44 px
        assert page.evaluate("document.documentElement.lang") in ("vi", "en")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, (url, width)  # wide tables scroll inside their own box
