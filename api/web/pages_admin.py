"""Pages of the admin group.

- ``/admin/members``: a cooperative admin manages the cooperative's people (add with a password policy, change a
  role, deactivate: the user's sessions and API tokens are revoked at once; make a one-time password reset code,
  shown once after the redirect; never themselves).
- ``/admin/cameras``: cameras with their last contact and an online/silent badge; add a camera, rotate or revoke
  its device token (the API's own functions in ``api.routers.cameras``; a new token is shown once). Agronomists
  see the list read-only.
- ``/admin/plots``: farms and their plots; add a farm, add a plot.
- ``/union`` and ``/union/export.csv``: a union admin's aggregate numbers for the cooperatives that share their home
  cooperative's ``union_code`` (captures, alerts by level, pests by crop and month). Counts only: nothing here links
  to another cooperative's photos or rows.

Refusals re-show the page with the reason (status 4xx); other cooperatives' ids are 404 (``get_owned``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.deps import Principal, SessionDep
from api.errors import ApiError
from api.routers import cameras as cameras_api
from api.routers import retention as retention_api
from api.schemas import CameraIn, Id
from api.scoping import get_owned, scoped
from api.web.pages_account import reset_redis
from api.web.render import class_names_vi, render, translate
from api.web.session import PageUser, csrf_protect, page_locale
from cropwatch.accounts import members
from cropwatch.accounts.password_reset import (
    ResetGrant,
    ResetUnavailable,
    ShownCode,
    issue_code,
    pop_for_display,
    stash_for_display,
)
from cropwatch.captures import retention
from cropwatch.core import show_once
from cropwatch.core.enums import CameraKind, ModelTask, Role
from cropwatch.core.i18n import fmt_number
from cropwatch.core.orm import Camera, Certification, Cooperative, Farm, Membership, Plot, RetentionRun, User
from cropwatch.core.security import PASSWORD_MIN
from cropwatch.core.spreadsheet import csv_cell
from cropwatch.core.timeutil import utcnow
from cropwatch.diary import certifications
from cropwatch.union import stats as union

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

ASSIGNABLE = members.ASSIGNABLE
CAMERA_VIEWERS = (Role.coop_admin, Role.agronomist)
PERIODS = (3, 6, 12, 24)
CSV_HEADER = ("cooperative", "crop", "month", "pest", "class", "count")


def _refuse(code: str, status: int = 400, **params: Any) -> ApiError:
    return ApiError(status, code, **params)


def _reason(request: Request, principal: Principal, exc: ApiError) -> str:
    """The refusal in the page language; a ``field`` parameter is itself a message key (the field's label)."""
    locale = page_locale(request, principal)
    params = {k: translate(v, locale) if k == "field" else v for k, v in exc.params.items()}
    return translate(exc.code, locale, **params)


def _coop(session: Session, principal: Principal) -> Cooperative:
    return session.get(Cooperative, principal.cooperative_id)


# members --------------------------------------------------------------------------------------------------------


def _members_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    error: str | None = None,
    form: dict | None = None,
    done: str | None = None,
    done_who: str = "",
    reset: dict | None = None,
    status: int = 200,
) -> Response:
    """``form``: the add-member form as typed (a refusal of it is shown next to the form)."""
    principal.require(Role.coop_admin)
    found = session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.cooperative_id == principal.cooperative_id)
        .order_by(User.is_active.desc(), User.username)
    ).all()
    rows = []
    for m, u in found:
        options = list(ASSIGNABLE) + ([m.role] if m.role not in ASSIGNABLE else [])
        rows.append({"m": m, "u": u, "me": u.id == principal.user.id, "options": options})
    counts = {r: sum(1 for x in rows if x["m"].role == r and x["u"].is_active) for r in Role}
    return render(
        request,
        "admin/members.html",
        principal,
        status=status,
        coop=_coop(session, principal),
        rows=rows,
        counts=counts,
        roles=ASSIGNABLE,
        error=error,
        done=done,
        done_who=done_who,
        reset=reset,
        form_error=form is not None,
        form=form or {"role": Role.member.value},
        password_min=PASSWORD_MIN,
        active=sum(1 for x in rows if x["u"].is_active),
    )


