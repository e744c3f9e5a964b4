"""The upload client without a server: backoff with jitter, the bandwidth cap, error classes, multipart resume
(parts marked done are skipped), duplicates, the confirm body, the model download check."""

from __future__ import annotations

import hashlib
import json
import random

import httpx
import pytest

from camera_agents.uploader import Api, AuthError, LinkDown, Refused, TokenBucket, backoff_delay


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    rng = random.Random(1)
    assert backoff_delay(0, 2, 600, rng) == 0
    for n in range(1, 8):
        step = 2 * 2 ** (n - 1)
        ds = [backoff_delay(n, 2, 600, rng) for _ in range(200)]
        assert all(0.5 * step <= d < 1.5 * step for d in ds)
        assert len({round(d, 6) for d in ds}) > 150, "jitter spreads cameras that lost the link together"
    assert max(backoff_delay(40, 2, 600, rng) for _ in range(100)) <= 600


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_token_bucket_holds_the_rate():
    clock = FakeClock()
    b = TokenBucket(100_000, 25_000, clock=clock, sleep=clock.sleep)  # 100 kB/s, burst 25 kB
    for _ in range(100):
        b.consume(10_000)  # 1 MB
    assert clock.t == pytest.approx((1_000_000 - 25_000) / 100_000, rel=0.01)
    b.set_rate(0)
    t = clock.t
    b.consume(10**9)
    assert clock.t == t  # no cap


def test_the_cap_paces_a_real_put():
    clock = FakeClock()
    bucket = TokenBucket(256_000 / 8 * 1000 / 1000, clock=clock, sleep=clock.sleep)  # 256 kbit/s = 32 kB/s

    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"ETag": '"x"'})

    api = Api("http://api", "cam_x", transport=httpx.MockTransport(handler), bucket=bucket)
    api.put("http://s3/incoming/k?sig", memoryview(b"\0" * 320_000))
    assert clock.t == pytest.approx((320_000 - 65_536) / 32_000, rel=0.01)  # 32 kB/s after a one-chunk burst


