"""Alert notifications: an outbox of deliveries, sent through small channel plugins with retries and a log.

When an alert opens (or rises to a new level) a ``Delivery`` row per enabled channel of the cooperative is written
in the same transaction, so a crash between "alert" and "message" loses nothing. ``deliver_due`` (Celery beat, every
few seconds) sends what is due: a retryable failure (network, 5xx, 429) is tried again with exponential backoff up
to ``notify_max_attempts``; a permanent one (4xx, bad settings) ends ``failed`` with the reason. Each send records
the attempt count, the last error and the response code.

Channels (each speaks the real protocol; base URLs are settings, so tests point them at local stand-in servers):
``webhook`` (JSON, HMAC-SHA256 signature over the body in ``X-CropWatch-Signature``), ``email`` (SMTP),
``telegram`` (Bot API ``sendMessage``), ``zalo`` (Official Account API v3 ``message/cs``), ``in_app`` (the alert
list itself: marked sent at once).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import smtplib
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cropwatch.core.egress import EgressPolicy, EgressRefused, check_url, post
from cropwatch.core.enums import AlertLevel
from cropwatch.core.i18n import Message, t
from cropwatch.core.orm import Alert, Delivery, NotificationChannel, Plot
from cropwatch.core.settings import Settings
from cropwatch.core.timeutil import utcnow

log = logging.getLogger(__name__)
LEVELS = {AlertLevel.watch: 0, AlertLevel.warning: 1, AlertLevel.danger: 2}
KINDS = ("in_app", "webhook", "email", "telegram", "zalo")


class DeliveryError(Exception):
    def __init__(self, message: str, *, retry: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.retry, self.code = retry, code


# -- the outbox -----------------------------------------------------------------------------------------------------


def _local(t: dt.datetime, tz: str) -> dt.datetime:
    return t.astimezone(ZoneInfo(tz))


def quiet_until(config: dict, now: dt.datetime, tz: str) -> dt.datetime | None:
    """End of the channel's quiet hours (``{"quiet_hours": {"start": "21:00", "end": "06:00"}}``, local time) when
    ``now`` falls inside them, else None. A danger alert is not held (see ``queue_deliveries``)."""
    q = config.get("quiet_hours")
    if not q:
        return None
    try:
        start, end = (dt.time.fromisoformat(q["start"]), dt.time.fromisoformat(q["end"]))
    except (KeyError, TypeError, ValueError, AttributeError):
        log.warning("ignoring invalid quiet_hours %r", q)  # rows saved before validation existed
        return None
    local = _local(now, tz)
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, end, tzinfo=ZoneInfo(tz)).astimezone(dt.timezone.utc)


def next_digest(config: dict, now: dt.datetime, tz: str) -> dt.datetime | None:
    """When the channel's daily digest goes next (``{"daily_digest": "18:00"}``, local time): today at that time if
    it is still to come, else tomorrow; moved to the end of the quiet hours when it falls inside them. None: the
    channel has no daily digest (alerts go at once)."""
    value = config.get("daily_digest")
    if not value:
        return None
    try:
        at = dt.time.fromisoformat(value)
    except (TypeError, ValueError):
        log.warning("ignoring invalid daily_digest %r", value)  # rows saved before validation existed
        return None
    local = _local(now, tz)
    day = local.date() if local.time() < at else local.date() + dt.timedelta(days=1)
    when = dt.datetime.combine(day, at, tzinfo=ZoneInfo(tz)).astimezone(dt.timezone.utc)
    return quiet_until(config, when, tz) or when


def _sent_today(session: Session, channel_id: int, now: dt.datetime, tz: str) -> int:
    local = _local(now, tz)
    start = dt.datetime.combine(local.date(), dt.time(0), tzinfo=ZoneInfo(tz)).astimezone(dt.timezone.utc)
    return (
        session.scalar(
            select(func.count(Delivery.id)).where(
                Delivery.channel_id == channel_id, Delivery.created_at >= start, Delivery.digest.is_(False)
            )
        )
        or 0
    )


def queue_deliveries(
    session: Session, alert: Alert, *, tz: str = "Asia/Ho_Chi_Minh", now: dt.datetime | None = None
) -> list[Delivery]:
    """Delivery rows for the cooperative's enabled channels whose minimum level the alert reaches (idempotent per
    alert, channel and level). A channel with a daily digest holds the alert for it; inside a channel's quiet
    hours, or past its ``max_per_day`` immediate messages, the delivery waits for the digest (sent as one message
    when the quiet hours end / the next morning); a `danger` alert is never held back."""
    now = now or utcnow()
    out = []
    for ch in session.scalars(
        select(NotificationChannel).where(
            NotificationChannel.cooperative_id == alert.cooperative_id, NotificationChannel.enabled.is_(True)
        )
    ):
        if LEVELS[alert.level] < LEVELS[ch.min_level]:
            continue
        if ch.user_id is not None and not reaches(session, ch, alert):
            continue  # a member's own channel: alerts of the plots they see, while they are a member
        exists = session.scalar(
            select(Delivery.id).where(
                Delivery.alert_id == alert.id, Delivery.channel_id == ch.id, Delivery.level == alert.level
            )
        )
        if exists is None:
            d = Delivery(
                cooperative_id=alert.cooperative_id,
                alert_id=alert.id,
                channel_id=ch.id,
                level=alert.level,
                next_attempt_at=now,
            )
            if alert.level != AlertLevel.danger and ch.kind != "in_app":
                held = next_digest(ch.config, now, tz) or quiet_until(ch.config, now, tz)
                cap = ch.config.get("max_per_day")
                cap = cap if isinstance(cap, int) and not isinstance(cap, bool) else None
                if held is None and cap is not None and _sent_today(session, ch.id, now, tz) >= cap:
                    tomorrow = _local(now, tz).date() + dt.timedelta(days=1)
                    held = dt.datetime.combine(tomorrow, dt.time(6), tzinfo=ZoneInfo(tz)).astimezone(dt.timezone.utc)
                if held is not None:
                    d.digest, d.next_attempt_at = True, held
            session.add(d)
            session.flush()
            out.append(d)
    return out


def payload(alert: Alert, plot: Plot, settings: Settings) -> dict[str, Any]:
    evidence = (
        f"{settings.public_base_url.rstrip('/')}/api/v1/captures/{alert.evidence_capture_id}"
        if alert.evidence_capture_id
        else None
    )
    return {
        "alert_id": alert.id,
        "level": alert.level.value,
        "status": alert.status.value,
        "plot": {"id": plot.id, "name": plot.name, "crop": plot.crop},
        "class_name": alert.class_name,
        "count": alert.count,
        "threshold": alert.threshold,
        "day": alert.local_day.isoformat(),
        "message_vi": alert.message_vi,
        "message_en": alert.message_en,
        "evidence_url": evidence,
    }


# -- a member's own channel ----------------------------------------------------------------------------------------

#: what a member's own channel holds: only where it goes (the cooperative's bot or OA sends it)
RECIPIENT_KEYS = {"telegram": "chat_id", "zalo": "user_id", "email": "to"}


def reaches(session: Session, ch: NotificationChannel, alert: Alert) -> bool:
    """Whether a member's own channel gets ``alert``: its owner is still an active member of the cooperative and
    sees the alert's plot (cropwatch.accounts.visibility)."""
    from cropwatch.accounts.visibility import sees_plot
    from cropwatch.core.orm import Membership, User

    m = session.scalar(
        select(Membership).where(Membership.user_id == ch.user_id, Membership.cooperative_id == ch.cooperative_id)
    )
    user = session.get(User, ch.user_id)
    if m is None or user is None or not user.is_active:
        return False
    return sees_plot(session, ch.cooperative_id, ch.user_id, m.role, alert.plot_id)


