"""Reading a model file for serving: bytes, sha256 against the registry, ``onnx.checker``, Ultralytics metadata.

The bytes that are hashed are the bytes handed to onnxruntime (no re-read between check and load).
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ModelRejected(Exception):
    """A model file that must not serve. ``reason``: missing | sha256_mismatch | corrupt | incompatible | smoke_failed."""

    def __init__(self, path: str | Path, reason: str, detail: str):
        self.path, self.reason, self.detail = str(path), reason, detail
        super().__init__(f"model {self.path} rejected ({reason}): {detail}")


@dataclass(frozen=True)
class ModelFile:
    path: Path
    data: bytes
    sha256: str
    metadata: dict[str, Any]  # Ultralytics metadata, literals parsed (names, imgsz, args, stride, ...) + custom keys


def parse_metadata(props: dict[str, str]) -> dict[str, Any]:
    """Ultralytics writes python-literal strings ("{0: 'a'}", "[640, 640]"); parse them without eval."""
    out: dict[str, Any] = dict(props)
    for key in ("names", "imgsz", "args", "stride", "batch", "end2end"):
        if key in props:
            try:
                out[key] = ast.literal_eval(props[key])
            except (ValueError, SyntaxError):
                pass
    return out


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The parsed metadata of an ONNX file (no checks, no weights kept): what the registry reads when it registers a
    file. Raises :class:`ModelRejected` when the file is not a readable ONNX model."""
    import onnx  # load time only, never on the inference path

    path = Path(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise ModelRejected(path, "corrupt", f"not a readable ONNX file ({type(e).__name__}: {e})") from e
    return parse_metadata({p.key: p.value for p in model.metadata_props})


def read_model_file(path: str | Path, expected_sha256: str | None = None) -> ModelFile:
    """Read, hash, compare with ``expected_sha256`` (case-insensitive), run ``onnx.checker``; or raise ModelRejected."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelRejected(path, "missing", f"cannot read the file: {e.strerror or e}") from e
    if not data:
        raise ModelRejected(path, "corrupt", "the file is empty")
    sha256 = hashlib.sha256(data).hexdigest()
    if expected_sha256 and sha256 != expected_sha256.strip().lower():
        raise ModelRejected(path, "sha256_mismatch", f"sha256 {sha256} differs from the registry's {expected_sha256}")
    import onnx  # load time only, never on the inference path

    try:
        model = onnx.load_model_from_string(data)
        onnx.checker.check_model(model)
    except Exception as e:
        raise ModelRejected(path, "corrupt", f"not a valid ONNX model ({type(e).__name__}: {e})") from e
    return ModelFile(path, data, sha256, parse_metadata({p.key: p.value for p in model.metadata_props}))
