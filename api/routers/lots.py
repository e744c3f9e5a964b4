"""Harvest lots: create (behind the pre-harvest interval guard), list, QR label (PNG/SVG), and the public
traceability page a buyer reaches by scanning it — no login, no private data.

A code that finds no lot (a damaged label, a mistyped address, ``/t/`` alone or extra path segments) answers a
404 page in the buyer's language saying how to check the code, with the lot page's headers; a client that asks for
JSON (``Accept: application/json``, not ``text/html``) keeps the JSON error."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.deps import CurrentUser, SessionDep, SettingsDep, StorageDep
from api.errors import ApiError, not_found, request_locale
from api.routers.diary import guard
from api.schemas import Day, Id, binary, errors
from api.scoping import get_owned, scoped
from cropwatch.core.enums import Role
from cropwatch.core.i18n import LOCALES, t
from cropwatch.core.orm import HarvestLot, Plot
from cropwatch.diary.lots import create_lot, public_view, qr_png, qr_svg

router = APIRouter(tags=["harvest lots"])
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"), autoescape=select_autoescape(["html"])
)


class LotIn(BaseModel):
    plot_id: Id
    harvested_on: Day
    quantity: float = Field(gt=0, le=1e7)
    unit: str = Field(default="kg", max_length=16)
    ripeness_grade: str | None = Field(default=None, max_length=32)
    phi_override_reason: str | None = Field(default=None, max_length=2000)


class LotOut(BaseModel):
    model_config = {"from_attributes": True}
    id: int
    plot_id: int
    public_code: str
    harvested_on: dt.date
    quantity: float
    unit: str
    ripeness_grade: str | None
    diary_entry_id: int | None
    phi_override: dict | None
    created_at: dt.datetime
    parent_lot_id: int | None = None  # a package split from this lot
    public_url: str | None = None


def public_lot_url(settings, code: str) -> str:
    """What QR codes and links carry: built from ``CROPWATCH_PUBLIC_BASE_URL``, never from the request's Host header
    (``Host: evil.example`` would otherwise print labels pointing at someone else's site)."""
    return f"{settings.public_base_url.rstrip('/')}/t/{code}"


def _public_url(request: Request, lot: HarvestLot) -> str:
    """The lot's QR and link: a GS1 Digital Link when its product has a GTIN (``/01/{gtin}/10/{lot}``), else its
    public page."""
    from sqlalchemy.orm import object_session

    from cropwatch.diary.gs1 import digital_link, product_gtin

    settings = request.app.state.settings
    session = object_session(lot)
    gtin = product_gtin(session, lot) if session is not None else None
    if gtin:
        return digital_link(settings.public_base_url, gtin, lot.public_code)
    return public_lot_url(settings, lot.public_code)


#: the public page shows nothing active and is never framed by another site
PUBLIC_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _out(request: Request, lot: HarvestLot) -> LotOut:
    out = LotOut.model_validate(lot)
    out.public_url = _public_url(request, lot)
    return out


@router.post("/api/v1/lots", response_model=LotOut, status_code=201, responses=errors(400, 401, 403, 404, 409))
def new_lot(body: LotIn, request: Request, session: SessionDep, principal: CurrentUser) -> LotOut:
    """Record a harvest lot (and its `harvest` diary entry). Inside a pre-harvest interval: 409 `phi_active`
    naming the product and the first allowed day, unless an agronomist gives ``phi_override_reason``."""
    principal.require(Role.member, Role.agronomist, Role.coop_admin)
    plot = get_owned(session, Plot, body.plot_id, principal, "plot")
    guard(session, principal, plot.id, body.harvested_on, body.phi_override_reason)
    lot = create_lot(
        session,
        plot=plot,
        harvested_on=body.harvested_on,
        quantity=body.quantity,
        unit=body.unit,
        ripeness_grade=body.ripeness_grade,
        user_id=principal.user.id,
        override_reason=body.phi_override_reason,
        may_override=principal.role in (Role.agronomist, Role.coop_admin),
    )
    session.commit()
    return _out(request, lot)


@router.get("/api/v1/lots", response_model=list[LotOut], responses=errors(401))
def list_lots(request: Request, session: SessionDep, principal: CurrentUser, plot_id: Id | None = None) -> list[LotOut]:
    q = scoped(HarvestLot, principal)
    if plot_id is not None:
        q = q.where(HarvestLot.plot_id == plot_id)
    return [_out(request, lot) for lot in session.scalars(q.order_by(HarvestLot.harvested_on.desc()))]


@router.get(
    "/api/v1/lots/labels.pdf",
    response_class=Response,
    responses={**binary("application/pdf", description="A4 sheet of QR labels"), **errors(401, 404)},
)
def lot_labels(
    request: Request,
    session: SessionDep,
    principal: CurrentUser,
    ids: Annotated[str, Query(pattern=r"^\d{1,9}(,\d{1,9})*$", description="lot ids, comma-separated")],
) -> Response:
    """A printable A4 sheet of QR labels (3 × 8, 70 × 37 mm, the common sticker sheet) for the given lots."""
    from cropwatch.diary.lots import label_sheet_pdf

    lots = [get_owned(session, HarvestLot, int(i), principal, "lot") for i in ids.split(",")[:240]]
    plots = {lot.plot_id: session.get(Plot, lot.plot_id) for lot in lots}
    labels = [(_public_url(request, lot), lot, plots[lot.plot_id]) for lot in lots]
    return Response(
        label_sheet_pdf(labels),
        media_type="application/pdf",
        headers={"Content-Disposition": 'attachment; filename="nhan-lo-hang.pdf"'},
    )


@router.get(
    "/api/v1/lots/{lot_id}/qr.{fmt}",
    response_class=Response,
    responses={**binary("image/png", "image/svg+xml", description="the QR label"), **errors(401, 404)},
)
def lot_qr(lot_id: Id, fmt: str, request: Request, session: SessionDep, principal: CurrentUser) -> Response:
    """The lot's QR label (``png`` or ``svg``) pointing at its public page."""
    lot = get_owned(session, HarvestLot, lot_id, principal, "lot")
    if fmt == "png":
        return Response(qr_png(_public_url(request, lot)), media_type="image/png")
    if fmt == "svg":
        return Response(qr_svg(_public_url(request, lot)), media_type="image/svg+xml")
    raise not_found("format")


def wants_json(request: Request) -> bool:
    """An API client asking for JSON: its Accept header names JSON and not HTML (a browser sends text/html)."""
    accept = request.headers.get("accept", "").lower()
    return "json" in accept and "text/html" not in accept


def lot_not_found_page(request: Request, code: str, lang: str | None = None) -> HTMLResponse:
    """The buyer's 404 page: the code was not found and how to check it (Vietnamese, English when asked)."""
    from api.web.render import translate

    locale = lang if lang in LOCALES else request_locale(request)
    html = TEMPLATES.get_template("lot_not_found.html").render(
        code=code[:64], lang=locale, t=lambda key, **params: translate(key, locale, **params)
    )
    return HTMLResponse(html, status_code=404, headers={**PUBLIC_HEADERS, "Cache-Control": "no-store"})


def _lot_by_code(session, code: str) -> HarvestLot:
    lot = session.scalar(select(HarvestLot).where(HarvestLot.public_code == code)) if len(code) <= 32 else None
    if lot is None:
        raise not_found("lot")
    return lot


def _public(session, storage, settings, code: str) -> dict:
    """The public view; its photos are served by this app (``/t/{code}/photos/{n}``), never as S3 links, so the
    public page tells nothing of the store's host, bucket, key layout or access key."""
    lot = _lot_by_code(session, code)
    keys: list[str] = []

    def photo_url(key: str) -> str:
        keys.append(key)
        return f"/t/{code}/photos/{len(keys) - 1}"

    return public_view(session, lot, photo_url=photo_url)


@router.get(
    "/t/{code}/photos/{n}",
    response_class=Response,
    responses={
        **binary("image/jpeg", "image/png", "image/webp", description="a diary photo of the lot's public page"),
        **errors(404),
    },
)
def lot_public_photo(
    code: str, n: Annotated[int, PathParam(ge=0, le=999)], session: SessionDep, storage: StorageDep
) -> Response:
    lot = _lot_by_code(session, code)
    keys: list[str] = []
    public_view(session, lot, photo_url=lambda key: keys.append(key) or "")
    if n >= len(keys):
        raise not_found("photo")
    info = storage.stat(keys[n])
    if info is None:
        raise not_found("photo")
    return Response(
        storage.get_bytes(keys[n], max_bytes=info.size),
        media_type=info.content_type or "image/jpeg",
        headers={**PUBLIC_HEADERS, "Cache-Control": "public, max-age=3600"},
    )


@router.get("/t/{code}.json", responses=errors(404))
def lot_public_json(
    code: str, response: Response, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> dict:
    response.headers.update(PUBLIC_HEADERS)
    return _public(session, storage, settings, code)


NO_LOT = {
    404: {
        "description": "No such lot: a page saying how to check the code, or JSON when JSON is asked for",
        "content": {
            "text/html": {"schema": {"type": "string"}},
            "application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}},
        },
    }
}


@router.get("/t/{code}", response_class=HTMLResponse, name="lot_public_page", responses=NO_LOT)
def lot_public_page(
    code: str,
    request: Request,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
    lang: Annotated[str | None, Query(pattern="^(vi|en)$")] = None,
) -> str:
    """Public traceability page of a lot (no login): cooperative, growing area, crop, the season's diary."""
    try:
        view = _public(session, storage, settings, code)
    except ApiError as exc:
        if exc.status != 404 or wants_json(request):
            raise
        return lot_not_found_page(request, code, lang)
    locale = lang or request_locale(request)
    return HTMLResponse(
        TEMPLATES.get_template("lot.html").render(v=view, lang=locale, t=lambda key: t(key, locale)),
        headers=PUBLIC_HEADERS,
    )


@router.get("/01/{gtin}/10/{code}", responses={307: {"description": "to the lot's public page"}, **NO_LOT})
def lot_digital_link(gtin: str, code: str, request: Request, session: SessionDep) -> Response:
    """A GS1 Digital Link scanned from a lot's QR: the product's GTIN and the lot; on to the lot's public page.
    A GTIN that is not the lot's product's is no such lot (404)."""
    from fastapi.responses import RedirectResponse

    from cropwatch.diary.gs1 import product_gtin

    lot = session.scalar(select(HarvestLot).where(HarvestLot.public_code == code)) if len(code) <= 32 else None
    if lot is None or product_gtin(session, lot) != gtin:
        return lot_not_found_page(request, code)
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/t/{code}{query}", status_code=307)


@router.get("/t/{rest:path}", include_in_schema=False)
def lot_public_no_such_page(rest: str, request: Request, lang: str | None = None) -> Response:
    """Whatever else a damaged QR or a mistyped address makes of ``/t/...``: ``/t/`` alone, extra segments."""
    if wants_json(request):
        raise not_found("lot")
    return lot_not_found_page(request, rest.strip("/"), lang)
