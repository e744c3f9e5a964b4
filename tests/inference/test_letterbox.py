"""Letterbox parity with ``ultralytics.data.augment.LetterBox`` (pixel-exact) and with the predictor's tensor."""

from __future__ import annotations

import numpy as np
import pytest

from inference.letterbox import blob_from_images, compute_letterbox, letterbox_image, scale_boxes

SHAPES = ["640x640", "640x480", "400x640", "1280x720", "150x100"]


@pytest.fixture(scope="module")
def variants(photo_shapes):
    return photo_shapes


@pytest.mark.parametrize("auto", [True, False], ids=["rect", "square"])
@pytest.mark.parametrize("imgsz", [320, 640, (384, 640)])
@pytest.mark.parametrize("shape", SHAPES)
def test_letterbox_pixel_exact(ultralytics, variants, shape, imgsz, auto):
    from ultralytics.data.augment import LetterBox

    img = variants[shape]
    ref = LetterBox(imgsz, auto=auto, stride=32)(image=img.copy())
    lb = compute_letterbox(img.shape, imgsz, auto=auto, stride=32)
    out = letterbox_image(img, lb)
    assert out.shape[:2] == lb.shape
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("shape", [(1, 3000), (3000, 1), (577, 640), (333, 517)])
def test_letterbox_odd_shapes(ultralytics, shape):
    from ultralytics.data.augment import LetterBox

    img = np.random.default_rng(0).integers(0, 255, (*shape, 3), dtype=np.uint8)
    for auto in (True, False):
        ref = LetterBox(320, auto=auto, stride=32)(image=img.copy())
        np.testing.assert_array_equal(letterbox_image(img, compute_letterbox(img.shape, 320, auto=auto)), ref)


@pytest.mark.parametrize("shape", SHAPES)
def test_blob_equals_predictor_preprocess(ultralytics, variants, shape):
    """Same float32 bits as BasePredictor.preprocess: letterbox, BGR->RGB, HWC->CHW, uint8 -> float /255."""
    import torch
    from ultralytics.data.augment import LetterBox

    img = variants[shape]
    ref = LetterBox(320, auto=True, stride=32)(image=img.copy())
    ref = torch.from_numpy(ref).unsqueeze(0).permute(0, 3, 1, 2).contiguous().flip(1).float().div_(255).numpy()
    lb = compute_letterbox(img.shape, 320, auto=True)
    blob = blob_from_images([img], [lb])
    assert blob.dtype == np.float32 and blob.flags.c_contiguous
    np.testing.assert_array_equal(blob, ref)


def test_blob_batch_and_shape_check(variants):
    a, b = variants["640x480"], variants["1280x720"]
    lbs = [compute_letterbox(x.shape, 320, auto=False) for x in (a, b)]
    blob = blob_from_images([a, b], lbs)
    assert blob.shape == (2, 3, 320, 320)
    np.testing.assert_array_equal(blob[1], blob_from_images([b], lbs[1:])[0])
    with pytest.raises(ValueError):
        blob_from_images([a, b], [compute_letterbox(x.shape, 320, auto=True) for x in (a, b)])
    with pytest.raises(ValueError):
        blob_from_images([a[..., 0]], lbs[:1])


@pytest.mark.parametrize("shape", [(640, 640), (480, 640), (640, 400), (720, 1280), (577, 640), (100, 150)])
def test_scale_boxes_inverts_letterbox(shape):
    """Boxes mapped into the letterbox and back land where they started (per-axis gains of the rounded resize)."""
    lb = compute_letterbox(shape, 320, auto=True)
    h0, w0 = shape
    boxes = np.array([[0, 0, w0, h0], [w0 * 0.25, h0 * 0.1, w0 * 0.5, h0 * 0.9]], dtype=np.float32)
    gx, gy = lb.gain
    fwd = boxes * np.array([gx, gy, gx, gy], np.float32) + np.array([lb.left, lb.top] * 2, np.float32)
    np.testing.assert_allclose(scale_boxes(fwd, lb), boxes, rtol=1e-5, atol=1e-3)


def test_scale_boxes_clips():
    lb = compute_letterbox((480, 640), 320, auto=False)  # 320x240 inside 320x320, 40 px bars
    out = scale_boxes(np.array([[-5, 0, 330, 330]], np.float32), lb)
    np.testing.assert_array_equal(out, [[0, 0, 640, 480]])
