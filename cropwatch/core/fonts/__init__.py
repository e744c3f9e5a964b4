"""DejaVu Sans for the PDFs (diary export, harvest-lot labels): shipped with the project, so nothing is fetched and
no plotting library is needed. Free licence (Bitstream Vera / DejaVu, `LICENSE_DEJAVU` next to the files); it covers
every Vietnamese letter with its tone marks."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def dejavu(bold: bool = False) -> Path:
    return HERE / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
