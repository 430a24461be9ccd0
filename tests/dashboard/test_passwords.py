"""Staff password hashes: scrypt with its parameters in the stored string."""

from __future__ import annotations

import base64
import time

import pytest

from lapor.bot.dashboard.passwords import (
    MIN_LENGTH,
    PasswordRefused,
    burn_time,
    check_strength,
    hash_password,
    needs_rehash,
    verify_password,
)


def test_a_hash_carries_its_parameters_and_a_fresh_salt() -> None:
    first, second = hash_password("kata-sandi-panjang"), hash_password("kata-sandi-panjang")
    scheme, n, r, p, salt, key = first.split("$")
    assert (scheme, n, r, p) == ("scrypt", "32768", "8", "1")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(key)) == 32
    assert first != second  # salted
    assert not needs_rehash(first)


def test_the_right_password_matches_and_nothing_else_does() -> None:
    stored = hash_password("kata-sandi-panjang")
    assert verify_password("kata-sandi-panjang", stored)
    assert not verify_password("kata-sandi-panjanG", stored)
    assert not verify_password("", stored)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain-text-password",
        "scrypt$32768$8$1$bm90YmFzZTY0$",
        "scrypt$abc$8$1$c2FsdA==$a2V5",
        "scrypt$2147483648$8$1$c2FsdA==$a2V5",  # asks for terabytes: refused, not tried
        "bcrypt$12$8$1$c2FsdA==$a2V5",
        "scrypt$32768$8$1$!!!$a2V5",
    ],
)
def test_a_malformed_stored_hash_never_matches(stored: str) -> None:
    assert not verify_password("anything", stored)


def test_older_parameters_still_verify_and_ask_for_a_rehash() -> None:
    import hashlib

    salt = b"0123456789abcdef"
    key = hashlib.scrypt(b"kata-sandi-lama!", salt=salt, n=2**14, r=8, p=1, dklen=32)
    stored = f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"
    assert verify_password("kata-sandi-lama!", stored)
    assert needs_rehash(stored)


def test_short_passwords_are_refused() -> None:
    with pytest.raises(PasswordRefused):
        check_strength("x" * (MIN_LENGTH - 1))
    check_strength("x" * MIN_LENGTH)


def test_an_unknown_username_costs_as_much_as_a_wrong_password() -> None:
    stored = hash_password("kata-sandi-panjang")
    burn_time("warm-up")  # the dummy hash is made once, on first use

    def timed(check) -> float:  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        check()
        return time.perf_counter() - start

    real = min(timed(lambda: verify_password("salah-salah-salah", stored)) for _ in range(3))
    dummy = min(timed(lambda: burn_time("salah-salah-salah")) for _ in range(3))
    assert 0.5 < dummy / real < 2.0
