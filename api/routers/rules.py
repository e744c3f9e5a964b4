"""Alert rules of a cooperative: agronomists and admins read and change them; every member can read them."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from api.deps import CurrentUser, SessionDep
from api.errors import ApiError
from api.schemas import Id, errors
from api.scoping import get_owned, scoped
from cropwatch.alerts.rule_text import SPECIAL_CLASSES, UnknownPest, resolve_pest, rule_label
from cropwatch.core.enums import AlertLevel, Role
from cropwatch.core.i18n import normalize_locale
from cropwatch.core.orm import AlertRule
from models import registry

router = APIRouter(prefix="/api/v1/alert-rules", tags=["alerts"], responses=errors(401))
EDITORS = (Role.agronomist, Role.coop_admin)


class RuleIn(BaseModel):
    name: str = Field(default="", max_length=200)
    crop: str | None = Field(default=None, max_length=100, description="None: every crop")
    class_name: str = Field(min_length=1, max_length=100)
    threshold: int = Field(ge=1, le=100000, description="detections per plot per local day")
    level: AlertLevel = AlertLevel.warning
    min_score: float = Field(default=0.25, ge=0, le=1)
    cooldown_minutes: int = Field(default=360, ge=0, le=60 * 24 * 30)
    enabled: bool = True
    kind: str = Field(default="threshold", pattern="^(threshold|trend|seasonal|silence|harvest_window)$")
    params: dict | None = Field(
        default=None,
        description='trend: {"rise_pct": 50}; seasonal: {"margin_pct": 0} (this week\'s daily mean above the median of '
        'the same ISO week in up to 5 earlier seasons, the threshold its minimum); silence: {"hours": 6}; '
        'harvest_window: {"share": 0.3, "target": 0.8, "days": 7}',
    )
    unit: str | None = Field(
        default=None,
        pattern="^(trap_day|sample)$",
        description="trap_day: new insects per trap per day; sample: the highest count in one "
        "photo of a garden camera; null: the plot's traps if it has any, else "
        "its cameras",
    )


class RulePatch(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    threshold: int | None = Field(default=None, ge=1, le=100000)
    level: AlertLevel | None = None
    min_score: float | None = Field(default=None, ge=0, le=1)
    cooldown_minutes: int | None = Field(default=None, ge=0, le=60 * 24 * 30)
    enabled: bool | None = None
    params: dict | None = None
    unit: str | None = Field(default=None, pattern="^(trap_day|sample)$")


# The same bounds as the rules page's form (api/web/pages_agronomist.py).
class _TrendParams(BaseModel):
    rise_pct: float = Field(default=50, ge=1, le=10000)


class _SeasonalParams(BaseModel):
    margin_pct: float = Field(default=0, ge=0, le=10000)


class _SilenceParams(BaseModel):
    hours: float = Field(default=6, gt=0, le=24 * 30)


class _HarvestWindowParams(BaseModel):
    share: float = Field(default=0.3, ge=0, le=1)
    target: float = Field(default=0.8, gt=0, le=1)
    days: int = Field(default=7, ge=1, le=90)


PARAMS = {
    "trend": _TrendParams,
    "seasonal": _SeasonalParams,
    "silence": _SilenceParams,
    "harvest_window": _HarvestWindowParams,
}


def _check_params(kind: str, params: dict | None) -> None:
    """The worker and the sweeper read these numbers (``float(...)``, a loop over ``days``, a timedelta of ``hours``):
    a string, a negative or a huge value stored here would break every later evaluation of the cooperative's rules
    (and the sweeper's, for every cooperative). 422 instead."""
    model = PARAMS.get(kind)
    if model is None or not params:
        return
    try:
        model.model_validate(params)
    except ValidationError as exc:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "params", *e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        ) from None


class RuleOut(RuleIn):
    model_config = {"from_attributes": True}
    id: int
    label: str = Field(
        default="",
        description="what the rule checks, in the caller's language, generated from "
        "the rule (and so following every change)",
    )


def _out(rule: AlertRule, principal, session) -> RuleOut:
    names = registry.production_classes(session, principal.cooperative_id)
    out = RuleOut.model_validate(rule, from_attributes=True).model_copy(
        update={"label": rule_label(rule, normalize_locale(principal.user.locale), names)}
    )
    return out


def normalize_rule(session, cooperative_id: int, *, kind: str, class_name: str, unit: str | None) -> str:
    """The class a new rule watches: silence and harvest-window rules have theirs; a pest rule's field may be the
    model's English class name or its Vietnamese name (with or without accents). Unknown names: 422 with the
    choices (with no production model at all the name is kept as typed). A unit belongs to pest threshold and
    trend rules only."""
    if kind in SPECIAL_CLASSES:
        if unit:
            raise ApiError(422, "rule_unit_mismatch", unit=unit)
        return SPECIAL_CLASSES[kind]
    classes = registry.production_classes(session, cooperative_id)
    if not classes:  # no model serves the cooperative yet: nothing to check the name against
        return class_name.strip()
    try:
        return resolve_pest(class_name, classes)
    except UnknownPest as exc:
        raise ApiError(422, exc.code, name=exc.name, known=", ".join(exc.known)) from None


@router.get("", response_model=list[RuleOut])
def list_rules(session: SessionDep, principal: CurrentUser) -> list[RuleOut]:
    rules = session.scalars(scoped(AlertRule, principal).order_by(AlertRule.class_name, AlertRule.threshold))
    return [_out(r, principal, session) for r in rules]


@router.post("", response_model=RuleOut, status_code=201, responses=errors(400, 403, 422))
def add_rule(body: RuleIn, session: SessionDep, principal: CurrentUser) -> RuleOut:
    """Add a rule. ``name`` is an optional note: what the rule checks is generated from it (``label``)."""
    principal.require(*EDITORS)
    _check_params(body.kind, body.params)
    class_name = normalize_rule(
        session, principal.cooperative_id, kind=body.kind, class_name=body.class_name, unit=body.unit
    )
    rule = AlertRule(cooperative_id=principal.cooperative_id, **(body.model_dump() | {"class_name": class_name}))
    session.add(rule)
    session.commit()
    return _out(rule, principal, session)


@router.patch("/{rule_id}", response_model=RuleOut, responses=errors(400, 403, 404, 422))
def change_rule(rule_id: Id, body: RulePatch, session: SessionDep, principal: CurrentUser) -> RuleOut:
    """Change a rule (disable with ``enabled: false``; rules are never deleted, alerts keep pointing at them)."""
    principal.require(*EDITORS)
    rule = get_owned(session, AlertRule, rule_id, principal, "alert rule")
    if "params" in body.model_fields_set:
        _check_params(rule.kind, body.params)
    if body.unit and rule.kind in SPECIAL_CLASSES:
        raise ApiError(422, "rule_unit_mismatch", unit=body.unit)
    for key, value in body.model_dump(exclude_unset=True).items():
        if value is None and key not in ("params", "unit"):  # null leaves a field as it is (params, unit: cleared)
            continue
        setattr(rule, key, value)
    session.commit()
    return _out(rule, principal, session)
