from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Response, UploadFile
from fastapi import Path as PathParam
from sqlalchemy.orm import Session

from api.deps import CurrentUser, Principal, SessionDep, SettingsDep, StorageDep
from api.errors import ApiError, not_found
from api.schemas import (
    ID_MAX,
    Day,
    DiaryDeleteIn,
    DiaryDetail,
    DiaryOut,
    DiaryPatch,
    FieldChangeOut,
    Id,
    Moment,
    RevisionOut,
    binary,
    errors,
)
from api.scoping import get_owned, scoped
from cropwatch.captures.ingest import CONTENT_TYPES, check_image
from cropwatch.core.enums import DiarySource, DiaryStatus, DiaryType, Role
from cropwatch.core.orm import DiaryEntry, DiaryRevision, Plot
from cropwatch.core.timeutil import local_day, utcnow
from cropwatch.diary import entries as diary

router = APIRouter(prefix="/api/v1/diary", tags=["diary"], responses=errors(401))
#: who writes, edits and deletes the cooperative's manual entries (a union admin reads aggregates only: 403)
WRITERS = (Role.member, Role.agronomist, Role.coop_admin)
#: the status of each refusal of :mod:`cropwatch.diary.entries`
REFUSALS = {"diary_entry_empty": 422, "diary_automatic_locked": 409, "diary_entry_deleted": 409}


def refused(exc: diary.DiaryRefused) -> ApiError:
    return ApiError(REFUSALS[exc.code], exc.code)


def _revision_out(rev: DiaryRevision, before: dict | None) -> RevisionOut:
    return RevisionOut(
        revision=rev.revision,
        changed_by=rev.changed_by,
        changed_at=rev.changed_at,
        snapshot=rev.snapshot,
        reason=rev.snapshot.get("_reason"),
        changes=[FieldChangeOut(field=f, before=b, after=a) for f, b, a in diary.changed_fields(before, rev.snapshot)],
    )


@router.get("", response_model=list[DiaryOut])
def list_entries(
    session: SessionDep,
    principal: CurrentUser,
    plot_id: Id | None = None,
    type: DiaryType | None = None,
    status: DiaryStatus | None = None,
    source: DiarySource | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
) -> list[DiaryEntry]:
    q = scoped(DiaryEntry, principal).where(DiaryEntry.deleted_at.is_(None))
    for col, value in (
        (DiaryEntry.plot_id, plot_id),
        (DiaryEntry.type, type),
        (DiaryEntry.status, status),
        (DiaryEntry.source, source),
    ):
        if value is not None:
            q = q.where(col == value)
    if since is not None:
        q = q.where(DiaryEntry.occurred_at >= since)
    if until is not None:
        q = q.where(DiaryEntry.occurred_at < until)
    return list(session.scalars(q.order_by(DiaryEntry.occurred_at.desc(), DiaryEntry.id.desc()).limit(1000)))


