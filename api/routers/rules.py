"""Alert rules of a cooperative: agronomists and admins read and change them; every member can read them."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import CurrentUser, SessionDep
from api.scoping import get_owned, scoped
from cropwatch.domain import AlertLevel, Role
from cropwatch.tables import AlertRule

router = APIRouter(prefix="/api/v1/alert-rules", tags=["alerts"])
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
    kind: str = Field(default="threshold", pattern="^(threshold|trend|silence|harvest_window)$")
    params: dict | None = Field(default=None, description='trend: {"rise_pct": 50}; silence: {"hours": 6}; '
                                                      'harvest_window: {"share": 0.3, "target": 0.8, "days": 7}')


class RulePatch(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    threshold: int | None = Field(default=None, ge=1, le=100000)
    level: AlertLevel | None = None
    min_score: float | None = Field(default=None, ge=0, le=1)
    cooldown_minutes: int | None = Field(default=None, ge=0, le=60 * 24 * 30)
    enabled: bool | None = None
    params: dict | None = None


class RuleOut(RuleIn):
    model_config = {"from_attributes": True}
    id: int


@router.get("", response_model=list[RuleOut])
def list_rules(session: SessionDep, principal: CurrentUser) -> list[AlertRule]:
    return list(session.scalars(scoped(AlertRule, principal).order_by(AlertRule.class_name, AlertRule.threshold)))


@router.post("", response_model=RuleOut, status_code=201)
def add_rule(body: RuleIn, session: SessionDep, principal: CurrentUser) -> AlertRule:
    principal.require(*EDITORS)
    rule = AlertRule(cooperative_id=principal.cooperative_id,
                     **(body.model_dump() | {"name": body.name or f"{body.class_name} ≥ {body.threshold}/ngày"}))
    session.add(rule)
    session.commit()
    return rule


@router.patch("/{rule_id}", response_model=RuleOut)
def change_rule(rule_id: int, body: RulePatch, session: SessionDep, principal: CurrentUser) -> AlertRule:
    """Change a rule (disable with ``enabled: false``; rules are never deleted, alerts keep pointing at them)."""
    principal.require(*EDITORS)
    rule = get_owned(session, AlertRule, rule_id, principal, "alert rule")
    for key, value in body.model_dump(exclude_unset=True).items():
        setattr(rule, key, value)
    session.commit()
    return rule
