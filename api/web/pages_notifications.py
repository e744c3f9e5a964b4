"""A member's own notifications (``/account/notifications``): link their Zalo, Telegram or e-mail, send themselves a
test, stop it. The rules are in :mod:`cropwatch.alerts.personal_channels`; the cooperative's bot and OA are set up by its
admin on ``/admin/channels``."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import Principal, SessionDep, SettingsDep
from api.errors import ApiError
from api.schemas import Id
from api.web.pages_channels import test_result
from api.web.render import render
from api.web.session import PageUser, csrf_protect, page_locale
from cropwatch.alerts.notify import RECIPIENT_KEYS, send_test
from cropwatch.alerts.personal_channels import LinkRefused, available_kinds, link, own_channels, unlink
from cropwatch.core.egress import EgressPolicy
from cropwatch.core.enums import AlertLevel, Role
from cropwatch.core.i18n import Message
from cropwatch.core.orm import NotificationChannel

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
#: who has alerts of their own to receive (the union admin reads statistics, not a cooperative's alerts)
RECEIVERS = (Role.member, Role.agronomist, Role.ml_engineer, Role.coop_admin)
DONE = {"linked": "personal_linked", "unlinked": "personal_unlinked"}


def _address(ch: NotificationChannel) -> str:
    value = (ch.config or {}).get(RECIPIENT_KEYS[ch.kind], "")
    return ", ".join(value) if isinstance(value, list) else str(value)


def _page(
    request: Request,
    session,
    principal: Principal,
    *,
    status: int = 200,
    error: str | None = None,
    typed: dict | None = None,
    done: str | None = None,
    tested: dict | None = None,
) -> Response:
    channels = own_channels(session, principal.cooperative_id, principal.user.id)
    return render(
        request,
        "notifications.html",
        principal,
        status=status,
        rows=[{"ch": c, "address": _address(c)} for c in channels if c.enabled],
        available=available_kinds(session, principal.cooperative_id),
        levels=[lv.value for lv in AlertLevel],
        error=error,
        typed=typed or {},
        done=done,
        tested=tested,
    )


@router.get("/account/notifications")
def notifications_page(
    request: Request, session: SessionDep, principal: PageUser, done: str | None = None, test: str | None = None
) -> Response:
    principal.require(*RECEIVERS)
    return _page(request, session, principal, done=DONE.get(done or ""), tested=test_result(test))


@router.post("/account/notifications")
def link_channel(
    request: Request,
    session: SessionDep,
    principal: PageUser,
    settings: SettingsDep,
    kind: Annotated[str, Form(pattern="^(zalo|telegram|email)$")],
    address: Annotated[str, Form(max_length=300)],
    min_level: Annotated[AlertLevel, Form()] = AlertLevel.warning,
    quiet_start: Annotated[str, Form(max_length=5)] = "",
    quiet_end: Annotated[str, Form(max_length=5)] = "",
    daily_digest: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    principal.require(*RECEIVERS)
    locale = page_locale(request, principal)
    typed = {
        "kind": kind,
        "address": address,
        "min_level": min_level.value,
        "quiet_start": quiet_start,
        "quiet_end": quiet_end,
        "daily_digest": daily_digest,
    }
    try:
        if bool(quiet_start.strip()) != bool(quiet_end.strip()):
            raise LinkRefused(Message("personal_quiet_both"))
        link(
            session,
            cooperative_id=principal.cooperative_id,
            user_id=principal.user.id,
            kind=kind,
            address=address,
            locale=locale,  # messages come in the language the member reads the app in
            min_level=min_level,
            policy=EgressPolicy.from_settings(settings),
            quiet_hours=(quiet_start.strip(), quiet_end.strip()) if quiet_start.strip() else None,
            daily_digest=daily_digest.strip() or None,
        )
    except LinkRefused as exc:
        session.rollback()
        return _page(request, session, principal, status=422, error=exc.message.localized(locale), typed=typed)
    session.commit()
    return RedirectResponse("/account/notifications?done=linked", status_code=303)


def _own(session, principal: Principal, channel_id: int) -> NotificationChannel:
    ch = session.get(NotificationChannel, channel_id)
    if ch is None or ch.cooperative_id != principal.cooperative_id or ch.user_id != principal.user.id:
        raise ApiError(404, "not_found", what="channel")
    return ch


@router.post("/account/notifications/{channel_id}/test")
def test_own_channel(channel_id: Id, session: SessionDep, principal: PageUser, settings: SettingsDep) -> Response:
    """A test message to oneself now, through the cooperative's bot or OA; the page says whether it went."""
    principal.require(*RECEIVERS)
    ch = _own(session, principal, channel_id)
    outcome, error, code = send_test(ch, settings, session)
    result = "sent" if outcome == "sent" else "failed"
    detail = str(code) if outcome == "sent" and code else (error or "")
    return RedirectResponse(f"/account/notifications?test={result}:{ch.id}:{quote(detail[:60])}", status_code=303)


@router.post("/account/notifications/{channel_id}/unlink")
def unlink_channel(channel_id: Id, session: SessionDep, principal: PageUser) -> Response:
    principal.require(*RECEIVERS)
    if not unlink(session, cooperative_id=principal.cooperative_id, user_id=principal.user.id, channel_id=channel_id):
        raise ApiError(404, "not_found", what="channel")
    session.commit()
    return RedirectResponse("/account/notifications?done=unlinked", status_code=303)
