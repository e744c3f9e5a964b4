"""Fixed-window rate limits kept in Redis (the broker's, so every API process shares them).

Used on sign-in (per address and username, and per address) and on camera endpoints (per device token).
When Redis cannot be reached the limit is not enforced (logged): sign-in and uploads stay available, and
argon2 hashing keeps password guessing slow anyway.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis

log = logging.getLogger(__name__)
PREFIX = "cropwatch:rl:"


@dataclass(frozen=True)
class Limit:
    name: str
    count: int
    window_s: int


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


class RateLimiter:
    def __init__(self, client: redis.Redis | None) -> None:
        self.redis = client

    def hit(self, limit: Limit, key: str) -> None:
        """Count one event; raise ``RateLimited`` past ``limit.count`` in the current window."""
        if self.redis is None or limit.count <= 0:
            return
        now = time.time()
        window = int(now // limit.window_s)
        rkey = f"{PREFIX}{limit.name}:{key}:{window}"
        try:
            pipe = self.redis.pipeline()  # MULTI/EXEC: the increment and the read are one atomic step
            pipe.incr(rkey)
            pipe.expire(rkey, 2 * limit.window_s + 5)
            pipe.get(f"{PREFIX}{limit.name}:{key}:{window - 1}")
            n, _, prev = pipe.execute()
        except redis.RedisError as exc:
            log.warning("rate limit %s not enforced (Redis unavailable: %s)", limit.name, exc)
            return
        # sliding window: the previous window counts by the share of it still inside the last window_s seconds, so
        # a burst at the end of one window and the start of the next is not allowed twice
        elapsed = (now % limit.window_s) / limit.window_s
        if n + int(prev or 0) * (1 - elapsed) > limit.count:
            raise RateLimited(limit.window_s - int(now) % limit.window_s)

    def check(self, limit: Limit, key: str) -> None:
        """Raise ``RateLimited`` when ``limit.count`` events are already counted in this window (no counting)."""
        if self.redis is None or limit.count <= 0:
            return
        window = int(time.time() // limit.window_s)
        try:
            n = int(self.redis.get(f"{PREFIX}{limit.name}:{key}:{window}") or 0)
        except redis.RedisError as exc:
            log.warning("rate limit %s not enforced (Redis unavailable: %s)", limit.name, exc)
            return
        if n >= limit.count:
            raise RateLimited(limit.window_s - int(time.time()) % limit.window_s)

    def reset(self, limit: Limit, key: str) -> None:
        if self.redis is None:
            return
        window = int(time.time() // limit.window_s)
        try:
            self.redis.delete(f"{PREFIX}{limit.name}:{key}:{window}", f"{PREFIX}{limit.name}:{key}:{window - 1}")
        except redis.RedisError:
            pass
