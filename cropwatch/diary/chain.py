"""The chain after harvest: a lot's steps (sơ chế, đóng gói, bảo quản, vận chuyển, nhận hàng) and their EPCIS 2.0
export.

Several lots of one crop merge into one (``merge``: members' harvests commingled at the packhouse, before any step
but storage); the merged lot's chain starts with its sources' steps and the merge.

Order: pre-processing (at most once) → packing (once) → storage (any number of times, before shipment) → shipment
(once, to a named buyer) → receipt (once, after shipment). A step out of that order (shipped before packed), earlier
than the step before it, before the harvest or in the future, or packing more than the lot weighs, is refused with
a reason (:class:`ChainRefused`, an i18n key).

EPCIS 2.0 JSON-LD (``epcis_document``): the harvest is an ObjectEvent ``ADD`` (bizStep ``commissioning``),
pre-processing a TransformationEvent (the harvested kg in, the pre-processed kg out), packing an AggregationEvent
``ADD`` (the lot's kg into its packages, bizStep ``packing``), storage, shipment and receipt ObjectEvents
``OBSERVE`` (``storing``, ``shipping`` with disposition ``in_transit`` and the buyer as destination, ``receiving``),
a merge a TransformationEvent (each source lot's kg in, the merged lot's kg out, bizStep ``creating_class_instance``).
The lot is identified by its public URL (``…/t/{code}``), its places by the plot's growing-area code or the typed
place, in the ``urn:cropwatch:`` namespace: a cooperative without GS1 company prefix has no GLN or GTIN to give.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cropwatch.core.i18n import Message, Number
from cropwatch.core.orm import Cooperative, HarvestLot, LotEvent, LotSource, Plot
from cropwatch.core.timeutil import LOCAL_TZ, local_day_bounds, utcnow

KINDS = ("preprocessing", "packing", "storage", "shipment", "receipt")
ONCE = {"preprocessing", "packing", "shipment", "receipt"}
RANK = {k: i for i, k in enumerate(KINDS)}
EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
#: how far in the future a step's time may be (a phone's clock a little ahead)
CLOCK_SLACK = dt.timedelta(minutes=10)


class ChainRefused(ValueError):
    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code, self.params = code, params


def events(session: Session, lot_id: int) -> list[LotEvent]:
    return list(
        session.scalars(select(LotEvent).where(LotEvent.lot_id == lot_id).order_by(LotEvent.occurred_at, LotEvent.id))
    )


def history(session: Session, lot: HarvestLot) -> list[LotEvent]:
    """The lot's steps in order; a package's start with the steps of the lot it was split from."""
    inherited = events(session, lot.parent_lot_id) if lot.parent_lot_id else []
    return sorted(inherited + events(session, lot.id), key=lambda e: (_aware(e.occurred_at), e.id))


def _clean(kind: str, details: dict[str, Any], lot: HarvestLot) -> dict[str, Any]:
    """The step's details, checked: packages × kg per package within the lot; a buyer for a shipment."""
    out: dict[str, Any] = {}
    if kind == "preprocessing":
        kg = details.get("output_kg")
        if kg is not None:
            if not isinstance(kg, int | float) or isinstance(kg, bool) or kg <= 0:
                raise ChainRefused("chain_bad_number", field="output_kg")
            if lot.unit == "kg" and kg > lot.quantity:
                raise ChainRefused("chain_more_than_lot", kg=Number(kg), lot=Number(lot.quantity))
            out["output_kg"] = float(kg)
    if kind == "packing":
        n, each = details.get("packages"), details.get("package_kg")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ChainRefused("chain_bad_number", field="packages")
        if not isinstance(each, int | float) or isinstance(each, bool) or each <= 0:
            raise ChainRefused("chain_bad_number", field="package_kg")
        if lot.unit == "kg" and n * each > lot.quantity + 1e-9:
            raise ChainRefused("chain_more_than_lot", kg=Number(n * each, 2), lot=Number(lot.quantity))
        out |= {"packages": n, "package_kg": float(each), "package_type": str(details.get("package_type", ""))[:100]}
    if kind == "storage" and details.get("temperature_c") is not None:
        temp = details["temperature_c"]
        if not isinstance(temp, int | float) or isinstance(temp, bool) or not -40 <= temp <= 60:
            raise ChainRefused("chain_bad_number", field="temperature_c")
        out["temperature_c"] = float(temp)
    if kind == "shipment":
        buyer = str(details.get("buyer", "")).strip()
        if not buyer:
            raise ChainRefused("chain_needs_buyer")
        out |= {"buyer": buyer[:200], "vehicle": str(details.get("vehicle", "")).strip()[:50]}
    return out


