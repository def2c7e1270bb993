"""`oc routing measurement` through the real CLI against a scripted local gateway.

Everything runs as ``oc`` subprocesses on a database of the test's own, the way an operator or a
CI pipeline would run it. The gateway is ``tests/support/fake_gateway.py``: fast, and scripted per
model, so the outcome of every case is known in advance. What the real LiteLLM proxy adds is
covered in ``tests/integration/test_measurement_loop.py``.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_gateway import FakeGateway, Reply
from tests.support.oc_process import Oc

JUDGE_PASS = '{"score": 0.9}'
SEED_INPUT = '{"messages":[{"role":"user","content":"Summarise: the quarterly report in two sentences."}]}'
SEAMS = ("LITELLM_ENDPOINT", "LITELLM_MASTER_KEY", "ROUTING_JUDGE_MODEL")


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    """Baseline ``base`` ($10/$30 per Mtok), candidate ``cand`` (ten times cheaper), a passing judge."""
    with FakeGateway() as gw:
        gw.add_model("base", prices=(10.0, 30.0))
        gw.add_model("cand", prices=(1.0, 3.0))
        gw.add_model("judge", Reply.ok(JUDGE_PASS), prices=(2.0, 6.0))
        yield gw


@pytest.fixture
def oc(tmp_path: Path, gateway: FakeGateway) -> Oc:
    """``oc`` with the gateway configured, the three models registered, and ``base`` the global default."""
    cli = Oc(tmp_path, LITELLM_ENDPOINT=gateway.url, LITELLM_MASTER_KEY=gateway.api_key or "",
             ROUTING_JUDGE_MODEL="judge")
    cli.run("model", "add", "--name", "base", "--upstream", "openai/gpt-4o")
    cli.run("model", "add", "--name", "cand", "--upstream", "anthropic/claude-3-haiku")
    cli.run("model", "add", "--name", "judge", "--upstream", "gemini/gemini-1.5-pro")
    cli.run("model-default", "set", "--model", "base")
    return cli


def import_cases(oc: Oc, skill: str, count: int, *, team: str = "") -> list[str]:
    """``count`` eval cases for ``skill`` (one ``eval-case import``); returns their user texts."""
    texts = [f"Summarise ticket {skill}-{i}: the printer on floor {i} is jammed again." for i in range(count)]
    path = oc.db.parent / f"{skill}.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for text in texts:
            fh.write(json.dumps({"skillName": skill, "skillScope": "team" if team else "org", "skillTeam": team,
                                 "input": {"messages": [{"role": "user", "content": text}]},
                                 "expected": "One sentence naming the fault.", "qualityBar": 0.8}) + "\n")
    oc.run("routing", "eval-case", "import", str(path))
    return texts


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name.startswith("oc.db")}


# ----- 1. unconfigured: a safe no-op -------------------------------------------------------------

def test_unconfigured_run_reports_missing_settings_and_writes_nothing(tmp_path: Path) -> None:
    oc = Oc(tmp_path)
    oc.run("routing", "eval-case", "add", "--skill-name", "summarise", "--skill-scope", "org",
           "--input", SEED_INPUT, "--expected", "A two-sentence summary covering revenue and hiring.",
           "--quality-bar", "0.8")
    before = snapshot(tmp_path)
    assert set(before) == {"oc.db"}  # WAL checkpointed on close: the main file is the whole state

    plain = oc.run("routing", "measurement", "run", "--skill-name", "summarise", "--candidate-model", "my-cheap-model")
    assert plain.stdout == ""
    assert "status: unconfigured" in plain.stderr
    for name in SEAMS:
        assert name in plain.stderr
    assert "seams" not in plain.stderr.lower() and "Shadow" not in plain.stderr  # no jargon for people

    # resuming a run that does not exist is "not found", gateway or not
    missing = oc.run("routing", "measurement", "run", "--resume", "nosuch", expect=3)
    assert "measurement 'nosuch' not found" in missing.stderr and "[NOT_FOUND]" in missing.stderr

    required = oc.run("routing", "measurement", "run", "--skill-name", "summarise",
                      "--candidate-model", "my-cheap-model", "--require-configured", expect=6)
    assert "[UNCONFIGURED]" in required.stderr and "LITELLM_MASTER_KEY" in required.stderr

    as_json = oc.json("routing", "measurement", "run", "--skill-name", "summarise",
                      "--candidate-model", "my-cheap-model")
    assert as_json["status"] == "unconfigured" and as_json["missing"] == list(SEAMS)

    partial = Oc(tmp_path, LITELLM_ENDPOINT="http://127.0.0.1:9")
    only_two = partial.json("routing", "measurement", "run", "--skill", "summarise", "--candidate-model", "x")
    assert only_two["missing"] == ["LITELLM_MASTER_KEY", "ROUTING_JUDGE_MODEL"]

    assert snapshot(tmp_path) == before  # byte for byte: no measurement, no audit entry, no migration


# ----- 5. preconditions: each its own error ------------------------------------------------------

def test_preconditions_each_have_their_own_error_and_record_nothing(oc: Oc, gateway: FakeGateway) -> None:
    run = ("routing", "measurement", "run")

    nothing = oc.run(*run, "--skill", "empty", "--candidate-model", "cand", expect=2)
    assert "[NO_EVAL_CASES]" in nothing.stderr

    import_cases(oc, "summarise", 3)
    same = oc.run(*run, "--skill", "summarise", "--candidate-model", "base", expect=2)
    assert "[CANDIDATE_IS_BASELINE]" in same.stderr

    oc.run("cluster-tenant", "create", "acme")
    oc.run("cluster-tenant", "grant", "acme", "--model", "base")
    import_cases(oc, "triage", 3, team="acme")
    forbidden = oc.run(*run, "--skill", "team/acme/triage", "--candidate-model", "cand",
                       "--current-model", "base", expect=5)
    assert "[MODEL_NOT_ALLOWED]" in forbidden.stderr and "cand" in forbidden.stderr and "acme" in forbidden.stderr

    oc.run("model", "add", "--name", "gemini-flash", "--upstream", "gemini/gemini-1.5-flash")
    gateway.add_model("gemini-flash", prices=(1.0, 3.0))
    sibling = oc.run(*run, "--skill", "summarise", "--candidate-model", "gemini-flash", expect=2)
    assert "[JUDGE_NOT_INDEPENDENT]" in sibling.stderr and "--allow-same-family-judge" in sibling.stderr

    assert oc.json("routing", "measurement", "list") == []
    assert sum(gateway.call_counts().values()) == 0

    allowed = oc.json(*run, "--skill", "summarise", "--candidate-model", "gemini-flash", "--allow-same-family-judge",
                      "--min-cases", "3")
    assert allowed["measurement"]["casesCompleted"] == 3
    assert gateway.calls("gemini-flash") == 3


def test_no_baseline_when_nothing_resolves(tmp_path: Path, gateway: FakeGateway) -> None:
    oc = Oc(tmp_path, LITELLM_ENDPOINT=gateway.url, LITELLM_MASTER_KEY=gateway.api_key or "",
            ROUTING_JUDGE_MODEL="judge")
    oc.run("model", "add", "--name", "cand", "--upstream", "anthropic/claude-3-haiku")
    import_cases(oc, "summarise", 2)
    no_baseline = oc.run("routing", "measurement", "run", "--skill", "summarise", "--candidate-model", "cand", expect=2)
    assert "[NO_BASELINE]" in no_baseline.stderr and "--current-model" in no_baseline.stderr
    assert oc.json("routing", "measurement", "list") == []


# ----- 7. show tells the story --------------------------------------------------------------------

def test_show_tells_the_story_of_a_convincing_run(oc: Oc, gateway: FakeGateway) -> None:
    import_cases(oc, "summarise", 12)
    # 12 identical verdicts show non-inferiority only at a wide margin (0.05 needs 73 cases)
    result = oc.json("routing", "measurement", "run", "--skill", "summarise", "--candidate-model", "cand",
                     "--seed", "42", "--quality-margin", "0.3")
    m = result["measurement"]
    mid, pid = m["id"], result["proposalId"]
    assert pid and m["proposalId"] == pid

    story = oc.run("routing", "measurement", "show", mid).stdout
    assert f"Measurement {mid} — skill summarise: base → cand (judge judge)" in story
    assert "completed: 12 of 12 cases completed, 0 failed" in story
    assert "saving     90.0% if approved (95% CI 90.0% to 90.0%)" in story
    assert "quality    baseline passes 100% (CI 76%–100%), candidate 100% (CI 76%–100%)" in story
    assert f"the measurement itself spent ${m['overheadUsd']:,.4f}" in story
    # 12 cases: all 4,095 non-empty sign patterns are enumerated, and a saving on every case has p = 2^-12
    assert ("method     saving: paired sign-flip test (all 4095 sign patterns, seed 42), p = 0.000244;"
            " quality: Tango score interval") in story
    assert f"decision   proposal {pid} is waiting for approval: oc routing proposal approve {pid}" in story

    wire = oc.json("routing", "measurement", "show", mid, "--samples")
    # the control plane's names ...
    for name in ("id", "skillName", "skillScope", "skillTeam", "candidateModel", "sampledCalls", "atBarCheapFraction",
                 "projectedSavingsPct", "ciLowPct", "ciHighPct", "overheadPct", "skillContentHash", "skillDigest",
                 "candidateModelId", "candidateUpstreamModel", "runAt"):
        assert name in wire, name
    # ... and ours
    for name in ("pinnedSavingsPct", "pinnedCiLowPct", "pinnedCiHighPct", "baselinePassRate", "baselinePassRateCi",
                 "candidatePassRate", "candidatePassRateCi", "passRateDiff", "passRateDiffCiLow", "passRateDiffCiHigh",
                 "mcnemarP", "overheadUsd", "bootstrap", "decision", "casesTotal", "casesCompleted", "casesFailed"):
        assert name in wire, name
    assert wire["sampledCalls"] == 12 and wire["atBarCheapFraction"] == 1.0
    assert wire["pinnedSavingsPct"] == pytest.approx(90.0)
    assert wire["bootstrap"]["seed"] == 42 and wire["bootstrap"]["resamples"] == 10_000
    assert wire["decision"] == {"propose": True, "reasons": [], "checks": {
        "savings": True, "nonInferior": True, "minCases": True, "noFailures": True, "costsKnown": True},
        "casesNeeded": None, "advice": None}

    samples = wire["samples"]
    assert [s["case"] for s in samples] == list(range(1, 13))
    assert all(s["status"] == "completed" and s["attempts"] == 4 for s in samples)
    for s in samples:
        assert s["baselineCostUsd"] == pytest.approx(10 * s["candidateCostUsd"])
        assert s["baselineCostSource"] == s["candidateCostSource"] == "header"
    spent = sum(s["baselineCostUsd"] + s["candidateCostUsd"] + s["judgeCostUsd"] for s in samples)
    assert wire["overheadUsd"] == pytest.approx(spent)

    table = oc.run("routing", "measurement", "show", mid, "--samples").stdout
    header = next(line for line in table.splitlines() if line.startswith("CASE"))
    for column in ("STATUS", "BASELINE_SCORE", "CANDIDATE_SCORE", "QUALITY_BAR", "ATTEMPTS", "ERROR"):
        assert column in header
    rows = [line for line in table.splitlines()[table.splitlines().index(header) + 1:] if line.strip()]
    assert len(rows) == 12 and all(" completed " in row for row in rows)


def test_show_tells_the_story_of_a_run_with_a_failed_case(oc: Oc, gateway: FakeGateway) -> None:
    # --concurrency 1 makes the order of calls the order of cases: the candidate's 2nd call is case 2's.
    gateway.add_model("picky", Reply.ok(), Reply.status_error(400, message="context window exceeded"), Reply.ok(),
                      prices=(1.0, 3.0))
    oc.run("model", "add", "--name", "picky", "--upstream", "anthropic/claude-3-haiku")
    import_cases(oc, "summarise", 4)
    run = oc.json("routing", "measurement", "run", "--skill", "summarise", "--candidate-model", "picky",
                  "--concurrency", "1", "--min-cases", "3")
    mid = run["measurement"]["id"]
    assert run["proposalId"] is None

    story = oc.run("routing", "measurement", "show", mid).stdout
    assert "completed: 3 of 4 cases completed, 1 failed" in story
    decision = next(line for line in story.splitlines() if line.startswith("  decision   no proposal: "))
    assert decision.endswith("; failures: 1 case failed; resume the run to retry them before deciding")
    assert f"resume     oc routing measurement run --resume {mid}" in story
    assert "failure    case 2: candidate picky: HTTP 400 from gateway: context window exceeded" in story

    table = oc.run("routing", "measurement", "show", mid, "--samples").stdout
    failed = [line for line in table.splitlines() if line.startswith("2 ")]
    assert len(failed) == 1 and "failed" in failed[0] and "context window exceeded" in failed[0]


# ----- 3. concurrent approvals ---------------------------------------------------------------------

def test_twenty_concurrent_approvals_exactly_one_wins(oc: Oc) -> None:
    import_cases(oc, "summarise", 10)
    pid = oc.json("routing", "measurement", "run", "--skill", "summarise", "--candidate-model", "cand",
                  "--quality-margin", "0.3")["proposalId"]
    assert pid

    procs = [oc.popen("routing", "proposal", "approve", pid, "-o", "json") for _ in range(20)]
    outcomes = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0] + [4] * 19, outcomes
    winner = next(json.loads(out) for code, out, _ in outcomes if code == 0)
    assert winner == {"id": pid, "status": "applied", "appliedModel": "cand"}
    for code, _, err in outcomes:
        assert "Traceback" not in err and "locked" not in err
        if code == 4:
            assert "[PROPOSAL_ALREADY_DECIDED]" in err

    entries = oc.json("audit", "list", "--limit", "1000")["data"]
    applied = [e for e in entries if e["action"] == "RoutingProposalApplied"]
    assert len(applied) == 1 and applied[0]["resource"] == f"RoutingProposal/{pid}"
    assert oc.json("resolve", "summarise")["model"] == "cand"
    verified = oc.run("audit", "verify")
    assert "hash chain verified" in verified.stdout + verified.stderr


# ----- Ctrl-C leaves a resumable run ---------------------------------------------------------------

def test_ctrl_c_leaves_a_resumable_run_and_says_how_to_resume(oc: Oc, gateway: FakeGateway) -> None:
    gateway.add_model("base", Reply.slow(200), prices=(10.0, 30.0))  # ten cases one by one: 2 s or more
    import_cases(oc, "summarise", 10)
    proc = oc.popen("routing", "measurement", "run", "--skill", "summarise", "--candidate-model", "cand",
                    "--concurrency", "1")
    deadline = time.monotonic() + 60
    while gateway.calls("judge") < 3:  # the 2nd case is being judged, so the 1st is stored
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err

    (mid,) = [m["id"] for m in oc.json("routing", "measurement", "list")]
    assert f"finish it with: oc routing measurement run --resume {mid}" in err
    interrupted = oc.json("routing", "measurement", "show", mid)
    assert interrupted["status"] == "interrupted" and 1 <= interrupted["casesCompleted"] < 10
    assert oc.json("routing", "measurement", "run", "--resume", mid)["measurement"]["casesCompleted"] == 10


def test_a_newer_convincing_run_supersedes_the_older_pending_proposal(oc: Oc) -> None:
    import_cases(oc, "summarise", 10)
    run = ("routing", "measurement", "run", "--skill", "summarise", "--candidate-model", "cand", "--quality-margin", "0.3")
    first = oc.json(*run)["proposalId"]
    second = oc.json(*run)["proposalId"]
    assert first and second and first != second

    pending = oc.json("routing", "proposal", "list", "--status", "pending")
    assert [p["id"] for p in pending] == [second]
    old = oc.json("routing", "proposal", "show", first)
    assert old["status"] == "rejected" and old["decidedBy"] == f"superseded by {second}"

    again = oc.run("routing", "proposal", "approve", first, expect=4)
    assert "already rejected" in again.stderr
    actions = [e["action"] for e in oc.json("audit", "list")["data"]]
    assert "RoutingProposalSuperseded" in actions


def test_cases_replay_in_import_order_even_when_they_share_a_timestamp(oc: Oc) -> None:
    # Imported rows are written within the same millisecond and their ids are random, so an order
    # by (created_at, id) differs between databases; the replay order (which the seeded sign
    # patterns of the savings test are drawn against) must be the file's line order.
    import sqlite3

    texts = import_cases(oc, "ordered", 20)
    with sqlite3.connect(oc.db) as db:
        db.execute("UPDATE eval_cases SET created_at = '2026-01-01T00:00:00.000Z'")
    run = oc.json("routing", "measurement", "run", "--skill", "ordered", "--candidate-model", "cand", "--seed", "3")
    samples = oc.json("routing", "measurement", "show", run["measurement"]["id"], "--samples")["samples"]
    by_id = {c["id"]: c["input"]["messages"][-1]["content"]
             for c in oc.json("routing", "eval-case", "list", "--skill", "ordered")}
    assert [by_id[s["evalCaseId"]] for s in sorted(samples, key=lambda s: s["case"])] == texts