def shared_channel(session: Session, cooperative_id: int, kind: str) -> NotificationChannel | None:
    """The cooperative's own enabled channel of ``kind`` (its Telegram bot, its Zalo OA), oldest first."""
    return session.scalar(
        select(NotificationChannel)
        .where(
            NotificationChannel.cooperative_id == cooperative_id,
            NotificationChannel.kind == kind,
            NotificationChannel.user_id.is_(None),
            NotificationChannel.enabled.is_(True),
        )
        .order_by(NotificationChannel.id)
    )


def effective_config(session: Session, ch: NotificationChannel) -> dict:
    """What the sender needs for ``ch``: a cooperative channel's own settings; for a member's Telegram or Zalo, the
    cooperative's bot token or OA access token with the member's chat or follower id. Raises
    :class:`DeliveryError` (permanent) when the cooperative has no such channel any more."""
    config = dict(ch.config)
    if ch.user_id is None or ch.kind == "email":
        return config
    shared = shared_channel(session, ch.cooperative_id, ch.kind)
    if shared is None:
        raise DeliveryError("no_cooperative_channel", retry=False)
    secret = {"telegram": "bot_token", "zalo": "access_token"}[ch.kind]
    return {**config, secret: shared.config[secret]}


# -- channel settings -----------------------------------------------------------------------------------------------

