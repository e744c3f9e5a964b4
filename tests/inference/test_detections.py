from __future__ import annotations

import numpy as np
import pytest

from inference.detections import DetectionRecord, Detections
from inference.nms import nms


def make(n: int = 3, *, extras: bool = False) -> Detections:
    xyxy = np.array([[10 * i, 10 * i, 10 * i + 20, 10 * i + 20] for i in range(n)], dtype=np.float32).reshape(-1, 4)
    data = {"tile": np.arange(n)} if extras else {}
    return Detections(xyxy, np.linspace(0.9, 0.5, n, dtype=np.float32), np.arange(n) % 2, data)


# -- construction ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "xyxy, conf, cls, data",
    [
        (np.zeros((2, 3)), np.zeros(2), np.zeros(2), {}),  # 3 coordinates
        (np.zeros(4), np.zeros(1), np.zeros(1), {}),  # 1-D boxes
        (np.zeros((2, 4)), np.zeros(3), np.zeros(2), {}),  # confidence length
        (np.zeros((2, 4)), np.zeros(2), np.zeros(1), {}),  # class_id length
        (np.zeros((2, 4)), np.zeros((2, 1)), np.zeros(2), {}),  # confidence not 1-D
        (np.zeros((2, 4)), np.zeros(2), np.array([0.5, 1.0]), {}),  # fractional class
        (np.zeros((2, 4)), np.zeros(2), np.array(["a", "b"]), {}),  # non-numeric class
        (np.zeros((2, 4)), np.zeros(2), np.zeros(2), {"x": np.zeros(3)}),  # data length
        (np.zeros((2, 4)), np.zeros(2), np.zeros(2), {"x": np.float32(1)}),  # data scalar
    ],
)
def test_construction_rejects_bad_shapes(xyxy, conf, cls, data):
    with pytest.raises(ValueError):
        Detections(xyxy, conf, cls, data)


def test_construction_normalises_dtypes():
    d = Detections([[0, 0, 1, 1]], [0.5], np.array([2.0]))
    assert d.xyxy.dtype == np.float32 and d.confidence.dtype == np.float32 and d.class_id.dtype == np.int64
    assert d.class_id.tolist() == [2]


@pytest.mark.parametrize("d", [Detections.empty(), Detections([], [], []), Detections(np.empty((0, 4)), [], [])])
def test_empty(d):
    assert len(d) == 0 and d.xyxy.shape == (0, 4) and d.confidence.shape == (0,) and d.class_id.shape == (0,)


def test_is_frozen():
    d = make()
    with pytest.raises(AttributeError):
        d.xyxy = np.zeros((0, 4))  # type: ignore[misc]


# -- indexing -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "index, expected",
    [
        (np.array([True, False, True, False]), [0, 2]),
        (np.zeros(4, dtype=bool), []),
        ([3, 1], [3, 1]),
        ([], []),
        ([True, False, False, True], [0, 3]),
        (np.array([0]), [0]),
        (slice(1, 3), [1, 2]),
        (slice(None, None, -1), [3, 2, 1, 0]),
        (2, [2]),
        (-1, [3]),
        (np.int64(1), [1]),
    ],
)
def test_getitem(index, expected):
    d = make(4, extras=True)
    sub = d[index]
    assert isinstance(sub, Detections)
    assert sub.data["tile"].tolist() == expected
    np.testing.assert_array_equal(sub.xyxy, d.xyxy[expected])
    np.testing.assert_array_equal(sub.confidence, d.confidence[expected])
    np.testing.assert_array_equal(sub.class_id, d.class_id[expected])


def test_mask_of_wrong_length_fails():
    with pytest.raises(IndexError):
        make(4)[np.array([True, False])]


def test_equality():
    assert make(3, extras=True) == make(3, extras=True)
    assert make(3) != make(2)
    assert make(3) != make(3, extras=True)


# -- merge / filter -------------------------------------------------------------------------------------------------
def test_merge():
    a, b = make(2, extras=True), make(3, extras=True)
    m = Detections.merge([a, Detections.empty(), b])
    assert len(m) == 5 and m.data["tile"].tolist() == [0, 1, 0, 1, 2]
    assert Detections.merge([]) == Detections.empty()
    with pytest.raises(ValueError):
        Detections.merge([make(2, extras=True), make(2)])


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, 5),
        ({"min_confidence": 0.7}, 3),  # 0.9, 0.8, 0.7
        ({"classes": [1]}, 2),
        ({"classes": []}, 0),
        ({"min_confidence": 0.75, "classes": {0}}, 1),
    ],
)
def test_filter(kwargs, expected):
    assert len(make(5).filter(**kwargs)) == expected


# -- NMS ------------------------------------------------------------------------------------------------------------
BOX_A = [0, 0, 100, 100]
BOX_B = [10, 0, 110, 100]  # IoU with A = 90/110 = 0.818
BOX_C = [50, 0, 150, 100]  # IoU with A = 1/3


