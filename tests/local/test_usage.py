"""Local usage: importing LiteLLM spend logs, listing usage, and routing metrics (SPEC §6)."""

from __future__ import annotations

import io
import json
import math
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oc_cli.errors import ForbiddenError, OcError, ValidationError
from oc_cli.local import usage as usage_mod
from oc_cli.local.backend import LocalControlPlane

NOW = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
DAY = (NOW - timedelta(days=2)).replace(hour=10, minute=0, second=0)  # a day well inside the default window


def spend_row(rid: str, *, start: datetime | str = DAY, latency_ms: float | None = 100.0, model: str | None = "m-a",
              group: str | None = None, team: str | None = "acme", spend: Any = 0.01, status: str | None = "success",
              **extra: Any) -> dict[str, Any]:
    """A LiteLLM_SpendLogs row. A datetime ``start`` is written the way LiteLLM writes times (naive
    UTC, microseconds), with endTime ``latency_ms`` later; a string ``start`` is used verbatim and
    endTime, if any, comes in ``extra``."""
    row: dict[str, Any] = {
        "request_id": rid,
        "call_type": "acompletion",
        "model": model,
        "spend": spend,
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
        "startTime": start.strftime("%Y-%m-%dT%H:%M:%S.%f") if isinstance(start, datetime) else start,
        "team_id": team,
        "metadata": {},
        "request_tags": [],
    }
    if latency_ms is not None and isinstance(start, datetime):
        row["endTime"] = (start + timedelta(milliseconds=latency_ms)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    if group is not None:
        row["model_group"] = group
    if status is not None:
        row["status"] = status
    row.update(extra)
    return row


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def stored(cp: LocalControlPlane) -> dict[str, dict[str, Any]]:
    return {r["requestId"]: r for r in cp.list_usage({"limit": 10_000})}


# -- import: formats and normalisation ------------------------------------------------------------

def test_jsonl_rows_are_normalised(local_cp, tmp_path):
    rows = [
        spend_row("naive", start="2025-03-01T10:00:00.123456", latency_ms=None,
                  endTime="2025-03-01T10:00:01.623456", model="gpt-4o-2024-08-06", group="gpt-4o"),
        spend_row("offset", start="2025-03-01T12:00:00.5+02:00", latency_ms=None, endTime="2025-03-01T10:00:02Z"),
        spend_row("zulu", start="2025-03-01T10:00:00.250Z", latency_ms=None, endTime="2025-03-01 10:00:00.750",
                  status=None),
        spend_row("failed", start="2025-03-01T10:00:00", latency_ms=None, status="failure", spend=0.0),
        spend_row("week-date", start="2025-W09-6T10:00:00.123456", latency_ms=None),
    ]
    report = local_cp().import_usage(str(write_jsonl(tmp_path / "log.jsonl", rows)))
    assert report == {"rows": 5, "imported": 5, "skipped": 0, "skippedOtherTenant": 0, "bad": 0,
                      "format": "jsonl", "badRows": []}
    got = stored(local_cp())
    naive = got["naive"]
    assert (naive["startTime"], naive["endTime"]) == ("2025-03-01T10:00:00.123Z", "2025-03-01T10:00:01.623Z")
    assert naive["latencyMs"] == pytest.approx(1500.0)
    # model is the public name (model_group); LiteLLM's model is kept as the upstream model
    assert (naive["model"], naive["modelGroup"], naive["upstreamModel"]) == ("gpt-4o", "gpt-4o", "gpt-4o-2024-08-06")
    assert (naive["source"], naive["kind"], naive["status"]) == ("import", "traffic", "success")
    assert (naive["promptTokens"], naive["completionTokens"], naive["spendUsd"]) == (100, 20, 0.01)
    assert got["offset"]["startTime"] == "2025-03-01T10:00:00.500Z"
    assert got["offset"]["latencyMs"] == pytest.approx(1500.0)
    assert got["offset"]["model"] == "m-a" and got["offset"]["modelGroup"] is None
    zulu = got["zulu"]
    assert (zulu["startTime"], zulu["endTime"]) == ("2025-03-01T10:00:00.250Z", "2025-03-01T10:00:00.750Z")
    assert got["zulu"]["status"] == "success"  # a missing status is a success
    assert got["failed"]["status"] == "failure" and got["failed"]["latencyMs"] is None
    assert got["week-date"]["startTime"] == "2025-03-01T10:00:00.123Z"  # ISO week 9, Saturday


def test_tenant_and_skill_come_from_team_metadata_and_tags(local_cp, tmp_path):
    rows = [
        spend_row("team-id", team="acme", request_tags=["env:prod", "skill:summarise"]),
        spend_row("key-team", team=None, metadata={"user_api_key_team_id": "beta", "tags": ["skill:org/classify"]}),
        spend_row("meta-team", team=None, metadata=json.dumps({"team_id": "gamma", "skill": "team/gamma/triage"})),
        spend_row("cluster", team=None, metadata={"clusterTenant": "delta"}, request_tags=json.dumps(["skill:x"])),
        spend_row("requester", team=None,
                  metadata={"requester_metadata": {"clusterTenant": "eps", "skill": "draft"}}),
        spend_row("nothing", team=None, metadata=None, request_tags=None),
        spend_row("odd-tag", request_tags=["skill:not/a/valid/key"]),
    ]
    cp = local_cp()
    assert cp.import_usage(str(write_jsonl(tmp_path / "log.jsonl", rows)))["imported"] == len(rows)
    got = {rid: (r["clusterTenant"], r["skill"]) for rid, r in stored(cp).items()}
    assert got == {
        "team-id": ("acme", "summarise"),
        "key-team": ("beta", "classify"),  # org/classify is written canonically, as measurements record it
        "meta-team": ("gamma", "team/gamma/triage"),
        "cluster": ("delta", "x"),
        "requester": ("eps", "draft"),
        "nothing": (None, None),
        "odd-tag": ("acme", "not/a/valid/key"),  # kept as given rather than dropped
    }


def test_json_array_imports_like_jsonl(local_cp, tmp_path, oc_env):
    rows = [spend_row(f"r{i}", start=DAY + timedelta(minutes=i), latency_ms=50 + i, team=f"t{i % 3}")
            for i in range(7)]
    (tmp_path / "log.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    write_jsonl(tmp_path / "log.jsonl", rows)
    array_cp = LocalControlPlane(tmp_path / "array.db")
    lines_cp = LocalControlPlane(tmp_path / "lines.db")
    try:
        report = array_cp.import_usage(str(tmp_path / "log.json"))
        assert report["format"] == "array" and report["imported"] == 7
        assert lines_cp.import_usage(str(tmp_path / "log.jsonl"))["format"] == "jsonl"
        assert stored(array_cp) == stored(lines_cp)
    finally:
        array_cp.close()
        lines_cp.close()


def test_array_read_in_small_pieces_and_empty_inputs(local_cp, tmp_path, monkeypatch):
    monkeypatch.setattr(usage_mod, "READ_CHUNK", 16)  # every element spans several reads
    rows = [spend_row(f"r{i}", metadata={"note": "ü" * 20}) for i in range(5)]
    (tmp_path / "a.json").write_text("\ufeff  " + json.dumps(rows), encoding="utf-8")  # BOM and leading space
    (tmp_path / "empty.json").write_text(" [ ] ", encoding="utf-8")
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    cp = local_cp()
    assert cp.import_usage(str(tmp_path / "a.json"))["imported"] == 5
    for name in ("empty.json", "empty.jsonl"):
        report = cp.import_usage(str(tmp_path / name))
        assert (report["rows"], report["imported"], report["bad"]) == (0, 0, 0)


def test_stdin_is_read_with_a_dash(local_cp, monkeypatch):
    data = "".join(json.dumps(spend_row(f"s{i}")) + "\n" for i in range(3)).encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert local_cp().import_usage("-")["imported"] == 3


def test_missing_file_is_a_validation_error(local_cp, tmp_path):
    with pytest.raises(ValidationError, match="cannot read"):
        local_cp().import_usage(str(tmp_path / "nope.jsonl"))
    with pytest.raises(ValidationError, match="directory"):
        local_cp().import_usage(str(tmp_path))


# -- import: idempotence, bad rows, tenants, audit ------------------------------------------------

def test_importing_twice_adds_nothing(local_cp, tmp_path):
    rows = [spend_row(f"r{i}") for i in range(5)] + [spend_row("r0")]  # a duplicate inside the file too
    path = str(write_jsonl(tmp_path / "log.jsonl", rows))
    cp = local_cp()
    first = cp.import_usage(path)
    assert (first["imported"], first["skipped"]) == (5, 1)
    before = cp.metrics({})
    second = cp.import_usage(path)
    assert (second["rows"], second["imported"], second["skipped"]) == (6, 0, 6)
    assert len(stored(cp)) == 5
    assert cp.metrics({})["totals"] == before["totals"]  # the rollup did not count the duplicates


def test_bad_rows_are_skipped_and_reported_by_line(local_cp, tmp_path):
    lines: list[Any] = [
        spend_row("good-1"),                                            # 1
        {k: v for k, v in spend_row("x").items() if k != "request_id"},  # 2 no request_id
        '{"request_id": "broken", ',                                    # 3 bad JSON
        "",                                                             # 4 blank: ignored
        spend_row("bad-time", start="yesterday-ish"),                   # 5 unparsable time
        spend_row("neg", spend=-0.5),                                   # 6 negative spend
        spend_row("good-2"),                                            # 7
        spend_row("backwards", latency_ms=-5),                          # 8 end before start
        spend_row("weird", status="maybe"),                             # 9 unknown status
        [1, 2, 3],                                                      # 10 not an object
        spend_row("tokens", prompt_tokens=-1),                          # 11 negative tokens
        spend_row("meta", metadata="{not json"),                        # 12 metadata string not JSON
        spend_row("esc", model="gpt\x1b[31m-red"),                       # 13 terminal escape in a name
    ]
    report = local_cp().import_usage(str(write_jsonl(tmp_path / "log.jsonl", lines)))
    assert (report["rows"], report["imported"], report["bad"]) == (12, 2, 10)
    assert [(b["line"], b.get("requestId")) for b in report["badRows"]] == [
        (2, None), (3, None), (5, "bad-time"), (6, "neg"), (8, "backwards"), (9, "weird"), (10, None),
        (11, "tokens"), (12, "meta"), (13, "esc")]
    errors = {b["line"]: b["error"] for b in report["badRows"]}
    assert "request_id" in errors[2] and "JSON" in errors[3] and "startTime" in errors[5]
    assert "negative" in errors[6] and "before" in errors[8] and "metadata" in errors[12]
    assert errors[13] == "model contains control characters"
    assert set(stored(local_cp())) == {"good-1", "good-2"}


def test_only_the_first_twenty_bad_rows_are_listed(local_cp, tmp_path):
    lines = ["not json"] * 25 + [json.dumps(spend_row("ok"))]
    report = local_cp().import_usage(str(write_jsonl(tmp_path / "log.jsonl", lines)))
    assert report["bad"] == 25 and report["imported"] == 1
    assert [b["line"] for b in report["badRows"]] == list(range(1, 21))


def test_broken_array_keeps_the_elements_before_the_break(local_cp, tmp_path):
    good = [spend_row("a"), spend_row("b")]
    text = json.dumps(good)[:-1] + ', {"request_id": "c", "startTime": "2025-01-01T00:00:00", '  # truncated
    (tmp_path / "log.json").write_text(text, encoding="utf-8")
    report = local_cp().import_usage(str(tmp_path / "log.json"))
    assert report["imported"] == 2 and report["bad"] == 1
    assert report["badRows"][0]["index"] == 2 and "rest of the array" in report["badRows"][0]["error"]
    (tmp_path / "bad-element.json").write_text(json.dumps([spend_row("d"), {"request_id": ""}]), encoding="utf-8")
    report = local_cp().import_usage(str(tmp_path / "bad-element.json"))
    assert report["imported"] == 1 and report["badRows"] == [{"index": 1, "requestId": "", "error": "no request_id"}]


def test_tenant_identity_imports_only_its_own_rows(local_cp, tmp_path):
    rows = [spend_row("mine-1", team="acme"), spend_row("theirs", team="beta"), spend_row("none", team=None),
            spend_row("mine-2", team=None, metadata={"user_api_key_team_id": "acme"})]
    report = local_cp(tenant="acme").import_usage(str(write_jsonl(tmp_path / "log.jsonl", rows)))
    assert (report["imported"], report["skippedOtherTenant"]) == (2, 2)
    assert set(stored(local_cp())) == {"mine-1", "mine-2"}


def test_each_import_is_audited_once(local_cp, tmp_path):
    path = str(write_jsonl(tmp_path / "log.jsonl", [spend_row("a"), spend_row("b"), "oops"]))
    local_cp(tenant="acme").import_usage(path)
    entries = [e for e in local_cp().list_audit()["data"] if e["action"] == "UsageImported"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["tenant"] == "acme" and entry["after"]["imported"] == 2 and entry["after"]["bad"] == 1
    assert entry["after"]["interrupted"] is False and path in entry["message"]
    assert local_cp().verify_audit()["ok"] is True


def test_parallel_parsing_matches_sequential(local_cp, tmp_path, monkeypatch):
    """The worker-process path (large JSONL files) stores the same rows and reports the same
    lines as the in-process path, across many pieces and batches."""
    lines: list[Any] = []
    for i in range(60):
        lines.append(spend_row(f"r{i}", start=DAY + timedelta(seconds=i), latency_ms=i * 3.5, team=f"t{i % 4}"))
        if i % 17 == 5:
            lines.append("{bad json")
    path = str(write_jsonl(tmp_path / "log.jsonl", lines))
    sequential = LocalControlPlane(tmp_path / "seq.db")
    try:
        expected = sequential.import_usage(path)
        expected_rows = stored(sequential)
    finally:
        sequential.close()
    monkeypatch.setattr(usage_mod, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(usage_mod, "_worker_count", lambda size: 2)
    monkeypatch.setattr(usage_mod, "READ_CHUNK", 700)  # about three lines a piece
    monkeypatch.setattr(usage_mod, "BATCH_ROWS", 7)
    cp = local_cp()
    assert cp.import_usage(path) == expected
    assert stored(cp) == expected_rows
    assert expected["bad"] == 4 and [b["line"] for b in expected["badRows"]] == [7, 25, 43, 61]


class _FailingRaw(io.RawIOBase):
    """A file that fails with EIO after ``limit`` bytes."""

    def __init__(self, data: bytes, limit: int) -> None:
        self.data, self.limit, self.pos = data, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.pos >= self.limit:
            raise OSError(5, "Input/output error")
        n = min(len(buffer), self.limit - self.pos, len(self.data) - self.pos)
        buffer[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


def test_a_read_error_mid_file_keeps_only_whole_batches(local_cp, tmp_path, monkeypatch):
    rows = [spend_row(f"r{i:02d}", start=DAY + timedelta(seconds=i)) for i in range(40)]
    path = write_jsonl(tmp_path / "log.jsonl", rows)
    data = path.read_bytes()
    assert min(len(line) for line in data.splitlines()) > 256  # so every 256-byte piece is one line
    monkeypatch.setattr(usage_mod, "BATCH_ROWS", 6)
    monkeypatch.setattr(usage_mod, "READ_CHUNK", 256)
    real_open = usage_mod._open
    monkeypatch.setattr(usage_mod, "_open", lambda p: (io.BufferedReader(_FailingRaw(data, len(data) // 2), 256),
                                                       len(data), True))
    cp = local_cp()
    with pytest.raises(OcError, match="failed after") as err:
        cp.import_usage(str(path))
    assert err.value.code == "READ_ERROR" and "import the file again" in err.value.hint
    kept = stored(cp)
    assert kept and len(kept) % 6 == 0 and len(kept) < 40  # whole batches only
    assert set(kept) == {f"r{i:02d}" for i in range(len(kept))}
    interrupted = [e for e in cp.list_audit()["data"] if e["action"] == "UsageImported"]
    assert interrupted[0]["after"]["interrupted"] is True and interrupted[0]["after"]["imported"] == len(kept)
    monkeypatch.setattr(usage_mod, "_open", real_open)
    report = cp.import_usage(str(path))
    assert (report["imported"], report["skipped"]) == (40 - len(kept), len(kept))
    assert cp.metrics({})["totals"]["requests"] == 40


# -- listing -----------------------------------------------------------------------------------------

def test_list_is_newest_first_with_filters(local_cp, tmp_path):
    rows = [spend_row(f"r{i:02d}", start=DAY + timedelta(minutes=i), model="m-a" if i % 2 else "m-b",
                      team="acme" if i < 30 else "beta", request_tags=[f"skill:s{i % 3}"]) for i in range(60)]
    cp = local_cp()
    cp.import_usage(str(write_jsonl(tmp_path / "log.jsonl", rows)))
    listed = cp.list_usage({})
    assert len(listed) == 50 and listed[0]["requestId"] == "r59" and listed[-1]["requestId"] == "r10"
    assert [r["requestId"] for r in cp.list_usage({"limit": 3, "model": "m-a"})] == ["r59", "r57", "r55"]
    assert {r["skill"] for r in cp.list_usage({"skill": "s1", "limit": 100})} == {"s1"}
    assert {r["clusterTenant"] for r in cp.list_usage({"clusterTenant": "beta", "limit": 100})} == {"beta"}
    assert len(cp.list_usage({"since": (DAY + timedelta(minutes=55)).isoformat(), "limit": 100})) == 5
    assert cp.list_usage({"kind": "judge"}) == []
    with pytest.raises(ValidationError, match="--kind"):
        cp.list_usage({"kind": "everything"})
    with pytest.raises(ValidationError, match="--since"):
        cp.list_usage({"since": "last tuesday"})


# -- metrics -----------------------------------------------------------------------------------------

def add_own_call(cp: LocalControlPlane, rid: str, *, kind: str, model: str, start: datetime, latency: float,
                 passed: int | None, tenant: str | None = "acme", skill: str = "team/acme/summarise",
                 spend: float | None = 0.002, status: str = "success") -> None:
    """One of oc's own gateway calls, written the way the measurement runner writes them."""
    with cp.store.write() as c:
        c.execute(
            "INSERT INTO usage (request_id, source, kind, model, model_group, skill, tenant, prompt_tokens,"
            " completion_tokens, spend_usd, latency_ms, status, start_time, end_time, measurement_id, passed)"
            " VALUES (?, 'oc', ?, ?, ?, ?, ?, 10, 5, ?, ?, ?, ?, ?, 'm1', ?)",
            (rid, kind, model, model, skill, tenant, spend, latency, status, usage_mod.iso_utc(start),
             usage_mod.iso_utc(start + timedelta(milliseconds=latency)), passed))


def test_metrics_by_model_on_known_data(local_cp, tmp_path):
    rows = [spend_row(f"a{i}", model="m-a", latency_ms=float(i), start=DAY + timedelta(minutes=i),
                      spend=0.01, status="failure" if i <= 10 else "success") for i in range(1, 101)]
    rows += [spend_row(f"b{i}", model="m-b", latency_ms=10.0 * i, start=DAY + timedelta(hours=3, minutes=i),
                       spend=None) for i in range(1, 11)]
    rows += [spend_row("c1", model="m-c", latency_ms=None, spend=2.5)]
    cp = local_cp()
    cp.import_usage(str(write_jsonl(tmp_path / "log.jsonl", rows)))
    add_own_call(cp, "oc-1", kind="measurement", model="m-b", start=DAY, latency=5.0, passed=1)
    add_own_call(cp, "oc-2", kind="measurement", model="m-b", start=DAY, latency=5.0, passed=0)
    add_own_call(cp, "oc-3", kind="measurement", model="m-b", start=DAY, latency=5.0, passed=1)
    add_own_call(cp, "oc-4", kind="judge", model="m-j", start=DAY, latency=7.0, passed=None)

    m = cp.metrics({"by": "model"})
    assert m["by"] == "model" and m["since"] < usage_mod.iso_utc(DAY) < m["until"]
    got = {r["key"]: r for r in m["rows"]}
    a, b, c, j = got["m-a"], got["m-b"], got["m-c"], got["m-j"]
    assert (a["requests"], a["promptTokens"], a["completionTokens"]) == (100, 10_000, 2_000)
    assert a["spendUsd"] == pytest.approx(1.0) and a["errorRate"] == pytest.approx(0.10)
    assert a["latencyMeanMs"] == pytest.approx(50.5) and a["latencyP95Ms"] == 95.0  # nearest rank: 95th of 1..100
    assert a["judgePassRate"] is None and a["unpricedRequests"] == 0
    # m-b: ten imported calls 10..100 ms without a price, and three measurement calls of 5 ms
    assert b["requests"] == 13 and b["unpricedRequests"] == 10 and b["spendUsd"] == pytest.approx(0.006)
    assert b["latencyP95Ms"] == 100.0 and b["judgePassRate"] == pytest.approx(2 / 3)
    assert c["latencyMeanMs"] is None and c["latencyP95Ms"] is None and c["spendUsd"] == 2.5
    assert j["judgePassRate"] is None  # judge calls are not answers with a verdict
    assert [r["key"] for r in m["rows"]] == ["m-c", "m-a", "m-b", "m-j"]  # by spend, largest first
    totals = m["totals"]
    assert "key" not in totals and totals["requests"] == 115
    all_latencies = sorted([float(i) for i in range(1, 101)] + [10.0 * i for i in range(1, 11)] + [5.0] * 3 + [7.0])
    assert totals["latencyP95Ms"] == all_latencies[math.ceil(0.95 * len(all_latencies)) - 1]
    assert totals["spendUsd"] == pytest.approx(1.0 + 2.5 + 0.008)
    assert totals["judgePassRate"] == pytest.approx(2 / 3)


def brute_force(rows: list[dict[str, Any]], by: str, since: str, until: str, tenant: str | None) -> dict[str, Any]:
    """The metrics computed the obvious way from the stored rows."""
    key = {"model": "model", "skill": "skill", "tenant": "clusterTenant", "day": "startTime"}[by]
    picked = [r for r in rows if since <= r["startTime"] < until and (tenant is None or r["clusterTenant"] == tenant)]
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in picked:
        groups[r[key][:10] if by == "day" else r[key]].append(r)

    def summary(rs: list[dict[str, Any]]) -> dict[str, Any]:
        lat = sorted(r["latencyMs"] for r in rs if r["latencyMs"] is not None)
        spends = [r["spendUsd"] for r in rs if r["spendUsd"] is not None]
        verdicts = [r["passed"] for r in rs if r["kind"] == "measurement" and r["passed"] is not None]
        return {
            "requests": len(rs),
            "promptTokens": sum(r["promptTokens"] or 0 for r in rs),
            "completionTokens": sum(r["completionTokens"] or 0 for r in rs),
            "spendUsd": sum(spends) if spends else None,
            "latencyMeanMs": sum(lat) / len(lat) if lat else None,
            "latencyP95Ms": lat[math.ceil(0.95 * len(lat)) - 1] if lat else None,
            "errorRate": sum(r["status"] == "failure" for r in rs) / len(rs) if rs else None,
            "judgePassRate": sum(verdicts) / len(verdicts) if verdicts else None,
        }

    return {"rows": {k: summary(v) for k, v in groups.items()}, "totals": summary(picked)}


def assert_matches(m: dict[str, Any], expected: dict[str, Any]) -> None:
    got = {r["key"]: r for r in m["rows"]}
    assert set(got) == set(expected["rows"])
    pairs = [(got[k], want, k) for k, want in expected["rows"].items()]
    for have, want, label in [*pairs, (m["totals"], expected["totals"], "totals")]:
        for field, value in want.items():
            if isinstance(value, float):
                assert have[field] == pytest.approx(value, rel=1e-9, abs=1e-9), (label, field)
            else:
                assert have[field] == value, (label, field)


def test_every_grouping_matches_brute_force_across_rollup_and_edges(local_cp, tmp_path):
    """A window that starts and ends inside hours: whole hours come from the rollup, the
    edges and oc's own calls from the rows; the result must equal the plain computation."""
    rows = []
    for i in range(240):
        start = DAY - timedelta(hours=5) + timedelta(minutes=7 * i, seconds=i % 13)
        rows.append(spend_row(f"r{i}", start=start, latency_ms=(i * 37) % 251 + (i % 3) * 0.25,
                              model=["m-a", "m-b", None][i % 3], team=["acme", "beta", None][i % 4 % 3],
                              spend=None if i % 11 == 0 else 0.001 * (i % 7),
                              status="failure" if i % 9 == 0 else "success",
                              request_tags=[f"skill:s{i % 5}"] if i % 6 else []))
    cp = local_cp()
    cp.import_usage(str(write_jsonl(tmp_path / "log.jsonl", rows)))
    for i in range(12):
        add_own_call(cp, f"oc-{i}", kind="measurement" if i % 3 else "judge", model=["m-a", "m-c"][i % 2],
                     start=DAY + timedelta(minutes=13 * i), latency=float(40 + i), passed=(i % 2) if i % 3 else None,
                     tenant=["acme", "beta"][i % 2])
    everything = stored(cp)
    since = usage_mod.iso_utc(DAY - timedelta(hours=3, minutes=17))
    until = usage_mod.iso_utc(DAY + timedelta(hours=20, minutes=41, seconds=11))
    for tenant in (None, "acme"):
        for by in ("model", "skill", "tenant", "day"):
            params = {"by": by, "since": since, "until": until}
            m = local_cp(tenant=tenant).metrics(params) if tenant else cp.metrics(params)
            assert_matches(m, brute_force(list(everything.values()), by, since, until, tenant))


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    data=st.lists(st.tuples(
        st.integers(0, 6 * 60),                          # minute of the 6 hours
        st.one_of(st.none(), st.integers(0, 40)),        # latency (ties are common)
        st.sampled_from(["m-a", "m-b", "m-c", None]),
        st.sampled_from(["acme", "beta", None]),
        st.sampled_from([None, "s1", "s2"]),
    ), min_size=1, max_size=60),
    window=st.tuples(st.integers(0, 6 * 60), st.integers(1, 6 * 60)),
    by=st.sampled_from(["model", "skill", "tenant", "day"]),
)
def test_metrics_equal_brute_force_for_any_data(tmp_path, data, window, by):
    cp = LocalControlPlane(tmp_path / f"{uuid.uuid4().hex}.db")
    try:
        base = DAY - timedelta(hours=3)
        rows = [spend_row(f"r{i}", start=base + timedelta(minutes=minute, seconds=i % 60), latency_ms=latency,
                          model=model, team=team, request_tags=[f"skill:{skill}"] if skill else [])
                for i, (minute, latency, model, team, skill) in enumerate(data)]
        path = tmp_path / f"{uuid.uuid4().hex}.jsonl"
        cp.import_usage(str(write_jsonl(path, rows)))
        since = usage_mod.iso_utc(base + timedelta(minutes=window[0], seconds=30))
        until = usage_mod.iso_utc(base + timedelta(minutes=window[0] + window[1], seconds=30))
        m = cp.metrics({"by": by, "since": since, "until": until})
        assert_matches(m, brute_force(list(stored(cp).values()), by, since, until, None))
    finally:
        cp.close()


def test_rollup_stays_exact_when_rows_change(local_cp, tmp_path):
    rows = [spend_row(f"r{i}", start=DAY - timedelta(hours=4) + timedelta(minutes=10 * i), latency_ms=float(i),
                      model=["m-a", "m-b"][i % 2]) for i in range(30)]
    cp = local_cp()
    cp.import_usage(str(write_jsonl(tmp_path / "log.jsonl", rows)))
    with cp.store.write() as c:
        c.execute("DELETE FROM usage WHERE request_id IN ('r3', 'r4')")
        c.execute("UPDATE usage SET model = 'm-c', spend_usd = 1.5, status = 'failure' WHERE request_id = 'r10'")
    since, until = usage_mod.iso_utc(DAY - timedelta(hours=6)), usage_mod.iso_utc(DAY + timedelta(hours=2))
    for by in ("model", "day"):
        m = cp.metrics({"by": by, "since": since, "until": until})
        assert_matches(m, brute_force(list(stored(cp).values()), by, since, until, None))


def test_default_window_is_the_last_seven_days(local_cp, tmp_path):
    rows = [spend_row("old", start=NOW - timedelta(days=8)), spend_row("recent", start=NOW - timedelta(days=6))]
    cp = local_cp()
    cp.import_usage(str(write_jsonl(tmp_path / "log.jsonl", rows)))
    m = cp.metrics({})
    assert m["totals"]["requests"] == 1 and m["by"] == "model"
    assert cp.metrics({"since": "9d"})["totals"]["requests"] == 2
    assert cp.metrics({"until": usage_mod.iso_utc(NOW - timedelta(days=7))})["totals"]["requests"] == 1  # the old one
    assert cp.metrics({"since": "30m"})["rows"] == []
    assert cp.metrics({"since": "30m"})["totals"]["requests"] == 0


def test_a_tenant_identity_sees_only_its_own_usage(local_cp, tmp_path):
    rows = [spend_row(f"a{i}", team="acme", model="m-a", latency_ms=10.0 + i) for i in range(5)]
    rows += [spend_row(f"b{i}", team="beta", model="m-a", latency_ms=1000.0 + i) for i in range(5)]
    rows += [spend_row("n", team=None, model="m-z")]
    local_cp().import_usage(str(write_jsonl(tmp_path / "log.jsonl", rows)))
    acme = local_cp(tenant="acme")
    for by in ("model", "skill", "tenant", "day"):
        m = acme.metrics({"by": by})
        assert m["totals"]["requests"] == 5 and m["clusterTenant"] == "acme"
        assert m["totals"]["latencyP95Ms"] == 14.0  # beta's slow calls do not leak into the p95
    assert [r["key"] for r in acme.metrics({"by": "tenant"})["rows"]] == ["acme"]
    assert acme.metrics({"clusterTenant": "acme"})["totals"]["requests"] == 5
    with pytest.raises(ForbiddenError, match="beta"):
        acme.metrics({"clusterTenant": "beta"})
    assert {r["clusterTenant"] for r in acme.list_usage({})} == {"acme"}
    with pytest.raises(ForbiddenError):
        acme.list_usage({"clusterTenant": "beta"})
    operator = local_cp()
    assert operator.metrics({})["totals"]["requests"] == 11
    assert operator.metrics({"clusterTenant": "beta"})["totals"]["latencyP95Ms"] == 1004.0


def test_metrics_refuse_remote_query_and_bad_flags(local_cp):
    cp = local_cp()
    with pytest.raises(ValidationError, match="--query"):
        cp.metrics({"query": "{}"})
    with pytest.raises(ValidationError, match="--by") as err:
        cp.metrics({"by": "week"})
    assert "model, skill, tenant, day" in err.value.why
    with pytest.raises(ValidationError, match="--since") as err:
        cp.metrics({"since": "a while ago"})
    assert "7d" in err.value.why and "ISO" in err.value.why
    with pytest.raises(ValidationError, match="--until"):
        cp.metrics({"until": "soon"})
    with pytest.raises(ValidationError, match="before"):
        cp.metrics({"since": "1d", "until": "2d"})


@pytest.mark.parametrize(("text", "expected"), [
    ("7d", timedelta(days=7)), ("24h", timedelta(hours=24)), ("30m", timedelta(minutes=30)),
    ("45s", timedelta(seconds=45)), ("2w", timedelta(weeks=2)), (" 3d ", timedelta(days=3)),
])
def test_durations_count_back_from_now(text, expected):
    now = datetime(2025, 5, 1, 12, 0, 0)
    assert usage_mod.parse_window_bound(text, "--since", now) == now - expected


@pytest.mark.parametrize(("text", "expected"), [
    ("2025-01-31", datetime(2025, 1, 31)),
    ("2025-01-31T12:00:00Z", datetime(2025, 1, 31, 12)),
    ("2025-01-31T14:30:00+02:00", datetime(2025, 1, 31, 12, 30)),
])
def test_iso_bounds_are_utc(text, expected):
    assert usage_mod.parse_window_bound(text, "--since", datetime(2025, 5, 1)) == expected
