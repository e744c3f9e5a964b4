"""Export a plot's cultivation diary for a season: CSV, XLSX and a VietGAP-style PDF (Vietnamese, with photos).

Every entry of the period is exported, pending ones and deleted ones included (deleted entries are marked, never
dropped: an audit must see what was withdrawn). Dates are dd/mm/yyyy in Asia/Ho_Chi_Minh. The PDF uses DejaVu Sans
(shipped inside matplotlib, covers Vietnamese) so nothing is downloaded.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from cropwatch.i18n import t
from cropwatch.spreadsheet import csv_row, xlsx_append
from cropwatch.tables import Cooperative, DiaryEntry, Plot
from cropwatch.timeutil import fmt_date, local_day, local_day_bounds

COLUMNS = ["date", "type", "status", "title", "product_name", "registration_no", "active_ingredient", "dose",
           "treated_area_m2", "phi_days", "quantity", "operator", "notes", "source", "deleted"]
HEADERS_VI = ["Ngày", "Công việc", "Trạng thái", "Nội dung", "Tên thuốc/phân", "Số đăng ký", "Hoạt chất",
              "Liều lượng", "Diện tích xử lý (m²)", "Thời gian cách ly (ngày)", "Số lượng", "Người thực hiện",
              "Ghi chú", "Nguồn", "Đã xoá"]


def entries(session: Session, plot: Plot, since: dt.date, until: dt.date) -> list[DiaryEntry]:
    start, _ = local_day_bounds(since)
    _, end = local_day_bounds(until)
    return list(session.scalars(select(DiaryEntry).where(
        DiaryEntry.plot_id == plot.id, DiaryEntry.occurred_at >= start, DiaryEntry.occurred_at < end)
        .order_by(DiaryEntry.occurred_at, DiaryEntry.id)))


def rows(items: list[DiaryEntry], locale: str = "vi") -> list[list[str]]:
    out = []
    for e in items:
        qty = f"{e.quantity_value:g} {e.quantity_unit or ''}".strip() if e.quantity_value is not None else ""
        out.append([
            fmt_date(local_day(e.occurred_at)), t(f"diary_type_{e.type.value}", locale), e.status.value, e.title,
            e.product_name or "", e.registration_no or "", e.active_ingredient or "", e.dose or "",
            "" if e.treated_area_m2 is None else f"{e.treated_area_m2:g}", "" if e.phi_days is None else str(e.phi_days),
            qty, e.operator or "", e.notes or "", e.source.value, fmt_date(local_day(e.deleted_at)) if e.deleted_at else ""])
    return out


def to_csv(items: list[DiaryEntry]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADERS_VI)
    w.writerows(csv_row(r) for r in rows(items))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: Excel opens Vietnamese CSV correctly


def to_xlsx(items: list[DiaryEntry], title: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "Nhật ký"
    xlsx_append(ws, [title])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append(HEADERS_VI)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for r in rows(items):
        xlsx_append(ws, r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _font(bold: bool = False) -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")


def to_pdf(session: Session, plot: Plot, items: list[DiaryEntry], since: dt.date, until: dt.date,
           photo: Callable[[str], bytes | None] | None = None) -> bytes:
    """A4 landscape: a header (cooperative, plot, crop, growing-area code, period) and the diary table; photos
    of each entry (up to 3, thumbnails) under its row."""
    from fpdf import FPDF

    coop = session.get(Cooperative, plot.cooperative_id)
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.add_font("DejaVu", "", str(_font()))
    pdf.add_font("DejaVu", "B", str(_font(bold=True)))
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("DejaVu", size=14)
    pdf.cell(0, 8, "NHẬT KÝ CANH TÁC (VietGAP)", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", size=10)
    for line in (f"Hợp tác xã: {coop.name}" + (f" — {coop.province}" if coop.province else ""),
                 f"Lô: {plot.name}   Cây trồng: {plot.crop}" + (f" ({plot.variety})" if plot.variety else "")
                 + f"   Mã vùng trồng: {plot.growing_area_code or '—'}",
                 f"Thời gian: {fmt_date(since)} – {fmt_date(until)}   Số mục: {len(items)}"):
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    widths = [20, 28, 16, 60, 34, 22, 26, 18, 16, 24, 0]
    headers = ["Ngày", "Công việc", "Trạng thái", "Nội dung", "Tên thuốc/phân", "Số ĐK", "Hoạt chất", "Liều",
               "Cách ly", "Số lượng", "Người thực hiện"]
    widths[-1] = pdf.epw - sum(widths[:-1])
    pdf.set_font("DejaVu", size=8)
    with pdf.table(col_widths=widths, text_align="LEFT", first_row_as_headings=True) as table:
        table.row(headers)
        for e, r in zip(items, rows(items)):
            title = r[3] + (f" [đã xoá {r[14]}]" if r[14] else "")
            table.row([r[0], r[1], r[2], title, r[4], r[5], r[6], r[7], r[9], r[10], r[11]])
    if photo is not None:
        shown = [(e, k) for e in items for k in (e.photo_keys or [])[:3]]
        if shown:
            pdf.add_page()
            pdf.set_font("DejaVu", size=10)
            pdf.cell(0, 6, "Ảnh minh chứng", new_x="LMARGIN", new_y="NEXT")
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
                pdf.cell(55, 4, f"{fmt_date(local_day(e.occurred_at))} {e.title[:40]}")
                pdf.set_xy(x, y)
                x += 60
    return bytes(pdf.output())
