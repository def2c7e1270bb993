"""`oc usage import|list` and `oc routing metrics` end to end: the installed `oc` in a subprocess,
with OC_DB and OC_CONFIG in the test's temporary directory (set by the oc_env fixture)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.support.cp_server import ControlPlaneServer

OC = Path(sys.executable).with_name("oc")
NOW = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
ESC = "\x1b"


def oc(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(OC), *args], input=stdin or "", capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def spend_log(path: Path, n: int = 12) -> Path:
    """``n`` LiteLLM spend-log rows over the last hours: tenants acme and beta, two models."""
    lines = []
    for i in range(n):
        start = NOW - timedelta(hours=1 + i, seconds=i)
        lines.append(json.dumps({
            "request_id": f"req-{i:03d}",
            "model": "gpt-4o-2024-08-06" if i % 2 else "gpt-4o-mini-2024-07-18",
            "model_group": "gpt-4o" if i % 2 else "gpt-4o-mini",
            "spend": 0.01 * (i + 1) if i % 2 else 0.0005,
            "prompt_tokens": 200, "completion_tokens": 50, "total_tokens": 250,
            "startTime": start.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            "endTime": (start + timedelta(milliseconds=100 * (i + 1))).strftime("%Y-%m-%dT%H:%M:%S.%f"),
            "team_id": "acme" if i % 3 else "beta",
            "metadata": {"user_api_key_team_id": "acme" if i % 3 else "beta"},
            "request_tags": ["skill:summarise"] if i % 4 else [],
            "status": "failure" if i == 5 else "success",
        }))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def imported(tmp_path: Path) -> Path:
    log = spend_log(tmp_path / "spend.jsonl")
    done = oc("usage", "import", str(log), "-o", "json")
    assert done.returncode == 0, done.stderr
    return log


def test_import_reports_and_is_idempotent(tmp_path):
    log = spend_log(tmp_path / "spend.jsonl")
    first = oc("usage", "import", str(log), "-o", "json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"rows": 12, "imported": 12, "skipped": 0, "skippedOtherTenant": 0,
                                        "bad": 0, "format": "jsonl", "badRows": []}
    again = oc("usage", "import", str(log))
    assert again.returncode == 0 and again.stdout == ""
    assert "imported 0 usage rows" in again.stderr and "12 duplicates skipped" in again.stderr
    listed = json.loads(oc("usage", "list", "-o", "json").stdout)
    assert len(listed) == 12


def test_bad_rows_are_warned_about_by_line(tmp_path):
    log = spend_log(tmp_path / "spend.jsonl", 3)
    log.write_text(log.read_text() + '{"request_id": "x", "startTime": "noon"}\nnot json\n', encoding="utf-8")
    done = oc("usage", "import", str(log))
    assert done.returncode == 0
    assert "imported 3 usage rows" in done.stderr and "2 bad rows" in done.stderr
    assert "warning: line 4 (request_id x): startTime 'noon' is not an ISO-8601 time" in done.stderr
    assert "warning: line 5: not valid JSON" in done.stderr


def test_import_from_stdin_and_missing_file(tmp_path):
    log = spend_log(tmp_path / "spend.jsonl", 4)
    done = oc("usage", "import", "-", "-o", "json", stdin=log.read_text())
    assert done.returncode == 0 and json.loads(done.stdout)["imported"] == 4
    missing = oc("usage", "import", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_usage_list_is_newest_first_and_limited(imported):
    rows = json.loads(oc("usage", "list", "--limit", "5", "-o", "json").stdout)
    assert [r["requestId"] for r in rows] == ["req-000", "req-001", "req-002", "req-003", "req-004"]
    assert set(rows[0]) >= {"requestId", "source", "kind", "model", "skill", "clusterTenant", "spendUsd",
                            "latencyMs", "status", "startTime"}
    table = oc("usage", "list", "--model", "gpt-4o")
    assert table.returncode == 0 and ESC not in table.stdout
    assert table.stdout.splitlines()[0].split()[:3] == ["START_TIME", "SOURCE", "KIND"]
    assert len(table.stdout.splitlines()) == 1 + 6


def test_metrics_json_shape(imported):
    done = oc("routing", "metrics", "--since", "1d", "-o", "json")
    assert done.returncode == 0, done.stderr
    m = json.loads(done.stdout)
    assert set(m) == {"by", "since", "until", "clusterTenant", "rows", "totals"}
    assert m["by"] == "model" and m["since"].endswith("Z") and m["until"].endswith("Z")
    assert [r["key"] for r in m["rows"]] == ["gpt-4o", "gpt-4o-mini"]  # by spend, largest first
    assert set(m["rows"][0]) == {"key", "requests", "promptTokens", "completionTokens", "spendUsd",
                                 "unpricedRequests", "latencyMeanMs", "latencyP95Ms", "errorRate", "judgePassRate"}
    big = m["rows"][0]
    assert big["requests"] == 6 and big["spendUsd"] == pytest.approx(0.01 * (2 + 4 + 6 + 8 + 10 + 12))
    assert big["latencyP95Ms"] == pytest.approx(1200.0) and big["errorRate"] == pytest.approx(1 / 6)
    assert m["totals"]["requests"] == 12 and m["totals"]["promptTokens"] == 2400
    by_day = json.loads(oc("routing", "metrics", "--by", "day", "-o", "json").stdout)
    assert sum(r["requests"] for r in by_day["rows"]) == 12
    assert all(len(r["key"]) == 10 for r in by_day["rows"])


@pytest.mark.parametrize("extra_env", [{}, {"NO_COLOR": "1"}])
def test_metrics_table_piped_is_plain_text_with_ascii_bars(imported, extra_env):
    done = oc("routing", "metrics", "--by", "tenant", env=extra_env)
    assert done.returncode == 0, done.stderr
    assert ESC not in done.stdout and ESC not in done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:2] == ["TENANT", "REQUESTS"] and "SPEND" in lines[0]
    acme = next(line for line in lines if line.startswith("acme"))
    beta = next(line for line in lines if line.startswith("beta"))
    assert "#" * 24 in acme and 0 < beta.count("#") < 24  # bars proportional to the largest spend
    assert lines[-1].startswith("TOTAL")
    assert "by tenant" in done.stderr  # the window, on stderr


def run_in_terminal(*args: str, env: dict[str, str]) -> str:
    """Run oc with stdout on a pseudo-terminal (so it draws with rich); return what it printed."""
    master, slave = os.openpty()
    proc = subprocess.Popen([str(OC), *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.DEVNULL,
                            env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", **env})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode("utf-8")


def test_metrics_on_a_terminal_draws_bars_and_honours_no_color(imported):
    coloured = run_in_terminal("routing", "metrics", env={})
    assert "\x1b[" in coloured and "█" in coloured and "TOTAL" in coloured
    plain = run_in_terminal("routing", "metrics", env={"NO_COLOR": "1"})
    assert ESC not in plain
    assert "█" in plain and "gpt-4o-mini" in plain and "TOTAL" in plain


def test_metrics_flag_errors(imported):
    bad_since = oc("routing", "metrics", "--since", "yesterday")
    assert bad_since.returncode == 2
    assert "--since" in bad_since.stderr and "7d" in bad_since.stderr and "ISO" in bad_since.stderr
    bad_by = oc("routing", "metrics", "--by", "colour")
    assert bad_by.returncode == 2 and "--by" in bad_by.stderr and "model, skill, tenant, day" in bad_by.stderr
    query = oc("routing", "metrics", "--query", '{"view": "traces"}')
    assert query.returncode == 2 and "--query" in query.stderr and "remote" in query.stderr


def test_tenant_identity_sees_only_its_usage(imported):
    # an identity must name a registered ClusterTenant (an unknown --as-tenant is not found)
    assert oc("cluster-tenant", "create", "acme").returncode == 0
    m = json.loads(oc("--as-tenant", "acme", "routing", "metrics", "--by", "tenant", "-o", "json").stdout)
    assert [r["key"] for r in m["rows"]] == ["acme"] and m["totals"]["requests"] == 8
    rows = json.loads(oc("--as-tenant", "acme", "usage", "list", "-o", "json").stdout)
    assert len(rows) == 8 and {r["clusterTenant"] for r in rows} == {"acme"}
    other = oc("--as-tenant", "acme", "routing", "metrics", "--cluster-tenant", "beta")
    assert other.returncode == 5 and "FORBIDDEN_SCOPE" in other.stderr
    operator = json.loads(oc("routing", "metrics", "--cluster-tenant", "beta", "-o", "json").stdout)
    assert operator["totals"]["requests"] == 4


def test_remote_mode_passes_the_query_through():
    canned: dict[str, Any] = {"data": [{"name": "gpt-4o", "count_count": "42"}], "meta": {"note": "from Langfuse"}}
    with ControlPlaneServer() as server:
        server.set_metrics(canned)
        env = {"OPENCRANE_URL": server.url, "OPENCRANE_TOKEN": "test-token"}
        query = '{"view":"traces","metrics":[{"measure":"count"}]}'
        done = oc("routing", "metrics", "--query", query, "-o", "json", env=env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == canned
        assert server.metrics_upstream_queries[-1]["query"] == query
        plain = oc("routing", "metrics", "-o", "json", env=env)  # the seed's bare command works remotely too
        assert plain.returncode == 0 and json.loads(plain.stdout) == canned
        table = oc("routing", "metrics", "--query", query, env=env)
        assert table.returncode == 0 and ESC not in table.stdout
        assert table.stdout.splitlines()[0].startswith("data") and "meta" in table.stdout
        local_flag = oc("routing", "metrics", "--since", "7d", env=env)
        assert local_flag.returncode == 2 and "since" in local_flag.stderr
        not_json = oc("routing", "metrics", "--query", "{oops", env=env)
        assert not_json.returncode == 2 and "--query" in not_json.stderr
