"""Configuration (TOML + CROPWATCH_AGENT_* overrides + the server's live answer), the heartbeat's contents, and what
the agent does with each kind of refusal."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from agent_testkit import ListSource, jpeg

from camera_agents.agent import Agent
from camera_agents.config import AgentConfig, ConfigError, RemoteConfig, effective, load_config
from camera_agents.uploader import AuthError, LinkDown, Refused, UploadResult

PROJECT = Path(__file__).resolve().parents[2]


def test_toml_then_environment(tmp_path):
    f = tmp_path / "agent.toml"
    f.write_text(
        '[server]\nurl = "https://cw.example"\ntoken = "cam_file"\n[schedule]\ninterval_s = 300\n'
        '[camera]\nsource = "folder"\npath = "/srv/ftp"\n'
    )
    cfg = load_config(
        f,
        env={
            "CROPWATCH_AGENT_SERVER_TOKEN": "cam_env",
            "CROPWATCH_AGENT_SCHEDULE_DAYLIGHT_ONLY": "yes",
            "CROPWATCH_AGENT_OUTBOX_QUOTA_MB": "512",
        },
    )
    assert (cfg.server.url, cfg.token(), cfg.schedule.interval_s) == ("https://cw.example", "cam_env", 300.0)
    assert cfg.schedule.daylight_only is True and cfg.outbox.quota_mb == 512.0 and cfg.camera.path == "/srv/ftp"
    f.write_text('[server]\ntokn = "typo"\n')
    with pytest.raises(ConfigError, match="tokn"):
        load_config(f, env={})
    with pytest.raises(ConfigError, match="CROPWATCH_AGENT_SCHEDULE_INTERVAL_S"):
        load_config(None, env={"CROPWATCH_AGENT_SCHEDULE_INTERVAL_S": "often"})
    with pytest.raises(ConfigError, match="edge.mode"):
        load_config(None, env={"CROPWATCH_AGENT_EDGE_MODE": "everything"})


def test_the_documented_example_config_loads():
    cfg = load_config(PROJECT / "docs" / "agent.example.toml", env={})
    assert cfg.server.url.startswith("http") and cfg.camera.source in ("opencv", "folder", "http", "simulator")


def test_token_file(tmp_path):
    (tmp_path / "token").write_text("cam_from_file\n")
    cfg = load_config(None, env={"CROPWATCH_AGENT_SERVER_TOKEN_FILE": str(tmp_path / "token")})
    assert cfg.token() == "cam_from_file"


def test_the_server_answer_overrides_the_file_and_modes_need_edge_detection():
    cfg = AgentConfig()
    remote = RemoteConfig.from_json(
        {
            "camera_id": 3,
            "interval_s": 120,
            "daylight_only": True,
            "latitude": None,
            "mode": "crops",
            "edge_detection": False,
            "jpeg_quality": 70,
            "max_side": 1280,
            "max_upload_kbps": 256,
            "future_key": 1,
            "model": {"sha256": "ab" * 32, "url": "/api/v1/cameras/me/model", "size": 10, "input_size": 320},
        }
    )
    eff = effective(cfg, remote)
    assert (eff.schedule.interval_s, eff.schedule.daylight_only, eff.image.max_side) == (120, True, 1280)
    assert eff.schedule.latitude == cfg.schedule.latitude  # the server had none: the file's stays
    assert eff.edge.mode == "all"  # crops without edge detection is not possible
    assert eff.upload.max_upload_kbps == 256 and remote.model.sha256 == "ab" * 32
    assert cfg.schedule.interval_s == 600  # the file's config object is untouched


class ScriptedApi:
    """Answers ``upload`` from a script of results or exceptions; records the calls."""

    bucket = None

    def __init__(self, *script) -> None:
        self.script, self.calls = list(script), []

    def upload(self, data, captured_at, *, edge=None, kind="frame", sha256=None):
        self.calls.append({"edge": edge, "kind": kind, "sha256": sha256})
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    def heartbeat(self, doc):
        self.calls.append({"heartbeat": doc})
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    def close(self) -> None:
        pass


def _agent(tmp_path, api, **upload) -> Agent:
    cfg = AgentConfig()
    cfg.agent.data_dir = str(tmp_path / "agent")
    cfg.outbox.min_free_mb = 0
    cfg.upload.backoff_base_s, cfg.upload.backoff_max_s = 0.01, 0.05
    for k, v in upload.items():
        setattr(cfg.upload, k, v)
    return Agent(cfg.validate(), source=ListSource([]), api=api, sysfs=str(tmp_path / "sys"))


def _buffer(agent: Agent, n: int = 1, edge: dict | None = None, first: int = 0):
    return [
        agent.outbox.add(
            jpeg(i), captured_at=dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=i), edge=edge
        )[0]
        for i in range(first, first + n)
    ]


def _due(agent: Agent):
    for _ in range(500):  # deferred by a short backoff
        if agent.outbox.next_due() is not None:
            return
        time.sleep(0.01)


def test_refusals(tmp_path):
    ok = UploadResult(1, False)
    api = ScriptedApi(
        Refused(422, "edge_model_unknown", "?"),
        ok,
        Refused(409, "upload_missing", "?"),
        Refused(409, "upload_missing", "?"),
        Refused(409, "upload_missing", "?"),
        Refused(413, "image_too_large", "?"),
    )
    agent = _agent(tmp_path, api, max_refusals=3)
    # detections of a model the server does not know: sent again without them (the server detects itself)
    (a,) = _buffer(agent, 1, edge={"model_sha256": "ef" * 32, "detections": []})
    assert agent.upload_one() is False and agent.outbox.get(a.id).edge is None
    assert agent.upload_one() is True and api.calls[1]["edge"] is None
    # the upload went missing: retried from the slot, dropped after max_refusals
    (b,) = _buffer(agent, 1, first=1)
    for attempt in range(3):
        _due(agent)
        assert agent.upload_one() is False
        assert (agent.outbox.get(b.id) is None) == (attempt == 2)
    assert agent.outbox.counters()["refused_total"] == 1
    # a refusal of the frame itself: dropped at once, with its reason
    _buffer(agent, 1, first=2)
    agent.upload_one()
    assert agent.outbox.backlog() == 0 and agent.outbox.counters()["refused_total"] == 2
    assert "image_too_large" in agent.last_error


def test_link_down_and_a_refused_token_keep_the_frames(tmp_path):
    api = ScriptedApi(LinkDown("timeout"), AuthError(401, "unauthorized", "revoked"))
    agent = _agent(tmp_path, api)
    _buffer(agent, 2)
    assert agent.upload_one() is False and agent.link_blocked_until > 0
    assert agent.upload_one() is False
    assert agent.outbox.backlog() == 2 and agent.outbox.counters()["refused_total"] == 0
    assert "token" in agent.last_error


def test_heartbeat_reports_the_box_and_applies_the_answer_live(tmp_path):
    sys_root = tmp_path / "sys"
    (sys_root / "class/thermal/thermal_zone0").mkdir(parents=True)
    (sys_root / "class/thermal/thermal_zone0/temp").write_text("51234\n")
    (sys_root / "class/power_supply/BAT0").mkdir(parents=True)
    (sys_root / "class/power_supply/BAT0/capacity").write_text("87\n")
    api = ScriptedApi(
        {
            "camera_id": 1,
            "interval_s": 60,
            "mode": "all",
            "edge_detection": False,
            "max_upload_kbps": 800,
            "jpeg_quality": 70,
            "max_side": 0,
            "model": None,
        },
        LinkDown("no route"),
    )
    agent = _agent(tmp_path, api)
    _buffer(agent, 2)
    assert agent.heartbeat_once()
    doc = api.calls[0]["heartbeat"]
    assert doc["temperature_c"] == 51.2 and doc["battery_pct"] == 87.0 and doc["backlog"] == 2
    assert doc["disk_total_bytes"] > doc["disk_free_bytes"] > 0 and doc["evicted_total"] == 0
    assert agent.eff.schedule.interval_s == 60 and agent.bucket.rate == 100_000  # 800 kbit/s
    assert not agent.heartbeat_once()  # link down: the last answer stays in force
    restarted = _agent(tmp_path, ScriptedApi())
    assert restarted.eff.schedule.interval_s == 60 and restarted.eff.image.jpeg_quality == 70


def test_retry_after_is_honoured_without_growing_the_backoff(tmp_path):
    agent = _agent(tmp_path, ScriptedApi(LinkDown("HTTP 429 too_many_requests", retry_after=0.03)), backoff_max_s=5)
    _buffer(agent, 1)
    t = time.monotonic()
    assert agent.upload_one() is False
    assert 0.03 <= agent.link_blocked_until - t <= 0.05 and agent.link_failures == 0
