"""The README's run command: `cropwatch up` brings the whole demo up on embedded servers, Ctrl-C stops every child,
and a second run resumes on the same data (no replayed captures, numbering goes on)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest
from helpers import PROJECT

from cropwatch.embedded import free_port

pytestmark = pytest.mark.slow


def _up(data_dir, api_port, s3_port, log):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROPWATCH_")}
    env.update(
        {
            "CROPWATCH_DATA_DIR": str(data_dir),
            "CROPWATCH_API_PORT": str(api_port),
            "CROPWATCH_S3_ENDPOINT": f"127.0.0.1:{s3_port}",
            "CROPWATCH_ONNX_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "cropwatch.cli", "up", "--camera-interval", "1"],
        env=env,
        cwd=PROJECT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _login(api):
    r = httpx.post(f"{api}/api/v1/auth/token", data={"username": "nongdan", "password": "cropwatch-demo"})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = pred()
            if value:
                return value
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def _processed(api, headers):
    caps = httpx.get(f"{api}/api/v1/captures", headers=headers, params={"limit": 500}).json()
    return [c for c in caps if c["status"] == "done"]


def _ctrl_c(proc):
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children, "cropwatch up started no child processes"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0, "cropwatch up did not stop cleanly on Ctrl-C"
    gone, alive = psutil.wait_procs(children, timeout=20)
    assert not alive, f"children left running after Ctrl-C: {[p.info if hasattr(p, 'info') else p for p in alive]}"


def test_up_runs_the_demo_stops_on_ctrl_c_and_resumes(tmp_path):
    api_port, s3_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    log_path = tmp_path / "up.log"
    with open(log_path, "ab") as log:
        proc = _up(tmp_path / "data", api_port, s3_port, log)
        try:
            headers = _wait_for(lambda: _login(api), 120, "the API and the demo logins")
            first = _wait_for(
                lambda: len(_processed(api, headers)) >= 3 and _processed(api, headers), 120, "three processed captures"
            )
            alerts = _wait_for(lambda: httpx.get(f"{api}/api/v1/alerts", headers=headers).json(), 90, "an alert")
            assert alerts[0]["message"] == alerts[0]["message_vi"]  # Vietnamese by default
            _ctrl_c(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
        proc = _up(tmp_path / "data", api_port, s3_port, log)
        try:
            headers = _wait_for(lambda: _login(api), 120, "the API after a restart")
            old_ids = {c["id"] for c in first}
            assert old_ids <= {c["id"] for c in _processed(api, headers)}, "the second run lost earlier captures"
            newest_before = max(old_ids)
            later = _wait_for(
                lambda: [c for c in _processed(api, headers) if c["id"] > newest_before + 3],
                120,
                "new captures in the second run",
            )
            caps = httpx.get(f"{api}/api/v1/captures", headers=headers, params={"limit": 500}).json()
            shas = [c["sha256"] for c in caps]
            assert len(shas) == len(set(shas)), "a capture was stored twice"
            assert later
            _ctrl_c(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "CropWatch is up" in log_path.read_text(errors="replace")
