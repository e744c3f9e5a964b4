"""``cropwatch-agent doctor``: is this box ready to run? Camera (one grab), disk, clock (against the server's ``Date``
header), server reachability, device token, and the edge model when edge detection is on. Each check answers ok / warn / fail with a detail line; any fail makes
the exit code 1."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from camera_agents.config import AgentConfig

OK, WARN, FAIL = "ok", "warn", "fail"
CLOCK_WARN_S, CLOCK_FAIL_S = 30.0, 300.0


@dataclass
class Check:
    name: str
    status: str
    detail: str


def _mb(n: float) -> str:
    return f"{n / 1024 / 1024:,.0f} MB"


def check_camera(cfg: AgentConfig) -> Check:
    from camera_agents.sources import SourceError, make_source
    from inference.decode import ImageRejected, decode_image

    if cfg.camera.source == "folder":
        p = Path(cfg.camera.path)
        if not p.is_dir():
            return Check("camera", FAIL, f"watched folder {p} does not exist")
        if not os.access(p, os.R_OK | os.W_OK | os.X_OK):
            return Check("camera", FAIL, f"watched folder {p} is not readable and writable by this user")
        n = sum(1 for e in p.iterdir() if e.is_file())
        return Check("camera", OK, f"folder {p}: {n} file(s) waiting")
    t = time.perf_counter()
    try:
        src = make_source(cfg.camera)
        try:
            frame = src.grab()
        finally:
            src.close()
    except SourceError as exc:
        return Check("camera", FAIL, str(exc))
    except Exception as exc:  # noqa: BLE001
        return Check("camera", FAIL, f"{type(exc).__name__}: {exc}")
    ms = (time.perf_counter() - t) * 1000
    if frame is None:
        return Check("camera", WARN, "the source had no frame to give")
    if frame.image is not None:
        h, w = frame.image.shape[:2]
        return Check("camera", OK, f"{cfg.camera.source}: one {w}×{h} frame in {ms:.0f} ms")
    try:
        img = decode_image(frame.data or b"", allow_trailing_data=True)
    except ImageRejected as exc:
        return Check("camera", FAIL, f"the frame is not a usable image: {exc.code}: {exc.message}")
    h, w = img.shape[:2]
    return Check("camera", OK, f"{cfg.camera.source}: one {w}×{h} image ({len(frame.data) // 1024} KB) in {ms:.0f} ms")


def check_disk(cfg: AgentConfig) -> Check:
    d = cfg.data_path
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / ".doctor-probe"
        with open(probe, "wb") as f:
            f.write(b"x" * 4096)
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as exc:
        return Check("disk", FAIL, f"cannot write to {d}: {exc}")
    du = shutil.disk_usage(d)
    quota = cfg.outbox.quota_mb * 1024 * 1024
    min_free = cfg.outbox.min_free_mb * 1024 * 1024
    detail = f"{d}: {_mb(du.free)} free of {_mb(du.total)}; outbox quota {_mb(quota)}"
    if du.free < min_free:
        return Check("disk", FAIL, detail + f", below the {_mb(min_free)} to keep free")
    if du.free < quota + min_free:
        return Check("disk", WARN, detail + " (the quota will not fit: frames will be evicted early)")
    return Check("disk", OK, detail)


def check_server(cfg: AgentConfig, api=None) -> list[Check]:
    from camera_agents.uploader import Api, LinkDown

    api = api or Api(
        cfg.server.url, cfg.token(), timeout=cfg.server.timeout_s, connect_timeout=cfg.server.connect_timeout_s
    )
    out: list[Check] = []
    t = time.perf_counter()
    try:
        server_ts, status = api.server_date()
    except LinkDown as exc:
        return [
            Check("server", FAIL, f"{cfg.server.url} unreachable: {exc}"),
            Check("clock", WARN, "not compared (server unreachable)"),
            Check("token", WARN, "not checked (server unreachable)"),
        ]
    ms = (time.perf_counter() - t) * 1000
    local = time.time()
    out.append(Check("server", OK if status < 500 else FAIL, f"{cfg.server.url}: HTTP {status} in {ms:.0f} ms"))
    if server_ts is None:
        out.append(Check("clock", WARN, "the server sent no Date header"))
    else:
        skew = local - server_ts - ms / 2000
        st = OK if abs(skew) < CLOCK_WARN_S else WARN if abs(skew) < CLOCK_FAIL_S else FAIL
        out.append(
            Check(
                "clock",
                st,
                f"{skew:+.0f} s from the server's clock"
                + ("" if st == OK else " (enable NTP: timedatectl set-ntp true)"),
            )
        )
    out.append(check_token(cfg, api))
    return out


def check_token(cfg: AgentConfig, api) -> Check:
    import httpx

    if not cfg.token():
        return Check("token", FAIL, "no device token (server.token or server.token_file)")
    try:
        resp = api.client.get("/api/v1/cameras/me/config", headers=api.auth)
        if resp.status_code == 404:  # an older server: probe with a request the server refuses after auth
            resp = api.client.post(
                "/api/v1/ingest/slots",
                headers=api.auth,
                json={"sha256": "0" * 64, "size": 0, "captured_at": "2000-01-01T00:00:00Z"},
            )
            if resp.status_code in (401, 403):
                return Check("token", FAIL, f"refused (HTTP {resp.status_code}): rotated or revoked?")
            return Check("token", OK, "accepted (server without /cameras/me/config)")
    except httpx.HTTPError as exc:
        return Check("token", WARN, f"not checked: {exc}")
    if resp.status_code in (401, 403):
        return Check("token", FAIL, f"refused (HTTP {resp.status_code}): rotated or revoked?")
    if resp.status_code != 200:
        return Check("token", WARN, f"HTTP {resp.status_code} from /api/v1/cameras/me/config")
    doc = resp.json()
    return Check(
        "token",
        OK,
        f"camera {doc.get('camera_id', '?')}, interval {doc.get('interval_s', '?')} s, mode {doc.get('mode', '?')}",
    )


def check_outbox(cfg: AgentConfig) -> Check:
    from camera_agents.outbox import Outbox

    root = cfg.data_path / "outbox"
    if not (root / "outbox.db").exists():
        return Check("outbox", OK, "empty (never ran)")
    ob = Outbox(root, quota_bytes=int(cfg.outbox.quota_mb * 1024 * 1024))
    try:
        c = ob.counters()
        n = ob.backlog()
        detail = (
            f"{n} frame(s) waiting ({_mb(ob.used_bytes())}), {c['uploaded_total']} uploaded, "
            f"{c['evicted_total']} evicted, {c['refused_total']} refused"
        )
    finally:
        ob.close()
    return Check("outbox", WARN if c["evicted_total"] else OK, detail)


def check_edge_model(cfg: AgentConfig) -> Check | None:
    """With edge detection configured, the model must load here (its file, its checks, onnxruntime): else the
    camera would upload without ever detecting."""
    if not cfg.edge.edge_detection and not cfg.edge.model_path:
        return None
    from camera_agents.edge_detector import EdgeDetector

    det = EdgeDetector(cfg.data_path / "models", conf=cfg.edge.conf, threads=cfg.edge.threads)
    if det.load_current(cfg.edge.model_path or None):
        return Check("edge model", OK, f"{(det.sha256 or '?')[:12]} loads")
    return Check("edge model", FAIL, det.load_error or "no model")


def run_checks(cfg: AgentConfig, api=None) -> list[Check]:
    edge = check_edge_model(cfg)
    return [check_camera(cfg), check_disk(cfg), *check_server(cfg, api), check_outbox(cfg), *([edge] if edge else [])]


def render(checks: list[Check], console=None) -> int:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title="cropwatch-agent doctor")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    style = {OK: "[green]OK[/]", WARN: "[yellow]WARN[/]", FAIL: "[red]FAIL[/]"}
    for c in checks:
        table.add_row(c.name, style[c.status], c.detail)
    console.print(table)
    return 1 if any(c.status == FAIL for c in checks) else 0