class FakeServer:
    """The protocol's answers, recorded requests; ``parts_done`` marks multipart parts S3 already holds."""

    def __init__(
        self, data: bytes, *, part_size: int = 5 << 20, parts_done: tuple[int, ...] = (), duplicate: bool = False
    ) -> None:
        self.data, self.part_size, self.parts_done, self.duplicate = data, part_size, parts_done, duplicate
        self.requests: list[tuple[str, str, bytes]] = []
        self.put_fail: dict[str, int] = {}

    def __call__(self, req: httpx.Request) -> httpx.Response:
        body = req.read()
        self.requests.append((req.method, str(req.url), body))
        if req.url.host == "s3":
            return httpx.Response(200, headers={"ETag": '"e"'})
        if req.url.path == "/api/v1/ingest/slots":
            doc = json.loads(body)
            if self.duplicate:
                return httpx.Response(
                    200,
                    json={
                        "capture_id": 7,
                        "status": "stored",
                        "upload_url": None,
                        "duplicate": True,
                        "multipart": None,
                    },
                )
            if doc.get("multipart"):
                n = -(-doc["size"] // self.part_size)
                parts = [
                    {"part_number": i, "url": f"http://s3/k?partNumber={i}", "done": i in self.parts_done}
                    for i in range(1, n + 1)
                ]
                return httpx.Response(
                    201,
                    json={
                        "capture_id": 7,
                        "status": "pending",
                        "upload_url": None,
                        "duplicate": False,
                        "multipart": {"upload_id": "u1", "part_size": self.part_size, "parts": parts},
                    },
                )
            return httpx.Response(
                201,
                json={
                    "capture_id": 7,
                    "status": "pending",
                    "upload_url": "http://s3/k?sig",
                    "duplicate": False,
                    "multipart": None,
                },
            )
        if req.url.path.endswith("/confirm"):
            return httpx.Response(200, json={"id": 7, "status": "stored"})
        return httpx.Response(404, json={"code": "not_found", "detail": "?"})


def test_multipart_resume_sends_only_the_parts_not_done():
    data = bytes(range(256)) * (13 * 1024 * 1024 // 256)  # 13 MiB: parts of 5, 5, 3 MiB
    server = FakeServer(data, parts_done=(1,))
    api = Api("http://api", "cam_x", transport=httpx.MockTransport(server), multipart_above=8 << 20)
    res = api.upload(
        data, "2026-03-01T06:00:00+00:00", edge={"model_sha256": "ab" * 32, "detections": []}, kind="crops"
    )
    assert (res.parts_skipped, res.parts_sent, res.duplicate) == (1, 2, False)
    puts = [(url, body) for m, url, body in server.requests if m == "PUT"]
    assert [u.rsplit("=", 1)[1] for u, _ in puts] == ["2", "3"]
    assert b"".join(b for _, b in puts) == data[5 << 20 :]
    slot = json.loads(server.requests[0][2])
    assert slot["multipart"] is True and slot["sha256"] == hashlib.sha256(data).hexdigest()
    confirm = json.loads(server.requests[-1][2])
    assert confirm == {"edge": {"model_sha256": "ab" * 32, "detections": []}, "kind": "crops"}


def test_presigned_puts_carry_no_token_and_small_frames_go_in_one_put():
    seen = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return FakeServer(b"")(req)

    api = Api("http://api", "cam_secret", transport=httpx.MockTransport(handler))
    res = api.upload(b"\xff\xd8small", "2026-03-01T06:00:00+00:00")
    assert res.bytes_sent == 7 and not res.duplicate
    put = next(r for r in seen if r.method == "PUT")
    assert "authorization" not in put.headers and put.headers["content-length"] == "7"
    assert "transfer-encoding" not in put.headers  # S3 wants a Content-Length
    assert [r for r in seen if r.url.path.endswith("/confirm")][0].content == b""  # no body: server detection
    assert all(r.headers["authorization"] == "Bearer cam_secret" for r in seen if r.url.host == "api")


def test_a_duplicate_is_done_without_uploading():
    server = FakeServer(b"x", duplicate=True)
    api = Api("http://api", "cam_x", transport=httpx.MockTransport(server))
    assert api.upload(b"x", "2026-03-01T06:00:00+00:00").duplicate
    assert [m for m, _, _ in server.requests] == ["POST"]


@pytest.mark.parametrize(
    "status,body,exc",
    [
        (503, {"code": "storage_unavailable"}, LinkDown),
        (429, {"code": "slow_down"}, LinkDown),
        (401, {"code": "unauthorized"}, AuthError),
        (413, {"code": "image_too_large", "detail_en": "too large"}, Refused),
        (422, {"code": "edge_model_unknown"}, Refused),
    ],
)
def test_answers_are_classified(status, body, exc):
    api = Api("http://api", "cam_x", transport=httpx.MockTransport(lambda r: httpx.Response(status, json=body)))
    with pytest.raises(exc) as info:
        api.slot("ab" * 32, 10, "2026-03-01T06:00:00+00:00", False)
    if exc is Refused:
        assert info.value.code == body["code"] and info.value.status == status


def test_no_answer_is_link_down():
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=req)

    api = Api("http://api", "cam_x", transport=httpx.MockTransport(handler))
    with pytest.raises(LinkDown):
        api.upload(b"x", "2026-03-01T06:00:00+00:00")


def test_model_download_is_verified(tmp_path):
    model = b"onnx-bytes" * 1000
    good = hashlib.sha256(model).hexdigest()
    api = Api(
        "http://api",
        "cam_x",
        transport=httpx.MockTransport(lambda r: httpx.Response(200, content=model, headers={"X-Model-SHA256": good})),
    )
    assert api.download_model("/api/v1/cameras/me/model", tmp_path / "m", good) == good
    assert (tmp_path / "m").read_bytes() == model
    with pytest.raises(Refused) as info:
        api.download_model("/api/v1/cameras/me/model", tmp_path / "m2", "00" * 32)
    assert info.value.code == "model_sha256_mismatch"


def test_a_busy_server_says_when_to_come_back():
    api = Api(
        "http://api",
        "cam_x",
        transport=httpx.MockTransport(
            lambda r: httpx.Response(429, json={"code": "too_many_requests"}, headers={"Retry-After": "17"})
        ),
    )
    with pytest.raises(LinkDown) as info:
        api.slot("ab" * 32, 10, "2026-03-01T06:00:00+00:00", False)
    assert info.value.retry_after == 17
