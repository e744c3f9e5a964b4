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
import smtplib
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cropwatch.domain import AlertLevel
from cropwatch.settings import Settings
from cropwatch.tables import Alert, Delivery, NotificationChannel, Plot
from cropwatch.timeutil import utcnow

log = logging.getLogger(__name__)
LEVELS = {AlertLevel.watch: 0, AlertLevel.warning: 1, AlertLevel.danger: 2}
KINDS = ("in_app", "webhook", "email", "telegram", "zalo")


class DeliveryError(Exception):
    def __init__(self, message: str, *, retry: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.retry, self.code = retry, code


# -- the outbox -----------------------------------------------------------------------------------------------------

def queue_deliveries(session: Session, alert: Alert) -> list[Delivery]:
    """Delivery rows for the cooperative's enabled channels whose minimum level the alert reaches (idempotent per
    alert, channel and level)."""
    out = []
    for ch in session.scalars(select(NotificationChannel).where(
            NotificationChannel.cooperative_id == alert.cooperative_id, NotificationChannel.enabled.is_(True))):
        if LEVELS[alert.level] < LEVELS[ch.min_level]:
            continue
        exists = session.scalar(select(Delivery.id).where(Delivery.alert_id == alert.id, Delivery.channel_id == ch.id,
                                                          Delivery.level == alert.level))
        if exists is None:
            d = Delivery(cooperative_id=alert.cooperative_id, alert_id=alert.id, channel_id=ch.id, level=alert.level)
            session.add(d)
            out.append(d)
    return out


def payload(alert: Alert, plot: Plot, settings: Settings) -> dict[str, Any]:
    evidence = (f"{settings.public_base_url.rstrip('/')}/api/v1/captures/{alert.evidence_capture_id}"
                if alert.evidence_capture_id else None)
    return {"alert_id": alert.id, "level": alert.level.value, "status": alert.status.value,
            "plot": {"id": plot.id, "name": plot.name, "crop": plot.crop}, "class_name": alert.class_name,
            "count": alert.count, "threshold": alert.threshold, "day": alert.local_day.isoformat(),
            "message_vi": alert.message_vi, "message_en": alert.message_en, "evidence_url": evidence}


# -- channels -------------------------------------------------------------------------------------------------------

def _http_error(resp: httpx.Response) -> DeliveryError:
    retry = resp.status_code >= 500 or resp.status_code == 429
    return DeliveryError(f"HTTP {resp.status_code}: {resp.text[:200]}", retry=retry, code=resp.status_code)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(config: dict, data: dict, text: str, *, delivery_id: int, settings: Settings) -> int:
    body = json.dumps(data, ensure_ascii=False, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "X-CropWatch-Delivery": str(delivery_id),
               "X-CropWatch-Signature": sign(config["secret"], body), "User-Agent": "CropWatch"}
    resp = httpx.post(config["url"], content=body, headers=headers, timeout=settings.notify_timeout_seconds)
    if resp.status_code >= 300:
        raise _http_error(resp)
    return resp.status_code


def send_email(config: dict, data: dict, text: str, *, delivery_id: int, settings: Settings) -> int:
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join(config["to"])
    msg["Subject"] = f"[CropWatch] {text.split('.')[0]}"
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
    if resp.status_code >= 300 or not resp.json().get("ok", False):
        raise _http_error(resp)
    return resp.status_code


def send_zalo(config: dict, data: dict, text: str, *, delivery_id: int, settings: Settings) -> int:
    url = f"{settings.zalo_api_base.rstrip('/')}/v3.0/oa/message/cs"
    resp = httpx.post(url, headers={"access_token": config["access_token"]},
                      json={"recipient": {"user_id": config["user_id"]}, "message": {"text": text}},
                      timeout=settings.notify_timeout_seconds)
    if resp.status_code >= 300:
        raise _http_error(resp)
    err = resp.json().get("error", 0)
    if err != 0:  # Zalo answers 200 with an error code in the body
        raise DeliveryError(f"Zalo error {err}: {resp.json().get('message')}", retry=err in (-32, -124))
    return resp.status_code


SENDERS = {"webhook": send_webhook, "email": send_email, "telegram": send_telegram, "zalo": send_zalo}


# -- sending --------------------------------------------------------------------------------------------------------

def deliver_due(sessions: sessionmaker[Session], settings: Settings, *, limit: int = 100) -> dict[str, int]:
    """Send the deliveries that are due; returns counts by outcome."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    with sessions() as s:
        due = list(s.scalars(select(Delivery.id).where(Delivery.status == "pending",
                                                       Delivery.next_attempt_at <= utcnow())
                             .order_by(Delivery.next_attempt_at).limit(limit)))
    for delivery_id in due:
        counts[_deliver_one(sessions, settings, delivery_id)] += 1
    return counts


def _deliver_one(sessions: sessionmaker[Session], settings: Settings, delivery_id: int) -> str:
    with sessions.begin() as s:
        d = s.get(Delivery, delivery_id, with_for_update=True)
        if d is None or d.status != "pending" or _aware(d.next_attempt_at) > utcnow():
            return "retry"
        ch = s.get(NotificationChannel, d.channel_id)
        alert = s.get(Alert, d.alert_id)
        data = payload(alert, s.get(Plot, alert.plot_id), settings)
        text = alert.message_vi if ch.locale == "vi" else alert.message_en
        if data["evidence_url"]:
            text = f"{text} {data['evidence_url']}"
        kind, config = ch.kind, dict(ch.config)
        d.attempts += 1
        # claim: push the next attempt out so a second sender leaves it alone while this one works
        d.next_attempt_at = utcnow() + dt.timedelta(seconds=settings.notify_timeout_seconds * 2)
        attempts = d.attempts
    outcome, error, code = "sent", None, None
    try:
        if kind != "in_app":
            code = SENDERS[kind](config, data, text, delivery_id=delivery_id, settings=settings)
    except DeliveryError as exc:
        outcome, error, code = ("retry" if exc.retry else "failed"), str(exc), exc.code
    except (httpx.HTTPError, OSError, smtplib.SMTPException) as exc:
        outcome, error = "retry", f"{exc.__class__.__name__}: {exc}"
    except (KeyError, TypeError, ValueError) as exc:
        outcome, error = "failed", f"channel settings: {exc}"
    if outcome == "retry" and attempts >= settings.notify_max_attempts:
        outcome = "failed"
    with sessions.begin() as s:
        d = s.get(Delivery, delivery_id)
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


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


__all__ = ["KINDS", "DeliveryError", "IntegrityError", "deliver_due", "queue_deliveries", "sign"]
