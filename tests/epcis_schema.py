"""The EPCIS 2.0 JSON rules the lot export must meet, as a JSON Schema (draft-07) written for this project from
the EPCIS 2.0 standard (GS1, 2022, section 12 JSON/JSON-LD binding) and its published JSON schema
(https://ref.gs1.org/standards/epcis/epcis-json-schema.json, not vendored: no network at test time, and its text is
not ours to copy). It covers the document and the three event types CropWatch emits, with the constraints the
official schema puts on them:

- every event: ``eventTime`` (date-time) and ``eventTimeZoneOffset`` (±hh:mm, at most +14:00), ``eventID`` a URI;
- ObjectEvent: ``action`` in ADD/OBSERVE/DELETE, an ``epcList`` or a non-empty ``quantityList``, ``ilmd`` only with ADD;
- AggregationEvent: ``action``, ``childEPCs`` or a non-empty ``childQuantityList`` (unless DELETE), ``parentID`` a URI;
- TransformationEvent: inputs and outputs (EPCs or quantities), or a ``transformationID``; no ``action``;
- a quantity element: ``epcClass`` (URI) and numeric ``quantity``, ``uom`` a UN/ECE Rec. 20 code (2-3 capitals or
  digits), nothing else; ``readPoint``/``bizLocation``: an ``id`` URI; a destination: ``type`` and ``destination``;
- ``bizStep`` and ``disposition``: a CBV 2.0 bare word or a URI; a sensor report: a ``type`` (CBV measurement type).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

URI = {"type": "string", "format": "uri"}
TIME = {"type": "string", "format": "date-time"}
CBV_BIZ_STEPS = [
    "accepting", "arriving", "assembling", "collecting", "commissioning", "consigning", "creating_class_instance",
    "cycle_counting", "decommissioning", "departing", "destroying", "disassembling", "dispensing", "encoding",
    "entering_exiting", "holding", "inspecting", "installing", "killing", "loading", "other", "packing", "picking",
    "receiving", "removing", "repackaging", "repairing", "replacing", "reserving", "retail_selling", "sensor_reporting",
    "shipping", "staging_outbound", "stock_taking", "stocking", "storing", "transporting", "unloading", "unpacking",
    "void_shipping",
]  # fmt: skip
CBV_DISPOSITIONS = [
    "active", "available", "completeness_verified", "completeness_inferred", "conformant", "container_closed",
    "container_open", "damaged", "destroyed", "dispensed", "disposed", "encoded", "expired", "in_progress",
    "in_transit", "inactive", "mismatch_instance", "mismatch_class", "mismatch_quantity", "needs_replacement",
    "no_pedigree_match", "non_conformant", "non_sellable_other", "partially_dispensed", "recalled", "reserved",
    "retail_sold", "returned", "sellable_accessible", "sellable_not_accessible", "stolen", "unavailable", "unknown",
]  # fmt: skip
MEASUREMENTS = ["Temperature", "RelativeHumidity", "AbsoluteHumidity", "Mass", "Count", "Dimensionless"]

QUANTITY = {
    "type": "object",
    "properties": {
        "epcClass": URI,
        "quantity": {"type": "number"},
        "uom": {"type": "string", "pattern": "^[A-Z0-9]{2,3}$"},
    },
    "required": ["epcClass", "quantity"],
    "additionalProperties": False,
}
QUANTITIES = {"type": "array", "items": QUANTITY}
PLACE = {"type": "object", "properties": {"id": URI}, "required": ["id"]}


def _vocab(words: list[str]) -> dict:
    return {"anyOf": [{"enum": words}, URI]}


COMMON = {
    "type": "object",
    "properties": {
        "eventTime": TIME,
        "recordTime": TIME,
        "eventTimeZoneOffset": {"type": "string", "pattern": "^([+]|[-])((0[0-9]|1[0-3]):([0-5][0-9])|14:00)$"},
        "eventID": URI,
        "bizStep": _vocab(CBV_BIZ_STEPS),
        "disposition": _vocab(CBV_DISPOSITIONS),
        "readPoint": PLACE,
        "bizLocation": PLACE,
        "destinationList": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": _vocab(["owning_party", "possessing_party", "location"]),
                    "destination": URI,
                },
                "required": ["type", "destination"],
                "additionalProperties": False,
            },
        },
        "sensorElementList": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "sensorReport": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "properties": {"type": _vocab(MEASUREMENTS), "value": {"type": "number"}},
                            "required": ["type"],
                        },
                    }
                },
                "required": ["sensorReport"],
            },
        },
    },
    "required": ["eventTime", "eventTimeZoneOffset"],
}
ACTION = {"type": "string", "enum": ["OBSERVE", "ADD", "DELETE"]}


def _non_empty(field: str) -> dict:
    return {"type": "object", "properties": {field: {"type": "array", "minItems": 1}}, "required": [field]}


OBJECT_EVENT = {
    "allOf": [
        COMMON,
        {
            "properties": {
                "type": {"const": "ObjectEvent"},
                "action": ACTION,
                "epcList": {"type": "array", "items": URI},
                "quantityList": QUANTITIES,
            },
            "required": ["type", "action"],
        },
        {"anyOf": [{"required": ["epcList"]}, _non_empty("quantityList")]},
        {"anyOf": [{"properties": {"action": {"const": "ADD"}}}, {"not": {"required": ["ilmd"]}}]},
    ]
}
AGGREGATION_EVENT = {
    "allOf": [
        COMMON,
        {
            "properties": {
                "type": {"const": "AggregationEvent"},
                "action": ACTION,
                "parentID": URI,
                "childEPCs": {"type": "array", "items": URI},
                "childQuantityList": QUANTITIES,
            },
            "required": ["type", "action"],
        },
        {
            "anyOf": [
                _non_empty("childEPCs"),
                _non_empty("childQuantityList"),
                {"properties": {"action": {"const": "DELETE"}}},
            ]
        },
    ]
}
TRANSFORMATION_EVENT = {
    "allOf": [
        COMMON,
        {
            "properties": {
                "type": {"const": "TransformationEvent"},
                "inputEPCList": {"type": "array", "items": URI},
                "outputEPCList": {"type": "array", "items": URI},
                "inputQuantityList": QUANTITIES,
                "outputQuantityList": QUANTITIES,
                "transformationID": URI,
            },
            "required": ["type"],
            "not": {"required": ["action"]},
        },
        {
            "anyOf": [
                {
                    "allOf": [
                        {"anyOf": [_non_empty("inputEPCList"), _non_empty("inputQuantityList")]},
                        {"anyOf": [_non_empty("outputEPCList"), _non_empty("outputQuantityList")]},
                    ]
                },
                {"required": ["transformationID"]},
            ]
        },
    ]
}
EPCIS_DOCUMENT = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "type": {"const": "EPCISDocument"},
        "@context": {"anyOf": [URI, {"type": "object"}, {"type": "array", "uniqueItems": True}]},
        "schemaVersion": {"type": "string"},
        "creationDate": TIME,
        "epcisBody": {
            "type": "object",
            "properties": {
                "eventList": {
                    "type": "array",
                    "items": {"oneOf": [OBJECT_EVENT, AGGREGATION_EVENT, TRANSFORMATION_EVENT]},
                }
            },
            "required": ["eventList"],
        },
    },
    "required": ["@context", "type", "schemaVersion", "creationDate", "epcisBody"],
}


def problems(document: dict) -> list[str]:
    """What in ``document`` breaks the rules above (empty: valid), formats (URI, date-time) checked."""
    import jsonschema_rs

    validator = jsonschema_rs.Draft7Validator(EPCIS_DOCUMENT, validate_formats=True)
    return [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(document)]


def official_schema_path() -> Path:
    """GS1's EPCIS 2.0 JSON schema as ``make test`` installs it (.ci/fetch_epcis_schema.py)."""
    return Path(os.environ.get("CROPWATCH_EPCIS_SCHEMA", Path(sys.prefix) / "share/gs1-epcis/EPCIS-JSON-Schema.json"))


def official_problems(document: dict) -> list[str]:
    """What in ``document`` breaks GS1's own EPCIS 2.0 JSON schema (empty: valid), formats checked. A missing schema
    is an error, not a pass: ``make test`` installs it."""
    import jsonschema_rs

    path = official_schema_path()
    if not path.exists():
        raise FileNotFoundError(f"{path}: GS1's EPCIS JSON schema is not installed; run `make test` (or the fetch)")
    validator = jsonschema_rs.Draft7Validator(json.loads(path.read_text()), validate_formats=True)
    return [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(document)]
