"""Network-only CPU latency of an ONNX detector in a bare onnxruntime session."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Latency:
    median_ms: float
    p90_ms: float
    runs: int
    batch: int
    imgsz: int
    threads: int
    provider: str = "CPUExecutionProvider"

    def as_dict(self) -> dict:
        return asdict(self)


def measure_latency(onnx_path: Path, *, imgsz: int, threads: int = 2, runs: int = 50, warmup: int = 5) -> Latency:
    """Median time of one forward pass on a 1×3×imgsz×imgsz input (no pre/post-processing)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads  # its default reads the host's cores, not the container's
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
    for _ in range(warmup):
        sess.run(None, {name: x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, {name: x})
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return Latency(
        median_ms=round(statistics.median(times), 2),
        p90_ms=round(times[int(0.9 * (len(times) - 1))], 2),
        runs=runs,
        batch=1,
        imgsz=imgsz,
        threads=threads,
    )
