"""Passwords: argon2id hashes (``argon2-cffi``) and a minimum strength.

Strength is checked without any download: at least 12 characters, not a well-known
password (a small list shipped here, compared after stripping the digits and symbols
people append), not built on the username, not one repeated character or keyboard run.
Hash parameters come from the settings; a hash made with other parameters is replaced at
the next successful login (``needs_rehash``).
"""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from callvault.core.config import Settings
from callvault.core.errors import Invalid

__all__ = ["MIN_LENGTH", "check_strength", "hash_password", "hasher_for", "needs_rehash", "verify_password"]

MIN_LENGTH = 12
MAX_LENGTH = 256

# Well-known passwords and their stems (lower case). Longer passwords built on them
# ("Password2024!", "qwerty123456") are caught by stripping digits and symbols first.
_COMMON_WORDS = """
    123456 123456789 12345678 1234567890 12345 1234567 password password1 qwerty qwerty123
    qwertyuiop 1q2w3e4r 1q2w3e4r5t 1qaz2wsx 1qaz2wsx3edc zaq12wsx abc123 abcd1234 111111
    000000 123123 654321 666666 888888 987654321 121212 112233 iloveyou admin administrator
    root toor welcome welcome1 letmein monkey dragon football baseball basketball soccer
    master shadow sunshine princess trustno1 superman batman starwars whatever freedom
    hello hello123 charlie donald michael jennifer jordan hunter hunter2 ashley daniel
    thomas jessica computer internet secret changeme changeit default guest test tester
    testing passw0rd p@ssw0rd p@ssword pa55word passpass passwordpassword mypassword
    login access access14 master123 qazwsx asdfgh asdfghjkl zxcvbn zxcvbnm qweasd qweasdzxc
    1234qwer qwer1234 q1w2e3r4 a1b2c3d4 aa123456 woaini 5201314 woaini1314 520520 aini1314
    iloveu loveyou lovely love ninja mustang michelle samsung apple google microsoft
    linux ubuntu oracle mysql postgres postgresql callcenter callvault company office
    summer winter spring autumn monday friday january december china beijing shanghai
    shenzhen hangzhou guangzhou huawei xiaomi tencent alibaba baidu taobao wechat
    qwertyui asdfasdf zxczxc 147258369 159357 147258 789456 789456123 456789 135792468
    11111111 00000000 88888888 66666666 12341234 11223344 12121212 123qwe 123abc abc
    password123 admin123 root123 user user123 support service manager staff agent
"""
_COMMON = frozenset(_COMMON_WORDS.split())

_KEYBOARD_RUNS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "abcdefghijklmnopqrstuvwxyz")
_STRIP = re.compile(r"[\d\W_]+")


def check_strength(password: str, *, username: str | None = None) -> None:
    """Raise ``Invalid`` (code ``password.weak``) naming the rule, never the password."""
    reason = _weakness(password, username)
    if reason is not None:
        raise Invalid(f"Password too weak: {reason}", code="password.weak")


def _weakness(password: str, username: str | None) -> str | None:
    if len(password) < MIN_LENGTH:
        return f"at least {MIN_LENGTH} characters are required"
    if len(password) > MAX_LENGTH:
        return f"at most {MAX_LENGTH} characters are allowed"
    lowered = password.lower()
    if len(set(lowered)) <= 2:
        return "too few different characters"
    stem = _STRIP.sub("", lowered)
    if not stem:
        return "only digits and symbols"
    if lowered in _COMMON or stem in _COMMON or _doubled(stem) in _COMMON:
        return "a commonly used password"
    if _is_run(lowered) or _is_run(stem):
        return "a keyboard or alphabet sequence"
    if username:
        name = username.lower().split("@")[0]
        if len(name) >= 3 and (name in lowered or lowered in name):
            return "contains the username"
    return None


def _doubled(stem: str) -> str:
    """``passwordpassword`` -> ``password``: repeated words are as weak as one."""
    half = len(stem) // 2
    return stem[:half] if half and stem[:half] == stem[half:] else stem


def _is_run(text: str) -> bool:
    if len(text) < 4:
        return False
    return any(text in run or text in run[::-1] for run in _KEYBOARD_RUNS)


def hasher_for(settings: Settings) -> PasswordHasher:
    """argon2id with the configured cost (the rest is the RFC 9106 low-memory profile)."""
    return PasswordHasher(time_cost=settings.password_time_cost, memory_cost=settings.password_memory_kib)


def hash_password(hasher: PasswordHasher, password: str) -> str:
    """``$argon2id$v=19$m=...,t=...,p=...$salt$hash``."""
    return hasher.hash(password)


def verify_password(hasher: PasswordHasher, stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; False for a mismatch, a missing or a broken hash."""
    if not stored_hash:
        return False
    try:
        return hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(hasher: PasswordHasher, stored_hash: str) -> bool:
    try:
        return hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True
