from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from sqlalchemy import or_

from api.deps import CurrentUser, SessionDep
from api.errors import request_locale
from api.schemas import AlertOut, Id, ResolveIn, SnoozeIn, errors
from api.scoping import get_owned, scoped
from cropwatch.core.enums import AlertStatus, Role
from cropwatch.core.orm import Alert
from cropwatch.core.timeutil import utcnow

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], responses=errors(401))


def _out(alert: Alert, locale: str) -> AlertOut:
    data = {c: getattr(alert, c) for c in AlertOut.model_fields if c != "message"}
    return AlertOut(**data, message=alert.message_en if locale == "en" else alert.message_vi)


@router.get("", response_model=list[AlertOut])
def list_alerts(
    request: Request,
    session: SessionDep,
    principal: CurrentUser,
    status: AlertStatus | None = None,
    plot_id: Id | None = None,
    include_snoozed: bool = False,
) -> list[AlertOut]:
    q = scoped(Alert, principal)
    if not include_snoozed:
        q = q.where(or_(Alert.snoozed_until.is_(None), Alert.snoozed_until <= utcnow()))
    if status is not None:
        q = q.where(Alert.status == status)
    if plot_id is not None:
        q = q.where(Alert.plot_id == plot_id)
    locale = request_locale(request)
    return [_out(a, locale) for a in session.scalars(q.order_by(Alert.updated_at.desc()).limit(500))]


@router.get("/{alert_id}", response_model=AlertOut, responses=errors(404))
def get_alert(alert_id: Id, request: Request, session: SessionDep, principal: CurrentUser) -> AlertOut:
    return _out(get_owned(session, Alert, alert_id, principal, "alert"), request_locale(request))


@router.post("/{alert_id}/acknowledge", response_model=AlertOut, responses=errors(404))
def acknowledge(alert_id: Id, request: Request, session: SessionDep, principal: CurrentUser) -> AlertOut:
    """Say 'I have seen it' (any member of the cooperative)."""
    alert = get_owned(session, Alert, alert_id, principal, "alert")
    if alert.status == AlertStatus.open:
        alert.status, alert.acknowledged_by, alert.acknowledged_at = (
            AlertStatus.acknowledged,
            principal.user.id,
            utcnow(),
        )
        session.commit()
    return _out(alert, request_locale(request))


@router.post("/{alert_id}/snooze", response_model=AlertOut, responses=errors(400, 404))
def snooze(alert_id: Id, body: SnoozeIn, request: Request, session: SessionDep, principal: CurrentUser) -> AlertOut:
    """Hide the alert and hold its notifications for ``hours`` (any member of the cooperative)."""
    alert = get_owned(session, Alert, alert_id, principal, "alert")
    alert.snoozed_until = utcnow() + dt.timedelta(hours=body.hours)
    session.commit()
    return _out(alert, request_locale(request))


@router.post("/{alert_id}/resolve", response_model=AlertOut, responses=errors(400, 403, 404))
def resolve(alert_id: Id, body: ResolveIn, request: Request, session: SessionDep, principal: CurrentUser) -> AlertOut:
    """Close an alert with a reason (cooperative staff: agronomist or cooperative admin; farmers acknowledge)."""
    alert = get_owned(session, Alert, alert_id, principal, "alert")  # another cooperative's: 404, as everywhere
    principal.require(Role.agronomist, Role.coop_admin)
    if alert.status != AlertStatus.resolved:
        alert.status, alert.resolved_at, alert.resolution = AlertStatus.resolved, utcnow(), body.reason
        session.commit()
    return _out(alert, request_locale(request))
