"""The real processes of the end-to-end and chaos tests: the CLI's API and workers started as child processes in
their own process groups, against the test's servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx
from factories import add_rule, make_tenant
from helpers import PROJECT

from cropwatch.embedded import free_port


def stack_env(settings, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROPWATCH_")}
    env.update(
        {
            "CROPWATCH_ENVIRONMENT": "test",
            "CROPWATCH_DATA_DIR": str(settings.data_dir),
            "CROPWATCH_DATABASE_URL": settings.db_url,
            "CROPWATCH_BROKER_URL": settings.broker_url,
            "CROPWATCH_S3_ENDPOINT": settings.s3_endpoint,
            "CROPWATCH_S3_ACCESS_KEY": settings.s3_access_key,
            "CROPWATCH_S3_SECRET_KEY": settings.s3_secret_key,
            "CROPWATCH_S3_BUCKET": settings.s3_bucket,
            "CROPWATCH_ONNX_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
            # the pipeline is under test here, not the from-scratch model: a low threshold keeps boxes coming
            "CROPWATCH_DETECT_CONF": "0.001",
        }
    )
    env.update({f"CROPWATCH_{k.upper()}": str(v) for k, v in extra.items()})
    return env


def spawn(args: list[str], env: dict, log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cropwatch.cli", *args],
        env=env,
        cwd=PROJECT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@contextmanager
def api_server(env: dict, log):
    port = free_port()
    proc = spawn(["api", "--port", str(port)], env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "API did not start"
            time.sleep(0.3)
        yield url
    finally:
        kill_group(proc)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def e2e_tenant(sessions):
    """A cooperative with a rule of threshold 1 for every class of the production pest model."""
    from cropwatch.core.enums import ModelTask
    from models import registry

    with sessions.begin() as s:
        t = make_tenant(s, "e2e")
        for name in registry.production(s, ModelTask.pest).classes.values():
            add_rule(s, t.cooperative_id, name, threshold=1)
        return t
