"""`cropwatch-agent doctor` against the real app: a table of checks and an exit code; `burst` and `status`."""

from __future__ import annotations

from typer.testing import CliRunner

from camera_agents.cli import app


def _config(tmp_path, field, token: str | None = None, url: str | None = None):
    f = tmp_path / "agent.toml"
    f.write_text(f"""
[agent]
data_dir = "{tmp_path / "agent"}"
[server]
url = "{url or field.api_url}"
token = "{token or field.token}"
timeout_s = 20
connect_timeout_s = 2
[camera]
source = "simulator"
size = 320
[outbox]
quota_mb = 1
min_free_mb = 0
""")
    return f


def _rows(output: str) -> dict[str, str]:
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│") if c.strip()]
        if len(cells) >= 2 and cells[1] in ("OK", "WARN", "FAIL"):
            rows[cells[0]] = cells[1]
    return rows


def test_doctor_passes_on_a_healthy_box(field, tmp_path):
    res = CliRunner().invoke(app, ["doctor", "--config", str(_config(tmp_path, field))], env={"COLUMNS": "200"})
    rows = _rows(res.output)
    assert res.exit_code == 0, res.output
    assert rows == {"camera": "OK", "disk": "OK", "server": "OK", "clock": "OK", "token": "OK", "outbox": "OK"}, (
        res.output
    )
    assert "320×320" in res.output and f"camera {field.camera_id}" in res.output


def test_doctor_fails_on_a_revoked_token_and_on_an_unreachable_server(field, tmp_path):
    res = CliRunner().invoke(
        app, ["doctor", "--config", str(_config(tmp_path, field, token="cam_revoked"))], env={"COLUMNS": "200"}
    )
    assert res.exit_code == 1 and _rows(res.output)["token"] == "FAIL", res.output
    field.api.down()
    res = CliRunner().invoke(app, ["doctor", "--config", str(_config(tmp_path, field))], env={"COLUMNS": "200"})
    assert res.exit_code == 1 and _rows(res.output)["server"] == "FAIL", res.output


def test_burst_and_status_commands(tmp_path, field):
    cfg = _config(tmp_path, field)
    assert CliRunner().invoke(app, ["burst", "--config", str(cfg), "--count", "4"]).exit_code == 0
    assert (tmp_path / "agent" / "burst").read_text() == "4"
    res = CliRunner().invoke(app, ["status", "--config", str(cfg)])
    assert res.exit_code == 0 and "never ran" in res.output
    res = CliRunner().invoke(app, ["run", "--config", str(tmp_path / "missing.toml")])
    assert res.exit_code == 2
