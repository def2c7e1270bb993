"""Measurements under faults: transient gateway errors, a run killed with SIGKILL, broken replies.

* 429 (with ``Retry-After: 1``) and 503 from a real LiteLLM proxy are retried: every case
  completes, and the proxy saw exactly one extra call per faulty input.
* ``kill -9`` in the middle of a run leaves a resumable run; ``--resume`` replays only the cases
  that had no result, and the numbers equal those of an uninterrupted run with the same seed.
* Faults a real proxy cannot produce on demand (``tests/support/fake_gateway.py``): a reply that
  never comes, a connection closed without a reply, a body that is not JSON, a 400. The run
  completes, the case fails with the reason, no proposal, no traceback; ``--resume`` retries only
  that case's failed part (the candidate's answer and grade; the baseline's is kept).
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fake_upstreams import input_hash, is_faulty
from tests.integration.litellm_proxy import Proxy
from tests.support.fake_gateway import FakeGateway, Reply
from tests.support.oc_process import Oc

#: The figures of a finished measurement that must not depend on how the run got there.
FIGURES = ("sampledCalls", "atBarCheapFraction", "projectedSavingsPct", "ciLowPct", "ciHighPct", "pinnedSavingsPct",
           "pinnedCiLowPct", "pinnedCiHighPct", "baselinePassRate", "baselinePassRateCi", "candidatePassRate",
           "candidatePassRateCi", "passRateDiff", "passRateDiffCiLow", "passRateDiffCiHigh", "mcnemarP",
           "baselineCostUsd", "candidateCostUsd", "bootstrap", "decision")
PER_CASE = ("evalCaseId", "status", "baselineScore", "candidateScore", "baselineCostUsd", "candidateCostUsd",
            "baselineOutput", "candidateOutput")


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    return proc.returncode, out, err


def import_cases(oc: Oc, cases: dict[str, list[str]]) -> None:
    """Import every skill's cases (skill -> user texts) with one ``eval-case import``."""
    path = oc.home / "cases.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for skill, texts in cases.items():
            for text in texts:
                fh.write(json.dumps({"skillName": skill, "skillScope": "org", "input": text,
                                     "expected": "One line naming the cause.", "qualityBar": 0.8}) + "\n")
    oc.run("routing", "eval-case", "import", str(path))


def samples_by_text(oc: Oc, mid: str, skill: str) -> dict[str, dict[str, Any]]:
    texts = {c["id"]: c["input"] for c in oc.json("routing", "eval-case", "list", "--skill", skill)}
    return {texts[s["evalCaseId"]]: s for s in oc.json("routing", "measurement", "show", mid, "--samples")["samples"]}


@pytest.fixture
def proxied(tmp_path: Path, litellm_proxy: Proxy) -> Oc:
    oc = Oc(tmp_path, LITELLM_ENDPOINT=litellm_proxy.url, LITELLM_MASTER_KEY=litellm_proxy.master_key,
            ROUTING_JUDGE_MODEL="judge")
    oc.run("model", "add", "--name", "judge", "--upstream", "gemini/gemini-1.5-pro")
    return oc


# ----- 4a. transient 429 / 503 -------------------------------------------------------------------

@pytest.mark.integration
def test_transient_429_and_503_are_retried_and_every_case_completes(proxied: Oc, litellm_proxy: Proxy) -> None:
    oc = proxied
    # ten inputs of this test alone (fault state is per model and input), two of them faulty
    faulty = [t for t in (f"Retry drill {i}: the queue is backing up." for i in range(200)) if is_faulty(t)][:2]
    clean = [t for t in (f"Retry drill {i}: the queue is backing up." for i in range(200)) if not is_faulty(t)][:8]
    texts = faulty + clean
    oc.run("model", "add", "--name", "strong-baseline", "--upstream", "openai/gpt-4o")
    oc.run("model", "add", "--name", "rate-limited", "--upstream", "anthropic/claude-3-haiku")
    oc.run("model", "add", "--name", "unavailable", "--upstream", "anthropic/claude-3-5-haiku")
    import_cases(oc, {"limits": texts, "outage": texts})
    before = litellm_proxy.call_counts()

    started = time.monotonic()
    procs = {candidate: oc.popen("routing", "measurement", "run", "--skill", skill, "--candidate-model", candidate,
                                 "--current-model", "strong-baseline", "--timeout", "5",
                                 # 10 identical verdicts show non-inferiority only at a wide margin
                                 "--quality-margin", "0.3", "-o", "json")
             for skill, candidate in (("limits", "rate-limited"), ("outage", "unavailable"))}
    results = {candidate: finish(proc) for candidate, proc in procs.items()}
    assert time.monotonic() - started < 30  # Retry-After: 1 is honoured, not the 30 s cap

    calls = litellm_proxy.call_counts() - before
    for candidate, (code, out, _) in results.items():
        assert code == 0
        m = json.loads(out)["measurement"]
        assert (m["casesCompleted"], m["casesFailed"], m["errors"]) == (10, 0, [])
        assert json.loads(out)["proposalId"] is not None
        assert calls[candidate] == len(texts) + len(faulty)  # one failed call per faulty input, then its answer
        samples = samples_by_text(oc, m["id"], "limits" if candidate == "rate-limited" else "outage")
        for text, s in samples.items():
            assert s["attempts"] == (5 if text in faulty else 4), (candidate, text, s["attempts"])
        assert sum(s["attempts"] for s in samples.values()) > 4 * len(texts)  # attempts > calls per case
    assert calls["strong-baseline"] == 2 * len(texts) and calls["judge"] == 4 * len(texts)