def add_event(
    session: Session,
    *,
    lot: HarvestLot,
    kind: str,
    occurred_at: dt.datetime,
    place: str = "",
    details: dict[str, Any] | None = None,
    user_id: int | None = None,
) -> LotEvent:
    """Record a step of ``lot``'s chain; :class:`ChainRefused` says why not."""
    if kind not in KINDS:
        raise ChainRefused("chain_bad_kind", kinds=", ".join(KINDS))
    if occurred_at.tzinfo is None:
        raise ChainRefused("chain_bad_time")
    if occurred_at < local_day_bounds(lot.harvested_on)[0]:
        raise ChainRefused("chain_before_harvest")
    if occurred_at > utcnow() + CLOCK_SLACK:
        raise ChainRefused("chain_in_future")
    if merged_into(session, lot) is not None:
        raise ChainRefused("chain_merged_already")
    done = history(session, lot)  # a package packed with its lot can be shipped on its own
    kinds = {e.kind for e in done}
    if kind in ONCE and kind in kinds:
        raise ChainRefused("chain_twice", step=Message(f"chain_step_{kind}"))
    later = [e for e in done if RANK[e.kind] > RANK[kind]]
    if later:
        raise ChainRefused(
            "chain_out_of_order", step=Message(f"chain_step_{kind}"), after=Message(f"chain_step_{later[0].kind}")
        )
    if kind == "shipment" and "packing" not in kinds:
        raise ChainRefused("chain_ship_before_pack")
    if kind == "receipt" and "shipment" not in kinds:
        raise ChainRefused("chain_receive_before_ship")
    times = [_aware(e.occurred_at) for e in done]
    merged = sources(session, lot)
    if merged:  # a merged lot's steps come after its merge
        times.append(_aware(merged[0][0].merged_at))
    if times and occurred_at < max(times):
        raise ChainRefused("chain_earlier_than_last")
    ev = LotEvent(
        cooperative_id=lot.cooperative_id,
        lot_id=lot.id,
        kind=kind,
        occurred_at=occurred_at,
        place=place.strip()[:200],
        details=_clean(kind, details or {}, lot),
        created_by=user_id,
    )
    session.add(ev)
    session.flush()
    return ev


MAX_PACKAGES = 500


def split(
    session: Session, *, lot: HarvestLot, packages_kg: list[float], user_id: int | None = None
) -> list[HarvestLot]:
    """Split ``lot`` into packages, each a lot of its own (its own public code and QR) whose history is the lot's
    diary and chain. Refused: a package split again, a lot split twice, packages weighing more than the lot, no or
    too many packages, a weight that is not positive."""
    import secrets

    if lot.parent_lot_id is not None:
        raise ChainRefused("chain_split_package")
    if merged_into(session, lot) is not None:
        raise ChainRefused("chain_merged_already")
    if session.scalar(select(HarvestLot.id).where(HarvestLot.parent_lot_id == lot.id).limit(1)) is not None:
        raise ChainRefused("chain_split_twice")
    if not 1 <= len(packages_kg) <= MAX_PACKAGES:
        raise ChainRefused("chain_split_count", high=MAX_PACKAGES)
    if any(not isinstance(kg, int | float) or isinstance(kg, bool) or kg <= 0 for kg in packages_kg):
        raise ChainRefused("chain_bad_number", field="packages_kg")
    total = round(sum(packages_kg), 3)
    if lot.unit == "kg" and total > lot.quantity + 1e-9:
        raise ChainRefused("chain_more_than_lot", kg=Number(total, 2), lot=Number(lot.quantity))
    made = []
    for kg in packages_kg:
        child = HarvestLot(
            cooperative_id=lot.cooperative_id,
            plot_id=lot.plot_id,
            public_code=secrets.token_urlsafe(16),
            harvested_on=lot.harvested_on,
            quantity=float(kg),
            unit=lot.unit,
            ripeness_grade=lot.ripeness_grade,
            parent_lot_id=lot.id,
            created_by=user_id,
        )
        session.add(child)
        made.append(child)
    session.flush()
    return made


