"""The hash chain of the audit log (SPEC §4.8).

Each entry stores the hash of the previous entry and its own hash over a canonical JSON of its
fields plus that previous hash. Editing any field, deleting or reordering entries breaks the chain;
the store also keeps the head (last sequence number and hash) so that dropping the newest
entries is detected too.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

GENESIS = "0" * 64
FIELDS = ("seq", "timestamp", "actor", "tenant", "action", "resource", "message", "before", "after")


def canonical(entry: Mapping[str, Any]) -> str:
    return json.dumps({k: entry.get(k) for k in FIELDS}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(entry: Mapping[str, Any], prev_hash: str) -> str:
    import hashlib

    return hashlib.sha256((prev_hash + "\n" + canonical(entry)).encode()).hexdigest()


def verify(entries: Iterable[Mapping[str, Any]], head: tuple[int, str] | None) -> dict[str, Any]:
    """Check entries in ascending ``seq`` order. Returns ``{ok, checked, problems: [...]}``."""
    prev = GENESIS
    expected_seq = None
    problems: list[dict[str, Any]] = []
    checked = 0
    last: tuple[int, str] | None = None
    for e in entries:
        checked += 1
        seq = e["seq"]
        if expected_seq is not None and seq != expected_seq:
            problems.append({"seq": seq, "problem": f"entries {expected_seq}..{seq - 1} are missing"})
        if e["prevHash"] != prev:
            problems.append({"seq": seq, "problem": "previous-hash link broken (an earlier entry was edited or removed)"})
        if entry_hash(e, e["prevHash"]) != e["hash"]:
            problems.append({"seq": seq, "problem": "content does not match its hash (the entry was edited)"})
        prev = e["hash"]
        expected_seq = seq + 1
        last = (seq, e["hash"])
    if head is not None and last != head:
        if last is None or head[0] > last[0]:
            problems.append({"seq": head[0], "problem": "the newest entries were removed (chain head mismatch)"})
        else:
            problems.append({"seq": last[0], "problem": "chain head mismatch (the log was rewritten)"})
    elif head is None and last is not None:
        problems.append({"seq": last[0], "problem": "entries exist but the chain head is missing"})
    return {"ok": not problems, "checked": checked, "problems": problems}


def encode_cursor(seq: int) -> str:
    import base64

    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    import base64

    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not raw.startswith("seq:") or not raw[4:].isdigit():
        return None
    return int(raw[4:])