DONE_MEMBERS = {
    "added": "admin_member_added",
    "role": "admin_role_changed",
    "off": "admin_member_deactivated",
    "on": "admin_member_reactivated",
    "reset": "admin_reset_shown_once",
}


def shown_reset_code(
    request: Request, principal: Principal, membership: Membership | None, ticket: str | None
) -> dict | None:
    """The reset code a ticket carries, for this admin and this member only, once (None afterwards)."""
    if membership is None or not ticket:
        return None
    shown = pop_for_display(
        reset_redis(request), ticket, admin_id=principal.user.id, cooperative_id=principal.cooperative_id
    )
    if shown is None or shown.user_id != membership.user_id:
        return None
    base = request.app.state.settings.public_base_url.rstrip("/")
    return {
        "who": membership.user.username,
        "code": shown.code,
        "link": f"{base}/reset?code={shown.code}",
        "until": dt.datetime.fromtimestamp(shown.valid_until, dt.timezone.utc),
    }


@router.get("/admin/members")
def members_page(
    request: Request,
    session: SessionDep,
    principal: PageUser,
    done: str | None = None,
    m: int | None = None,
    show: str | None = None,
) -> Response:
    principal.require(Role.coop_admin)
    membership = session.scalar(scoped(Membership, principal).where(Membership.id == m)) if m is not None else None
    who = membership.user.username if membership else ""
    reset = shown_reset_code(request, principal, membership, show) if done == "reset" else None
    return _members_page(
        request, session, principal, done=None if reset else DONE_MEMBERS.get(done or ""), done_who=who, reset=reset
    )


