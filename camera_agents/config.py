"""The agent's configuration: one TOML file (stdlib ``tomllib``), then ``CROPWATCH_AGENT_<SECTION>_<KEY>`` environment
overrides, then — while running — the server's answer to the heartbeat (``RemoteConfig``), applied live.

Precedence: server answer > environment > file > defaults, for the keys the server sends (interval, daylight window,
mode, edge detection, JPEG quality, downscale, bandwidth cap, model). The server's last answer is kept in the data
dir, so an agent restarted while the link is down keeps running with it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AGENT_VERSION = "0.2.0"
ENV_PREFIX = "CROPWATCH_AGENT_"
MODES = ("all", "detections", "crops")
SOURCES = ("opencv", "folder", "http", "simulator")


class ConfigError(ValueError):
    """A setting that cannot work, with the key it is about."""


@dataclass
class ServerConfig:
    url: str = "http://127.0.0.1:8000"
    token: str = ""
    token_file: str = ""  # read the token from this file (systemd credentials, a root-only file)
    timeout_s: float = 30.0
    connect_timeout_s: float = 10.0


@dataclass
class CameraConfig:
    source: str = "simulator"  # opencv | folder | http | simulator
    device: str = "0"  # opencv: a device index (USB/CSI), a /dev/video path, or an rtsp:// / http:// stream URL
    url: str = ""  # http: the snapshot URL
    username: str = ""  # http: basic auth
    password: str = ""
    path: str = ""  # folder: the watched folder; simulator: a folder of images (empty: synthetic scenes)
    pattern: str = "*.jpg,*.jpeg,*.png,*.webp"  # folder: file name patterns
    settle_s: float = 2.0  # folder: a file counts once its size and mtime have not changed for this long
    after: str = "delete"  # folder: what to do with a file once it is in the outbox: delete | move (to path/done)
    poll_s: float = 5.0  # folder: how often the folder is scanned
    warmup_frames: int = 3  # opencv: frames read and thrown away after opening (auto exposure, stale RTSP buffer)
    keep_open: bool = False  # opencv: keep the device open between grabs (else open, grab, release)
    width: int = 0  # opencv: requested capture size (0: the device's default)
    height: int = 0
    seed: int = 0  # simulator
    size: int = 640  # simulator: side of the synthetic scenes


@dataclass
class ScheduleConfig:
    interval_s: float = 600.0
    daylight_only: bool = False
    latitude: float = 10.34  # Mekong delta; set to the field's coordinates
    longitude: float = 106.03
    daylight_margin_min: float = 0.0  # start this long before sunrise, stop this long after sunset
    burst_count: int = 5
    burst_interval_s: float = 2.0


@dataclass
class ImageConfig:
    jpeg_quality: int = 85  # used when the agent encodes (raw frames from OpenCV, downscaled frames)
    max_side: int = 0  # 0: frames as captured; otherwise the longer side is downscaled to this
    allow_trailing_data: bool = True  # phones append "motion photo" data after the JPEG


@dataclass
class OutboxConfig:
    quota_mb: float = 2048.0  # disk the buffered frames may take
    min_free_mb: float = 200.0  # also keep this much of the file system free
    newest_first_above: int = 500  # with a backlog larger than this, upload the newest frames first


@dataclass
class UploadConfig:
    multipart_above_mb: float = 8.0  # frames larger than this go up in parts (the server refuses parts < 5 MiB)
    max_upload_kbps: float = 0.0  # 0: no cap
    backoff_base_s: float = 2.0
    backoff_max_s: float = 600.0
    max_refusals: int = 3  # a frame refused this often (sha256/size mismatch on confirm) is dropped
    heartbeat_s: float = 300.0


@dataclass
class EdgeConfig:
    edge_detection: bool = False
    mode: str = "all"  # all | detections | crops
    model_path: str = ""  # a local model to start with (else the server's, downloaded)
    conf: float = 0.25
    threads: int = 2
    tile: int = 0  # 0: no tiling; else window side in source pixels (sticky traps)
    heartbeat_picture_s: float = 3600.0  # mode `detections`: one frame this often even without detections
    crop_margin: float = 0.25  # mode `crops`: context around each box, as a share of its size
    crop_min_side: int = 64


@dataclass
class AgentSettings:
    data_dir: str = "/var/lib/cropwatch-agent"
    log_level: str = "INFO"


@dataclass
class ModelRef:
    sha256: str = ""
    url: str = "/api/v1/cameras/me/model"
    name: str = ""
    version_id: int | None = None
    variant: str = ""
    size: int = 0
    task: str = ""
    detect: dict = field(default_factory=dict)  # the version's conf / NMS IoU / max detections, as the server uses
    tiling: dict | None = None  # a trap model's own windows ({"tile": 640, ...}), used when edge.tile is 0


@dataclass
class AgentConfig:
    agent: AgentSettings = field(default_factory=AgentSettings)
    server: ServerConfig = field(default_factory=ServerConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    upload: UploadConfig = field(default_factory=UploadConfig)
    edge: EdgeConfig = field(default_factory=EdgeConfig)

    @property
    def data_path(self) -> Path:
        return Path(self.agent.data_dir)

    def token(self) -> str:
        if self.server.token:
            return self.server.token.strip()
        if self.server.token_file:
            return Path(self.server.token_file).read_text().strip()
        return ""

    def validate(self) -> "AgentConfig":
        if self.camera.source not in SOURCES:
            raise ConfigError(f"camera.source must be one of {', '.join(SOURCES)}, got {self.camera.source!r}")
        if self.edge.mode not in MODES:
            raise ConfigError(f"edge.mode must be one of {', '.join(MODES)}, got {self.edge.mode!r}")
        if self.camera.after not in ("delete", "move"):
            raise ConfigError(f"camera.after must be delete or move, got {self.camera.after!r}")
        if self.schedule.interval_s <= 0:
            raise ConfigError("schedule.interval_s must be positive")
        if not 1 <= self.image.jpeg_quality <= 100:
            raise ConfigError("image.jpeg_quality must be between 1 and 100")
        if self.upload.multipart_above_mb < 5:
            raise ConfigError("upload.multipart_above_mb must be at least 5 (S3 refuses smaller parts)")
        if not -90 <= self.schedule.latitude <= 90 or not -180 <= self.schedule.longitude <= 180:
            raise ConfigError("schedule.latitude/longitude out of range")
        return self


def _convert(value: Any, typ: Any, key: str) -> Any:
    """A TOML or environment value as the field's type (environment values are strings)."""
    origin = typing.get_origin(typ)
    if origin is typing.Union or str(origin) == "types.UnionType":
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if value is None or value == "":
            return None
        typ = args[0]
    try:
        if typ is bool:
            if isinstance(value, bool):
                return value
            if str(value).strip().lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).strip().lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        if typ is int:
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if typ is float:
            return float(value)
        if typ is str:
            return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: cannot read {value!r} as {typ.__name__}") from exc
    return value


