"""The golden set: human-verified images kept apart from every dataset version, per model family.

Never trained on and never in a split: :func:`datasets.versions.create_version` leaves out every image whose sha256
is in the golden set, and a share of newly reviewed captures (``GOLDEN_FRACTION`` by a stable hash of the photo's
sha256) goes to the golden set instead of future datasets, so it grows as agronomists review. The promotion gate
scores candidate and production on the same golden images (training/jobs.py), not on the candidate's own test split.
Seeded from the test splits of the shipped models' sources (``cropwatch golden-seed``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cropwatch.core.enums import ModelTask
from cropwatch.core.orm import GoldenImage
from cropwatch.core.storage import Storage
from datasets.splits import hash_fraction
from datasets.versions import Item
from datasets.yolo import write_data_yaml

GOLDEN_FRACTION = 0.10


def goes_to_golden(sha256: str) -> bool:
    """Whether a reviewed photo joins the golden set (stable: the same photo always answers the same)."""
    return hash_fraction(sha256, salt="cropwatch-golden") < GOLDEN_FRACTION


def golden_shas(session: Session, task: ModelTask) -> set[str]:
    return set(session.scalars(select(GoldenImage.sha256).where(GoldenImage.task == task)))


def add(
    session: Session,
    *,
    task: ModelTask,
    family: str | None,
    items: Iterable[Item],
    cooperative_id: int | None = None,
    added_by: int | None = None,
) -> int:
    """Add verified items (boxes with class names) to the family's golden set; an image already there is kept as
    it was. Returns how many were added."""
    have = golden_shas(session, task)
    n = 0
    for it in items:
        if it.sha256 in have:
            continue
        session.add(
            GoldenImage(
                task=task,
                family=family,
                cooperative_id=cooperative_id,
                object_key=it.key,
                sha256=it.sha256,
                width=it.width,
                height=it.height,
                boxes=it.boxes,
                source=it.source,
                added_by=added_by,
            )
        )
        have.add(it.sha256)
        n += 1
    session.flush()
    return n


def images(
    session: Session, *, task: ModelTask, family: str | None, cooperative_id: int | None = None
) -> list[GoldenImage]:
    """The family's golden images visible to a cooperative: the shared ones and its own."""
    q = select(GoldenImage).where(
        GoldenImage.task == task,
        GoldenImage.family.is_(None) if family is None else GoldenImage.family == family,
        or_(GoldenImage.cooperative_id.is_(None), GoldenImage.cooperative_id == cooperative_id),
    )
    return list(session.scalars(q.order_by(GoldenImage.id)))


def materialize(storage: Storage, rows: list[GoldenImage], classes: Mapping[int, str], dest: Path) -> Path | None:
    """The golden images as a YOLO folder whose every split is the golden set (Ultralytics' ``val`` reads it);
    boxes of classes the model does not have are left out. None when there is no image."""
    by_name = {v: int(k) for k, v in classes.items()}
    dest = Path(dest)
    written = 0
    for g in rows:
        data = storage.get_bytes(g.object_key)
        if hashlib.sha256(data).hexdigest() != g.sha256:
            continue  # changed under us: not golden any more
        ext = Path(g.object_key).suffix or ".jpg"
        for sub in ("images", "labels"):
            (dest / sub / "test").mkdir(parents=True, exist_ok=True)
        (dest / "images" / "test" / f"{g.sha256}{ext}").write_bytes(data)
        w, h = g.width, g.height
        lines = [
            f"{by_name[c]} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"
            for c, x1, y1, x2, y2 in g.boxes
            if c in by_name
        ]
        (dest / "labels" / "test" / f"{g.sha256}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
        written += 1
    if not written:
        return None
    out = write_data_yaml(dest, {int(k): v for k, v in classes.items()}, splits=("test",))
    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    data["train"] = data["val"] = "images/test"
    out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out
