"""A harvest lot's chain after harvest (staff of its cooperative) and its EPCIS 2.0 export."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from api.deps import CurrentUser, SessionDep, SettingsDep, StorageDep
from api.errors import ApiError, not_found
from api.routers.lots import LotOut, _out, _public_url
from api.schemas import Id, errors
from api.scoping import get_owned
from cropwatch.core.enums import Role
from cropwatch.core.orm import HarvestLot, LotEvent
from cropwatch.diary import chain

router = APIRouter(tags=["harvest lots"], responses=errors(401))
STAFF = (Role.member, Role.agronomist, Role.coop_admin)


class LotEventIn(BaseModel):
    kind: str = Field(description="preprocessing | packing | storage | shipment | receipt")
    occurred_at: dt.datetime
    place: str = Field(default="", max_length=200)
    details: dict = Field(
        default_factory=dict,
        description="packages, package_kg, package_type, output_kg, temperature_c, buyer, vehicle (by step)",
    )


class LotEventOut(BaseModel):
    model_config = {"from_attributes": True}
    id: int
    kind: str
    occurred_at: dt.datetime
    place: str
    details: dict
    photo_count: int = 0

    @classmethod
    def of(cls, ev: LotEvent) -> LotEventOut:
        out = cls.model_validate(ev)
        out.photo_count = len(ev.photo_keys or [])
        return out


@router.post(
    "/api/v1/lots/{lot_id}/events",
    response_model=LotEventOut,
    status_code=201,
    responses=errors(400, 403, 404, 409, 422),
)
def add_lot_event(lot_id: Id, body: LotEventIn, session: SessionDep, principal: CurrentUser) -> LotEventOut:
    """Record a step after harvest; out of order (shipped before packed), more than the lot weighs, before the
    harvest or in the future: 409 or 422 with the reason. Photos of it: ``POST …/events/{event_id}/photos``."""
    principal.require(*STAFF)
    lot = get_owned(session, HarvestLot, lot_id, principal, "lot")
    return LotEventOut.of(record_step(session, principal, lot, body))


#: refusals that conflict with the lot's state (409); every other chain refusal is a bad request body (422)
CONFLICTS = frozenset(
    {
        "chain_twice",
        "chain_out_of_order",
        "chain_ship_before_pack",
        "chain_receive_before_ship",
        "chain_merged_already",
        "chain_split_twice",
        "chain_split_package",
        "chain_merge_package",
        "chain_merge_after_step",
        "chain_merge_merged",
    }
)


def refused(session, exc: chain.ChainRefused) -> ApiError:
    """A chain refusal as the API answers it, after rolling back what the refused step began."""
    session.rollback()
    return ApiError(409 if exc.code in CONFLICTS else 422, exc.code, **exc.params)


def record_step(session, principal, lot: HarvestLot, body: LotEventIn, photos=(), storage=None) -> LotEvent:
    """The step with its checked ``photos`` (``check_step_photos``), committed; shared by the API and the lots page.
    A refusal is an ApiError with the reason and stores nothing; the photos are stored only once the step is
    accepted, and an object-storage failure then records nothing (503)."""
    try:
        ev = chain.add_event(
            session,
            lot=lot,
            kind=body.kind,
            occurred_at=body.occurred_at,
            place=body.place,
            details=body.details,
            user_id=principal.user.id,
        )
    except chain.ChainRefused as exc:
        raise refused(session, exc) from None
    try:
        ev.photo_keys = put_step_photos(storage, lot, photos) if photos else []
    except Exception:
        session.rollback()
        raise
    session.commit()
    return ev


@router.get("/api/v1/lots/{lot_id}/events", response_model=list[LotEventOut], responses=errors(404))
def lot_events(lot_id: Id, session: SessionDep, principal: CurrentUser) -> list[LotEventOut]:
    lot = get_owned(session, HarvestLot, lot_id, principal, "lot")
    return [LotEventOut.of(e) for e in chain.events(session, lot.id)]


async def check_step_photos(settings, photos: list[UploadFile], already: int = 0) -> list:
    """The phone photos of a step, checked like camera images, all before any is stored."""
    from api.routers.diary import read_photos

    return await read_photos(settings, photos, already=already)


def put_step_photos(storage, lot: HarvestLot, blobs: list) -> list[str]:
    """Store checked photos under the lot; their keys."""
    from cropwatch.captures.ingest import CONTENT_TYPES

    keys = []
    for data, fmt in blobs:
        key = f"lots/{lot.cooperative_id}/{lot.id}/{uuid.uuid4().hex}.{'jpg' if fmt == 'jpeg' else fmt}"
        storage.put_bytes(key, data, CONTENT_TYPES[fmt])
        keys.append(key)
    return keys


@router.post(
    "/api/v1/lots/{lot_id}/events/{event_id}/photos",
    response_model=LotEventOut,
    status_code=201,
    responses=errors(400, 403, 404, 413, 415, 422),
)
async def add_lot_event_photos(
    lot_id: Id,
    event_id: Id,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    principal: CurrentUser,
    photos: Annotated[list[UploadFile], File()],
) -> LotEventOut:
    """Photos of a step (the packed boxes, the truck, the cold store's thermometer), checked like camera images;
    more than a diary entry may hold: 422; another cooperative's lot or a step of another lot: 404."""
    principal.require(*STAFF)
    lot = get_owned(session, HarvestLot, lot_id, principal, "lot")
    ev = session.get(LotEvent, event_id)
    if ev is None or ev.lot_id != lot.id:
        raise not_found("lot_event")
    blobs = await check_step_photos(settings, photos, already=len(ev.photo_keys or []))
    ev.photo_keys = [*(ev.photo_keys or []), *put_step_photos(storage, lot, blobs)]
    session.commit()
    return LotEventOut.of(ev)


@router.get(
    "/api/v1/lots/{lot_id}/epcis",
    responses={200: {"content": {"application/ld+json": {}}, "description": "EPCIS 2.0 JSON-LD"}, **errors(404)},
)
def lot_epcis(lot_id: Id, request: Request, session: SessionDep, principal: CurrentUser) -> JSONResponse:
    """The lot's harvest and chain as an EPCIS 2.0 JSON-LD document (a lot of another cooperative: 404)."""
    lot = get_owned(session, HarvestLot, lot_id, principal, "lot")
    doc = chain.epcis_document(session, lot, lambda one: _public_url(request, one))
    return JSONResponse(doc, media_type="application/ld+json")


class SplitIn(BaseModel):
    packages_kg: list[float] = Field(description="the weight of each package, kg", max_length=chain.MAX_PACKAGES)


@router.post(
    "/api/v1/lots/{lot_id}/split",
    response_model=list[LotOut],
    status_code=201,
    responses=errors(400, 403, 404, 409, 422),
)
def split_lot(lot_id: Id, body: SplitIn, request: Request, session: SessionDep, principal: CurrentUser) -> list[LotOut]:
    """Split a lot into packages, each with its own code and QR label (``/api/v1/lots/labels.pdf?ids=…``); a lot
    split twice or a package split again: 409; heavier than the lot: 422."""
    principal.require(*STAFF)
    lot = get_owned(session, HarvestLot, lot_id, principal, "lot")
    try:
        made = chain.split(session, lot=lot, packages_kg=body.packages_kg, user_id=principal.user.id)
    except chain.ChainRefused as exc:
        raise refused(session, exc) from None
    session.commit()
    return [_out(request, p) for p in made]


class MergeIn(BaseModel):
    lot_ids: list[Id] = Field(description="the lots to merge: one crop, one unit", max_length=chain.MAX_MERGE)
    occurred_at: dt.datetime
    place: str = Field(default="", max_length=200)


@router.post(
    "/api/v1/lots/merge",
    response_model=LotOut,
    status_code=201,
    responses=errors(400, 403, 404, 409, 422),
)
def merge_lots(body: MergeIn, request: Request, session: SessionDep, principal: CurrentUser) -> LotOut:
    """Merge lots of one crop (members' harvests commingled at the packhouse) into a new lot with its own code and
    QR; its chain starts with theirs. A lot of another cooperative: 404; merged, split, a package or past a step
    other than storage: 409; crops or units that differ, fewer than two lots, a time before a source's: 422."""
    principal.require(*STAFF)
    lots = [get_owned(session, HarvestLot, i, principal, "lot") for i in body.lot_ids]
    try:
        merged = chain.merge(
            session, lots=lots, occurred_at=body.occurred_at, place=body.place, user_id=principal.user.id
        )
        session.commit()
    except IntegrityError:  # the same lots merged by a second request at the same moment (a double tap)
        session.rollback()
        raise ApiError(409, "chain_merged_already") from None
    except chain.ChainRefused as exc:
        raise refused(session, exc) from None
    return _out(request, merged)
