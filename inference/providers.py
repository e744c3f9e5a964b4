"""Execution-provider choice: a setting ('cpu' | 'cuda' | 'tensorrt' | 'openvino') -> onnxruntime providers.

A provider that this onnxruntime build lacks (``onnxruntime`` vs ``onnxruntime-gpu`` / ``-openvino``) is dropped with
a logged warning and the session runs on CPU; the provider actually in use is read back from the session.
"""

from __future__ import annotations

import logging
import threading
from typing import Literal

import onnxruntime as ort

log = logging.getLogger(__name__)

ProviderName = Literal["cpu", "cuda", "tensorrt", "openvino"]

CPU = "CPUExecutionProvider"
#: setting -> onnxruntime providers in priority order (CPU always last, for nodes the accelerator cannot run)
PROVIDER_CHAINS: dict[str, tuple[str, ...]] = {
    "cpu": (CPU,),
    "cuda": ("CUDAExecutionProvider", CPU),
    "tensorrt": ("TensorrtExecutionProvider", "CUDAExecutionProvider", CPU),
    "openvino": ("OpenVINOExecutionProvider", CPU),
}
PROVIDER_OPTIONS: dict[str, dict[str, str]] = {
    "OpenVINOExecutionProvider": {"device_type": "CPU"},
}
_KEYS = {chain[0]: key for key, chain in PROVIDER_CHAINS.items()}


def resolve_providers(name: str, available: list[str] | None = None) -> list[str]:
    """The onnxruntime providers for a setting, minus those this build lacks (warning when the first one is missing)."""
    if name not in PROVIDER_CHAINS:
        raise ValueError(f"unknown execution provider {name!r}; choose one of {sorted(PROVIDER_CHAINS)}")
    available = ort.get_available_providers() if available is None else available
    chain = [p for p in PROVIDER_CHAINS[name] if p in available or p == CPU]
    if chain[0] != PROVIDER_CHAINS[name][0]:
        log.warning(
            "execution provider %r requested but %s is not in this onnxruntime build (available: %s); using %s",
            name,
            PROVIDER_CHAINS[name][0],
            ", ".join(available),
            chain[0],
        )
    return chain


def provider_key(ort_provider: str) -> str:
    """'CUDAExecutionProvider' -> 'cuda'; unknown names are returned unchanged."""
    return _KEYS.get(ort_provider, ort_provider)


_shared_arena_lock = threading.Lock()
_shared_arena = False


def _share_one_cpu_arena() -> None:
    """Register one CPU memory arena for the whole process, which every session then uses (``use_env_allocators``)
    instead of an arena of its own: a worker holds a session per production model (and a second per model for its
    parallel batches), and separate arenas each grow to their own model's largest batch, so the process held the
    sum of them. With one shared arena, growing only by what is asked (not the next power of two), it holds what the
    largest batch needs: 4 models after a batch of 8 on two of them, 762 MB with an arena each, 537 MB shared
    (docs/decisions.md)."""
    global _shared_arena
    with _shared_arena_lock:
        if _shared_arena:
            return
        info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        # max memory (0: none), extend strategy 1 (kSameAsRequested), initial chunk and dead bytes: the defaults
        ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, 1, -1, -1))
        _shared_arena = True


def session_options(threads: int) -> ort.SessionOptions:
    """Full graph optimisation, explicit thread counts (the default reads the host's cores, not the container's),
    sequential execution, the process's one shared CPU memory arena (:func:`_share_one_cpu_arena`), no
    memory-pattern planning, and no spin-waiting.

    The memory pattern is planned and kept per input shape, and a worker's batches come in every size from 1 to
    ``batch_size``: with it on, the 480 px rice model's batches of 8 held 537 MB of the process, with it off 374-395
    at the same speed. onnxruntime's intra-op threads otherwise busy-wait after each call for more work, which on a
    box shared with the API and object storage burns a core between captures (measured: a 2-thread INT8 call 30 ms
    apart cost 63-65 ms of CPU with spinning, 29-34 ms without, for the same ~17-24 ms of wall time;
    docs/decisions.md)."""
    _share_one_cpu_arena()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.enable_cpu_mem_arena = True
    opts.enable_mem_pattern = False
    opts.log_severity_level = 3  # errors only; fallbacks are reported through logging above
    opts.add_session_config_entry("session.use_env_allocators", "1")
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return opts


def create_session(model: bytes | str, *, threads: int = 2, provider: str = "cpu") -> tuple[ort.InferenceSession, str]:
    """An InferenceSession and the key of the provider that really runs it (after any silent fallback)."""
    chain = resolve_providers(provider)
    providers = [(p, PROVIDER_OPTIONS[p]) if p in PROVIDER_OPTIONS else p for p in chain]
    session = ort.InferenceSession(model, sess_options=session_options(threads), providers=providers)
    used = session.get_providers()[0]
    if used != chain[0]:
        log.warning("onnxruntime could not start %s (missing libraries?); running on %s", chain[0], used)
    return session, provider_key(used)
