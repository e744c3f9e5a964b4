"""A secret shown once after a redirect (POST-redirect-GET): a new camera token is kept in Redis for one page view of
the admin who made it, so a reload neither repeats the action nor shows the secret again."""

from __future__ import annotations

import json
import secrets

import redis

PREFIX = "cw:show-once:"
TTL_S = 600


def stash(client: redis.Redis, payload: dict, *, user_id: int, cooperative_id: int, ttl_s: int = TTL_S) -> str:
    """Keep ``payload`` for one view by ``user_id`` in ``cooperative_id``; returns the ticket for the redirect."""
    ticket = secrets.token_urlsafe(16)
    client.set(PREFIX + ticket, json.dumps({"payload": payload, "by": user_id, "coop": cooperative_id}), ex=ttl_s)
    return ticket


def pop(client: redis.Redis | None, ticket: str | None, *, user_id: int, cooperative_id: int) -> dict | None:
    """The payload, once, and only for the user and cooperative it was made for (None otherwise, or on reload)."""
    if client is None or not ticket or len(ticket) > 64:
        return None
    key = PREFIX + ticket
    try:
        raw = client.get(key)
        data = json.loads(raw) if raw else {}
        if data.get("by") != user_id or data.get("coop") != cooperative_id:
            return None
        if client.delete(key) != 1:  # a concurrent view showed it a moment ago
            return None
    except redis.RedisError:
        return None
    return data["payload"]
