"""The audit hash chain (SPEC §4.8): any edited, removed or reordered entry is detected."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oc_cli.domain.audit import FIELDS, GENESIS, canonical, decode_cursor, encode_cursor, entry_hash, verify


def chain(n: int, *, timestamp: str | None = None) -> tuple[list[dict[str, Any]], tuple[int, str] | None]:
    """``n`` well-formed entries and the head the store would keep."""
    entries: list[dict[str, Any]] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        e: dict[str, Any] = {
            "seq": seq,
            "timestamp": timestamp or f"2026-01-01T00:00:{seq:02d}.000Z",
            "actor": "alice" if seq % 2 else "bob@acme",
            "tenant": None if seq % 2 else "acme",
            "action": "ModelCreated",
            "resource": f"ModelDefinition/m{seq}",
            "message": f"Model m{seq} registered — ünïcode ✓",
            "before": None if seq == 1 else {"n": seq - 1},
            "after": {"n": seq, "list": [1, 2, {"x": None}]},
        }
        e["prevHash"] = prev
        e["hash"] = entry_hash(e, prev)
        prev = e["hash"]
        entries.append(e)
    return entries, ((n, prev) if n else None)


def problems(entries, head) -> list[str]:
    return [p["problem"] for p in verify(entries, head)["problems"]]


def test_an_intact_chain_verifies():
    entries, head = chain(5)
    assert verify(entries, head) == {"ok": True, "checked": 5, "problems": []}


def test_an_empty_log_verifies():
    assert verify([], None) == {"ok": True, "checked": 0, "problems": []}


def test_the_first_entry_links_to_the_genesis_hash():
    entries, _ = chain(1)
    assert entries[0]["prevHash"] == GENESIS == "0" * 64


@pytest.mark.parametrize("field", [f for f in FIELDS if f != "seq"])
def test_editing_any_field_is_detected(field):
    entries, head = chain(4)
    entries[1][field] = {"tampered": True} if field in ("before", "after") else "tampered"
    result = verify(entries, head)
    assert not result["ok"]
    assert result["problems"][0] == {"seq": 2, "problem": "content does not match its hash (the entry was edited)"}


def test_editing_an_entry_and_rehashing_it_breaks_the_next_link():
    entries, head = chain(4)
    entries[1]["message"] = "nothing to see here"
    entries[1]["hash"] = entry_hash(entries[1], entries[1]["prevHash"])
    result = verify(entries, head)
    assert not result["ok"]
    assert {"seq": 3, "problem": "previous-hash link broken (an earlier entry was edited or removed)"} \
        in result["problems"]


def test_rewriting_the_whole_chain_is_caught_by_the_head():
    entries, head = chain(3)
    rewritten, _ = chain(3)
    rewritten[0]["actor"] = "mallory"
    prev = GENESIS
    for e in rewritten:  # a consistent forgery, but the stored head still names the old last hash
        e["prevHash"] = prev
        e["hash"] = entry_hash(e, prev)
        prev = e["hash"]
    assert problems(rewritten, head) == ["chain head mismatch (the log was rewritten)"]


def test_deleting_a_middle_entry_is_detected():
    entries, head = chain(5)
    del entries[2]
    found = problems(entries, head)
    assert "entries 3..3 are missing" in found
    assert "previous-hash link broken (an earlier entry was edited or removed)" in found


def test_deleting_the_first_entry_is_detected():
    entries, head = chain(3)
    del entries[0]
    assert "previous-hash link broken (an earlier entry was edited or removed)" in problems(entries, head)


def test_deleting_the_newest_entries_is_detected_by_the_head():
    entries, head = chain(5)
    result = verify(entries[:3], head)
    assert not result["ok"]
    assert result["problems"] == [{"seq": 5, "problem": "the newest entries were removed (chain head mismatch)"}]


def test_deleting_every_entry_is_detected_by_the_head():
    _, head = chain(2)
    assert problems([], head) == ["the newest entries were removed (chain head mismatch)"]


def test_entries_without_a_head_are_suspicious():
    entries, _ = chain(2)
    assert problems(entries, None) == ["entries exist but the chain head is missing"]


def test_reordering_is_detected():
    entries, head = chain(4)
    entries[1], entries[2] = entries[2], entries[1]
    assert not verify(entries, head)["ok"]


def test_changing_a_sequence_number_is_detected():
    entries, head = chain(3)
    entries[2]["seq"] = 7
    assert not verify(entries, head)["ok"]


def test_verify_reads_each_entry_once_from_an_iterator():
    entries, head = chain(6)
    assert verify(iter(entries), head) == {"ok": True, "checked": 6, "problems": []}


@given(st.integers(min_value=1, max_value=8), st.data())
def test_any_single_edit_is_detected(n, data):
    entries, head = chain(n)
    victim = data.draw(st.integers(min_value=0, max_value=n - 1))
    field = data.draw(st.sampled_from([f for f in FIELDS if f != "seq"]))
    value = data.draw(st.one_of(st.text(max_size=10), st.none(), st.integers()))
    if entries[victim][field] == value:
        return
    tampered = copy.deepcopy(entries)
    tampered[victim][field] = value
    assert not verify(tampered, head)["ok"]


# -- hashing -----------------------------------------------------------------------------------------


def test_canonical_form_ignores_key_order_and_extra_keys():
    entries, _ = chain(1)
    e = entries[0]
    reordered = dict(reversed(list(e.items())))
    assert canonical(reordered) == canonical(e)
    assert canonical({**e, "hash": "x", "prevHash": "y", "extra": 1}) == canonical(e)


def test_canonical_form_covers_exactly_the_fields():
    text = canonical({"seq": 1})
    for f in FIELDS:
        assert f'"{f}"' in text
    assert "\n" not in text and ": " not in text


def test_hash_depends_on_the_previous_hash():
    entries, _ = chain(1)
    assert entry_hash(entries[0], GENESIS) != entry_hash(entries[0], "1" * 64)
    assert len(entry_hash(entries[0], GENESIS)) == 64


def test_json_values_hash_by_value_not_by_spelling():
    a = {"seq": 1, "after": {"b": 1, "a": 2}}
    b = {"seq": 1, "after": {"a": 2, "b": 1}}
    assert entry_hash(a, GENESIS) == entry_hash(b, GENESIS)


# -- cursors -----------------------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=2**62))
def test_cursor_round_trips(seq):
    cursor = encode_cursor(seq)
    assert decode_cursor(cursor) == seq
    assert "=" not in cursor


@pytest.mark.parametrize("junk", ["", "!!!", "é", "c2VxOg", "c2VxOmFiYw", "bm9wZTox", encode_cursor(1) + "A"])
def test_invalid_cursors_decode_to_none(junk):
    # "c2VxOg" is "seq:", "c2VxOmFiYw" is "seq:abc", "bm9wZTox" is "nope:1"
    assert decode_cursor(junk) is None


@given(st.text(max_size=40))
def test_decoding_junk_never_raises(text):
    out = decode_cursor(text)
    assert out is None or (isinstance(out, int) and out >= 0)
