"""Seeded generator of synthetic scenes: fruit ripeness (tomato-like) and yellow sticky traps.

No openly licensed fruit-ripeness dataset could be had, so the bootstrap ripeness model learns from
these scenes until cooperatives bring labelled photos. Every image is drawn from its own generator
seeded by ``(seed, split, index)``: the same arguments give byte-identical files on one machine.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from datasets.yolo import write_data_yaml

RIPENESS_NAMES = {0: "unripe", 1: "turning", 2: "ripe", 3: "overripe"}
RIPENESS_NAMES_VI = {0: "quả xanh", 1: "quả chuyển màu", 2: "quả chín", 3: "quả chín quá"}
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}

# (hue range [OpenCV 0-180], saturation range, value range) per class
_FRUIT_HSV = {
    0: ((36, 52), (110, 190), (150, 225)),  # unripe: pale to mid green
    1: ((12, 26), (170, 240), (190, 250)),  # turning: yellow / orange
    2: ((-6, 5), (190, 250), (160, 235)),  # ripe: red
    3: ((-4, 10), (120, 210), (60, 115)),  # overripe: dark red / brown
}


@dataclass
class Box:
    cls: int
    x1: float
    y1: float
    x2: float
    y2: float

    def yolo(self, w: int, h: int) -> str:
        cx, cy = (self.x1 + self.x2) / 2 / w, (self.y1 + self.y2) / 2 / h
        return f"{self.cls} {cx:.6f} {cy:.6f} {(self.x2 - self.x1) / w:.6f} {(self.y2 - self.y1) / h:.6f}"


@dataclass
class SyntheticStats:
    images: Counter = field(default_factory=Counter)
    boxes_per_class: Counter = field(default_factory=Counter)


def _hsv_to_bgr(h: float, s: float, v: float) -> np.ndarray:
    px = np.array([[[h % 180, np.clip(s, 0, 255), np.clip(v, 0, 255)]]], dtype=np.uint8)
    return cv2.cvtColor(px, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int, amp: float) -> np.ndarray:
    small = rng.normal(0, amp, (cells, cells)).astype(np.float32)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def _leaf(img: np.ndarray, rng: np.random.Generator, size: int, scale: float, ids: np.ndarray | None = None) -> None:
    c = (int(rng.integers(0, size)), int(rng.integers(0, size)))
    axes = (int(size * scale * rng.uniform(0.5, 1.0)), int(size * scale * rng.uniform(0.15, 0.35)))
    angle = float(rng.uniform(0, 180))
    colour = _hsv_to_bgr(rng.uniform(30, 72), rng.uniform(90, 230), rng.uniform(35, 150))
    cv2.ellipse(img, c, axes, angle, 0, 360, colour.tolist(), -1, cv2.LINE_AA)
    rib = np.radians(angle)
    d = np.array([np.cos(rib), np.sin(rib)]) * axes[0] * 0.9
    p1, p2 = (int(c[0] - d[0]), int(c[1] - d[1])), (int(c[0] + d[0]), int(c[1] + d[1]))
    cv2.line(img, p1, p2, (colour * 0.7).tolist(), 1, cv2.LINE_AA)
    if ids is not None:
        cv2.ellipse(ids, c, axes, angle, 0, 360, 0, -1)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    base = _hsv_to_bgr(rng.uniform(36, 68), rng.uniform(90, 210), rng.uniform(50, 120))
    img = np.empty((size, size, 3), np.float32)
    img[:] = base
    img += _smooth_noise(rng, size, 6, 25)[..., None]
    for _ in range(int(rng.integers(25, 55))):
        _leaf(img, rng, size, rng.uniform(0.06, 0.22))
    for _ in range(int(rng.integers(1, 4))):  # stems
        p1 = (int(rng.integers(0, size)), 0)
        p2 = (int(rng.integers(0, size)), size - 1)
        cv2.line(img, p1, p2, _hsv_to_bgr(rng.uniform(25, 50), 120, 90).tolist(), int(rng.integers(2, 5)), cv2.LINE_AA)
    return cv2.GaussianBlur(img, (3, 3), 0)


def _fruit(
    img: np.ndarray, ids: np.ndarray, fid: int, rng: np.random.Generator, cls: int, cx: float, cy: float, r: float
) -> None:
    """Draw one shaded, round-ish fruit; mark its pixels with ``fid`` in ``ids``."""
    size = img.shape[0]
    rx, ry = r * rng.uniform(0.9, 1.1), r * rng.uniform(0.85, 1.0)
    x0, y0 = max(0, int(cx - rx - 2)), max(0, int(cy - ry - 2))
    x1, y1 = min(size, int(cx + rx + 3)), min(size, int(cy + ry + 3))
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    u, v = (xx - cx) / rx, (yy - cy) / ry
    d2 = u * u + v * v
    alpha = np.clip((1.0 - np.sqrt(d2)) * r / 1.5, 0, 1)  # ~1.5 px anti-aliased rim
    if not alpha.any():
        return
    (h0, h1), (s0, s1), (v0, v1) = _FRUIT_HSV[cls]
    colour = np.broadcast_to(
        _hsv_to_bgr(rng.uniform(h0, h1), rng.uniform(s0, s1), rng.uniform(v0, v1)), alpha.shape + (3,)
    ).copy()
    if cls == 1:  # turning: a green shoulder fading into orange
        green = _hsv_to_bgr(rng.uniform(35, 45), 160, 190)
        t = np.clip((-v - rng.uniform(-0.2, 0.3)) * 1.5, 0, 1)[..., None]
        colour = colour * (1 - t) + green * t
    lx, ly = rng.uniform(-0.5, -0.2), rng.uniform(-0.5, -0.2)  # light from the upper left
    shade = np.clip(1.05 - 0.35 * np.sqrt((u - lx) ** 2 + (v - ly) ** 2), 0.35, 1.1)[..., None]
    shine = np.exp(-((u - lx * 0.9) ** 2 + (v - ly * 0.9) ** 2) / 0.03)[..., None] * rng.uniform(60, 140)
    if cls == 3:  # overripe: dark blemishes and a duller skin
        shine *= 0.3
        for _ in range(int(rng.integers(2, 7))):
            bu, bv, br = rng.uniform(-0.6, 0.6), rng.uniform(-0.6, 0.6), rng.uniform(0.1, 0.3)
            spot = np.clip(1 - ((u - bu) ** 2 + (v - bv) ** 2) / br**2, 0, 1)[..., None]
            colour = colour * (1 - 0.8 * spot) + np.array([20, 30, 45], np.float32) * 0.8 * spot
    fruit = np.clip(colour * shade + shine, 0, 255)
    a = alpha[..., None]
    patch = img[y0:y1, x0:x1]
    patch[:] = patch * (1 - a) + fruit * a
    ids[y0:y1, x0:x1][alpha > 0.5] = fid
    # calyx: a small green star on top
    top = (int(cx + rng.uniform(-0.15, 0.15) * rx), int(cy - ry * rng.uniform(0.75, 0.9)))
    calyx = _hsv_to_bgr(rng.uniform(40, 60), 180, rng.uniform(70, 130)).tolist()
    for k in range(5):
        ang = k * 2 * np.pi / 5 + rng.uniform(-0.3, 0.3)
        tip = (int(top[0] + np.cos(ang) * r * 0.3), int(top[1] + np.sin(ang) * r * 0.18))
        cv2.line(img, top, tip, calyx, max(1, int(r / 12)), cv2.LINE_AA)


def _lighting(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    size = img.shape[0]
    gx, gy = rng.uniform(-0.25, 0.25, 2)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    gain = rng.uniform(0.75, 1.2) * (1 + gx * xx + gy * yy)
    tint = rng.uniform(0.92, 1.08, 3).astype(np.float32)
    out = img * gain[..., None] * tint + rng.normal(0, rng.uniform(2, 7), img.shape).astype(np.float32)
    if rng.random() < 0.25:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.6, 1.2))
    return np.clip(out, 0, 255).astype(np.uint8)


def render_ripeness_scene(rng: np.random.Generator, size: int = 320) -> tuple[np.ndarray, list[Box]]:
    """One BGR scene with 3–10 fruits and their boxes (tight around the visible pixels)."""
    img = _background(rng, size)
    ids = np.zeros((size, size), np.int32)
    fruits: list[tuple[int, float, float, float]] = []
    for _ in range(int(rng.integers(3, 11))):
        for _attempt in range(20):
            r = size * rng.uniform(0.04, 0.12)
            cx, cy = rng.uniform(r * 0.4, size - r * 0.4), rng.uniform(r * 0.4, size - r * 0.4)
            # slight occlusion allowed: centres at least 0.75 of the summed radii apart
            if all(np.hypot(cx - fx, cy - fy) > 0.75 * (r + fr) for _, fx, fy, fr in fruits):
                fruits.append((int(rng.integers(0, 4)), cx, cy, r))
                break
    full_area = {}
    for fid, (cls, cx, cy, r) in enumerate(fruits, start=1):
        _fruit(img, ids, fid, rng, cls, cx, cy, r)
        full_area[fid] = np.pi * r * r
    for _ in range(int(rng.integers(0, 3))):  # a few leaves in front
        _leaf(img, rng, size, rng.uniform(0.04, 0.09), ids)
    boxes = []
    for fid, (cls, *_rest) in enumerate(fruits, start=1):
        ys, xs = np.nonzero(ids == fid)
        if len(xs) < 0.3 * full_area[fid] or len(xs) < 12:
            continue  # mostly hidden: too ambiguous to label, and too hidden to matter
        boxes.append(Box(cls, float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)))
    return _lighting(img, rng), boxes


def render_sticky_trap(
    rng: np.random.Generator, size: int = 320, max_insects: int = 30
) -> tuple[np.ndarray, list[Box]]:
    """A yellow sticky card with small dark insects (class 0), for trap-camera tests and demos."""
    card = _hsv_to_bgr(rng.uniform(26, 32), rng.uniform(170, 230), rng.uniform(200, 250))
    img = np.empty((size, size, 3), np.float32)
    img[:] = card
    img += _smooth_noise(rng, size, 4, 8)[..., None]
    step = int(size / rng.uniform(6, 10))
    for k in range(step // 2, size, step):  # printed grid
        cv2.line(img, (k, 0), (k, size - 1), (card * 0.8).tolist(), 1)
        cv2.line(img, (0, k), (size - 1, k), (card * 0.8).tolist(), 1)
    boxes = []
    for _ in range(int(rng.integers(0, max_insects + 1))):
        r = size * rng.uniform(0.008, 0.02)
        cx, cy, ang = rng.uniform(r * 3, size - r * 3), rng.uniform(r * 3, size - r * 3), rng.uniform(0, 180)
        body = (rng.uniform(10, 60),) * 3
        wing = (card * 0.75 + 40).tolist()
        cv2.ellipse(img, (int(cx), int(cy)), (int(r * 2.2), int(r * 1.2)), ang + 30, 0, 360, wing, -1, cv2.LINE_AA)
        cv2.ellipse(img, (int(cx), int(cy)), (int(r * 1.6), max(1, int(r * 0.7))), ang, 0, 360, body, -1, cv2.LINE_AA)
        e = r * 2.4
        boxes.append(Box(0, max(0, cx - e), max(0, cy - e), min(size, cx + e), min(size, cy + e)))
    return _lighting(img, rng), boxes


def generate_ripeness_dataset(
    dest: Path,
    *,
    counts: dict[str, int] | None = None,
    imgsz: int = 320,
    seed: int = 0,
    jpeg_quality: int = 92,
) -> SyntheticStats:
    """Write ``dest/images/<split>/*.jpg``, ``dest/labels/<split>/*.txt`` and ``dest/data.yaml``."""
    counts = counts or {"train": 300, "val": 60, "test": 60}
    dest = Path(dest)
    stats = SyntheticStats()
    for split, n in counts.items():
        (dest / "images" / split).mkdir(parents=True, exist_ok=True)
        (dest / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            rng = np.random.default_rng([seed, SPLIT_IDS.get(split, 9), i])
            img, boxes = render_ripeness_scene(rng, imgsz)
            name = f"ripeness_{split}_{i:05d}"
            cv2.imwrite(str(dest / "images" / split / f"{name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
            lines = [b.yolo(imgsz, imgsz) for b in boxes]
            (dest / "labels" / split / f"{name}.txt").write_text("".join(f"{ln}\n" for ln in lines))
            stats.images[split] += 1
            stats.boxes_per_class.update(b.cls for b in boxes)
    write_data_yaml(dest, RIPENESS_NAMES, tuple(counts))
    return stats
