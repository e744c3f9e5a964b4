"""One-time password reset codes, kept in Redis (the broker's), never in the database.

A cooperative admin creates a code for a member of the cooperative (the rules of :mod:`cropwatch.accounts.members`) and
passes it on by phone or Zalo; the member types it on ``/reset`` with a new password.

- A code is 12 characters of Crockford base 32 (60 bits), shown as ``XXXX-XXXX-XXXX``; typing is forgiving: case,
  spaces and hyphens do not matter and ``O``/``I``/``L`` read as ``0``/``1``/``1``.
- Redis holds only the code's sha256 (key ``cropwatch:pwreset:<sha256>``) with a TTL (24 h by default); the value
  names the user, the cooperative and the admin who made it, so the rules are checked again when it is used.
- One code per user: a new code replaces the previous one (``cropwatch:pwreset-user:<user id>``).
- Single use: taking a code reads and deletes it in one MULTI/EXEC, so two browsers racing with the same code cannot
  both succeed.
- The admin sees the code once, after a redirect: a short ticket (``cropwatch:pwreset-show:<random>``, 10 minutes,
  bound to that admin and cooperative) carries it to the next page view and is deleted when read.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass

import redis

PREFIX = "cropwatch:pwreset:"
USER_PREFIX = "cropwatch:pwreset-user:"
SHOW_PREFIX = "cropwatch:pwreset-show:"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32: no I, L, O, U
CODE_LENGTH = 12
SHOW_TTL_S = 600
_TYPO = str.maketrans({"O": "0", "I": "1", "L": "1"})


class ResetUnavailable(Exception):
    """Redis is not configured or cannot be reached: codes can be neither made nor used."""


@dataclass(frozen=True)
class ResetGrant:
    """What a code stands for: this user, in this cooperative, as decided by this admin."""

    user_id: int
    cooperative_id: int
    issued_by: int

    def dumps(self) -> str:
        return json.dumps({"user": self.user_id, "coop": self.cooperative_id, "by": self.issued_by})

    @classmethod
    def loads(cls, raw: bytes | str) -> ResetGrant:
        data = json.loads(raw)
        return cls(int(data["user"]), int(data["coop"]), int(data["by"]))


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalize_code(text: str) -> str:
    """The code as stored (12 characters, upper case), or "" for something that cannot be a code."""
    cleaned = "".join(text.split()).replace("-", "").upper().translate(_TYPO)
    if len(cleaned) != CODE_LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return ""
    return cleaned


def code_hash(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def _require(client: redis.Redis | None) -> redis.Redis:
    if client is None:
        raise ResetUnavailable("no Redis configured")
    return client


def issue_code(client: redis.Redis | None, grant: ResetGrant, ttl_s: int) -> str:
    """Make a code for ``grant.user_id`` valid ``ttl_s`` seconds; the user's previous code stops working."""
    r = _require(client)
    code = new_code()
    digest = code_hash(code)
    user_key = f"{USER_PREFIX}{grant.user_id}"
    try:
        previous = r.get(user_key)
        pipe = r.pipeline()
        if previous:
            pipe.delete(PREFIX + previous.decode())
        pipe.set(PREFIX + digest, grant.dumps(), ex=ttl_s)
        pipe.set(user_key, digest, ex=ttl_s)
        pipe.execute()
    except redis.RedisError as exc:
        raise ResetUnavailable(str(exc)) from exc
    return code


def peek_code(client: redis.Redis | None, code: str) -> ResetGrant | None:
    """What a code stands for, without using it up (None: unknown, expired or already used)."""
    r = _require(client)
    if not normalize_code(code):
        return None
    try:
        raw = r.get(PREFIX + code_hash(code))
    except redis.RedisError as exc:
        raise ResetUnavailable(str(exc)) from exc
    return ResetGrant.loads(raw) if raw else None


def take_code(client: redis.Redis | None, code: str) -> ResetGrant | None:
    """Use a code up: read and delete it in one step. Only one caller ever gets the grant."""
    r = _require(client)
    if not normalize_code(code):
        return None
    key = PREFIX + code_hash(code)
    try:
        pipe = r.pipeline()  # MULTI/EXEC
        pipe.get(key)
        pipe.delete(key)
        raw, deleted = pipe.execute()
    except redis.RedisError as exc:
        raise ResetUnavailable(str(exc)) from exc
    if not raw or not deleted:
        return None
    grant = ResetGrant.loads(raw)
    _forget_user_code(r, grant.user_id, key.removeprefix(PREFIX))
    return grant


def cancel_user_code(client: redis.Redis | None, user_id: int) -> None:
    """Drop the user's outstanding code (their password was changed another way). Quiet without Redis."""
    if client is None:
        return
    try:
        previous = client.get(f"{USER_PREFIX}{user_id}")
        if previous:
            client.delete(PREFIX + previous.decode(), f"{USER_PREFIX}{user_id}")
    except redis.RedisError:
        pass


def _forget_user_code(r: redis.Redis, user_id: int, digest: str) -> None:
    try:
        user_key = f"{USER_PREFIX}{user_id}"
        if (r.get(user_key) or b"").decode() == digest:
            r.delete(user_key)
    except redis.RedisError:
        pass


@dataclass(frozen=True)
class ShownCode:
    code: str
    user_id: int
    valid_until: float  # epoch seconds


def stash_for_display(client: redis.Redis | None, shown: ShownCode, *, admin_id: int, cooperative_id: int) -> str:
    """Keep the new code for one page view of this admin (after the redirect); returns the ticket."""
    r = _require(client)
    ticket = secrets.token_urlsafe(16)
    payload = {
        "code": shown.code,
        "user": shown.user_id,
        "until": shown.valid_until,
        "by": admin_id,
        "coop": cooperative_id,
    }
    try:
        r.set(SHOW_PREFIX + ticket, json.dumps(payload), ex=SHOW_TTL_S)
    except redis.RedisError as exc:
        raise ResetUnavailable(str(exc)) from exc
    return ticket


def pop_for_display(client: redis.Redis | None, ticket: str, *, admin_id: int, cooperative_id: int) -> ShownCode | None:
    """The code a ticket carries, once, and only for the admin (and cooperative) it was made for."""
    if client is None or not ticket or len(ticket) > 64:
        return None
    key = SHOW_PREFIX + ticket
    try:
        raw = client.get(key)
        data = json.loads(raw) if raw else {}
        if data.get("by") != admin_id or data.get("coop") != cooperative_id:
            return None  # someone else's ticket: left alone for its admin
        if client.delete(key) != 1:  # shown by a concurrent view of the same page a moment ago
            return None
    except redis.RedisError:
        return None
    return ShownCode(str(data["code"]), int(data["user"]), float(data["until"]))
