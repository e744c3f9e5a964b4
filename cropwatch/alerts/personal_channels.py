"""A member links their own Zalo, Telegram or e-mail, and gets the alerts of the plots they see there.

The cooperative admin sets up the cooperative's Telegram bot or Zalo Official Account once (``/admin/channels``);
each member then gives only where the message goes: their Telegram chat id (from the bot's ``/start``), their Zalo
follower id (once they follow the OA) or their e-mail address. The bot token and the OA access token stay with the
cooperative's channel (cropwatch.alerts.notify.effective_config); a member's channel holds no secret. One channel per kind
per member: linking again replaces the address. Messages follow the member's language and the minimum level they
choose; their own quiet hours and daily digest hold the other alerts (never a danger one).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cropwatch.alerts.notify import RECIPIENT_KEYS, ChannelConfigError, shared_channel, validate_channel_config
from cropwatch.core.egress import EgressPolicy
from cropwatch.core.enums import AlertLevel
from cropwatch.core.i18n import Message
from cropwatch.core.orm import NotificationChannel

PERSONAL_KINDS = tuple(RECIPIENT_KEYS)
#: a stand-in for the cooperative's secret while the member's address is checked
_PLACEHOLDER = {"telegram": ("bot_token", "1:" + "x" * 30), "zalo": ("access_token", "x")}


class LinkRefused(ValueError):
    def __init__(self, message: Message) -> None:
        super().__init__(message.message_key)
        self.message = message


def own_channels(session: Session, cooperative_id: int, user_id: int) -> list[NotificationChannel]:
    return list(
        session.scalars(
            select(NotificationChannel)
            .where(NotificationChannel.cooperative_id == cooperative_id, NotificationChannel.user_id == user_id)
            .order_by(NotificationChannel.kind)
        )
    )


def available_kinds(session: Session, cooperative_id: int) -> dict[str, bool]:
    """{kind: whether a member can link it now}: Telegram and Zalo need the cooperative's bot or OA; e-mail the
    installation's SMTP server (always offered: the sender reports a missing server on the test)."""
    return {k: k == "email" or shared_channel(session, cooperative_id, k) is not None for k in PERSONAL_KINDS}


def link(
    session: Session,
    *,
    cooperative_id: int,
    user_id: int,
    kind: str,
    address: str,
    locale: str = "vi",
    min_level: AlertLevel = AlertLevel.warning,
    policy: EgressPolicy,
    quiet_hours: tuple[str, str] | None = None,
    daily_digest: str | None = None,
) -> NotificationChannel:
    """Create or replace ``user_id``'s own channel of ``kind``; :class:`LinkRefused` says why not. ``quiet_hours``
    ("21:00", "06:00") holds the member's non-danger alerts overnight; ``daily_digest`` ("18:00") sends them as one
    message a day at that time instead of one by one. A danger alert goes at once either way."""
    if kind not in PERSONAL_KINDS:
        raise LinkRefused(Message("personal_kind_refused", kinds=", ".join(PERSONAL_KINDS)))
    if not available_kinds(session, cooperative_id)[kind]:
        raise LinkRefused(Message("personal_needs_coop_channel", kind=kind))
    address = address.strip()
    key = RECIPIENT_KEYS[kind]
    config: dict = {key: [address] if kind == "email" else address}
    if quiet_hours:
        config["quiet_hours"] = {"start": quiet_hours[0], "end": quiet_hours[1]}
    if daily_digest:
        config["daily_digest"] = daily_digest
    check = dict(config)
    if kind in _PLACEHOLDER:
        secret, value = _PLACEHOLDER[kind]
        check[secret] = value
    try:
        validate_channel_config(kind, check, policy)
    except ChannelConfigError as exc:
        raise LinkRefused(exc.message) from None
    ch = session.scalar(
        select(NotificationChannel).where(
            NotificationChannel.cooperative_id == cooperative_id,
            NotificationChannel.user_id == user_id,
            NotificationChannel.kind == kind,
        )
    )
    if ch is None:
        ch = NotificationChannel(cooperative_id=cooperative_id, user_id=user_id, kind=kind)
        session.add(ch)
    ch.config, ch.locale, ch.min_level, ch.enabled, ch.name = config, locale, min_level, True, ""
    session.flush()
    return ch


def unlink(session: Session, *, cooperative_id: int, user_id: int, channel_id: int) -> bool:
    """Stop one's own channel (kept disabled: its delivery log stays). False if it is not theirs."""
    ch = session.get(NotificationChannel, channel_id)
    if ch is None or ch.cooperative_id != cooperative_id or ch.user_id != user_id:
        return False
    ch.enabled = False
    session.flush()
    return True