@pytest.mark.parametrize(
    "boxes, scores, classes, iou, agnostic, kept",
    [
        ([BOX_A, BOX_B], [0.9, 0.8], [0, 0], 0.5, False, [0]),
        ([BOX_A, BOX_B], [0.8, 0.9], [0, 0], 0.5, False, [1]),  # best score wins
        ([BOX_A, BOX_B], [0.9, 0.8], [0, 0], 0.85, False, [0, 1]),  # below threshold: both stay
        ([BOX_A, BOX_B], [0.9, 0.8], [0, 1], 0.5, False, [0, 1]),  # other class: both stay
        ([BOX_A, BOX_B], [0.9, 0.8], [0, 1], 0.5, True, [0]),  # class-agnostic
        ([BOX_A, BOX_B, BOX_C], [0.9, 0.8, 0.7], [0, 0, 0], 0.5, False, [0, 2]),
        ([BOX_B, BOX_A, BOX_C], [0.8, 0.9, 0.85], [0, 0, 0], 0.3, False, [1]),  # C suppressed by A (1/3 > 0.3)
        ([BOX_A, BOX_A], [0.5, 0.5], [0, 0], 0.5, False, [0]),  # tie: first one (stable order, like torchvision)
        ([BOX_A, [5, 5, 5, 5]], [0.9, 0.8], [0, 0], 0.5, False, [0, 1]),  # zero-area box
        ([[5, 5, 5, 5], [5, 5, 5, 5]], [0.9, 0.8], [0, 0], 0.5, False, [0, 1]),  # 0/0 IoU keeps, like torchvision
    ],
)
def test_with_nms(boxes, scores, classes, iou, agnostic, kept):
    d = Detections(np.array(boxes, np.float32), scores, classes, {"i": np.arange(len(boxes))})
    out = d.with_nms(iou, class_agnostic=agnostic)
    assert out.data["i"].tolist() == kept


def test_nms_matches_torchvision():
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision")
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 300, (2000, 2)).astype(np.float32)
    wh = rng.uniform(5, 120, (2000, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + wh], 1)
    scores = rng.choice(np.linspace(0.1, 0.9, 50), 2000).astype(np.float32)  # many ties
    cls = rng.integers(0, 5, 2000)
    for iou in (0.3, 0.5, 0.7):
        ref = tv.ops.batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(cls), iou)
        ours = nms(boxes, scores, iou, class_ids=cls)
        # batched_nms uses its own class offset; compare the kept set, and order through scores
        assert set(ours.tolist()) == set(ref.numpy().tolist())


# -- records --------------------------------------------------------------------------------------------------------
def test_records_round_trip():
    d = make(3, extras=True)
    names = {0: "rice_bug", 1: "planthopper"}
    records = d.records(names)
    assert records[0] == DetectionRecord(0, "rice_bug", 0.9, (0.0, 0.0, 20.0, 20.0))
    assert [r.class_name for r in records] == ["rice_bug", "planthopper", "rice_bug"]
    assert records[0].to_json() == {"class_id": 0, "class_name": "rice_bug", "score": 0.9, "xyxy": [0, 0, 20, 20]}
    assert [DetectionRecord.from_json(r.to_json()) for r in records] == records
    back = Detections.of_records(records)
    np.testing.assert_allclose(back.xyxy, d.xyxy)
    np.testing.assert_allclose(back.confidence, d.confidence, atol=1e-5)
    assert back.class_id.tolist() == d.class_id.tolist()
    assert Detections.of_records([]) == Detections.empty() and Detections.empty().records(names) == []


def test_records_read_the_older_json_forms():
    rec = DetectionRecord(1, "planthopper", 0.7, (1, 2, 3, 4))
    agent = {"class_name": "planthopper", "score": 0.7, "box": [1, 2, 3, 4]}  # an agent before the record
    shadow = {"class_name": "planthopper", "score": 0.7, "x1": 1, "y1": 2, "x2": 3, "y2": 4}  # a stored shadow result
    assert DetectionRecord.from_json(agent, {"planthopper": 1}) == rec
    assert DetectionRecord.from_json(shadow, {"planthopper": 1}) == rec
    assert DetectionRecord.from_json(shadow).class_id == -1, "no class map: the id is unknown, not guessed"


def test_a_record_clipped_to_the_image():
    rec = DetectionRecord(0, "a", 0.5, (-5, 10, 700, 50))
    assert rec.clipped(640, 480).xyxy == (0, 10, 640, 50)
    assert DetectionRecord(0, "a", 0.5, (650, 10, 700, 50)).clipped(640, 480) is None


def test_records_unknown_class_name():
    assert Detections([[0, 0, 1, 1]], [0.5], [9]).records({0: "a"})[0].class_name == "9"
