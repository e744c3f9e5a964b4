"""A cooperative's certificates (VietGAP, GlobalG.A.P., organic): its staff read them, its admin records and removes
them; the public page of a lot shows those valid on its harvest day for its crop."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import CurrentUser, SessionDep
from api.errors import ApiError
from api.schemas import Day, Id, errors
from api.scoping import get_owned
from cropwatch.core.enums import Role
from cropwatch.core.orm import Certification
from cropwatch.diary import certifications

router = APIRouter(tags=["certifications"], responses=errors(401))


class CertificationIn(BaseModel):
    scheme: str = Field(description="vietgap | globalgap | organic | other")
    code: str = Field(max_length=100, description="the certificate's number")
    issued_by: str = Field(default="", max_length=200)
    valid_from: Day | None = None
    valid_until: Day
    crops: list[str] = Field(default_factory=list, max_length=certifications.MAX_CROPS, description="none: every crop")


class CertificationOut(BaseModel):
    model_config = {"from_attributes": True}
    id: int
    scheme: str
    code: str
    issued_by: str
    valid_from: dt.date | None
    valid_until: dt.date
    crops: list[str]


@router.get("/api/v1/certifications", response_model=list[CertificationOut])
def list_certifications(session: SessionDep, principal: CurrentUser) -> list[CertificationOut]:
    return [
        CertificationOut.model_validate(c) for c in certifications.of_cooperative(session, principal.cooperative_id)
    ]


@router.post(
    "/api/v1/certifications", response_model=CertificationOut, status_code=201, responses=errors(400, 403, 422)
)
def add_certification(body: CertificationIn, session: SessionDep, principal: CurrentUser) -> CertificationOut:
    """Record a certificate (cooperative admin); an unknown scheme, no number or a validity that ends before it
    starts: 422 with the reason."""
    principal.require(Role.coop_admin)
    try:
        cert = certifications.add(session, cooperative_id=principal.cooperative_id, **body.model_dump())
    except certifications.CertificationRefused as exc:
        session.rollback()
        raise ApiError(422, exc.code, **exc.params) from None
    session.commit()
    return CertificationOut.model_validate(cert)


@router.delete("/api/v1/certifications/{cert_id}", status_code=204, responses=errors(403, 404))
def delete_certification(cert_id: Id, session: SessionDep, principal: CurrentUser) -> Response:
    """Remove a certificate (cooperative admin); another cooperative's: 404."""
    principal.require(Role.coop_admin)
    session.delete(get_owned(session, Certification, cert_id, principal, "certification"))
    session.commit()
    return Response(status_code=204)