REQUIRED = {
    "webhook": ("url", "secret"),
    "email": ("to",),
    "telegram": ("bot_token", "chat_id"),
    "zalo": ("access_token", "user_id"),
    "in_app": (),
}
OPTIONAL = ("quiet_hours", "max_per_day", "daily_digest")
_TELEGRAM_TOKEN = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$")
_TELEGRAM_CHAT = re.compile(r"^(-?[0-9]{1,20}|@[A-Za-z0-9_]{5,64})$")
_ZALO_ID = re.compile(r"^[0-9]{1,40}$")
_HH_MM = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")
_EMAIL = re.compile(r"^[^@\s<>,;]{1,64}@[^@\s<>,;]{1,255}$")


class ChannelConfigError(ValueError):
    """A channel's settings that could never work: ``str()`` says which key and why in English (logs, the API's
    ``detail_en``); ``message`` is the same in the reader's language (catalogue key ``channel_err_*``)."""

    def __init__(self, text: str, message_key: str = "channel_err_settings", **params: object) -> None:
        super().__init__(text)
        self.message = Message(message_key, **params)


def _time(value: Any, key: str) -> dt.time:
    if not isinstance(value, str):
        raise ChannelConfigError(f"quiet_hours.{key} must be a time like 21:00", "channel_err_quiet_time", key=key)
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        raise ChannelConfigError(
            f"quiet_hours.{key} must be a time like 21:00, not {value[:20]!r}", "channel_err_quiet_time", key=key
        ) from None


