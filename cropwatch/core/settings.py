"""One settings object for every process, read from ``CROPWATCH_*`` environment variables.

Config classes do no I/O; :func:`get_settings` caches one instance per process.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "change-me-dev-only"
DEFAULT_S3_SECRET = "cropwatch-dev-secret"

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CROPWATCH_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = PROJECT_ROOT / "data"
    # not used: sessions and API tokens are random values stored as sha256, CSRF is double-submit with random tokens,
    # so nothing is signed with an application secret (docs/decisions.md); kept so old .env files still load
    secret_key: str = DEFAULT_SECRET

    # database: SQLite file in the data dir unless a URL is given (postgresql+psycopg://...)
    database_url: str | None = None

    # broker: embedded redis (unix socket in the data dir) unless a URL is given
    broker_url: str | None = None
    broker_visibility_timeout: int = 600  # seconds; above the worst task time
    # where workers report what they serve (default: the broker, when it is Redis; see cropwatch/core/heartbeat.py)
    heartbeat_redis_url: str | None = None

    # object storage (S3). Embedded SeaweedFS listens on s3_endpoint when `cropwatch up` runs.
    s3_endpoint: str = "127.0.0.1:8333"
    s3_access_key: str = "cropwatch"
    s3_secret_key: str = DEFAULT_S3_SECRET
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    s3_bucket: str = "cropwatch"
    # public endpoint used in presigned URLs handed to cameras/browsers (defaults to s3_endpoint)
    s3_public_endpoint: str | None = None

    # ingest
    max_upload_bytes: int = 20 * 1024 * 1024
    max_diary_photos: int = Field(default=6, ge=1, le=50)  # photos per diary entry
    max_image_pixels: int = 40_000_000
    presign_expiry_seconds: int = Field(default=600, le=900)
    # how often an open alerts page fetches its cards again (seconds)
    alerts_refresh_seconds: int = Field(default=30, ge=2, le=3600)
    # field agents upload frames above this size in parts (S3's minimum part is 5 MiB), resumable part by part
    multipart_part_size: int = Field(default=5 * 1024 * 1024, ge=5 * 1024 * 1024)
    image_url_expiry_seconds: int = Field(default=300, le=900)

    # worker
    max_attempts: int = 3
    sweep_interval_seconds: int = 30
    stuck_after_seconds: int = 120  # also the lease of a worker's claim on a capture
    onnx_threads: int = 2  # intra-op threads of one model call (a single image)
    # a batch of several images is split over this many single-threaded calls at once (one per core): on a 2-core
    # worker, 2 (see README, Performance)
    onnx_parallel: int = Field(default=2, ge=1, le=64)
    # images per model call (a worker's batch of ``batch_size`` claimed captures goes through the model in groups of
    # this many); unset: ``onnx_parallel`` on the CPU (one image per core per call: as fast per image as larger
    # groups on this CPU, and the activations of two images instead of eight held at once), ``batch_size`` on a GPU
    onnx_max_batch: int | None = Field(default=None, ge=1, le=64)
    execution_provider: Literal["cpu", "cuda", "tensorrt", "openvino"] = "cpu"
    # notifications (cropwatch/alerts/notify.py)
    public_base_url: str = "http://127.0.0.1:8000"  # links in messages (evidence photo, lot pages)
    notify_interval_seconds: int = 10
    notify_timeout_seconds: float = 10.0
    notify_max_attempts: int = 6
    notify_backoff_seconds: float = 30.0
    notify_backoff_max_seconds: float = 3600.0
    # webhooks go to public addresses only (cropwatch/core/egress.py); on-premise receivers are allowed here, by host name
    # or by network, comma-separated (e.g. "hooks.hoptacxa.lan" / "10.20.0.0/24"); an egress proxy is an option
    notify_allowed_hosts: str = ""
    notify_allowed_cidrs: str = ""
    notify_proxy: str | None = None
    notify_max_channels: int = Field(default=20, ge=1, le=1000)  # per cooperative
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "CropWatch <canhbao@cropwatch.invalid>"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    telegram_api_base: str = "https://api.telegram.org"
    zalo_api_base: str = "https://openapi.zalo.me"
    # share of live captures a shadow model (if one is set for the task) also runs on
    shadow_sample_rate: float = Field(default=0.2, ge=0, le=1)
    # promotion gate: a candidate's test mAP50 may be this much below production's (same split) and still pass
    promotion_tolerance: float = Field(default=0.01, ge=0, le=1)
    # ... and must reach this absolute mAP50 (a zero or tiny baseline proves nothing)
    promotion_min_map50: float = Field(default=0.10, ge=0, le=1)
    # which artifact of a model version a worker serves: the FP32 export or its INT8 quantization (when it has one)
    model_variant: Literal["fp32", "int8"] = "fp32"
    # a worker takes up to this many waiting captures into one batched session call
    batch_size: int = Field(default=8, ge=1, le=64)

    # fault injection for the kill -9 test: pause after claiming a capture (honoured only when environment=test)
    test_task_delay_seconds: float = 0.0
    # detection settings belong to each model version (models/registry.py: detect_settings); set these only to
    # override every model on this worker (tests, a debugging session)
    detect_conf: float | None = None
    detect_iou: float | None = None

    # api
    api_host: str = "127.0.0.1"
    # /docs, /redoc, /openapi.json: on by default except in production
    api_docs: bool | None = None
    # operators' token for /metrics and the detailed /health (workers, models); required for both in production,
    # optional elsewhere (unset outside production: open, for the demo and tests)
    ops_token: str | None = None
    # reverse proxies whose X-Forwarded-For is believed (comma-separated addresses); empty: none, the socket's peer
    # address is the client
    forwarded_allow_ips: str = ""
    api_port: int = 8000
    token_ttl_hours: int = 24 * 7
    # rate limits (0 turns one off): failed sign-ins per address+username and per address in 15 minutes; camera
    # requests per device token per minute (a camera sends a few per frame: slot, PUT, confirm, heartbeat)
    login_failures_per_user: int = 10
    login_failures_per_address: int = 50
    camera_requests_per_minute: int = 3000
    # password reset codes (cropwatch/accounts/password_reset.py): how long a code made by a cooperative admin stays valid,
    # and how many codes one address may try in 15 minutes (every try counts, right or wrong)
    password_reset_hours: int = Field(default=24, ge=1, le=24 * 7)
    reset_attempts_per_address: int = 20
    default_locale: Literal["vi", "en"] = "vi"
    timezone: str = "Asia/Ho_Chi_Minh"

    # real photos for the simulated cameras (read only; copied into the data dir)
    shared_datasets_dir: Path = PROJECT_ROOT.parent / "shared" / "datasets"

    # embedded servers started by `cropwatch up`
    embedded_s3: bool = True
    embedded_redis: bool = True

    @model_validator(mode="after")
    def _refuse_default_secrets_outside_dev(self) -> "Settings":
        if self.environment == "production":
            if self.s3_secret_key == DEFAULT_S3_SECRET:
                raise ValueError("CROPWATCH_S3_SECRET_KEY must be set in production")
        return self

    # derived paths and URLs (pure functions of the fields)
    @property
    def detect_overrides(self) -> dict[str, float]:
        return {k: v for k, v in (("conf", self.detect_conf), ("iou", self.detect_iou)) if v is not None}

    @property
    def review_threshold(self) -> float:
        """Score from which a detection is shown for review (the worker's override, else the usual 0.25)."""
        return self.detect_conf if self.detect_conf is not None else 0.25

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'cropwatch.db'}"

    @property
    def redis_socket(self) -> Path:
        return self.data_dir / "redis" / "redis.sock"

    @property
    def celery_broker_url(self) -> str:
        return self.broker_url or f"redis+socket://{self.redis_socket}"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"


@lru_cache
def get_settings() -> Settings:
    return Settings()


def new_secret() -> str:
    return secrets.token_urlsafe(32)
