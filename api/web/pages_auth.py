"""Sign in, sign out, language switch, the start page, and the images pages show (streamed through the app after
the same tenant check as the API, so a browser never needs to reach S3)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from api.deps import SessionDep, StorageDep, guard_login, login_succeeded
from api.schemas import Id
from api.scoping import get_owned
from api.web.render import HOME, render, translate
from api.web.session import (
    LANG_COOKIE,
    PageUser,
    csrf_protect,
    end_session,
    page_locale,
    principal_from_cookie,
    start_session,
)
from cropwatch.core.enums import CaptureStatus
from cropwatch.core.i18n import LOCALES
from cropwatch.core.orm import Capture, DiaryEntry, User
from cropwatch.core.security import password_matches
from cropwatch.core.timeutil import fmt_date
from cropwatch.diary import entries as diary

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])


def safe_next(value: str | None) -> str | None:
    """Only same-site paths: ``/x`` but not ``//evil.example`` or ``https://...``."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


@router.get("/")
def home(request: Request, session: SessionDep) -> Response:
    principal = principal_from_cookie(request, session)
    return RedirectResponse(HOME[principal.role] if principal else "/login", status_code=303)


@router.get("/login")
def login_page(request: Request, session: SessionDep, next: str | None = None, done: str | None = None) -> Response:
    principal = principal_from_cookie(request, session)
    if principal is not None:
        return RedirectResponse(safe_next(next) or HOME[principal.role], status_code=303)
    return render(
        request,
        "login.html",
        next=safe_next(next) or "",
        error=None,
        username="",
        done="reset_done" if done == "reset" else None,
    )


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form()] = "",
) -> Response:
    guard_login(request, username)
    user = session.scalar(select(User).where(User.username == username))
    if not password_matches(user, password) or not user.memberships:
        return render(
            request,
            "login.html",
            status=401,
            next=safe_next(next) or "",
            username=username,
            error=translate("bad_credentials", page_locale(request)),
            done=None,
        )
    login_succeeded(request, username)
    membership = sorted(user.memberships, key=lambda m: m.cooperative_id)[0]
    response = RedirectResponse(safe_next(next) or HOME[membership.role], status_code=303)
    start_session(request, response, session, user, membership.cooperative_id)
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep) -> Response:
    response = RedirectResponse("/login", status_code=303)
    end_session(request, response, session)
    return response


@router.get("/lang/{code}")
def switch_language(code: str, request: Request, session: SessionDep, next: str | None = None) -> Response:
    """Remember the language in a cookie and, for a signed-in user, in their profile."""
    response = RedirectResponse(safe_next(next) or "/", status_code=303)
    if code in LOCALES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="lax", path="/")
        principal = principal_from_cookie(request, session)
        if principal is not None and principal.user.locale != code:
            principal.user.locale = code
            session.commit()
    return response


def _image(storage, key: str, content_type: str) -> Response:
    return Response(
        storage.get_bytes(key),
        media_type=content_type,
        headers={"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/captures/{capture_id}/image")
def capture_image(capture_id: Id, session: SessionDep, principal: PageUser, storage: StorageDep) -> Response:
    cap = get_owned(session, Capture, capture_id, principal, "capture")
    if cap.status == CaptureStatus.pending:
        return Response(status_code=404)
    if cap.purged_at is not None:  # removed by the retention policy: say so, in the reader's language
        text = translate("capture_photo_removed", principal.user.locale or "vi", date=fmt_date(cap.purged_at))
        return Response(text, status_code=410, media_type="text/plain; charset=utf-8")
    return _image(storage, cap.object_key, cap.content_type)


@router.get("/diary/{entry_id}/photos/{index}")
def diary_photo(
    entry_id: Id,
    index: Annotated[int, PathParam(ge=0, le=999)],
    session: SessionDep,
    principal: PageUser,
    storage: StorageDep,
) -> Response:
    entry = get_owned(session, DiaryEntry, entry_id, principal, "diary entry")
    if not 0 <= index < len(entry.photo_keys or []):
        return Response(status_code=404)
    return _diary_image(storage, entry.photo_keys[index])


@router.get("/diary/{entry_id}/revisions/{revision}/photos/{index}")
def diary_revision_photo(
    entry_id: Id,
    revision: Annotated[int, PathParam(ge=1, le=100_000)],
    index: Annotated[int, PathParam(ge=0, le=999)],
    session: SessionDep,
    principal: PageUser,
    storage: StorageDep,
) -> Response:
    """A photo the entry held at ``revision``: one taken off later stays readable from the entry's history."""
    entry = get_owned(session, DiaryEntry, entry_id, principal, "diary entry")
    key = diary.revision_photo(session, entry, revision, index)
    return Response(status_code=404) if key is None else _diary_image(storage, key)


def _diary_image(storage, key: str) -> Response:
    ext = key.rsplit(".", 1)[-1].lower()
    return _image(storage, key, {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}.get(ext, "image/jpeg"))
