"""Cells that stay text when a CSV or XLSX export is opened in a spreadsheet (no formula injection).

One rule for every export (diary CSV/XLSX, union statistics): a text cell starting with ``= + - @``, a tab or a
carriage return gets a leading apostrophe in CSV (OWASP's advice; spreadsheets then show it as text), and in XLSX
every text cell is stored with the string type, so openpyxl never writes it as a formula.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_row(values: Iterable[object]) -> list[object]:
    return [csv_cell(v) for v in values]


def xlsx_append(ws: Any, values: Iterable[object]) -> None:
    """``ws.append`` with text cells forced to the string type."""
    row = ws.max_row + 1 if ws.max_row > 1 or ws.cell(1, 1).value is not None else 1
    for col, value in enumerate(values, start=1):
        cell = ws.cell(row=row, column=col)
        cell.value = value
        if isinstance(value, str):
            cell.data_type = "s"