MAX_MERGE = 50
#: the only step a lot may have had before it is merged (cold store overnight at the collection point)
MERGEABLE_STEPS = {"storage"}


def merged_into(session: Session, lot: HarvestLot) -> int | None:
    """The id of the lot ``lot`` was merged into, if it was."""
    return session.scalar(select(LotSource.lot_id).where(LotSource.source_lot_id == lot.id))


def sources(session: Session, lot: HarvestLot) -> list[tuple[LotSource, HarvestLot]]:
    """The lots merged into ``lot`` (a package: into the lot it was split from; empty for a lot that is not a
    merge), heaviest first."""
    root = lot.parent_lot_id or lot.id
    rows = session.execute(
        select(LotSource, HarvestLot)
        .join(HarvestLot, HarvestLot.id == LotSource.source_lot_id)
        .where(LotSource.lot_id == root)
        .order_by(LotSource.quantity.desc(), LotSource.id)
    )
    return [(s, src) for s, src in rows]


def merge(
    session: Session,
    *,
    lots: list[HarvestLot],
    occurred_at: dt.datetime,
    place: str = "",
    user_id: int | None = None,
) -> HarvestLot:
    """Merge ``lots`` (one cooperative's, one crop, one unit) into a new lot with its own code and QR, weighing
    their sum; its plot is the heaviest source's, its harvest day the latest. Refused (:class:`ChainRefused`): fewer
    than two or the same lot twice, crops or units that differ, a lot merged, split or a package already, a lot with
    a step other than storage, a merged lot (merge its sources instead), a time before a source's last step or
    harvest, or in the future."""
    import secrets

    if not 2 <= len(lots) <= MAX_MERGE or len({lot.id for lot in lots}) != len(lots):
        raise ChainRefused("chain_merge_count", high=MAX_MERGE)
    if occurred_at.tzinfo is None:
        raise ChainRefused("chain_bad_time")
    if occurred_at > utcnow() + CLOCK_SLACK:
        raise ChainRefused("chain_in_future")
    plots = {p.id: p for p in session.scalars(select(Plot).where(Plot.id.in_({lot.plot_id for lot in lots})))}
    if len({(plots[lot.plot_id].crop or "").strip().lower() for lot in lots}) != 1:
        raise ChainRefused("chain_merge_crops")
    if len({lot.unit for lot in lots}) != 1:
        raise ChainRefused("chain_merge_units")
    for lot in lots:
        if lot.parent_lot_id is not None:
            raise ChainRefused("chain_merge_package")
        if merged_into(session, lot) is not None:
            raise ChainRefused("chain_merged_already")
        if session.scalar(select(LotSource.id).where(LotSource.lot_id == lot.id).limit(1)) is not None:
            raise ChainRefused("chain_merge_merged")  # its sources would hide behind it; merge them instead
        if session.scalar(select(HarvestLot.id).where(HarvestLot.parent_lot_id == lot.id).limit(1)) is not None:
            raise ChainRefused("chain_split_twice")
        done = history(session, lot)
        step = next((e.kind for e in done if e.kind not in MERGEABLE_STEPS), None)
        if step is not None:
            raise ChainRefused("chain_merge_after_step", step=Message(f"chain_step_{step}"))
        if occurred_at < local_day_bounds(lot.harvested_on)[0]:
            raise ChainRefused("chain_before_harvest")
        if done and occurred_at < _aware(done[-1].occurred_at):
            raise ChainRefused("chain_earlier_than_last")
    heaviest = max(lots, key=lambda lot: (lot.quantity, -lot.id))
    grades = {lot.ripeness_grade for lot in lots}
    merged = HarvestLot(
        cooperative_id=heaviest.cooperative_id,
        plot_id=heaviest.plot_id,
        public_code=secrets.token_urlsafe(16),
        harvested_on=max(lot.harvested_on for lot in lots),
        quantity=round(sum(lot.quantity for lot in lots), 3),
        unit=heaviest.unit,
        ripeness_grade=grades.pop() if len(grades) == 1 else None,
        created_by=user_id,
    )
    session.add(merged)
    session.flush()
    for lot in lots:
        session.add(
            LotSource(
                cooperative_id=merged.cooperative_id,
                lot_id=merged.id,
                source_lot_id=lot.id,
                quantity=lot.quantity,
                merged_at=occurred_at,
                place=place.strip()[:200],
                created_by=user_id,
            )
        )
    session.flush()
    return merged


