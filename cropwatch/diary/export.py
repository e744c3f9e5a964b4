"""Export a plot's cultivation diary for a season: CSV, XLSX and a VietGAP-style PDF (with photos), in Vietnamese
(default) or English: every header, type, status and source through the catalogue (``export_*``, ``diary_*``).

Every entry of the period is exported, pending ones and deleted ones included (deleted entries are marked with when
and by whom, never dropped: an audit must see what was withdrawn), each with its revision count and last change.
Dates are dd/mm/yyyy (HH:MM for changes) in Asia/Ho_Chi_Minh. The PDF uses DejaVu Sans (shipped with the project in
``cropwatch/core/fonts``, covers Vietnamese) so nothing is downloaded.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from cropwatch.core.fonts import dejavu
from cropwatch.core.i18n import t
from cropwatch.core.orm import Cooperative, DiaryEntry, Plot
from cropwatch.core.spreadsheet import csv_row, xlsx_append
from cropwatch.core.timeutil import fmt_date, fmt_datetime, local_day, local_day_bounds
from cropwatch.diary.entries import RevisionSummary, summaries

COLUMNS = [
    "date",
    "type",
    "status",
    "title",
    "product_name",
    "registration_no",
    "active_ingredient",
    "dose",
    "treated_area_m2",
    "phi_days",
    "quantity",
    "operator",
    "notes",
    "source",
    "deleted",
    "changes",
    "last_change",
]
#: the PDF's table: (column, width in mm; 0 takes what is left)
PDF_COLUMNS = [
    ("date", 20),
    ("type", 24),
    ("status", 20),
    ("title", 48),
    ("product_name", 28),
    ("registration_no", 16),
    ("active_ingredient", 22),
    ("dose", 16),
    ("phi_days", 13),
    ("quantity", 18),
    ("changes", 30),
    ("operator", 0),
]


def headers(locale: str = "vi") -> list[str]:
    return [t(f"export_col_{name}", locale) for name in COLUMNS]


def entries(session: Session, plot: Plot, since: dt.date, until: dt.date) -> list[DiaryEntry]:
    start, _ = local_day_bounds(since)
    _, end = local_day_bounds(until)
    return list(
        session.scalars(
            select(DiaryEntry)
            .where(DiaryEntry.plot_id == plot.id, DiaryEntry.occurred_at >= start, DiaryEntry.occurred_at < end)
            .order_by(DiaryEntry.occurred_at, DiaryEntry.id)
        )
    )


def _deleted(e: DiaryEntry, rev: RevisionSummary | None, locale: str) -> str:
    if e.deleted_at is None:
        return ""
    text = t("export_deleted_at", locale, when=fmt_datetime(e.deleted_at), who=rev.deleted_by if rev else "")
    return text + (t("export_reason", locale, reason=rev.deleted_reason) if rev and rev.deleted_reason else "")


def _last_change(rev: RevisionSummary | None) -> str:
    return f"{fmt_datetime(rev.last_at)} — {rev.last_by}" if rev and rev.last_at else ""


def _row(e: DiaryEntry, rev: RevisionSummary | None, locale: str) -> list[str]:
    qty = f"{e.quantity_value:g} {e.quantity_unit or ''}".strip() if e.quantity_value is not None else ""
    title = e.title_en if locale == "en" and e.title_en else e.title
    return [
        fmt_date(local_day(e.occurred_at)),
        t(f"diary_type_{e.type.value}", locale),
        t(f"diary_status_{e.status.value}", locale),
        title,
        e.product_name or "",
        e.registration_no or "",
        e.active_ingredient or "",
        e.dose or "",
        "" if e.treated_area_m2 is None else f"{e.treated_area_m2:g}",
        "" if e.phi_days is None else str(e.phi_days),
        qty,
        e.operator or "",
        e.notes or "",
        t(f"diary_source_{e.source.value}", locale),
        _deleted(e, rev, locale),
        str(rev.changes if rev else 0),
        _last_change(rev),
    ]


def rows(session: Session, items: list[DiaryEntry], locale: str = "vi") -> list[list[str]]:
    """One row per entry, in :data:`COLUMNS` order, in ``locale``."""
    revs = summaries(session, items, locale)
    return [_row(e, revs.get(e.id), locale) for e in items]


def to_csv(session: Session, items: list[DiaryEntry], locale: str = "vi") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(headers(locale))
    w.writerows(csv_row(r) for r in rows(session, items, locale))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: Excel opens Vietnamese CSV correctly


def to_xlsx(session: Session, items: list[DiaryEntry], plot: Plot, locale: str = "vi") -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = t("export_sheet", locale)
    xlsx_append(ws, [t("export_title_plot", locale, plot=plot.name)])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append(headers(locale))
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for r in rows(session, items, locale):
        xlsx_append(ws, r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _pdf_cells(row: list[str], locale: str) -> list[str]:
    """The PDF row: the source under the type, a deleted entry's mark under its title, the changes in one cell."""
    cell = dict(zip(COLUMNS, row, strict=True))
    cell["type"] += f"\n{cell['source']}"
    if cell["deleted"]:
        cell["title"] += "\n" + t("export_deleted_mark", locale, what=cell["deleted"])
    changes = int(cell["changes"])
    cell["changes"] = t("export_changes", locale, n=changes, last=cell["last_change"]) if changes else "—"
    return [cell[name] for name, _ in PDF_COLUMNS]


