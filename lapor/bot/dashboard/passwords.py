"""Staff passwords: scrypt hashes with their parameters in the stored string.

`scrypt$32768$8$1$<salt b64>$<hash b64>`: the cost travels with each hash, so the cost can
be raised later without breaking old hashes (they are re-hashed at the next good login).
scrypt is memory-hard (32 MiB per guess at these settings), which is what makes stolen
hashes expensive to attack on GPUs; it ships with Python (OpenSSL), so no new dependency.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os

MIN_LENGTH = 10
MAX_LENGTH = 1024  # a megabyte "password" would only be a way to burn our CPU
N, R, P = 2**15, 8, 1
SALT_BYTES = 16
KEY_BYTES = 32
# n * r * 128 bytes is exactly 32 MiB, which is also hashlib's default `maxmem`, and OpenSSL
# needs a little more than that: without headroom every call fails with "memory limit exceeded".
_MAXMEM = 64 * 1024 * 1024
_MAX_N = 2**20  # a stored string may not ask us for gigabytes


class PasswordRefused(ValueError):
    pass


def check_strength(password: str) -> None:
    """Refuse passwords shorter than MIN_LENGTH characters (length beats composition rules)."""
    if len(password) < MIN_LENGTH:
        raise PasswordRefused(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordRefused(f"a password may have at most {MAX_LENGTH} characters")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=length
    )


def hash_password(password: str) -> str:
    """A fresh salted scrypt hash of `password`, parameters included."""
    salt = os.urandom(SALT_BYTES)
    key = _derive(password, salt, N, R, P, KEY_BYTES)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored`; a malformed stored string never matches."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        n_, r_, p_ = int(n), int(r), int(p)
        if scheme != "scrypt" or not (1 < n_ <= _MAX_N and 0 < r_ <= 32 and 0 < p_ <= 16):
            return False
        expected = base64.b64decode(key, validate=True)
        actual = _derive(password, base64.b64decode(salt, validate=True), n_, r_, p_, len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(stored: str) -> bool:
    """True when `stored` was made with other parameters than today's."""
    return not stored.startswith(f"scrypt${N}${R}${P}$")


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not-a-password-of-anyone")


def burn_time(password: str) -> None:
    """Spend as long as a real check, for usernames that do not exist.

    Without it an unknown username answers in microseconds and a known one in ~100 ms,
    which tells an attacker which usernames are worth guessing passwords for.
    """
    verify_password(password, _dummy_hash())