def full_history(
    session: Session, lot: HarvestLot, reader: ChainReader | None = None
) -> list[tuple[str, Any, HarvestLot]]:
    """What the public page and the export show, in order, as ``(kind, item, whose)``: a merged lot's sources'
    steps (``"event"``, their LotEvent, the source lot), the merge (``"merge"``, ``[(LotSource, lot), …]``, the
    lot), then the lot's own steps (a package's: its lot's too). ``reader``: the rows read already for many lots
    (:class:`ChainReader`), else a few queries for this one."""
    read_sources = reader.sources if reader else (lambda x: sources(session, x))
    read_history = reader.history if reader else (lambda x: history(session, x))
    items: list[tuple[dt.datetime, int, str, Any, HarvestLot]] = []
    merged = read_sources(lot)
    for _, src in merged:
        items += [(_aware(e.occurred_at), 0, "event", e, src) for e in read_history(src)]
    if merged:
        items.append((_aware(merged[0][0].merged_at), 1, "merge", merged, lot))
    items += [(_aware(e.occurred_at), 2, "event", e, lot) for e in read_history(lot)]
    items.sort(key=lambda i: (i[0], i[1]))
    return [(kind, obj, whose) for _, _, kind, obj, whose in items]


class ChainReader:
    """The merge links and the steps of many lots (their parents and sources included) read in two queries, for a
    page that shows a chain per lot (the lots page lists up to 300): the same answers as :func:`sources` and
    :func:`history`, without two or three queries per lot."""

    def __init__(self, session: Session, lots: list[HarvestLot]) -> None:
        roots = {lot.parent_lot_id or lot.id for lot in lots}
        self._sources: dict[int, list[tuple[LotSource, HarvestLot]]] = defaultdict(list)
        if roots:
            for link, src in session.execute(
                select(LotSource, HarvestLot)
                .join(HarvestLot, HarvestLot.id == LotSource.source_lot_id)
                .where(LotSource.lot_id.in_(roots))
                .order_by(LotSource.quantity.desc(), LotSource.id)
            ):
                self._sources[link.lot_id].append((link, src))
        related = [src for links in self._sources.values() for _, src in links] + list(lots)
        ids = {x.id for x in related} | {x.parent_lot_id for x in related if x.parent_lot_id}
        self._events: dict[int, list[LotEvent]] = defaultdict(list)
        if ids:
            for e in session.scalars(
                select(LotEvent).where(LotEvent.lot_id.in_(ids)).order_by(LotEvent.occurred_at, LotEvent.id)
            ):
                self._events[e.lot_id].append(e)

    def sources(self, lot: HarvestLot) -> list[tuple[LotSource, HarvestLot]]:
        return list(self._sources.get(lot.parent_lot_id or lot.id, []))

    def history(self, lot: HarvestLot) -> list[LotEvent]:
        inherited = self._events.get(lot.parent_lot_id, []) if lot.parent_lot_id else []
        return sorted(inherited + self._events.get(lot.id, []), key=lambda e: (_aware(e.occurred_at), e.id))


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _urn(kind: str, value: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", value.strip()).strip("-") or "unknown"
    return f"urn:cropwatch:{kind}:{slug}"


def _when(t: dt.datetime) -> dict[str, str]:
    local = _aware(t).astimezone(LOCAL_TZ)
    return {"eventTime": local.isoformat(timespec="seconds"), "eventTimeZoneOffset": local.strftime("%z")[:3] + ":00"}


def _event_id(body: dict, tag: str) -> str:
    """A stable event id from the event's content and the record it comes from (``tag``: two identical storage
    steps are two events); EPCIS allows any URI, a hash is what CBV 2.0 suggests."""
    digest = hashlib.sha256(json.dumps([body, tag], sort_keys=True, default=str).encode()).hexdigest()
    return f"ni:///sha-256;{digest}?ver=CBV2.0"


#: UN/ECE Recommendation 20 codes EPCIS wants as ``uom``; any other unit (bao, thùng) is a count, without ``uom``
UOM = {"kg": "KGM", "t": "TNE", "tấn": "TNE", "g": "GRM"}


def _qty(uri: str, quantity: float, unit: str) -> dict[str, Any]:
    out: dict[str, Any] = {"epcClass": uri, "quantity": quantity}
    if unit.strip().lower() in UOM:
        out["uom"] = UOM[unit.strip().lower()]
    return out


def _farm_place(session: Session, lot: HarvestLot) -> str:
    plot = session.get(Plot, lot.plot_id)
    coop = session.get(Cooperative, lot.cooperative_id)
    return _urn("growing-area", plot.growing_area_code or f"{coop.code}-{plot.id}")


def _harvest_event(session: Session, lot: HarvestLot, uri: str) -> dict[str, Any]:
    """The harvest, at noon of its day (a lot records no hour), or at its first step if that came earlier."""
    farm = _farm_place(session, lot)
    steps = history(session, lot)
    noon = dt.datetime.combine(lot.harvested_on, dt.time(12), LOCAL_TZ)
    merged_at = session.scalar(select(LotSource.merged_at).where(LotSource.source_lot_id == lot.id))
    firsts = [_aware(e.occurred_at) for e in steps[:1]] + ([_aware(merged_at)] if merged_at else [])
    return {
        "type": "ObjectEvent",
        **_when(min([noon, *firsts])),
        "action": "ADD",
        "quantityList": [_qty(uri, lot.quantity, lot.unit)],
        "bizStep": "commissioning",
        "disposition": "active",
        "readPoint": {"id": farm},
        "bizLocation": {"id": farm},
    }


def _step_event(e: LotEvent, lot: HarvestLot, uri: str, farm_place: str) -> dict[str, Any]:
    qty = [_qty(uri, lot.quantity, lot.unit)]
    place = {"id": _urn("place", e.place)} if e.place else {"id": farm_place}
    if e.kind == "preprocessing":
        return {
            "type": "TransformationEvent",
            **_when(e.occurred_at),
            "inputQuantityList": qty,
            "outputQuantityList": [
                _qty(uri, e.details["output_kg"], "kg")
                if "output_kg" in e.details
                else _qty(uri, lot.quantity, lot.unit)
            ],
            "bizStep": "commissioning",
            "disposition": "active",
            "readPoint": place,
        }
    if e.kind == "packing":
        return {
            "type": "AggregationEvent",
            **_when(e.occurred_at),
            "action": "ADD",
            "parentID": f"{uri}#packages",
            "childQuantityList": [_qty(uri, e.details["packages"] * e.details["package_kg"], "kg")],
            "bizStep": "packing",
            "disposition": "in_progress",
            "readPoint": place,
        }
    body = {
        "type": "ObjectEvent",
        **_when(e.occurred_at),
        "action": "OBSERVE",
        "quantityList": qty,
        "bizStep": {"storage": "storing", "shipment": "shipping", "receipt": "receiving"}[e.kind],
        "disposition": {"storage": "in_progress", "shipment": "in_transit", "receipt": "in_progress"}[e.kind],
        "readPoint": place,
    }
    if e.kind == "shipment":
        body["destinationList"] = [{"type": "owning_party", "destination": _urn("party", e.details["buyer"])}]
    if e.kind == "storage" and "temperature_c" in e.details:
        body["sensorElementList"] = [
            {"sensorReport": [{"type": "Temperature", "value": e.details["temperature_c"], "uom": "CEL"}]}
        ]
    return body


def epcis_document(session: Session, lot: HarvestLot, uri_of: Callable[[HarvestLot], str]) -> dict[str, Any]:
    """The lot's harvest and its chain as an EPCIS 2.0 JSON-LD document (``uri_of``: a lot's public URL, its
    identifier). A merged lot's starts with each source's harvest and steps, then the merge."""
    uri, farm = uri_of(lot), _farm_place(session, lot)
    merged = sources(session, lot)
    root = session.get(HarvestLot, lot.parent_lot_id) if lot.parent_lot_id else lot  # a package's merge is its lot's
    out = [(_harvest_event(session, src, uri_of(src)), f"harvest:{src.id}") for _, src in merged]
    if not merged:
        out.append((_harvest_event(session, lot, uri), f"harvest:{lot.id}"))
    for kind, item, whose in full_history(session, lot):
        if kind == "event":
            out.append((_step_event(item, whose, uri_of(whose), _farm_place(session, whose)), f"event:{item.id}"))
            continue
        link = item[0][0]
        body = {
            "type": "TransformationEvent",
            **_when(link.merged_at),
            "inputQuantityList": [_qty(uri_of(src), s.quantity, src.unit) for s, src in item],
            "outputQuantityList": [_qty(uri_of(root), root.quantity, root.unit)],
            "bizStep": "creating_class_instance",
            "disposition": "active",
            "readPoint": {"id": _urn("place", link.place)} if link.place else {"id": farm},
        }
        out.append((body, f"merge:{root.id}"))
    out.sort(key=lambda pair: dt.datetime.fromisoformat(pair[0]["eventTime"]))  # stable: sources' harvests first
    for body, tag in out:
        body["eventID"] = _event_id(body, tag)
    events = [body for body, _ in out]
    return {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": utcnow().isoformat(timespec="seconds").replace("+00:00", "Z"),
        "epcisBody": {"eventList": events},
    }


def public_chains(session: Session, lots: list[HarvestLot]) -> dict[int, list[dict[str, Any]]]:
    """:func:`public_chain` of each of ``lots``, by lot id, from one :class:`ChainReader` (two queries in all)."""
    reader = ChainReader(session, lots)
    return {lot.id: public_chain(session, lot, reader=reader) for lot in lots}


def public_chain(
    session: Session,
    lot: HarvestLot,
    photo_url: Callable[[str], str] | None = None,
    *,
    reader: ChainReader | None = None,
) -> list[dict[str, Any]]:
    """The steps the public page shows: what, when (dd/mm/yyyy), where, packages and the buyer; never who entered
    them, the vehicle or an id. A package's chain starts with its lot's, a merged lot's with its sources' and the
    merge (how many lots, how many kg; not their codes); with ``photo_url``, each step's photos as the page's links."""
    from cropwatch.core.timeutil import fmt_date

    out = []
    for kind, e, _ in full_history(session, lot, reader):
        if kind == "merge":
            link = e[0][0]
            out.append({"kind": "merge", "date": fmt_date(_aware(link.merged_at)), "place": link.place, "lots": len(e)})
            continue
        item = {"kind": e.kind, "date": fmt_date(_aware(e.occurred_at)), "place": e.place}
        if e.kind == "packing":
            item |= {"packages": e.details.get("packages"), "package_kg": e.details.get("package_kg")}
        if e.kind == "storage" and "temperature_c" in e.details:
            item["temperature_c"] = e.details["temperature_c"]
        if e.kind == "shipment":
            item["buyer"] = e.details.get("buyer")
        item["photo_count"] = len(e.photo_keys or [])
        if photo_url is not None:
            item["photos"] = [photo_url(k) for k in (e.photo_keys or [])]
        out.append(item)
    return out