def _section_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None) -> AgentConfig:
    """Defaults ← TOML file ← ``CROPWATCH_AGENT_<SECTION>_<KEY>`` (e.g. ``CROPWATCH_AGENT_SERVER_TOKEN``)."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    cfg = AgentConfig()
    sections = _section_types(AgentConfig)
    unknown = set(raw) - set(sections)
    if unknown:
        raise ConfigError(f"unknown section(s) in {path}: {', '.join(sorted(unknown))}")
    for name, cls in sections.items():
        section = getattr(cfg, name)
        types = _section_types(cls)
        values = raw.get(name, {})
        if not isinstance(values, dict):
            raise ConfigError(f"[{name}] must be a table")
        bad = set(values) - set(types)
        if bad:
            raise ConfigError(f"unknown key(s) in [{name}]: {', '.join(sorted(bad))}")
        for key, typ in types.items():
            env_key = f"{ENV_PREFIX}{name}_{key}".upper()
            if env_key in env:
                setattr(section, key, _convert(env[env_key], typ, env_key))
            elif key in values:
                setattr(section, key, _convert(values[key], typ, f"{name}.{key}"))
    return cfg.validate()


@dataclass
class RemoteConfig:
    """What the server answers to the heartbeat (``GET /api/v1/cameras/me/config``)."""

    camera_id: int | None = None
    interval_s: float | None = None
    daylight_only: bool | None = None
    latitude: float | None = None
    longitude: float | None = None
    mode: str | None = None
    edge_detection: bool | None = None
    jpeg_quality: int | None = None
    max_side: int | None = None
    max_upload_kbps: float | None = None
    model: ModelRef | None = None

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "RemoteConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in doc.items() if k in known and k != "model"}
        model = doc.get("model")
        if isinstance(model, dict) and model.get("sha256"):
            mk = {f.name for f in dataclasses.fields(ModelRef)}
            kw["model"] = ModelRef(**{k: v for k, v in model.items() if k in mk})
        return cls(**kw)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def effective(cfg: AgentConfig, remote: RemoteConfig | None) -> AgentConfig:
    """A copy of ``cfg`` with the server's values laid over it (the local file stays the fallback)."""
    out = dataclasses.replace(
        cfg,
        schedule=dataclasses.replace(cfg.schedule),
        image=dataclasses.replace(cfg.image),
        upload=dataclasses.replace(cfg.upload),
        edge=dataclasses.replace(cfg.edge),
    )
    if remote is None:
        return out
    pairs = [
        (out.schedule, "interval_s", remote.interval_s),
        (out.schedule, "daylight_only", remote.daylight_only),
        (out.schedule, "latitude", remote.latitude),
        (out.schedule, "longitude", remote.longitude),
        (out.edge, "mode", remote.mode),
        (out.edge, "edge_detection", remote.edge_detection),
        (out.image, "jpeg_quality", remote.jpeg_quality),
        (out.image, "max_side", remote.max_side),
        (out.upload, "max_upload_kbps", remote.max_upload_kbps),
    ]
    for section, key, value in pairs:
        if value is not None:
            setattr(section, key, value)
    if out.edge.mode not in MODES:
        out.edge.mode = "all"
    if out.edge.mode != "all" and not out.edge.edge_detection:
        out.edge.mode = "all"  # `detections` and `crops` need edge detection (protocol)
    if out.schedule.interval_s is None or out.schedule.interval_s <= 0:
        out.schedule.interval_s = cfg.schedule.interval_s
    return out


def save_remote(path: Path, remote: RemoteConfig) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(remote.to_json()))
    os.replace(tmp, path)


def load_remote(path: Path) -> RemoteConfig | None:
    try:
        return RemoteConfig.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