def to_pdf(
    session: Session,
    plot: Plot,
    items: list[DiaryEntry],
    since: dt.date,
    until: dt.date,
    photo: Callable[[str], bytes | None] | None = None,
    locale: str = "vi",
) -> bytes:
    """A4 landscape: a header (cooperative, plot, crop, growing-area code, period, counts) and the diary table
    (each entry's status, source, changes and deletion); photos of each entry (up to 3, thumbnails) after it."""
    from fpdf import FPDF

    coop = session.get(Cooperative, plot.cooperative_id)
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.add_font("DejaVu", "", str(dejavu()))
    pdf.add_font("DejaVu", "B", str(dejavu(bold=True)))
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("DejaVu", size=14)
    pdf.cell(0, 8, t("export_pdf_title", locale), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", size=10)
    deleted = sum(1 for e in items if e.deleted_at is not None)
    variety = f" ({plot.variety})" if plot.variety else ""
    for line in (
        t("export_pdf_coop", locale, name=coop.name) + (f" — {coop.province}" if coop.province else ""),
        t("export_pdf_plot", locale, plot=plot.name, crop=plot.crop + variety, code=plot.growing_area_code or "—"),
        t("export_pdf_period", locale, since=fmt_date(since), until=fmt_date(until), n=len(items), deleted=deleted),
    ):
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    widths = [w for _, w in PDF_COLUMNS]
    widths[-1] = pdf.epw - sum(widths[:-1])
    pdf.set_font("DejaVu", size=8)
    with pdf.table(col_widths=widths, text_align="LEFT", first_row_as_headings=True) as table:
        table.row([t(f"export_pdf_col_{name}", locale) for name, _ in PDF_COLUMNS])
        for r in rows(session, items, locale):
            table.row(_pdf_cells(r, locale))
    if photo is not None:
        shown = [(e, k) for e in items for k in (e.photo_keys or [])[:3]]
        if shown:
            pdf.add_page()
            pdf.set_font("DejaVu", size=10)
            pdf.cell(0, 6, t("export_pdf_photos", locale), new_x="LMARGIN", new_y="NEXT")
            x = pdf.l_margin
            for e, key in shown:
                data = photo(key)
                if not data:
                    continue
                if x + 60 > pdf.w - pdf.r_margin:
                    x = pdf.l_margin
                    pdf.ln(50)
                y = pdf.get_y()
                pdf.image(io.BytesIO(data), x=x, y=y, w=55)
                pdf.set_xy(x, y + 42)
                pdf.set_font("DejaVu", size=7)
                title = e.title_en if locale == "en" and e.title_en else e.title
                pdf.cell(55, 4, f"{fmt_date(local_day(e.occurred_at))} {title[:40]}")
                pdf.set_xy(x, y)
                x += 60
    return bytes(pdf.output())
