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


def password_matches(user, password: str) -> bool:
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


PASSWORD_MIN = 10
#: words a Vietnamese cooperative's passwords are guessed from first (zxcvbn knows English lists, not these)
_LOCAL_WORDS = (
    "matkhau",
    "mat khau",
    "hoptacxa",
    "htx",
    "nongdan",
    "nong dan",
    "caylua",
    "lua",
    "vietnam",
    "hanoi",
    "saigon",
    "cropwatch",
    "quantri",
    "admin",
    "canhbao",
    "nhatky",
)


def password_problem(password: str, username: str, full_name: str = "") -> str | None:
    """Why a new password is refused (a message key), or None: too short, only digits, the username, or guessable
    (zxcvbn score below 2 with the username, the name and common local words as known words: ``aaaaaaaaaa``,
    ``password12``, ``matkhau123``, ``nongdan2026``)."""
    from zxcvbn import zxcvbn

    if len(password) < PASSWORD_MIN:
        return "admin_pw_too_short"
    if password.isdigit():
        return "admin_pw_all_digits"
    if password.strip().casefold() == username.strip().casefold():
        return "admin_pw_is_username"
    known = [username, *full_name.split(), *_LOCAL_WORDS]
    if zxcvbn(password[:100], user_inputs=[w for w in known if w])["score"] < 2:
        return "admin_pw_weak"
    return None
