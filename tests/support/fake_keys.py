"""Key-shaped test values, built at run time.

Tests of the raw-key refusal need strings that look exactly like real provider keys. Writing such
strings into the repository would trip secret scanners (and teach readers to paste keys into
files), so every one is assembled here from a seeded random body: same value on every run, no
key-shaped literal in any source file.
"""

from __future__ import annotations

import base64
import json
import random
import string

_ALNUM = string.ascii_letters + string.digits


def body(seed: int, length: int, alphabet: str = _ALNUM) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(length))


def openai(seed: int = 1, kind: str = "live") -> str:
    return "-".join(("sk", kind, body(seed, 32)))


def anthropic(seed: int = 2) -> str:
    return "-".join(("sk", "ant", "api03", body(seed, 32)))


def aws_access_key_id(seed: int = 3) -> str:
    return "AK" + "IA" + body(seed, 16, string.ascii_uppercase + string.digits)


def aws_session_key_id(seed: int = 4) -> str:
    return "AS" + "IA" + body(seed, 16, string.ascii_uppercase + string.digits)


def aws_secret(seed: int = 5) -> str:
    """40 characters with '/' inside, the shape of an AWS secret access key."""
    raw = body(seed, 38)
    return f"{raw[:13]}/{raw[13:20]}/{raw[20:]}"


def jwt(seed: int = 6) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return ".".join((part({"alg": "HS256", "typ": "JWT"}), part({"sub": body(seed, 10, string.digits)}),
                     body(seed, 43, _ALNUM + "-_")))


def github(seed: int = 7) -> str:
    return "gh" + "p_" + body(seed, 36)


def slack(seed: int = 8) -> str:
    return "xo" + "xb-" + body(seed, 4, string.digits) + "-" + body(seed + 1, 4, string.digits) + "-" + body(seed, 24)


def google(seed: int = 9) -> str:
    return "AI" + "za" + body(seed, 35, _ALNUM + "-_")


def hex_digest(seed: int = 10, length: int = 64) -> str:
    return body(seed, length, "0123456789abcdef")
