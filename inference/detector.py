"""Object detectors: a template-method base (pre-process -> forward -> post-process) and the ONNX Runtime YOLO one.

The hot path is NumPy + OpenCV + onnxruntime only (no torch, no ultralytics). ``OnnxDetector`` reproduces
``YOLO(onnx).predict()`` box for box: same letterbox, same decode, same class-aware NMS (see ``inference.nms``), same
mapping back to the original image.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inference.detections import Detections
from inference.letterbox import Letterbox, blob_from_images, compute_letterbox, scale_boxes
from inference.model_file import ModelRejected, read_model_file
from inference.nms import ULTRALYTICS_MAX_WH, nms


class Detector(ABC):
    """Template method: ``predict_batch`` groups images, then runs preprocess -> forward -> postprocess per group."""

    names: dict[int, str]
    imgsz: tuple[int, int]
    task: str | None
    max_batch: int = 16

    def __call__(self, image: np.ndarray, **kwargs: Any) -> Detections:
        return self.predict_batch([image], **kwargs)[0]

    def predict_batch(self, images: Sequence[np.ndarray], **kwargs: Any) -> list[Detections]:
        results: list[Detections | None] = [None] * len(images)
        for idx in self.group(images):
            inputs, metas = self.preprocess([images[i] for i in idx])
            outputs = self.forward(inputs)
            for i, det in zip(idx, self.postprocess(outputs, metas, **kwargs)):
                results[i] = det
        return results  # type: ignore[return-value]

    def group(self, images: Sequence[np.ndarray]) -> list[list[int]]:
        """Indices of the images that go through the model together (default: chunks of ``max_batch``)."""
        return [list(range(i, min(i + self.max_batch, len(images)))) for i in range(0, len(images), self.max_batch)]

    @abstractmethod
    def preprocess(self, images: Sequence[np.ndarray]) -> tuple[Any, list[Any]]:
        """Model input for a group of images, and per-image metadata for postprocess."""

    @abstractmethod
    def forward(self, inputs: Any) -> Any:
        """Run the model."""

    @abstractmethod
    def postprocess(self, outputs: Any, metas: list[Any], **kwargs: Any) -> list[Detections]:
        """Raw outputs -> one Detections per image, in original-image pixels."""


class OnnxDetector(Detector):
    """YOLO (v8/11 head, or an end-to-end NMS-free export) in ONNX Runtime.

    ``conf``/``iou``/``max_det`` default to Ultralytics predict's 0.25 / 0.7 / 300 and can be overridden per call.
    A dynamic-shape export is letterboxed to the minimal stride-multiple rectangle (like predict), a fixed one to
    ``imgsz``; images whose letterbox shapes match run as one batched session call.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        threads: int = 2,
        provider: str = "cpu",
        expected_sha256: str | None = None,
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 300,
        agnostic: bool = False,
        max_nms: int = 30000,
        max_batch: int = 16,
        parallel: int = 1,
    ):
        from inference.providers import create_session  # imports onnxruntime

        self.path = Path(path)
        self.threads, self.parallel = max(1, int(threads)), max(1, int(parallel))
        self._provider_setting = provider
        self._par_session = None
        self._pool = None
        self.conf, self.iou, self.max_det, self.agnostic, self.max_nms = conf, iou, max_det, agnostic, max_nms
        model = read_model_file(self.path, expected_sha256)
        self.sha256 = model.sha256
        self._model_bytes = model.data if self.parallel > 1 else None  # the verified bytes, for the second session
        try:
            self.session, self.provider = create_session(model.data, threads=threads, provider=provider)
        except Exception as e:
            raise ModelRejected(self.path, "corrupt", f"onnxruntime cannot load it: {e}") from e
        self._configure(model.metadata, max_batch)
        self._smoke_test()

    # -- checks -------------------------------------------------------------------------------------------------
    def _configure(self, meta: dict[str, Any], max_batch: int) -> None:
        def reject(detail: str) -> ModelRejected:
            return ModelRejected(self.path, "incompatible", detail)

        self.metadata = meta
        names = meta.get("names")
        if isinstance(names, list):
            names = dict(enumerate(names))
        if not isinstance(names, dict) or not names:
            raise reject("no class names in the model metadata (export it with Ultralytics)")
        self.names = {int(k): str(v) for k, v in names.items()}
        if sorted(self.names) != list(range(len(self.names))):
            raise reject(f"class ids must be 0..{len(self.names) - 1}, got {sorted(self.names)}")
        self.task = meta.get("task")
        if self.task not in (None, "detect"):
            raise reject(f"task {self.task!r} is not object detection")
        self.cropwatch_task = meta.get("cropwatch_task")
        self.variant = str(meta.get("cropwatch_variant", "fp32"))  # training/quantize.py marks its INT8 files
        self.stride = int(meta.get("stride", 32))
        self.end2end = bool(meta.get("end2end") or (meta.get("args") or {}).get("nms"))

        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise reject(f"expected one 4-D image input, got {[(i.name, i.shape) for i in inputs]}")
        inp = inputs[0]
        b, c, h, w = inp.shape
        if isinstance(c, int) and c != 3:
            raise reject(f"input has {c} channels, expected 3")
        imgsz = meta.get("imgsz", 640)
        imgsz = (imgsz, imgsz) if isinstance(imgsz, int) else tuple(int(x) for x in imgsz)
        self.dynamic = not (isinstance(h, int) and isinstance(w, int))
        self.imgsz = imgsz if self.dynamic else (h, w)
        self.max_batch = max_batch if not isinstance(b, int) else min(max_batch, b)
        self._input_name = inp.name
        self._input_dtype = np.float16 if "float16" in inp.type else np.float32
        self._output_name = outputs[0].name
        oshape = outputs[0].shape
        if len(oshape) != 3:
            raise reject(f"output {oshape} is not 3-D")
        nc = len(self.names)
        if not self.end2end and isinstance(oshape[1], int) and oshape[1] != 4 + nc:
            raise reject(f"output has {oshape[1]} channels but metadata names {nc} classes (expected {4 + nc})")
        if self.end2end and isinstance(oshape[2], int) and oshape[2] != 6:
            raise reject(f"end-to-end output {oshape} is not (batch, N, 6)")

    def _smoke_test(self) -> None:
        blank = np.full((*self.imgsz, 3), 114, dtype=np.uint8)
        try:
            inputs, metas = self.preprocess([blank])
            raw = self.forward(inputs)
            n = len(self.names)
            expected_c = 6 if self.end2end else 4 + n
            got_c = raw.shape[2] if self.end2end else raw.shape[1]
            if raw.ndim != 3 or raw.shape[0] != 1 or got_c != expected_c:
                raise ValueError(f"output shape {raw.shape} does not fit {n} classes")
            if not np.isfinite(raw).all():
                raise ValueError("output contains NaN or inf")
            self.postprocess(raw, metas)
        except Exception as e:
            raise ModelRejected(self.path, "smoke_failed", f"inference on a blank image failed: {e}") from e

    # -- parallel batches -----------------------------------------------------------------------------------------
    def predict_batch(self, images: Sequence[np.ndarray], **kwargs: Any) -> list[Detections]:
        """As the base class; with ``parallel`` > 1 (on CPU) a group of several images is split into ``parallel``
        chunks that run at the same time, each on one core through a single-threaded session. On small inputs
        (320 px) onnxruntime's intra-op threads barely help (one conv is too small to share), while whole images on
        separate cores scale almost linearly; single images keep the ``threads``-wide session (lowest latency)."""
        if self.parallel == 1 or self.provider != "cpu" or len(images) < 2:
            return super().predict_batch(images, **kwargs)
        results: list[Detections | None] = [None] * len(images)
        jobs = [
            chunk.tolist()
            for idx in self.group(images)
            for chunk in np.array_split(np.asarray(idx), min(self.parallel, len(idx)))
        ]
        session, pool = self._parallel_session()

        def run(idx: list[int]) -> tuple[list[int], list[Detections]]:
            inputs, metas = self.preprocess([images[i] for i in idx])
            outputs = session.run([self._output_name], {self._input_name: inputs})[0]
            return idx, self.postprocess(outputs, metas, **kwargs)

        for idx, dets in pool.map(run, jobs):
            for i, det in zip(idx, dets):
                results[i] = det
        return results  # type: ignore[return-value]

    def _parallel_session(self):
        if self._par_session is None:
            from concurrent.futures import ThreadPoolExecutor

            from inference.providers import create_session

            self._par_session, _ = create_session(self._model_bytes, threads=1, provider=self._provider_setting)
            self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="cropwatch-onnx")
        return self._par_session, self._pool

    # -- template steps -----------------------------------------------------------------------------------------
    def letterbox(self, shape: tuple[int, ...]) -> Letterbox:
        return compute_letterbox(shape[:2], self.imgsz, auto=self.dynamic, stride=self.stride)

    def group(self, images: Sequence[np.ndarray]) -> list[list[int]]:
        """Images with the same letterbox shape share a session call (so a batch gives exactly the single results)."""
        by_shape: dict[tuple[int, int], list[int]] = {}
        for i, img in enumerate(images):
            by_shape.setdefault(self.letterbox(img.shape).shape, []).append(i)
        return [idx[i : i + self.max_batch] for idx in by_shape.values() for i in range(0, len(idx), self.max_batch)]

    def preprocess(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[Letterbox]]:
        boxes = [self.letterbox(img.shape) for img in images]
        return blob_from_images(images, boxes, dtype=self._input_dtype), boxes

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        return self.session.run([self._output_name], {self._input_name: inputs})[0]

    def postprocess(
        self,
        outputs: np.ndarray,
        metas: list[Letterbox],
        *,
        conf: float | None = None,
        iou: float | None = None,
        max_det: int | None = None,
    ) -> list[Detections]:
        conf = self.conf if conf is None else conf
        iou = self.iou if iou is None else iou
        max_det = self.max_det if max_det is None else max_det
        outputs = outputs.astype(np.float32, copy=False)
        decode = self._decode_end2end if self.end2end else self._decode
        results = []
        for pred, lb in zip(outputs, metas):
            xyxy, score, cls = decode(pred, conf, iou, max_det)
            results.append(Detections(scale_boxes(xyxy, lb), score, cls))
        return results

    def _decode(self, pred: np.ndarray, conf: float, iou: float, max_det: int):
        """(4 + nc, anchors) xywh + class scores -> NMS'd xyxy, score, class (as Ultralytics' non_max_suppression)."""
        cls_scores = pred[4 : 4 + len(self.names)]
        best = cls_scores.max(axis=0)
        cand = np.flatnonzero(best > conf)
        if len(cand) > self.max_nms:  # Ultralytics keeps the max_nms best (ties beyond this are never reached here)
            cand = cand[np.argsort(-best[cand], kind="stable")[: self.max_nms]]
        score = best[cand]
        cls = cls_scores[:, cand].argmax(axis=0)
        xy, half = pred[0:2, cand], pred[2:4, cand] / np.float32(2)
        xyxy = np.concatenate((xy - half, xy + half)).T  # (n, 4), float32 like xywh2xyxy
        keep = nms(
            xyxy, score, iou, class_ids=None if self.agnostic else cls, max_wh=ULTRALYTICS_MAX_WH, max_det=max_det
        )
        return np.ascontiguousarray(xyxy[keep]), score[keep], cls[keep].astype(np.int64)

    def _decode_end2end(self, pred: np.ndarray, conf: float, iou: float, max_det: int):
        """(N, 6) x1 y1 x2 y2 score class from an NMS-free head: confidence filter and max_det only."""
        keep = np.flatnonzero(pred[:, 4] > conf)[:max_det]
        return pred[keep, :4].copy(), pred[keep, 4].copy(), pred[keep, 5].astype(np.int64)

    def __repr__(self) -> str:
        return (
            f"OnnxDetector({self.path.name!r}, sha256={self.sha256[:12]}, task={self.cropwatch_task or self.task}, "
            f"classes={len(self.names)}, imgsz={self.imgsz}, provider={self.provider})"
        )