@router.post("/admin/members")
def add_member(
    request: Request,
    session: SessionDep,
    principal: PageUser,
    username: Annotated[str, Form(max_length=64)] = "",
    full_name: Annotated[str, Form(max_length=200)] = "",
    phone: Annotated[str, Form(max_length=32)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    role: Annotated[str, Form(max_length=32)] = "member",
) -> Response:
    principal.require(Role.coop_admin)
    form = {"username": username.strip(), "full_name": full_name.strip(), "phone": phone.strip(), "role": role}
    try:
        membership = members.add_member(
            session,
            cooperative_id=principal.cooperative_id,
            username=username,
            full_name=full_name,
            phone=phone,
            password=password,
            role=role,
            locale=principal.user.locale or "vi",
        )
    except members.MemberRefused as exc:
        return _members_page(request, session, principal, error=_reason(request, principal, _api(exc)), form=form,
                             status=exc.status)  # fmt: skip
    return RedirectResponse(f"/admin/members?done=added&m={membership.id}", status_code=303)


def _member_action(
    request: Request, session: Session, principal: Principal, membership_id: int, action: Callable[[Membership], str]
) -> Response:
    """Look the membership up in the caller's cooperative (404 otherwise), apply ``action``; a refusal re-shows
    the page with the reason."""
    principal.require(Role.coop_admin)
    membership = get_owned(session, Membership, membership_id, principal, "member")
    try:
        try:
            done = action(membership)
        except members.MemberRefused as exc:
            raise _api(exc) from None
    except ApiError as exc:
        session.rollback()
        return _members_page(request, session, principal, error=_reason(request, principal, exc), status=exc.status)
    session.commit()
    return RedirectResponse(f"/admin/members?done={done}&m={membership.id}", status_code=303)


@router.post("/admin/members/{membership_id}/role")
def change_role(
    membership_id: Id,
    request: Request,
    session: SessionDep,
    principal: PageUser,
    role: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    def act(m: Membership) -> str:
        members.change_role(session, m, role, acting_user_id=principal.user.id)
        return "role"

    return _member_action(request, session, principal, membership_id, act)


def _api(exc: members.MemberRefused) -> ApiError:
    return _refuse(exc.code, exc.status, **exc.params)


def _may_change(session: Session, m: Membership, principal: Principal, own_code: str) -> None:
    try:
        members.check_admin_may_change(session, m, acting_user_id=principal.user.id, own_code=own_code)
    except members.MemberRefused as exc:
        raise _api(exc) from None


@router.post("/admin/members/{membership_id}/deactivate")
def deactivate_member(membership_id: Id, request: Request, session: SessionDep, principal: PageUser) -> Response:
    def act(m: Membership) -> str:
        members.set_active(session, m, False, acting_user_id=principal.user.id)
        return "off"

    return _member_action(request, session, principal, membership_id, act)


@router.post("/admin/members/{membership_id}/reactivate")
def reactivate_member(membership_id: Id, request: Request, session: SessionDep, principal: PageUser) -> Response:
    def act(m: Membership) -> str:
        members.set_active(session, m, True, acting_user_id=principal.user.id)
        return "on"

    return _member_action(request, session, principal, membership_id, act)


@router.post("/admin/members/{membership_id}/reset-code")
def make_reset_code(membership_id: Id, request: Request, session: SessionDep, principal: PageUser) -> Response:
    """A one-time password reset code for a member (the same rules as a role change); shown once, after the
    redirect, through a ticket only this admin can use."""
    principal.require(Role.coop_admin)
    membership = get_owned(session, Membership, membership_id, principal, "member")
    store = reset_redis(request)
    hours = request.app.state.settings.password_reset_hours
    try:
        _may_change(session, membership, principal, "admin_self_reset")
        if not membership.user.is_active:
            raise _refuse("admin_reset_inactive")
        grant = ResetGrant(membership.user_id, principal.cooperative_id, principal.user.id)
        code = issue_code(store, grant, ttl_s=hours * 3600)
        until = (utcnow() + dt.timedelta(hours=hours)).timestamp()
        ticket = stash_for_display(
            store,
            ShownCode(code, membership.user_id, until),
            admin_id=principal.user.id,
            cooperative_id=principal.cooperative_id,
        )
    except ApiError as exc:
        return _members_page(request, session, principal, error=_reason(request, principal, exc), status=exc.status)
    except ResetUnavailable:
        return _members_page(
            request,
            session,
            principal,
            status=503,
            error=translate("reset_unavailable", page_locale(request, principal)),
        )
    return RedirectResponse(f"/admin/members?done=reset&m={membership.id}&show={ticket}#reset-code", status_code=303)


# cameras --------------------------------------------------------------------------------------------------------


def ago(moment: dt.datetime, now: dt.datetime) -> tuple[str, int]:
    """("admin_ago_min", 5) → "5 phút trước"."""
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return "admin_ago_now", 0
    if seconds < 3600:
        return "admin_ago_min", seconds // 60
    if seconds < 86400:
        return "admin_ago_hour", seconds // 3600
    return "admin_ago_day", seconds // 86400


def camera_state(cam: Camera, now: dt.datetime) -> str:
    """online: seen within twice its capture interval; silent: not since; never: no contact yet; revoked."""
    if cam.token_revoked_at is not None:
        return "revoked"
    if cam.last_seen_at is None:
        return "never"
    return "online" if now - cam.last_seen_at <= dt.timedelta(seconds=2 * cam.capture_interval_s) else "silent"


def _every(seconds: int) -> dict:
    if seconds % 3600 == 0:
        return {"every_key": "admin_every_hour", "every_n": seconds // 3600}
    if seconds % 60 == 0:
        return {"every_key": "admin_every_min", "every_n": seconds // 60}
    return {"every_key": "admin_every_s", "every_n": seconds}


STATE_BADGE = {"online": "ok", "silent": "warning", "never": "muted", "revoked": "danger"}


def _cameras_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    error: str | None = None,
    form: dict | None = None,
    new_token: dict | None = None,
    done: str | None = None,
    status: int = 200,
) -> Response:
    principal.require(*CAMERA_VIEWERS)
    now = utcnow()
    plots = {p.id: p for p in session.scalars(scoped(Plot, principal).order_by(Plot.name))}
    rows = []
    for cam in session.scalars(scoped(Camera, principal).order_by(Camera.name, Camera.id)):
        state = camera_state(cam, now)
        key, n = ago(cam.last_seen_at, now) if cam.last_seen_at else ("admin_never_seen", 0)
        rows.append(
            {
                "cam": cam,
                "plot": plots.get(cam.plot_id),
                "state": state,
                "badge": STATE_BADGE[state],
                "ago_key": key,
                "ago_n": n,
                **_every(cam.capture_interval_s),
            }
        )
    summary = {s: sum(1 for r in rows if r["state"] == s) for s in STATE_BADGE}
    return render(
        request,
        "admin/cameras.html",
        principal,
        storage=_storage(session, principal) if principal.role == Role.coop_admin else None,
        status=status,
        rows=rows,
        plots=list(plots.values()),
        kinds=list(CameraKind),
        tasks=list(ModelTask),
        can_edit=principal.role == Role.coop_admin,
        error=error,
        new_token=new_token,
        done=done,
        summary=summary,
        form=form or {"kind": CameraKind.garden.value, "model_task": ModelTask.pest.value, "capture_interval_s": 600},
    )


def _storage(session: Session, principal: Principal) -> dict:
    """The photo retention section: the policy, storage per camera, what the next run frees, the last run."""
    cams = retention.usage(session, principal.cooperative_id)
    last = session.scalar(
        select(RetentionRun)
        .where(RetentionRun.cooperative_id == principal.cooperative_id)
        .order_by(RetentionRun.id.desc())
        .limit(1)
    )
    total = {
        k: sum(getattr(c, k) for c in cams) for k in ("photos", "bytes", "removed", "to_free_photos", "to_free_bytes")
    }
    days = session.get(Cooperative, principal.cooperative_id).photo_retention_days
    return {"days": days, "cameras": cams, "last_run": last, **total}


@router.post("/admin/retention")
def set_retention(
    request: Request, session: SessionDep, principal: PageUser, days: Annotated[str, Form(max_length=8)] = ""
) -> Response:
    """The photo retention form of the cameras page (the same rule as PUT /api/v1/retention)."""
    principal.require(Role.coop_admin)
    try:
        value = int(days) if days.strip() else None
        retention_api.set_policy(retention_api.RetentionIn(days=value), session, principal)
    except (ValueError, ApiError) as exc:
        session.rollback()
        code = exc.code if isinstance(exc, ApiError) else "retention_days_invalid"
        lang = page_locale(request, principal)
        error = translate(code, lang, low=retention_api.MIN_DAYS, high=retention_api.MAX_DAYS)
        return _cameras_page(request, session, principal, error=error, status=400)
    return RedirectResponse("/admin/cameras?done=retention#storage", status_code=303)


@router.get("/admin/cameras")
def cameras_page(
    request: Request, session: SessionDep, principal: PageUser, done: str | None = None, token: str | None = None
) -> Response:
    shown = show_once.pop(
        reset_redis(request), token, user_id=principal.user.id, cooperative_id=principal.cooperative_id
    )
    if token and shown is None:  # a reload, or another admin's link: the token is not shown twice
        return _cameras_page(request, session, principal, done="admin_token_shown_once")
    return _cameras_page(
        request,
        session,
        principal,
        new_token=shown,
        done={"revoked": "admin_token_revoked", "retention": "admin_retention_saved"}.get(done or ""),
    )


def _show_token(request: Request, session: Session, principal: Principal, new_token: dict, status: int) -> Response:
    """POST-redirect-GET: the token goes to the page after the redirect, once; without Redis it is shown here."""
    client = reset_redis(request)
    if client is None:
        return _cameras_page(request, session, principal, status=status, new_token=new_token)
    try:
        ticket = show_once.stash(client, new_token, user_id=principal.user.id, cooperative_id=principal.cooperative_id)
    except Exception:  # noqa: BLE001 - Redis down: show it now rather than lose it
        return _cameras_page(request, session, principal, status=status, new_token=new_token)
    return RedirectResponse(f"/admin/cameras?token={ticket}", status_code=303)


@router.post("/admin/cameras")
def add_camera(
    request: Request,
    session: SessionDep,
    principal: PageUser,
    name: Annotated[str, Form(max_length=200)] = "",
    plot_id: Annotated[str, Form()] = "",
    kind: Annotated[str, Form(max_length=32)] = "garden",
    model_task: Annotated[str, Form(max_length=32)] = "pest",
    capture_interval_s: Annotated[str, Form(max_length=12)] = "600",
) -> Response:
    principal.require(Role.coop_admin)
    form = {
        "name": name,
        "plot_id": plot_id,
        "kind": kind,
        "model_task": model_task,
        "capture_interval_s": capture_interval_s,
    }
    try:
        body = CameraIn(
            plot_id=plot_id, name=name.strip(), kind=kind, model_task=model_task, capture_interval_s=capture_interval_s
        )
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0]) if exc.errors() else "name"
        return _cameras_page(
            request,
            session,
            principal,
            form=form,
            status=400,
            error=translate(
                "admin_camera_invalid",
                page_locale(request, principal),
                field=translate(f"admin_cam_{field}", page_locale(request, principal)),
            ),
        )
    created = cameras_api.create_camera(body, session, principal)  # the plot must be ours (404 otherwise)
    return _show_token(
        request,
        session,
        principal,
        {"camera": created.name, "id": created.id, "token": created.device_token, "created": True},
        201,
    )


@router.post("/admin/cameras/{camera_id}/rotate")
def rotate_camera_token(camera_id: Id, request: Request, session: SessionDep, principal: PageUser) -> Response:
    rotated = cameras_api.rotate_token(camera_id, session, principal)
    return _show_token(
        request,
        session,
        principal,
        {"camera": rotated.name, "id": rotated.id, "token": rotated.device_token, "created": False},
        200,
    )


@router.post("/admin/cameras/{camera_id}/revoke")
def revoke_camera_token(camera_id: Id, session: SessionDep, principal: PageUser) -> Response:
    cameras_api.revoke_token(camera_id, session, principal)
    return RedirectResponse("/admin/cameras?done=revoked", status_code=303)


# farms and plots ------------------------------------------------------------------------------------------------


def _plots_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    error: str | None = None,
    farm_form: dict | None = None,
    plot_form: dict | None = None,
    cert_form: dict | None = None,
    done: str | None = None,
    status: int = 200,
) -> Response:
    principal.require(Role.coop_admin)
    farms = list(session.scalars(scoped(Farm, principal).order_by(Farm.name, Farm.id)))
    plots = list(session.scalars(scoped(Plot, principal).order_by(Plot.name, Plot.id)))
    cameras: dict[int, int] = dict(
        session.execute(
            select(Camera.plot_id, func.count(Camera.id))
            .where(Camera.cooperative_id == principal.cooperative_id)
            .group_by(Camera.plot_id)
        ).all()
    )
    members = session.execute(
        select(User.id, User.username, User.full_name)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.cooperative_id == principal.cooperative_id, User.is_active.is_(True))
        .order_by(User.username)
    ).all()
    owners = {u.id: u for u in members}
    groups = [{"farm": f, "plots": [p for p in plots if p.farm_id == f.id]} for f in farms]
    return render(
        request,
        "admin/plots.html",
        principal,
        status=status,
        groups=groups,
        farms=farms,
        members=members,
        owners=owners,
        cameras=cameras,
        error=error,
        done=done,
        total_area=sum(p.area_m2 or 0 for p in plots),
        plot_count=len(plots),
        farm_form=farm_form or {},
        plot_form=plot_form or {},
        certs=certifications.of_cooperative(session, principal.cooperative_id),
        cert_form=cert_form or {},
        cert_schemes=certifications.SCHEMES,
    )


