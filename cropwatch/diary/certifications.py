"""A cooperative's certificates (VietGAP, GlobalG.A.P., organic) and which of them a lot can show: the ones valid
on its harvest day that cover its crop (a certificate lists its crops; none listed: every crop)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cropwatch.core.orm import Certification

SCHEMES = ("vietgap", "globalgap", "organic", "other")
MAX_CROPS = 20


class CertificationRefused(ValueError):
    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code, self.params = code, params


def _crop(name: str) -> str:
    return " ".join(name.split()).lower()


def add(
    session: Session,
    *,
    cooperative_id: int,
    scheme: str,
    code: str,
    valid_until: dt.date,
    valid_from: dt.date | None = None,
    issued_by: str = "",
    crops: list[str] | None = None,
) -> Certification:
    """Record a certificate; :class:`CertificationRefused` says why not (unknown scheme, no code, a validity that
    ends before it starts, too many crops)."""
    if scheme not in SCHEMES:
        raise CertificationRefused("cert_bad_scheme", schemes=", ".join(SCHEMES))
    if not code.strip():
        raise CertificationRefused("cert_needs_code")
    if valid_from is not None and valid_until < valid_from:
        raise CertificationRefused("cert_ends_before_start")
    names = sorted({_crop(c) for c in crops or [] if c.strip()})
    if len(names) > MAX_CROPS:
        raise CertificationRefused("cert_too_many_crops", high=MAX_CROPS)
    cert = Certification(
        cooperative_id=cooperative_id,
        scheme=scheme,
        code=code.strip()[:100],
        issued_by=issued_by.strip()[:200],
        valid_from=valid_from,
        valid_until=valid_until,
        crops=names,
    )
    session.add(cert)
    session.flush()
    return cert


def of_cooperative(session: Session, cooperative_id: int) -> list[Certification]:
    return list(
        session.scalars(
            select(Certification)
            .where(Certification.cooperative_id == cooperative_id)
            .order_by(Certification.valid_until.desc(), Certification.id)
        )
    )


def valid_for(session: Session, cooperative_id: int, crop: str, day: dt.date) -> list[Certification]:
    """The certificates covering ``crop`` on ``day``."""
    return [
        c
        for c in of_cooperative(session, cooperative_id)
        if (c.valid_from is None or c.valid_from <= day)
        and day <= c.valid_until
        and (not c.crops or _crop(crop) in c.crops)
    ]


def public(certs: list[Certification]) -> list[dict[str, Any]]:
    """What a buyer sees of each: scheme, code, issuer, valid until (dd/mm/yyyy)."""
    from cropwatch.core.timeutil import fmt_date

    return [
        {"scheme": c.scheme, "code": c.code, "issued_by": c.issued_by, "valid_until": fmt_date(c.valid_until)}
        for c in certs
    ]
