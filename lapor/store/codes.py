"""One-time codes (kelurahan group invites, RT/RW head links): made here, stored hashed."""

from __future__ import annotations

import hashlib
import secrets

# Easy to read aloud and type on a phone: no 0/O or 1/I/L.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 10


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def hash_code(code: str) -> str:
    """Only the hash is stored; codes are compared case-insensitively, as typed."""
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()
