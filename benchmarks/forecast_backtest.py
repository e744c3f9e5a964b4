"""The production forecast's backtest on the demo union: each finished season forecast with only what was known
before it, against its recorded harvest; MAPE of the forecast next to the naive baseline (area × profile yield).

    .venv/bin/python benchmarks/forecast_backtest.py          # a few seconds; SQLite in a temporary folder

The demo's seasons are synthetic (cropwatch.seed.seed_union: each cooperative realises its own share of the
profile's yield with a seeded ±6% per season; the first pick lands a seeded ±5 days from the typed date; a fruit
camera's ripe share follows a seeded logistic curve), so the figures show the method working, not a field result.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from sqlalchemy import select

    from cropwatch.core.db import session_factory
    from cropwatch.core.migrate import upgrade
    from cropwatch.core.orm import Cooperative
    from cropwatch.seed import seed_demo
    from cropwatch.union import forecast

    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite:///{d}/backtest.db"
        upgrade(url)
        sessions = session_factory(url)
        with sessions() as s:
            seed_demo(s, Path(d) / "cameras.json")
        with sessions() as s:
            coops = s.scalars(select(Cooperative).order_by(Cooperative.id)).all()
            print(f"demo union: {', '.join(c.name for c in coops)}\n")
            print("| scope | crop | seasons | MAPE forecast | MAPE naive (area × profile yield) |")
            print("|---|---|---:|---:|---:|")
            for label, ids in [("union", [c.id for c in coops])] + [(c.code, [c.id]) for c in coops]:
                for crop, b in forecast.backtest(s, ids).items():
                    print(f"| {label} | {crop} | {b['seasons']} | {b['mape_forecast']}% | {b['mape_naive']}% |")
            print(
                "\ntiming of fruit crops watched by a fruit camera (the union): days between the middle of the picking"
                " as forecast and as recorded\n"
            )
            print("| forecast made | seasons | timed by the camera | MAE forecast | MAE naive (typed date) |")
            print("|---|---:|---:|---:|---:|")
            for lead, b in forecast.timing_backtest(s, [c.id for c in coops]).items():
                when = "on the day of the first pick" if lead == 0 else f"{lead} days after the first pick"
                print(
                    f"| {when} | {b['seasons']} | {b['from_camera']} | {b['mae_days_forecast']} d "
                    f"| {b['mae_days_naive']} d |"
                )


if __name__ == "__main__":
    main()