@router.get("/admin/plots")
def admin_plots_page(request: Request, session: SessionDep, principal: PageUser, done: str | None = None) -> Response:
    done_key = {"farm": "admin_farm_added", "plot": "admin_plot_added", "cert": "cert_added", "uncert": "cert_removed"}
    return _plots_page(request, session, principal, done=done_key.get(done or ""))


@router.post("/admin/certifications")
def add_certification_page(
    request: Request,
    session: SessionDep,
    principal: PageUser,
    scheme: Annotated[str, Form(max_length=32)] = "",
    code: Annotated[str, Form(max_length=100)] = "",
    issued_by: Annotated[str, Form(max_length=200)] = "",
    valid_from: Annotated[str, Form()] = "",
    valid_until: Annotated[str, Form()] = "",
    crops: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """The plots page's certificate form (the same rules as POST /api/v1/certifications)."""
    principal.require(Role.coop_admin)
    form = {"scheme": scheme, "code": code, "issued_by": issued_by, "valid_from": valid_from}
    form |= {"valid_until": valid_until, "crops": crops}
    try:
        until = _date(valid_until, "cert_valid_until_label")
        if until is None:
            raise _refuse("admin_required", field="cert_valid_until_label")
        certifications.add(
            session,
            cooperative_id=principal.cooperative_id,
            scheme=scheme,
            code=code,
            issued_by=issued_by,
            valid_from=_date(valid_from, "cert_valid_from"),
            valid_until=until,
            crops=crops.split(","),
        )
    except certifications.CertificationRefused as exc:
        session.rollback()
        msg = translate(exc.code, page_locale(request, principal), **exc.params)
        return _plots_page(request, session, principal, error=msg, cert_form=form, status=422)
    except ApiError as exc:
        msg = _reason(request, principal, exc)
        return _plots_page(request, session, principal, error=msg, cert_form=form, status=exc.status)
    session.commit()
    return RedirectResponse("/admin/plots?done=cert#certifications", status_code=303)


@router.post("/admin/certifications/{cert_id}/delete")
def delete_certification_page(cert_id: Id, session: SessionDep, principal: PageUser) -> Response:
    principal.require(Role.coop_admin)
    session.delete(get_owned(session, Certification, cert_id, principal, "certification"))
    session.commit()
    return RedirectResponse("/admin/plots?done=uncert#certifications", status_code=303)


@router.post("/admin/farms")
def add_farm(
    request: Request,
    session: SessionDep,
    principal: PageUser,
    name: Annotated[str, Form(max_length=200)] = "",
    address: Annotated[str, Form(max_length=300)] = "",
    owner_id: Annotated[str, Form()] = "",
) -> Response:
    principal.require(Role.coop_admin)
    form = {"name": name, "address": address, "owner_id": owner_id}
    try:
        if not name.strip():
            raise _refuse("admin_required", field="admin_farm_name")
        owner = None
        if owner_id:
            if not owner_id.isdigit():
                raise _refuse("admin_invalid_value", field="admin_farm_owner")
            owner = session.scalar(
                select(Membership.user_id).where(
                    Membership.cooperative_id == principal.cooperative_id, Membership.user_id == int(owner_id)
                )
            )
            if owner is None:
                raise _refuse("admin_invalid_value", field="admin_farm_owner")
    except ApiError as exc:
        return _plots_page(
            request, session, principal, error=_reason(request, principal, exc), farm_form=form, status=exc.status
        )
    session.add(
        Farm(
            cooperative_id=principal.cooperative_id, name=name.strip(), address=address.strip() or None, owner_id=owner
        )
    )
    session.commit()
    return RedirectResponse("/admin/plots?done=farm", status_code=303)


def _date(value: str, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _refuse("admin_invalid_value", field=field) from None


@router.post("/admin/plots")
def add_plot(
    request: Request,
    session: SessionDep,
    principal: PageUser,
    farm_id: Annotated[str, Form()] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    crop: Annotated[str, Form(max_length=100)] = "",
    variety: Annotated[str, Form(max_length=100)] = "",
    area_m2: Annotated[str, Form(max_length=20)] = "",
    planting_date: Annotated[str, Form()] = "",
    expected_harvest: Annotated[str, Form()] = "",
    growing_area_code: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    principal.require(Role.coop_admin)
    form = {
        "farm_id": farm_id,
        "name": name,
        "crop": crop,
        "variety": variety,
        "area_m2": area_m2,
        "planting_date": planting_date,
        "expected_harvest": expected_harvest,
        "growing_area_code": growing_area_code,
    }
    if not farm_id.isdigit():
        return _plots_page(
            request,
            session,
            principal,
            plot_form=form,
            status=400,
            error=translate(
                "admin_required",
                page_locale(request, principal),
                field=translate("admin_plot_farm", page_locale(request, principal)),
            ),
        )
    farm = get_owned(session, Farm, int(farm_id), principal, "farm")  # another cooperative's farm: 404
    try:
        if not name.strip():
            raise _refuse("admin_required", field="admin_plot_name")
        if not crop.strip():
            raise _refuse("admin_required", field="crop")
        area = None
        if area_m2.strip():
            try:
                area = float(area_m2.replace(",", "."))
            except ValueError:
                raise _refuse("admin_invalid_value", field="admin_plot_area") from None
            if not 0 < area <= 1e8:
                raise _refuse("admin_invalid_value", field="admin_plot_area")
        planted = _date(planting_date, "admin_plot_planting")
        harvest = _date(expected_harvest, "admin_plot_harvest")
        if planted and harvest and harvest < planted:
            raise _refuse("admin_harvest_before_planting")
    except ApiError as exc:
        return _plots_page(
            request, session, principal, error=_reason(request, principal, exc), plot_form=form, status=exc.status
        )
    session.add(
        Plot(
            cooperative_id=principal.cooperative_id,
            farm_id=farm.id,
            name=name.strip(),
            crop=crop.strip(),
            variety=variety.strip() or None,
            area_m2=area,
            planting_date=planted,
            expected_harvest=harvest,
            growing_area_code=growing_area_code.strip() or None,
        )
    )
    session.commit()
    return RedirectResponse("/admin/plots?done=plot", status_code=303)


# union ----------------------------------------------------------------------------------------------------------


def union_cooperatives(session: Session, principal: Principal) -> tuple[Cooperative, list[Cooperative]]:
    principal.require(Role.union_admin)
    return union.cooperatives_of(session, principal.cooperative_id)


def _period(months: int | None) -> int:
    return months if months in PERIODS else 12


@router.get("/union")
def union_page(request: Request, session: SessionDep, principal: PageUser, months: int | None = None) -> Response:
    home, coops = union_cooperatives(session, principal)
    months = _period(months)
    stats = union.union_stats(session, [c.id for c in coops], months)
    names = {c.id: c.name for c in coops}
    pest_total = {c.id: 0 for c in coops}
    per_month = {c.id: dict.fromkeys(stats["months"], 0) for c in coops}
    for cid, _crop, month, _cls, n in stats["pests"]:
        pest_total[cid] += n
        per_month[cid][month] += n
    labels = [f"{m[5:]}/{m[:4]}" for m in stats["months"]]
    locale = page_locale(request, principal)
    chart = {
        "labels": labels,
        "datasets": [{"label": names[c.id], "data": list(per_month[c.id].values())} for c in coops],
        "y_title": translate("union_chart_y", locale),
        "x_title": translate("union_chart_x", locale),
    }
    rows = sorted(stats["pests"], key=lambda r: (names[r[0]], r[2], r[1], -r[4], r[3]))
    return render(
        request,
        "admin/union.html",
        principal,
        home=home,
        coops=coops,
        months=months,
        periods=PERIODS,
        stats=stats,
        pest_total=pest_total,
        chart=chart,
        levels=[lv.value for lv in union.LEVELS],
        rows=[
            {"coop": names[r[0]], "crop": r[1], "month": f"{r[2][5:]}/{r[2][:4]}", "class": r[3], "count": r[4]}
            for r in rows
        ],
        total_pests=sum(pest_total.values()),
        total_captures=sum(stats["captures"].get(c.id, 0) for c in coops),
    )


@router.get("/union/export.csv")
def union_export(request: Request, session: SessionDep, principal: PageUser, months: int | None = None) -> Response:
    """The pest table as CSV in the reader's language: translated headers, Vietnamese pest names and decimal commas
    for a Vietnamese reader (the class name stays in its own column, for joining)."""
    home, coops = union_cooperatives(session, principal)
    months = _period(months)
    stats = union.union_stats(session, [c.id for c in coops], months)
    names = {c.id: c.name for c in coops}
    locale = page_locale(request, principal)
    pests_vi = class_names_vi(request) if locale == "vi" else {}
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([translate(f"union_csv_{h}", locale) for h in CSV_HEADER])
    for cid, crop, month, cls, n in sorted(stats["pests"], key=lambda r: (names[r[0]], r[1], r[2], r[3])):
        w.writerow(
            [
                csv_cell(names[cid]),
                csv_cell(crop),
                f"{month[5:]}/{month[:4]}",
                csv_cell(pests_vi.get(cls, cls)),
                csv_cell(cls),
                fmt_number(n, locale),
            ]
        )
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", home.union_code or home.code).strip("-") or "union"
    filename = f"union-{slug}-{stats['months'][-1]}-{months}m.csv"
    return Response(
        ("\ufeff" + buf.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