def validate_channel_config(kind: str, config: dict, policy: EgressPolicy) -> dict:
    """Check a channel's settings when it is saved, so the sender never meets a value it cannot use: required and
    known keys only, times, caps, addresses, and a webhook URL that :mod:`cropwatch.core.egress` allows. Returns the
    config to store."""
    if kind not in KINDS:
        raise ChannelConfigError(f"kind must be one of {', '.join(KINDS)}", "channel_err_kind", kinds=", ".join(KINDS))
    if not isinstance(config, dict):
        raise ChannelConfigError("config must be an object", "channel_err_object")
    unknown = sorted(set(config) - set(REQUIRED[kind]) - set(OPTIONAL))
    if unknown:
        raise ChannelConfigError(
            f"unknown config keys: {', '.join(unknown)[:200]}",
            "channel_err_unknown_keys",
            keys=", ".join(unknown)[:200],
        )
    missing = [k for k in REQUIRED[kind] if not config.get(k)]
    if missing:
        raise ChannelConfigError(
            f"{kind} needs {', '.join(missing)} in config", "channel_err_missing", keys=", ".join(missing)
        )
    for key in REQUIRED[kind]:
        if key != "to" and (
            not isinstance(config[key], str | int) or isinstance(config[key], bool) or len(str(config[key])) > 2000
        ):
            raise ChannelConfigError(f"config.{key} must be a short text", "channel_err_short_text", key=key)
    if "quiet_hours" in config:
        q = config["quiet_hours"]
        if not isinstance(q, dict) or set(q) != {"start", "end"}:
            raise ChannelConfigError(
                'quiet_hours must be {"start": "21:00", "end": "06:00"}', "channel_err_quiet_shape"
            )
        if _time(q["start"], "start") == _time(q["end"], "end"):
            raise ChannelConfigError("quiet_hours.start and quiet_hours.end must differ", "channel_err_quiet_same")
    if "daily_digest" in config:
        value = config["daily_digest"]
        if not isinstance(value, str) or not _HH_MM.fullmatch(value):
            raise ChannelConfigError("daily_digest must be a time like 18:00", "channel_err_digest_time")
    if "max_per_day" in config:
        cap = config["max_per_day"]
        if not isinstance(cap, int) or isinstance(cap, bool) or not 1 <= cap <= 1000:
            raise ChannelConfigError("max_per_day must be a whole number from 1 to 1000", "channel_err_max_per_day")
    if kind == "webhook":
        try:
            check_url(str(config["url"]), policy, unresolvable_ok=True)
        except EgressRefused as exc:
            raise ChannelConfigError(f"webhook url refused: {exc}", f"channel_err_webhook_{exc.reason}") from None
    elif kind == "email":
        to = config["to"]
        if (
            not isinstance(to, list)
            or not 1 <= len(to) <= 20
            or not all(isinstance(a, str) and _EMAIL.match(a) for a in to)
        ):
            raise ChannelConfigError(
                "email config.to must be a list of 1 to 20 e-mail addresses", "channel_err_email_to"
            )
    elif kind == "telegram":
        if not _TELEGRAM_TOKEN.match(str(config["bot_token"])):
            raise ChannelConfigError("telegram bot_token must look like 123456:ABC-DEF…", "channel_err_telegram_token")
        if not _TELEGRAM_CHAT.match(str(config["chat_id"])):
            raise ChannelConfigError("telegram chat_id must be a number or @channelname", "channel_err_telegram_chat")
    elif kind == "zalo" and not _ZALO_ID.match(str(config["user_id"])):
        raise ChannelConfigError("zalo user_id must be the follower's numeric id", "channel_err_zalo_user")
    return config


# -- channels -------------------------------------------------------------------------------------------------------


def _http_error(resp: httpx.Response) -> DeliveryError:
    """Only the status code is kept: a reply's body never reaches the delivery log (it could be anything the
    receiver, or a service it fronts, chose to say)."""
    retry = resp.status_code >= 500 or resp.status_code == 429
    return DeliveryError(f"HTTP {resp.status_code}", retry=retry, code=resp.status_code)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(config: dict, data: dict, text: str, *, delivery_id: int, settings: Settings) -> int:
    body = json.dumps(data, ensure_ascii=False, sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "X-CropWatch-Delivery": str(delivery_id),
        "X-CropWatch-Signature": sign(config["secret"], body),
        "User-Agent": "CropWatch",
    }
    resp = post(
        config["url"],
        content=body,
        headers=headers,
        timeout=settings.notify_timeout_seconds,
        policy=EgressPolicy.from_settings(settings),
    )
    if resp.status_code >= 300:
        raise _http_error(resp)
    return resp.status_code


def send_email(config: dict, data: dict, text: str, *, delivery_id: int, settings: Settings) -> int:
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join(config["to"])
    first = (text.splitlines() or [""])[0].split(". ")[0]
    msg["Subject"] = f"[CropWatch] {first[:120]}"
    msg["X-CropWatch-Delivery"] = str(delivery_id)
    msg.set_content(f"{text}\n\n{data['message_en']}\n\n{data.get('evidence_url') or ''}\n")
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.notify_timeout_seconds) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
        refused = smtp.send_message(msg)
    if refused:
        raise DeliveryError(f"refused recipients: {sorted(refused)}", retry=False)
    return 250


def send_telegram(config: dict, data: dict, text: str, *, delivery_id: int, settings: Settings) -> int:
    url = f"{settings.telegram_api_base.rstrip('/')}/bot{config['bot_token']}/sendMessage"
    resp = httpx.post(url, json={"chat_id": config["chat_id"], "text": text}, timeout=settings.notify_timeout_seconds)
    if resp.status_code >= 300:
        raise _http_error(resp)
    if not resp.json().get("ok", False):
        raise DeliveryError("Telegram answered ok=false", retry=False, code=resp.status_code)
    return resp.status_code


