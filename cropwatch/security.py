"""Password hashing (argon2) and opaque tokens stored as sha256."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_HASH = _hasher.hash("cropwatch-no-such-user")


def password_matches(user, password: str) -> bool:  # noqa: ANN001 - cropwatch.tables.User or None
    """True for an active user with this password. A missing or inactive user costs one argon2 verification too,
    so the answer's timing does not tell which usernames exist."""
    if user is None or not user.is_active:
        verify_password(password, _DUMMY_HASH)
        return False
    return verify_password(password, user.password_hash)


def new_token(prefix: str) -> str:
    """A random bearer token; the prefix tells a person what kind it is (``cw_`` user, ``cam_`` camera)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
