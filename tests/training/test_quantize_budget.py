"""INT8 calibration keeps every activation of every calibration image in memory (percentile): at 480 px, 128
images took over 20 GB and the kernel killed the pipeline. The number of images follows the input size."""

from __future__ import annotations

from training.quantize import QuantizeConfig, calibration_count


def test_calibration_images_shrink_with_the_input_size():
    cfg = QuantizeConfig()
    assert calibration_count(cfg, 320) == 128  # the small models keep all their calibration images
    assert calibration_count(cfg, 416) == 85
    assert calibration_count(cfg, 480) == 64
    assert calibration_count(cfg, 1280) == 16  # never fewer than 16
    per_image = [calibration_count(cfg, s) * s * s for s in (416, 480, 640)]
    assert max(per_image) <= cfg.calibration_budget_px  # the memory budget holds at every size