@router.get(
    "/export",
    response_class=Response,
    responses={
        **binary(
            "application/pdf",
            "text/csv",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            description="the diary as PDF, CSV or XLSX",
        ),
        **errors(404, 422),
    },
)
def export_diary(
    session: SessionDep,
    principal: CurrentUser,
    storage: StorageDep,
    plot_id: Id,
    since: Day,
    until: Day,
    format: str = "pdf",
    lang: Literal["vi", "en"] = "vi",
) -> Response:
    """The plot's diary for a season as ``pdf`` (VietGAP-style, with photos), ``csv`` or ``xlsx``, in ``lang``
    (Vietnamese by default: headers, types, statuses and sources). Every entry of the period is in it, pending and
    deleted ones included (deleted: when and by whom), each with its number of changes and the last one."""
    from cropwatch.diary import export as diary_export

    scoped(DiaryEntry, principal)  # the union admin reads aggregates, never a cooperative's diary (403)
    plot = get_owned(session, Plot, plot_id, principal, "plot")
    if until < since or (until - since).days > 3 * 366:
        raise ApiError(422, "export_bad_period")
    items = diary_export.entries(session, plot, since, until)
    name = f"nhat-ky-{plot.id}-{since:%Y%m%d}-{until:%Y%m%d}"
    if format == "csv":
        return Response(
            diary_export.to_csv(session, items, lang),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if format == "xlsx":
        return Response(
            diary_export.to_xlsx(session, items, plot, lang),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    if format == "pdf":

        def photo(key: str) -> bytes | None:
            try:
                return storage.get_bytes(key)
            except Exception:  # noqa: BLE001 - a missing photo must not lose the export
                return None

        return Response(
            diary_export.to_pdf(session, plot, items, since, until, photo=photo, locale=lang),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    raise ApiError(422, "export_bad_format")


@router.get("/{entry_id}", response_model=DiaryDetail, responses=errors(404))
def get_entry(
    entry_id: Id, session: SessionDep, principal: CurrentUser, storage: StorageDep, settings: SettingsDep
) -> DiaryDetail:
    """One entry, deleted ones included (``deleted_at`` set), with every revision and the fields it changed."""
    entry = get_owned(session, DiaryEntry, entry_id, principal, "diary entry")
    outs, before = [], None
    for rev in diary.revisions(session, entry.id):
        outs.append(_revision_out(rev, before))
        before = rev.snapshot
    expiry = dt.timedelta(seconds=settings.image_url_expiry_seconds)
    return DiaryDetail(
        **DiaryOut.model_validate(entry).model_dump(),
        revisions=outs,
        photo_urls=[storage.presigned_get(k, expiry) for k in entry.photo_keys],
    )


@router.post("", response_model=DiaryOut, status_code=201, responses=errors(400, 403, 404, 409, 413, 415, 422, 503))
async def create_entry(
    session: SessionDep,
    principal: CurrentUser,
    storage: StorageDep,
    settings: SettingsDep,
    plot_id: Annotated[int, Form(ge=1, le=ID_MAX)],
    type: Annotated[DiaryType, Form()],
    occurred_at: Annotated[Moment | None, Form()] = None,
    status: Annotated[DiaryStatus, Form()] = DiaryStatus.done,
    title: Annotated[str, Form(max_length=300)] = "",
    notes: Annotated[str, Form(max_length=10000)] = "",
    quantity_value: Annotated[float | None, Form(allow_inf_nan=False)] = None,
    quantity_unit: Annotated[str | None, Form(max_length=32)] = None,
    product_name: Annotated[str | None, Form(max_length=200)] = None,
    registration_no: Annotated[str | None, Form(max_length=100)] = None,
    active_ingredient: Annotated[str | None, Form(max_length=200)] = None,
    dose: Annotated[str | None, Form(max_length=100)] = None,
    treated_area_m2: Annotated[float | None, Form(ge=0, allow_inf_nan=False)] = None,
    operator: Annotated[str | None, Form(max_length=200)] = None,
    phi_days: Annotated[int | None, Form(ge=0, le=365)] = None,
    phi_override_reason: Annotated[str | None, Form(max_length=2000)] = None,
    photos: Annotated[list[UploadFile] | None, File()] = None,
) -> DiaryEntry:
    """A manual diary entry, with photos taken on the phone (checked like camera images). A `harvest` inside a
    sprayed product's pre-harvest interval is refused (409 `phi_active`) unless an agronomist gives a reason. An
    empty entry (no title, notes, quantity, product or photo) is refused (422 `diary_entry_empty`)."""
    principal.require(*WRITERS)
    get_owned(session, Plot, plot_id, principal, "plot")
    empty = diary.is_empty(
        {
            "title": title,
            "notes": notes,
            "quantity_value": quantity_value,
            "product_name": product_name,
            "registration_no": registration_no,
            "active_ingredient": active_ingredient,
            "photo_keys": photos or [],
        }
    )
    if type == DiaryType.harvest:
        when = occurred_at or utcnow()
        guard(session, principal, plot_id, local_day(when), phi_override_reason)
        if phi_override_reason:
            notes = (notes + "\n" if notes else "") + f"PHI override: {phi_override_reason}"
    if empty:
        raise ApiError(422, "diary_entry_empty")
    blobs = await read_photos(settings, photos or [], already=0)
    keys = store_photos(storage, principal.cooperative_id, plot_id, blobs)
    entry = diary.create_entry(
        session,
        cooperative_id=principal.cooperative_id,
        user_id=principal.user.id,
        plot_id=plot_id,
        occurred_at=occurred_at or utcnow(),
        type=type,
        status=status,
        source=DiarySource.manual,
        title=title,
        notes=notes,
        quantity_value=quantity_value,
        quantity_unit=quantity_unit,
        product_name=product_name,
        registration_no=registration_no,
        active_ingredient=active_ingredient,
        dose=dose,
        treated_area_m2=treated_area_m2,
        operator=operator,
        phi_days=phi_days,
        photo_keys=keys,
    )
    session.commit()
    return entry


def guard(session, principal, plot_id: int, day, override_reason: str | None) -> dict | None:
    """The pre-harvest interval guard as an API error (shared by diary harvests and harvest lots)."""
    from cropwatch.core.timeutil import fmt_date
    from cropwatch.diary.lots import PhiActive, check_phi

    try:
        return check_phi(
            session,
            plot_id=plot_id,
            day=day,
            override_reason=override_reason,
            may_override=principal.role in (Role.agronomist, Role.coop_admin),
            user_id=principal.user.id,
        )
    except PhiActive as exc:
        b = exc.first
        raise ApiError(
            409,
            "phi_active",
            product=b.product,
            sprayed=fmt_date(b.sprayed_on),
            days=b.phi_days,
            ends=fmt_date(b.ends_on),
        ) from None


@router.post("/{entry_id}/done", response_model=DiaryOut, responses=errors(403, 404, 409))
def mark_done(entry_id: Id, session: SessionDep, principal: CurrentUser) -> DiaryEntry:
    """Confirm a pending (e.g. automatic) entry; the change is kept as a revision."""
    principal.require(*WRITERS)
    entry = get_owned(session, DiaryEntry, entry_id, principal, "diary entry")
    if entry.deleted_at is not None:
        raise ApiError(409, "diary_entry_deleted")
    if entry.status != DiaryStatus.done:
        entry.status = DiaryStatus.done
        diary.record_revision(session, entry, user_id=principal.user.id)
        session.commit()
    return entry


def apply_edit(
    session: Session,
    principal: Principal,
    entry: DiaryEntry,
    changes: dict,
    *,
    reason: str | None,
    phi_override_reason: str | None = None,
) -> bool:
    """An edit of a manual entry under the same rules as a new one (shared by the API and the entry page): an
    automatic or deleted entry is refused (409), a harvest moved or retyped into a pre-harvest interval meets the
    guard (409 `phi_active`), an edit that empties it is refused (422 `diary_entry_empty`). False: nothing changed."""
    principal.require(*WRITERS)
    try:
        diary.check_writable(entry)
        kind, when = changes.get("type", entry.type), changes.get("occurred_at", entry.occurred_at)
        moved = kind != entry.type or when != entry.occurred_at
        if (
            kind == DiaryType.harvest
            and moved
            and guard(session, principal, entry.plot_id, local_day(when), phi_override_reason)
        ):
            notes = changes.get("notes", entry.notes)
            changes = {**changes, "notes": (notes + "\n" if notes else "") + f"PHI override: {phi_override_reason}"}
        return diary.update_entry(session, entry, user_id=principal.user.id, changes=changes, reason=reason)
    except diary.DiaryRefused as exc:
        raise refused(exc) from None


def apply_delete(session: Session, principal: Principal, entry: DiaryEntry, reason: str | None) -> bool:
    """A soft delete with its revision (shared by the API and the entry page); automatic entries: 409."""
    principal.require(*WRITERS)
    try:
        return diary.soft_delete(session, entry, user_id=principal.user.id, reason=reason)
    except diary.DiaryRefused as exc:
        raise refused(exc) from None


PhotoBlob = tuple[bytes, str]  # checked image bytes, format


async def read_photos(settings, photos: list[UploadFile], *, already: int) -> list[PhotoBlob]:
    """The uploaded phone photos, checked like camera images (a declared gain map or motion video is trimmed), all
    before anything is stored; more than ``max_diary_photos`` on one entry (with the ``already`` it holds): 422."""
    if already + len(photos) > settings.max_diary_photos:
        raise ApiError(422, "diary_too_many_photos", limit=settings.max_diary_photos)
    blobs = []
    for photo in photos:
        image = check_image(settings, await photo.read(settings.max_upload_bytes + 1))
        blobs.append((image.data, image.fmt))
    return blobs


def photo_keys_for(cooperative_id: int, plot_id: int, blobs: list[PhotoBlob]) -> list[str]:
    return [
        f"diary/{cooperative_id}/{plot_id}/{uuid.uuid4().hex}.{'jpg' if fmt == 'jpeg' else fmt}" for _, fmt in blobs
    ]


def put_photos(storage, keys: list[str], blobs: list[PhotoBlob]) -> None:
    for key, (data, fmt) in zip(keys, blobs, strict=True):
        storage.put_bytes(key, data, CONTENT_TYPES[fmt])


def store_photos(storage, cooperative_id: int, plot_id: int, blobs: list[PhotoBlob]) -> list[str]:
    keys = photo_keys_for(cooperative_id, plot_id, blobs)
    put_photos(storage, keys, blobs)
    return keys


async def change_photos(
    session: Session,
    principal: Principal,
    settings,
    storage,
    entry: DiaryEntry,
    *,
    add: list[UploadFile],
    remove: list[int],
    reason: str | None,
    changes: dict | None = None,
    phi_override_reason: str | None = None,
) -> bool:
    """Take photos off a manual entry and add new ones, with the other ``changes``, as one revision (shared by
    the API and the entry page). The edit's rules are checked before a new photo is stored, so a refused change
    stores nothing; a photo taken off stays in storage, readable from the entry's history."""
    principal.require(*WRITERS)
    kept = diary.photo_change(entry, remove=remove)
    blobs = await read_photos(settings, add, already=len(kept))
    keys = photo_keys_for(entry.cooperative_id, entry.plot_id, blobs)
    changed = apply_edit(
        session,
        principal,
        entry,
        {**(changes or {}), "photo_keys": kept + keys},
        reason=reason,
        phi_override_reason=phi_override_reason,
    )
    put_photos(storage, keys, blobs)
    return changed


@router.patch("/{entry_id}", response_model=DiaryOut, responses=errors(400, 403, 404, 409, 422))
def update_entry(entry_id: Id, body: DiaryPatch, session: SessionDep, principal: CurrentUser) -> DiaryEntry:
    """Change a manual entry (farmer or staff of its cooperative). Every change is a revision: who, when, and each
    changed field before → after (``GET /api/v1/diary/{id}``), with the optional ``reason``. Automatic
    observations are the system's record of what the cameras saw: not editable (409 `diary_automatic_locked`;
    confirm them with ``/done`` or by reviewing the photo). A deleted entry cannot change (409)."""
    principal.require(*WRITERS)
    entry = get_owned(session, DiaryEntry, entry_id, principal, "diary entry")
    changes = body.model_dump(exclude_unset=True, exclude={"reason", "phi_override_reason"})
    changes = {k: v for k, v in changes.items() if v is not None or k not in ("occurred_at", "type", "status")}
    if apply_edit(session, principal, entry, changes, reason=body.reason, phi_override_reason=body.phi_override_reason):
        session.commit()
    return entry


@router.delete("/{entry_id}", status_code=204, responses=errors(400, 403, 404, 409, 422))
def delete_entry(entry_id: Id, session: SessionDep, principal: CurrentUser, body: DiaryDeleteIn | None = None) -> None:
    """Withdraw a manual entry (soft delete, optional ``reason`` in the body): lists hide it, ``GET`` still reads
    it, exports mark it deleted with when and who. Deleting it again changes nothing. Automatic entries: 409."""
    principal.require(*WRITERS)
    entry = get_owned(session, DiaryEntry, entry_id, principal, "diary entry")
    if apply_delete(session, principal, entry, body.reason if body else None):
        session.commit()


@router.post("/{entry_id}/photos", response_model=DiaryOut, responses=errors(400, 403, 404, 409, 413, 415, 422, 503))
async def add_photos(
    entry_id: Id,
    session: SessionDep,
    principal: CurrentUser,
    storage: StorageDep,
    settings: SettingsDep,
    photos: Annotated[list[UploadFile], File()],
    reason: Annotated[str | None, Form(max_length=2000)] = None,
) -> DiaryEntry:
    """Add photos to a manual entry (checked like camera images), as one revision; more than
    ``max_diary_photos`` on the entry: 422 `diary_too_many_photos`. Automatic or deleted entries: 409."""
    principal.require(*WRITERS)
    entry = get_owned(session, DiaryEntry, entry_id, principal, "diary entry")
    photos = [p for p in photos if p.filename]
    if await change_photos(session, principal, settings, storage, entry, add=photos, remove=[], reason=reason):
        session.commit()
    return entry


@router.delete("/{entry_id}/photos/{index}", response_model=DiaryOut, responses=errors(400, 403, 404, 409, 422))
async def remove_photo(
    entry_id: Id,
    index: Annotated[int, PathParam(ge=0, le=999)],
    session: SessionDep,
    principal: CurrentUser,
    storage: StorageDep,
    settings: SettingsDep,
    body: DiaryDeleteIn | None = None,
) -> DiaryEntry:
    """Take the photo at ``index`` (its place in ``photo_urls``) off a manual entry, as a revision with the
    optional ``reason``; the photo stays in storage for the audit. An entry left empty: 422 `diary_entry_empty`."""
    principal.require(*WRITERS)
    entry = get_owned(session, DiaryEntry, entry_id, principal, "diary entry")
    if index >= len(entry.photo_keys or []):
        raise not_found("photo")
    reason = body.reason if body else None
    if await change_photos(session, principal, settings, storage, entry, add=[], remove=[index], reason=reason):
        session.commit()
    return entry
