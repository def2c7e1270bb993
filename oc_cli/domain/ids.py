"""Identifiers and timestamps in the control plane's formats (cuid-like ids, ISO-8601 UTC ms)."""

from __future__ import annotations

import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = _ALPHABET[r] + out
    return out or "0"


def new_id() -> str:
    """25 characters: 'c', base36 milliseconds, then random base36 — sortable by creation time."""
    import secrets

    ms = _base36(int(time.time() * 1000)).rjust(8, "0")
    rnd = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return f"c{ms}{rnd}"


def now_iso() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def looks_like_id(value: str) -> bool:
    return len(value) == 25 and value[0] == "c" and all(ch in _ALPHABET for ch in value[1:])