def send_zalo(config: dict, data: dict, text: str, *, delivery_id: int, settings: Settings) -> int:
    url = f"{settings.zalo_api_base.rstrip('/')}/v3.0/oa/message/cs"
    resp = httpx.post(
        url,
        headers={"access_token": config["access_token"]},
        json={"recipient": {"user_id": config["user_id"]}, "message": {"text": text}},
        timeout=settings.notify_timeout_seconds,
    )
    if resp.status_code >= 300:
        raise _http_error(resp)
    err = resp.json().get("error", 0)
    if err != 0:  # Zalo answers 200 with an error code in the body
        raise DeliveryError(f"Zalo error {int(err) if isinstance(err, int) else 'unknown'}", retry=err in (-32, -124))
    return resp.status_code


SENDERS = {"webhook": send_webhook, "email": send_email, "telegram": send_telegram, "zalo": send_zalo}


# -- sending --------------------------------------------------------------------------------------------------------


def deliver_due(sessions: sessionmaker[Session], settings: Settings, *, limit: int = 100) -> dict[str, int]:
    """Send the deliveries that are due; returns counts by outcome."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    with sessions() as s:
        due = s.execute(
            select(Delivery.id, Delivery.channel_id, Delivery.digest)
            .where(Delivery.status == "pending", Delivery.next_attempt_at <= utcnow())
            .order_by(Delivery.next_attempt_at)
            .limit(limit)
        ).all()
    digests: dict[int, list[int]] = {}
    for delivery_id, channel_id, digest in due:
        if digest:
            digests.setdefault(channel_id, []).append(delivery_id)
        else:
            counts[_guarded(sessions, settings, [delivery_id])] += 1
    for ids in digests.values():
        outcome = _guarded(sessions, settings, ids)
        counts[outcome] += len(ids)
    return counts


def _guarded(sessions: sessionmaker[Session], settings: Settings, ids: list[int]) -> str:
    """One delivery (or digest) whatever happens: an unexpected error uses an attempt and ends ``failed`` at the
    attempt limit, so one bad row can neither stop the tick nor be retried forever."""
    try:
        return _deliver_one(sessions, settings, ids[0], together=ids[1:])
    except Exception:
        log.exception("delivery %s could not be prepared", ids[0])
    outcome = "retry"
    with sessions.begin() as s:
        for d in (s.get(Delivery, i) for i in ids):
            if d is None or d.status != "pending":
                continue
            d.attempts += 1
            d.last_error = "internal_error"
            if d.attempts >= settings.notify_max_attempts:
                d.status, outcome = "failed", "failed"
            else:
                d.next_attempt_at = utcnow() + dt.timedelta(seconds=settings.notify_backoff_seconds)
    return outcome


def _deliver_one(
    sessions: sessionmaker[Session], settings: Settings, delivery_id: int, together: list[int] | None = None
) -> str:
    """Send one delivery, or (``together``) one digest message standing for several of the same channel."""
    ids = [delivery_id, *(together or [])]
    with sessions.begin() as s:
        rows = [s.get(Delivery, i, with_for_update=True) for i in ids]
        rows = [d for d in rows if d is not None and d.status == "pending" and _aware(d.next_attempt_at) <= utcnow()]
        now = utcnow()
        for row in rows:  # a snoozed alert's messages wait for the end of the snooze (no attempt is used)
            until = s.get(Alert, row.alert_id).snoozed_until
            if until is not None and _aware(until) > now:
                row.next_attempt_at = until
        rows = [d for d in rows if _aware(d.next_attempt_at) <= now]
        if not rows:
            return "retry"
        ids = [d.id for d in rows]
        d = rows[0]
        ch = s.get(NotificationChannel, d.channel_id)
        if not ch.enabled:  # disabled after the delivery was queued: never sent, never retried
            for row in rows:
                row.status, row.last_error = "failed", "channel_disabled"
            return "failed"
        items = []
        for row in rows:
            alert = s.get(Alert, row.alert_id)
            data = payload(alert, s.get(Plot, alert.plot_id), settings) | {"level": row.level.value}
            text = alert.message_vi if ch.locale == "vi" else alert.message_en
            items.append((data, f"{text} {data['evidence_url']}" if data["evidence_url"] else text))
        if len(items) == 1:
            data, text = items[0]
        else:
            head = t("digest_title", ch.locale, n=len(items))
            text = head + "\n" + "\n".join(f"- {x}" for _, x in items)
            data = {
                "digest": True,
                "alerts": [x for x, _ in items],
                "message_vi": t("digest_title", "vi", n=len(items)),
                "message_en": t("digest_title", "en", n=len(items)),
                "evidence_url": None,
            }
        kind = ch.kind
        try:
            config = effective_config(s, ch)
        except DeliveryError as exc:  # a member's channel whose cooperative bot or OA was removed
            for row in rows:
                row.status, row.last_error = "failed", str(exc)
            return "failed"
        for row in rows:
            row.attempts += 1
            # claim: push the next attempt out so a second sender leaves it alone while this one works
            row.next_attempt_at = utcnow() + dt.timedelta(seconds=settings.notify_timeout_seconds * 2)
        attempts = d.attempts
    outcome, error, code = send_classified(kind, config, data, text, delivery_id=delivery_id, settings=settings)
    if outcome == "retry" and attempts >= settings.notify_max_attempts:
        outcome = "failed"
    with sessions.begin() as s:
        for d in (s.get(Delivery, i) for i in ids):
            d.response_code, d.last_error = code, error
            if outcome == "sent":
                d.status, d.sent_at = "sent", utcnow()
            elif outcome == "failed":
                d.status = "failed"
            else:
                delay = min(settings.notify_backoff_max_seconds, settings.notify_backoff_seconds * 2 ** (attempts - 1))
                d.next_attempt_at = utcnow() + dt.timedelta(seconds=delay)
    if error:
        log.warning("delivery %s via %s: %s (%s)", delivery_id, kind, error, outcome)
    return outcome


def send_classified(
    kind: str, config: dict, data: dict, text: str, *, delivery_id: int, settings: Settings
) -> tuple[str, str | None, int | None]:
    """Send through the channel's kind; (outcome sent|retry|failed, a fixed error class or None, status code).
    Never a reply's body, never an exception: one class for refused, reset and unreachable (no port scanner)."""
    outcome, error, code = "sent", None, None
    try:
        if kind != "in_app":
            code = SENDERS[kind](config, data, text, delivery_id=delivery_id, settings=settings)
    except DeliveryError as exc:
        outcome, error, code = ("retry" if exc.retry else "failed"), str(exc), exc.code
    except EgressRefused as exc:
        outcome, error = "failed", exc.reason  # e.g. the name now resolves to a private address
    except httpx.TimeoutException:
        outcome, error = "retry", "timeout"
    except (httpx.HTTPError, OSError, smtplib.SMTPException):
        outcome, error = "retry", "connection_error"
    except Exception:
        log.exception("delivery %s via %s", delivery_id, kind)
        outcome, error = "failed", "channel_settings"
    return outcome, error, code


def send_test(
    channel: NotificationChannel, settings: Settings, session: Session | None = None
) -> tuple[str, str | None, int | None]:
    """A test message through a channel now ("Gửi thử" on the channels page, or a member's own channel on their
    notifications page, which needs ``session`` for the cooperative's bot), in the channel's language; the same
    classification as a real delivery. Nothing is written to the delivery log."""
    text = t("channel_test_message", channel.locale)
    data = {
        "test": True,
        "message_vi": t("channel_test_message", "vi"),
        "message_en": t("channel_test_message", "en"),
        "evidence_url": None,
        "cooperative_id": channel.cooperative_id,
    }
    try:
        config = effective_config(session, channel) if channel.user_id is not None else dict(channel.config)
    except DeliveryError as exc:
        return "failed", str(exc), None
    return send_classified(channel.kind, config, data, text, delivery_id=0, settings=settings)


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)
