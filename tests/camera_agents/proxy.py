"""A loopback TCP proxy that plays a bad 3G link between the agent and the API or S3: it can be taken down (new
connections are reset, open ones cut), paused (bytes stop flowing, connections stay open), slowed (bytes per
second), or made to cut every connection once a number of request bytes went through (a link that drops in the
middle of an upload).

With ``rewrite_host`` it parses the HTTP/1.1 requests going upstream and sets their ``Host`` header: presigned S3
URLs are signed for the real S3 endpoint's host, so the agent can be pointed at the proxy (``s3_public_endpoint``)
and S3 still sees the host the signature covers.
"""

from __future__ import annotations

import socket
import struct
import threading
import time


class Proxy:
    def __init__(self, target_port: int, *, target_host: str = "127.0.0.1", rewrite_host: str | None = None) -> None:
        self.target = (target_host, target_port)
        self.rewrite_host = rewrite_host.encode() if rewrite_host else None
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.state = "up"  # up | down | paused
        self.rate = 0.0  # bytes per second each way, 0: unlimited
        self.cut_after: int | None = None  # one-shot: cut every connection once this many request bytes went up
        self.pause_after: int | None = None  # one-shot: pause once this many request bytes went up
        self.bytes_up = 0  # client -> server, all connections
        self.requests = 0
        self.connections = 0
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name=f"proxy-{self.port}").start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- control ------------------------------------------------------------------------------------------------
    def down(self) -> None:
        """The link is gone: open connections are cut, new ones reset."""
        self.state = "down"
        self.cut()

    def up(self) -> None:
        self.state = "up"

    def pause(self) -> None:
        """Bytes stop flowing both ways (a link that hangs without closing)."""
        self.state = "paused"

    def cut(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for s in conns:
            _reset(s)

    def close(self) -> None:
        self._closed = True
        self.cut()
        try:
            self.listener.close()
        except OSError:
            pass

    # -- plumbing -----------------------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.state == "down":
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            self.connections += 1
            with self._lock:
                self._conns.update((client, upstream))
            threading.Thread(target=self._pump_up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _gate(self, n: int, up: bool, pair: tuple[socket.socket, socket.socket]) -> bool:
        """Pause/throttle/cut before forwarding ``n`` bytes; False when the connection must end."""
        while self.state == "paused" and not self._closed:
            time.sleep(0.05)
        if self.state == "down" or self._closed:
            return False
        if self.rate:
            time.sleep(n / self.rate)
        if up:
            with self._lock:
                self.bytes_up += n
                cut = self.cut_after is not None and self.bytes_up >= self.cut_after
                if cut:
                    self.cut_after = None
                if self.pause_after is not None and self.bytes_up >= self.pause_after:
                    self.pause_after = None
                    self.state = "paused"
            if self.state == "paused":
                return self._gate(0, False, pair)
            if cut:
                self.cut()
                return False
        return True

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data or not self._gate(len(data), up, (src, dst)):
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(src, dst)

    def _pump_up(self, client: socket.socket, upstream: socket.socket) -> None:
        if self.rewrite_host is None:
            self._pump(client, upstream, True)
            return
        buf = b""
        try:
            while True:  # one HTTP/1.1 request per turn: head (Host rewritten), then Content-Length bytes of body
                while b"\r\n\r\n" not in buf:
                    data = client.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.split(b"\r\n")
                length = 0
                for i, line in enumerate(lines):
                    name = line.split(b":", 1)[0].strip().lower()
                    if name == b"host":
                        lines[i] = b"Host: " + self.rewrite_host
                    elif name == b"content-length":
                        length = int(line.split(b":", 1)[1])
                    elif name == b"transfer-encoding":
                        raise OSError("chunked requests are not supported by the test proxy")
                head = b"\r\n".join(lines) + b"\r\n\r\n"
                self.requests += 1
                if not self._gate(len(head), True, (client, upstream)):
                    return
                upstream.sendall(head)
                while length > 0:
                    if not buf:
                        buf = client.recv(min(65536, length))
                        if not buf:
                            return
                    chunk, buf = buf[:length], buf[length:]
                    if not self._gate(len(chunk), True, (client, upstream)):
                        return
                    upstream.sendall(chunk)
                    length -= len(chunk)
        except (OSError, ValueError):
            pass
        finally:
            self._drop(client, upstream)

    def _drop(self, *socks: socket.socket) -> None:
        with self._lock:
            for s in socks:
                self._conns.discard(s)
        for s in socks:
            _reset(s)


def _reset(s: socket.socket) -> None:
    """Close with a RST (as a dropped link looks to the other side), not a polite FIN."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass
