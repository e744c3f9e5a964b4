"""Notification channels from the UI: a cooperative admin or agronomist adds a Zalo OA, Telegram, e-mail or webhook
channel, sends a test message through it and disables it; the same checks as the API (``api.routers.channels``:
settings validated when saved, a webhook only towards public addresses)."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select

from api.deps import Principal, SessionDep, SettingsDep
from api.errors import ApiError
from api.routers.channels import MANAGERS, ChannelIn, create_channel, shared_channel_owned
from api.schemas import Id
from api.scoping import scoped
from api.web.render import render, translate
from api.web.session import PageUser, csrf_protect, page_locale
from cropwatch.alerts.notify import send_test
from cropwatch.core.enums import AlertLevel
from cropwatch.core.orm import Delivery, NotificationChannel

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
FORM_KINDS = ("zalo", "telegram", "email", "webhook")


def _rows(session, principal: Principal) -> list[dict]:
    channels = list(
        session.scalars(
            scoped(NotificationChannel, principal)
            .where(NotificationChannel.user_id.is_(None))
            .order_by(NotificationChannel.enabled.desc(), NotificationChannel.id)
        )
    )
    last = {
        cid: (status, at)
        for cid, status, at in session.execute(
            select(Delivery.channel_id, Delivery.status, func.max(Delivery.created_at))
            .where(Delivery.channel_id.in_([c.id for c in channels]))
            .group_by(Delivery.channel_id, Delivery.status)
        )
    }
    return [{"ch": c, "target": _target(c), "last": last.get(c.id)} for c in channels]


def _target(ch: NotificationChannel) -> str:
    """Where it goes, without its secrets: the address, the chat, the follower id or the receiver's host."""
    cfg = ch.config or {}
    if ch.kind == "email":
        return ", ".join(cfg.get("to", []))
    if ch.kind == "telegram":
        return str(cfg.get("chat_id", ""))
    if ch.kind == "zalo":
        return str(cfg.get("user_id", ""))
    if ch.kind == "webhook":
        return urlsplit(str(cfg.get("url", ""))).netloc
    return ""


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
    return render(
        request,
        "admin/channels.html",
        principal,
        status=status,
        rows=_rows(session, principal),
        kinds=FORM_KINDS,
        levels=[lv.value for lv in AlertLevel],
        error=error,
        typed=typed or {},
        done=done,
        tested=tested,
    )


def test_result(test: str | None) -> dict | None:
    """The outcome of a "Gửi thử" carried by the redirect (``sent|failed:<channel id>:<detail>``), or None."""
    if test and (m := re.fullmatch(r"(sent|failed):([0-9]{1,16}):([A-Za-z0-9_ .-]{0,60})", test)):
        return {"ok": m[1] == "sent", "channel_id": int(m[2]), "detail": m[3]}
    return None


@router.get("/admin/channels")
def channels_page(
    request: Request, session: SessionDep, principal: PageUser, done: str | None = None, test: str | None = None
) -> Response:
    principal.require(*MANAGERS)
    tested = test_result(test)
    return _page(
        request,
        session,
        principal,
        done="channel_saved" if done == "saved" else "channel_disabled" if done == "disabled" else None,
        tested=tested,
    )


def _config(
    kind: str, url: str, secret: str, to: str, bot_token: str, chat_id: str, access_token: str, user_id: str
) -> dict:
    if kind == "webhook":
        return {"url": url.strip(), "secret": secret}
    if kind == "email":
        return {"to": [a.strip() for a in to.replace(";", ",").split(",") if a.strip()]}
    if kind == "telegram":
        return {"bot_token": bot_token.strip(), "chat_id": chat_id.strip()}
    return {"access_token": access_token.strip(), "user_id": user_id.strip()}


@router.post("/admin/channels")
def add_channel(
    request: Request,
    session: SessionDep,
    principal: PageUser,
    settings: SettingsDep,
    kind: Annotated[str, Form(pattern="^(zalo|telegram|email|webhook)$")],
    name: Annotated[str, Form(max_length=200)] = "",
    min_level: Annotated[AlertLevel, Form()] = AlertLevel.warning,
    locale: Annotated[str, Form(pattern="^(vi|en)$")] = "vi",
    url: Annotated[str, Form(max_length=2000)] = "",
    secret: Annotated[str, Form(max_length=200)] = "",
    to: Annotated[str, Form(max_length=2000)] = "",
    bot_token: Annotated[str, Form(max_length=200)] = "",
    chat_id: Annotated[str, Form(max_length=100)] = "",
    access_token: Annotated[str, Form(max_length=2000)] = "",
    user_id: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    principal.require(*MANAGERS)
    config = _config(kind, url, secret, to, bot_token, chat_id, access_token, user_id)
    locale_page = page_locale(request, principal)
    # what was typed comes back with a refusal, secrets left out
    typed = {
        "kind": kind,
        "name": name,
        "min_level": min_level.value,
        "locale": locale,
        "url": url,
        "to": to,
        "chat_id": chat_id,
        "user_id": user_id,
    }
    try:
        body = ChannelIn(kind=kind, name=name, config=config, locale=locale, min_level=min_level)
        create_channel(session, principal, settings, body)
    except ApiError as exc:
        return _page(
            request,
            session,
            principal,
            status=exc.status,
            error=translate(exc.code, locale_page, **exc.params),
            typed=typed,
        )
    except ValidationError:
        return _page(
            request,
            session,
            principal,
            status=422,
            error=translate("channel_invalid", locale_page, reason=kind),
            typed=typed,
        )
    return RedirectResponse("/admin/channels?done=saved", status_code=303)


@router.post("/admin/channels/{channel_id}/test")
def test_channel(channel_id: Id, session: SessionDep, principal: PageUser, settings: SettingsDep) -> Response:
    """Send a test message now; the page says whether it went (the status code or a fixed error class)."""
    principal.require(*MANAGERS)
    ch = shared_channel_owned(session, channel_id, principal)
    outcome, error, code = send_test(ch, settings)
    result = "sent" if outcome == "sent" else "failed"
    detail = str(code) if outcome == "sent" and code else (error or "")
    return RedirectResponse(
        f"/admin/channels?test={result}:{ch.id}:{quote(detail[:60])}#channel-{ch.id}", status_code=303
    )


@router.post("/admin/channels/{channel_id}/disable")
def disable_channel(channel_id: Id, session: SessionDep, principal: PageUser) -> Response:
    principal.require(*MANAGERS)
    ch = shared_channel_owned(session, channel_id, principal)
    ch.enabled = False
    session.commit()
    return RedirectResponse("/admin/channels?done=disabled", status_code=303)
