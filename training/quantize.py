"""Static INT8 quantization (ONNX Runtime, QDQ format) of an exported YOLO detector.

Calibration runs the FP32 model on images of the model's own training split, letterboxed exactly as the detector does
at serving time. Weights are quantized per channel (int8), activations per tensor (uint8, asymmetric: after SiLU they
are mostly positive). The head's decode part (DFL softmax, anchor arithmetic, the final concat of boxes and scores)
stays in float: box coordinates span 0..imgsz and class scores 0..1 in one tensor, which one 8-bit scale cannot hold.
The ONNX metadata (class names, imgsz, task) is copied over, so the INT8 file is served by the same code.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnx

from inference.letterbox import blob_from_images, compute_letterbox

log = logging.getLogger(__name__)

#: nodes of the detection head that stay in float (everything of model.23 that is not one of its conv branches)
HEAD_PREFIX = "/model.23/"
HEAD_CONV_BRANCHES = ("/model.23/cv2", "/model.23/cv3", "/model.23/one2one_cv2", "/model.23/one2one_cv3")


@dataclass(frozen=True)
class QuantizeConfig:
    calibration_images: int = 128
    #: percentile calibration keeps every activation of every calibration image in memory (onnxruntime folds
    #: histograms only for minmax): 128 images at 480 px took over 20 GB and the kernel killed the pipeline, so the
    #: number of images is capped by their total pixels (64 at 480 px, 85 at 416 px, all 128 at 320 px)
    calibration_budget_px: int = 64 * 480 * 480
    per_channel: bool = True
    method: str = "percentile"  # percentile (99.999th) | minmax | entropy; percentile kept mAP best on pest
    activation_type: str = "uint8"
    weight_type: str = "int8"
    seed: int = 0
    #: more node-name prefixes kept in float besides the head's decode (e.g. the class-logit convolutions)
    keep_float: tuple[str, ...] = ()


def float_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes that are left in float: the head's decode arithmetic."""
    return [
        n.name for n in model.graph.node if n.name.startswith(HEAD_PREFIX) and not n.name.startswith(HEAD_CONV_BRANCHES)
    ]


def calibration_count(config: QuantizeConfig, imgsz: int) -> int:
    """How many calibration images fit the memory budget at this input size (at least 16)."""
    return min(config.calibration_images, max(16, config.calibration_budget_px // (imgsz * imgsz)))


def calibration_images(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """A fixed random sample (by seed) of the images in ``folder``."""
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not paths:
        raise FileNotFoundError(f"no calibration images in {folder}")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(paths), size=min(n, len(paths)), replace=False)
    return [paths[i] for i in sorted(idx)]


class _Reader:
    """onnxruntime CalibrationDataReader over letterboxed images (one image per batch)."""

    def __init__(self, input_name: str, paths: Sequence[Path], imgsz: int) -> None:
        self.input_name = input_name
        self.paths = list(paths)
        self.imgsz = imgsz
        self._it: Iterator[dict[str, np.ndarray]] | None = None

    def _gen(self) -> Iterator[dict[str, np.ndarray]]:
        for p in self.paths:
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if img is None:
                log.warning("calibration: cannot read %s, skipped", p)
                continue
            lb = compute_letterbox(img.shape[:2], (self.imgsz, self.imgsz), auto=False)
            yield {self.input_name: blob_from_images([img], [lb])}

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._it is None:
            self._it = self._gen()
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = None


def quantize_int8(
    fp32: Path, out: Path, images: Sequence[Path], *, imgsz: int, config: QuantizeConfig = QuantizeConfig()
) -> Path:
    """Write the INT8 QDQ model for ``fp32`` to ``out`` (metadata copied); returns ``out``."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    types = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    model = onnx.load(str(fp32))
    excluded = float_nodes(model) + [
        n.name for n in model.graph.node if config.keep_float and n.name.startswith(config.keep_float)
    ]
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):  # the tools leave scratch files in the cwd
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        reader = _Reader(model.graph.input[0].name, images, imgsz)
        tmp_out = Path(tmp) / "int8.onnx"
        quantize_static(
            str(pre),
            str(tmp_out),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=config.per_channel,
            activation_type=types[config.activation_type],
            weight_type=types[config.weight_type],
            calibrate_method=methods[config.method],
            nodes_to_exclude=excluded,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
        q = onnx.load(str(tmp_out))
    del q.metadata_props[:]
    for prop in model.metadata_props:
        q.metadata_props.add(key=prop.key, value=prop.value)
    q.metadata_props.add(key="cropwatch_variant", value="int8")
    q.metadata_props.add(
        key="cropwatch_quantization",
        value=(
            f"static QDQ, {config.method} calibration on {len(images)} images, per_channel={config.per_channel}, "
            f"activations {config.activation_type}, weights {config.weight_type}, head decode in float"
        ),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(q, str(out))
    return out


def int8_path(fp32: Path) -> Path:
    """``models/pest/pest-rice-yolo11n.onnx`` -> ``models/pest/pest-rice-yolo11n.int8.onnx``."""
    return fp32.with_name(f"{fp32.stem}.int8.onnx")
