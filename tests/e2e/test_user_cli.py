"""phiguard user hash: the PHC string verifies with an independent Argon2
implementation (Debian's python3-argon2), and short passwords are refused."""
import subprocess

import argon2

from phiguard_harness import BIN


def hash_of(password):
    return subprocess.run([BIN, "user", "hash", "--stdin"], input=password + "\n", capture_output=True, text=True,
                          timeout=60)


def test_hash_verifies_independently():
    r = hash_of("correct horse battery staple")
    assert r.returncode == 0, r.stderr
    phc = r.stdout.strip()
    assert phc.startswith("$argon2id$v=19$m=65536,t=3,p=1$")
    assert argon2.PasswordHasher().verify(phc, "correct horse battery staple")
    try:
        argon2.PasswordHasher().verify(phc, "correct horse battery stapl")
        raise AssertionError("a wrong password verified")
    except argon2.exceptions.VerifyMismatchError:
        pass
    # Same password, fresh salt: different strings.
    assert hash_of("correct horse battery staple").stdout.strip() != phc


def test_short_password_refused():
    r = hash_of("tooshort")
    assert r.returncode == 1
    assert "at least 12 characters" in r.stderr
    assert r.stdout == ""
