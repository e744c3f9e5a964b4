"""Rendering pages: one Jinja2 environment, the translation function, dd/mm/yyyy dates in Asia/Ho_Chi_Minh,
role-aware navigation and the security headers every page carries."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from api.deps import STAFF, Principal
from api.web.messages import MESSAGES
from api.web.session import csrf_token, page_locale, set_csrf_cookie
from cropwatch.core.enums import Role
from cropwatch.core.i18n import fmt_number, t
from cropwatch.core.timeutil import fmt_date, fmt_datetime, utcnow

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
ENV = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

SECURITY_HEADERS = {
    # no inline scripts: page data travels in <script type="application/json"> blocks read by static/js
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "geolocation=(), microphone=()",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class NavItem:
    key: str
    href: str
    roles: tuple[Role, ...]


NAV = (
    NavItem("nav_alerts", "/alerts", tuple(Role)),
    NavItem("nav_plots", "/plots", tuple(Role)),
    NavItem("nav_lots", "/lots", (Role.member, Role.agronomist, Role.coop_admin)),
    NavItem("nav_review", "/review", (Role.agronomist, Role.coop_admin, Role.ml_engineer)),
    NavItem("nav_pressure", "/pressure", (Role.agronomist, Role.coop_admin, Role.ml_engineer, Role.union_admin)),
    NavItem("nav_rules", "/rules", STAFF),
    NavItem("nav_datasets", "/ml/datasets", (Role.ml_engineer, Role.union_admin)),
    NavItem("nav_runs", "/ml/runs", (Role.ml_engineer, Role.union_admin)),
    NavItem("nav_models", "/ml/models", (Role.ml_engineer, Role.union_admin, Role.agronomist)),
    NavItem("nav_members", "/admin/members", (Role.coop_admin,)),
    NavItem("nav_cameras", "/admin/cameras", (Role.coop_admin, Role.agronomist)),
    NavItem("nav_channels", "/admin/channels", (Role.coop_admin, Role.agronomist)),
    NavItem("nav_admin_plots", "/admin/plots", (Role.coop_admin,)),
    NavItem("nav_union", "/union", (Role.union_admin,)),
    NavItem("nav_forecast", "/forecast", (Role.coop_admin, Role.agronomist, Role.union_admin)),
    NavItem("nav_account", "/account", tuple(Role)),
)

#: where each role lands after signing in
HOME = {
    Role.member: "/alerts",
    Role.agronomist: "/review",
    Role.ml_engineer: "/ml/models",
    Role.coop_admin: "/admin/members",
    Role.union_admin: "/union",
}


def translate(key: str, locale: str, /, **params: Any) -> str:
    """A page's words: the web catalogue (api/web/messages) first, then the shared one, formatted as ``i18n.t``."""
    return t(key, locale, catalogue=MESSAGES, **params)


def _fmt_date(value: dt.date | dt.datetime | None) -> str:
    return fmt_date(value) if value else "—"


def _fmt_dt(value: dt.datetime | None) -> str:
    return fmt_datetime(value) if value else "—"


def _json_script(data: Any, element_id: str) -> Markup:
    text = json.dumps(data, ensure_ascii=False, default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(f'<script type="application/json" id="{element_id}">{text}</script>')


ENV.filters["date"] = _fmt_date
ENV.filters["datetime"] = _fmt_dt
ENV.filters["json_script"] = _json_script
ENV.filters["num"] = fmt_number  # {{ value|num(lang) }}: 350,5 in Vietnamese, 350.5 in English


_NAMES_CACHE: dict[int, tuple[float, dict[str, str]]] = {}


def class_names_vi(request: Request) -> dict[str, str]:
    """Vietnamese names of the model classes (from the registered model versions), cached for a minute."""
    import time

    from sqlalchemy import select

    from cropwatch.core.orm import ModelVersion

    key = id(request.app)
    hit = _NAMES_CACHE.get(key)
    if hit and time.monotonic() - hit[0] < 60:
        return hit[1]
    names: dict[str, str] = {}
    with request.app.state.sessions() as s:
        for classes, classes_vi in s.execute(select(ModelVersion.classes, ModelVersion.classes_vi)):
            for k, v in (classes_vi or {}).items():
                if k in (classes or {}):
                    names.setdefault(classes[k], v)
    _NAMES_CACHE[key] = (time.monotonic(), names)
    return names


def _unread(request: Request, principal: Principal) -> int:
    from api.web.pages_farmer import open_alert_count  # the pages import this module

    with request.app.state.sessions() as s:
        return open_alert_count(s, principal)


def render(
    request: Request,
    template: str,
    principal: Principal | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    principal = principal or getattr(request.state, "principal", None)
    locale = page_locale(request, principal)

    def _(key: str, **params: Any) -> str:
        return translate(key, locale, **params)

    names_vi = class_names_vi(request) if locale == "vi" else {}

    def pest(name: str) -> str:
        return names_vi.get(name, name)

    nav = [item for item in NAV if principal and principal.role in item.roles]
    unread = _unread(request, principal) if principal and principal.role != Role.union_admin else 0
    html = ENV.get_template(template).render(
        request=request,
        principal=principal,
        lang=locale,
        _=_,
        nav=nav,
        csrf=csrf_token(request),
        path=request.url.path,
        Role=Role,
        now=utcnow(),
        pest=pest,
        unread=unread,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})
    set_csrf_cookie(request, response)
    return response
