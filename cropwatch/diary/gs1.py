"""GS1 identifiers for a cooperative's products and lots: a GTIN's check digit, and the GS1 Digital Link URI a lot's
QR code carries (``https://{host}/01/{GTIN-14}/10/{lot}``: application identifier 01 the product, 10 the batch/lot),
which any GS1-aware scanner reads and CropWatch resolves to the lot's public page."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from cropwatch.core.orm import CropProfile, HarvestLot, Plot

_DIGITS = re.compile(r"^\d{8}$|^\d{12,14}$")


def check_digit(body: str) -> int:
    """GS1's mod-10 check digit of the digits before it (weights 3, 1, 3, … from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def normalize_gtin(value: str) -> str:
    """A GTIN-8, -12, -13 or -14 as its 14 digits; ValueError when it is not digits or its check digit is wrong."""
    value = value.strip()
    if not _DIGITS.match(value):
        raise ValueError("a GTIN has 8, 12, 13 or 14 digits")
    if check_digit(value[:-1]) != int(value[-1]):
        raise ValueError("the GTIN's check digit is wrong")
    return value.zfill(14)


def product_gtin(session: Session, lot: HarvestLot) -> str | None:
    """The GTIN of the lot's product: the cooperative's profile of the plot's crop and variety, else of the crop."""
    plot = session.get(Plot, lot.plot_id)
    rows = session.scalars(
        select(CropProfile).where(
            CropProfile.cooperative_id == lot.cooperative_id,
            CropProfile.crop == plot.crop,
            CropProfile.gtin.is_not(None),
        )
    ).all()
    exact = next((r for r in rows if plot.variety and r.variety == plot.variety), None)
    any_variety = next((r for r in rows if not r.variety), None)
    found = exact or any_variety
    return found.gtin if found else None


def digital_link(base_url: str, gtin: str, lot_code: str) -> str:
    return f"{base_url.rstrip('/')}/01/{gtin}/10/{lot_code}"