# ----- 4b. SIGKILL mid-run, then --resume -----------------------------------------------------------

def completed_positions(db: Path) -> tuple[str | None, set[int]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
        row = c.execute("SELECT id FROM measurements").fetchone()
        if row is None:
            return None, set()
        done = c.execute("SELECT position FROM measurement_cases WHERE measurement_id = ? AND status = 'completed'",
                         (row[0],)).fetchall()
        return row[0], {p for (p,) in done}


@pytest.mark.integration
def test_killed_run_resumes_with_only_the_missing_cases_and_the_same_numbers(proxied: Oc, litellm_proxy: Proxy) -> None:
    oc, cases, concurrency = proxied, 24, 2
    texts = [f"Resume drill {i}: the nightly export stopped at row {i * 1000}." for i in range(cases)]
    oc.run("model", "add", "--name", "slow", "--upstream", "mistral/mistral-large")  # answers after 100 ms
    oc.run("model", "add", "--name", "flaky-candidate", "--upstream", "anthropic/claude-3-5-haiku")
    import_cases(oc, {"export": texts})
    run = ("routing", "measurement", "run", "--skill", "export", "--candidate-model", "flaky-candidate",
           "--current-model", "slow", "--seed", "11")
    log_start = len(litellm_proxy.call_log())

    proc = oc.popen(*run, "--concurrency", str(concurrency))
    deadline = time.monotonic() + 60
    mid, done = None, set()
    while len(done) < 4:
        assert proc.poll() is None, "the run finished before it could be killed"
        assert time.monotonic() < deadline, "no case completed within 60 s"
        if oc.db.exists():
            mid, done = completed_positions(oc.db)
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    mid, done_at_kill = completed_positions(oc.db)
    assert mid is not None and 4 <= len(done_at_kill) < cases

    shown = oc.json("routing", "measurement", "show", mid)
    assert (shown["status"], shown["casesCompleted"]) == ("interrupted", len(done_at_kill))

    resumed = oc.json("routing", "measurement", "run", "--resume", mid)["measurement"]
    assert (resumed["id"], resumed["casesCompleted"], resumed["casesFailed"]) == (mid, cases, 0)
    assert "[NOTHING_TO_RESUME]" in oc.run("routing", "measurement", "run", "--resume", mid, expect=4).stderr

    # Upstream calls across both runs: one per case and model, plus at most the cases in flight at the kill.
    log = litellm_proxy.call_log()[log_start:]
    samples = oc.json("routing", "measurement", "show", mid, "--samples")["samples"]
    text_of = {c["id"]: c["input"] for c in oc.json("routing", "eval-case", "list", "--skill", "export")}
    position_of = {input_hash([{"role": "user", "content": text_of[s["evalCaseId"]]}]): s["case"] - 1 for s in samples}
    for model in ("slow", "flaky-candidate"):
        per_case = Counter(position_of[e["input_hash"]] for e in log if e["model"] == model)
        assert set(per_case) == set(range(cases))
        replayed = {p for p, n in per_case.items() if n > 1}
        assert all(per_case[p] == 1 for p in done_at_kill), model
        assert replayed <= set(range(cases)) - done_at_kill and len(replayed) <= concurrency
        assert sum(per_case.values()) == cases + len(replayed)
        assert max(per_case.values()) <= 2
    judge_calls = sum(1 for e in log if e["model"] == "judge")
    assert 2 * cases <= judge_calls <= 2 * (cases + concurrency)

    # The same cases measured in one go, with the same seed (and another concurrency), give the same numbers.
    fresh = oc.json(*run, "--concurrency", "8")["measurement"]
    assert fresh["id"] != mid
    for figure in FIGURES:
        assert resumed[figure] == fresh[figure], figure
    fresh_samples = oc.json("routing", "measurement", "show", fresh["id"], "--samples")["samples"]
    assert [{k: s[k] for k in PER_CASE} for s in samples] == [{k: s[k] for k in PER_CASE} for s in fresh_samples]


# ----- 6. broken gateway replies ---------------------------------------------------------------------

FAULTS = {
    # candidate model: (its script, the failed case's error, calls the candidate got for that case)
    "hangs": ([Reply.ok(), *[Reply.hang(30.0)] * 5, Reply.ok()], "timed out after 1.0s (5 attempts)", 5),
    "hangs-up": ([Reply.ok(), *[Reply.close()] * 5, Reply.ok()], "gateway connection failed", 5),
    "garbles": ([Reply.ok(), *[Reply.malformed()] * 5, Reply.ok()],
                "malformed reply from gateway (HTTP 200): body is not valid JSON (5 attempts)", 5),
    "refuses": ([Reply.ok(), Reply.status_error(400, message="prompt is too long"), Reply.ok()],
                "HTTP 400 from gateway: prompt is too long", 1),
}


@pytest.fixture
def faulty_gateway() -> Iterator[FakeGateway]:
    with FakeGateway() as gw:
        gw.add_model("base", prices=(10.0, 30.0))
        gw.add_model("judge", Reply.ok('{"score": 0.9}'), prices=(2.0, 6.0))
        for name, (script, _, _) in FAULTS.items():
            gw.add_model(name, *script, prices=(1.0, 3.0))
        yield gw


def test_broken_replies_fail_their_case_with_a_reason_and_resume_retries_only_it(
        tmp_path: Path, faulty_gateway: FakeGateway) -> None:
    gw = faulty_gateway
    oc = Oc(tmp_path, LITELLM_ENDPOINT=gw.url, LITELLM_MASTER_KEY=gw.api_key or "", ROUTING_JUDGE_MODEL="judge")
    oc.run("model", "add", "--name", "base", "--upstream", "openai/gpt-4o")
    oc.run("model", "add", "--name", "judge", "--upstream", "gemini/gemini-1.5-pro")
    for name in FAULTS:
        oc.run("model", "add", "--name", name, "--upstream", "anthropic/claude-3-haiku")
    import_cases(oc, {f"skill-{name}": [f"{name} drill {i}: the build is red." for i in range(4)] for name in FAULTS})

    # --concurrency 1: the candidate's n-th call belongs to a known case; the second case meets the fault.
    procs = {name: oc.popen("routing", "measurement", "run", "--skill", f"skill-{name}", "--candidate-model", name,
                            "--current-model", "base", "--concurrency", "1", "--timeout", "1", "--min-cases", "3",
                            "-o", "json")
             for name in FAULTS}
    first = {}
    for name, proc in procs.items():
        code, out, err = finish(proc)
        assert code == 0, err
        first[name] = json.loads(out)
    calls = gw.call_counts()

    for name, (_, reason, candidate_calls) in FAULTS.items():
        m = first[name]["measurement"]
        assert first[name]["proposalId"] is None
        assert (m["casesCompleted"], m["casesFailed"]) == (3, 1)
        assert m["decision"]["checks"]["noFailures"] is False
        assert "failures: 1 case failed" in " ".join(m["decision"]["reasons"])
        (error,) = m["errors"]
        assert error.startswith(f"case 2: candidate {name}: ") and reason in error
        assert calls[name] == 3 + candidate_calls
        failed = oc.json("routing", "measurement", "show", m["id"], "--samples")["samples"][1]
        # the baseline's part of that case was answered and graded (2 calls); the candidate's failed
        assert (failed["status"], failed["attempts"], failed["candidateScore"]) == ("failed", 2 + candidate_calls, None)
        assert failed["baselineScore"] == 0.9
    assert calls["base"] == 4 * len(FAULTS) and calls["judge"] == (2 * 3 + 1) * len(FAULTS)

    resumes = {name: oc.popen("routing", "measurement", "run", "--resume", run["measurement"]["id"], "-o", "json")
               for name, run in first.items()}
    for name, (_, _, candidate_calls) in FAULTS.items():
        code, out, err = finish(resumes[name])
        assert code == 0, err
        m = json.loads(out)["measurement"]
        mid = m["id"]
        assert (m["casesCompleted"], m["casesFailed"], m["errors"]) == (4, 0, [])
        assert m["decision"]["checks"]["noFailures"] is True
        retried = oc.json("routing", "measurement", "show", mid, "--samples")["samples"][1]
        assert (retried["status"], retried["attempts"]) == ("completed", 2 + candidate_calls + 2)
    # only the missing part is replayed: the candidate's answer and its grade, not the baseline's
    after = gw.call_counts() - calls
    assert after == Counter({"judge": len(FAULTS), **{name: 1 for name in FAULTS}})
