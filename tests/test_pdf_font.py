"""The PDFs' font ships with the project (issue 15): the diary export and the lot labels write Vietnamese with
DejaVu Sans from cropwatch/core/fonts, with no plotting library installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys
sys.modules["matplotlib"] = None  # as on a server installed without it: importing it fails
from fpdf import FPDF
from cropwatch.diary import export, lots  # noqa: F401 - both PDF writers import without matplotlib
from cropwatch.core.fonts import dejavu
pdf = FPDF()
pdf.add_font("DejaVu", "", str(dejavu()))
pdf.add_font("DejaVu", "B", str(dejavu(bold=True)))
pdf.add_page()
pdf.set_font("DejaVu", "B", size=12)
pdf.cell(text="Nhật ký canh tác — rầy nâu, sâu cuốn lá")
sys.stdout.buffer.write(bytes(pdf.output()))
"""


def test_vietnamese_pdf_text_needs_no_plotting_library():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=PROJECT, capture_output=True, check=False, timeout=120)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert out.stdout.startswith(b"%PDF-")
    import pypdfium2

    page = pypdfium2.PdfDocument(out.stdout)[0]
    assert page.get_textpage().get_text_range().strip() == "Nhật ký canh tác — rầy nâu, sâu cuốn lá"


def test_the_font_licence_ships_beside_the_font():
    fonts = PROJECT / "cropwatch" / "core" / "fonts"
    assert "Bitstream Vera" in (fonts / "LICENSE_DEJAVU").read_text()
    assert (fonts / "DejaVuSans.ttf").stat().st_size > 500_000
