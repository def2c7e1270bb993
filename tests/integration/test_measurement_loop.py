"""The measurement loop end to end: real `oc` processes against a real LiteLLM proxy.

eval cases → ``measurement run`` → proposal → recommendation → approve / reject, with the proxy's
own cost header, its fake upstreams (``fake_upstreams.py``: a strong baseline, a candidate ten
times cheaper, a candidate that answers a third of inputs badly, an unpriced model) and an
independent judge. The registry maps each proxy model name to an upstream of a different
provider than the judge's, since the judge's independence is checked on the registry.

One database, measured once for the module (four runs at once, as separate ``oc`` processes);
the tests that decide proposals each act on a skill of their own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.fake_upstreams import count_words, is_bad_quality
from tests.integration.litellm_proxy import STANDARD_PRICES, Proxy
from tests.support.oc_process import Oc

pytestmark = pytest.mark.integration

CASES = 12
#: 12 identical verdicts show non-inferiority only at a wide margin (the default 0.05 needs 73
#: cases); tests/integration/test_measurement_verdicts.py measures at the default margin.
MARGIN = "0.3"
#: Proxy model name -> the upstream the registry records (its provider prefix is the family).
UPSTREAMS = {
    "strong-baseline": "openai/gpt-4o",
    "cheap-candidate": "anthropic/claude-3-haiku",
    "flaky-candidate": "anthropic/claude-3-5-haiku",
    "unpriced": "mistral/mistral-small",
    "judge": "gemini/gemini-1.5-pro",
}
#: Skill -> the candidate the module's fixture measures it with.
MEASURED = {
    "summarise": "cheap-candidate",
    "triage": "flaky-candidate",
    "translate": "cheap-candidate",
    "classify": "cheap-candidate",
}


def texts_for(skill: str) -> list[str]:
    """The user texts of a skill's cases. For ``triage`` exactly a third are ones the flaky candidate fails."""
    if skill != "triage":
        return [f"Summarise for {skill}: incident report number {i} about a failed deploy." for i in range(CASES)]
    bad, good = [], []
    for i in range(1000):
        text = f"Triage ticket {i}: the checkout page times out for some users."
        (bad if is_bad_quality(text) else good).append(text)
    return bad[: CASES // 3] + good[: CASES - CASES // 3]


def import_cases(oc: Oc, skills: list[str]) -> None:
    path = oc.home / "cases.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for skill in skills:
            for text in texts_for(skill):
                fh.write(json.dumps({"skillName": skill, "skillScope": "org", "input": {
                    "messages": [{"role": "user", "content": text}]}, "expected": "One line naming the cause.",
                    "qualityBar": 0.8}) + "\n")
    oc.run("routing", "eval-case", "import", str(path))


def case_texts(oc: Oc, skill: str) -> dict[str, str]:
    """Eval case id -> its user text."""
    cases = oc.json("routing", "eval-case", "list", "--skill", skill)
    return {c["id"]: c["input"]["messages"][-1]["content"] for c in cases}


def proxy_cost(model: str, text: str, answer: str) -> float:
    """What the proxy charges: its token counts (words, in the fakes) × the deployment's prices."""
    per_in, per_out = STANDARD_PRICES[model]
    return (count_words(text) * per_in + count_words(answer) * per_out) / 1e6


@dataclass
class World:
    oc: Oc
    runs: dict[str, dict[str, Any]]  # skill -> `measurement run -o json`


@pytest.fixture(scope="module")
def world(litellm_proxy: Proxy, tmp_path_factory: pytest.TempPathFactory) -> World:
    oc = Oc(tmp_path_factory.mktemp("measurement-loop"), LITELLM_ENDPOINT=litellm_proxy.url,
            LITELLM_MASTER_KEY=litellm_proxy.master_key, ROUTING_JUDGE_MODEL="judge")
    for name, upstream in UPSTREAMS.items():
        oc.run("model", "add", "--name", name, "--upstream", upstream)
    oc.run("model-default", "set", "--model", "strong-baseline")
    import_cases(oc, [*MEASURED, "extract"])
    procs = {skill: oc.popen("routing", "measurement", "run", "--skill", skill, "--candidate-model", candidate,
                             "--seed", "7", "--quality-margin", MARGIN, "-o", "json")
             for skill, candidate in MEASURED.items()}
    runs = {}
    for skill, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and "Traceback" not in err, err
        runs[skill] = json.loads(out)
    return World(oc, runs)


# ----- 2. a candidate that is as good and ten times cheaper is proposed; a worse one is not ----------

def test_equal_candidate_at_a_tenth_of_the_cost_is_proposed(world: World) -> None:
    oc, run = world.oc, world.runs["summarise"]
    m = run["measurement"]
    assert m["status"] == "completed" and m["casesCompleted"] == CASES and m["casesFailed"] == 0
    assert m["currentModel"] == "strong-baseline" and m["candidateModel"] == "cheap-candidate"
    assert m["baselinePassRate"] == m["candidatePassRate"] == 1.0
    assert m["pinnedSavingsPct"] == pytest.approx(90.0)
    assert 0 < m["pinnedCiLowPct"] <= m["pinnedSavingsPct"] <= m["pinnedCiHighPct"]
    assert m["decision"]["propose"] is True

    pending = {p["id"]: p for p in oc.json("routing", "proposal", "list", "--status", "pending")}
    proposal = pending[run["proposalId"]]
    assert (proposal["fromModel"], proposal["proposedModel"], proposal["measurementId"]) == (
        "strong-baseline", "cheap-candidate", m["id"])

    texts = case_texts(oc, "summarise")
    samples = oc.json("routing", "measurement", "show", m["id"], "--samples")["samples"]
    for s in samples:  # the proxy's x-litellm-response-cost, to the token
        text = texts[s["evalCaseId"]]
        assert s["baselineCostSource"] == s["candidateCostSource"] == "header"
        assert s["baselineCostUsd"] == pytest.approx(proxy_cost("strong-baseline", text, s["baselineOutput"]))
        assert s["candidateCostUsd"] == pytest.approx(proxy_cost("cheap-candidate", text, s["candidateOutput"]))
        assert s["candidateOutput"] == f"GOOD: {text}"


def test_candidate_failing_a_third_of_cases_is_not_proposed_and_the_decision_says_why(world: World) -> None:
    oc, run = world.oc, world.runs["triage"]
    m = run["measurement"]
    assert run["proposalId"] is None and m["proposalId"] is None
    assert m["casesCompleted"] == CASES
    assert m["baselinePassRate"] == 1.0 and m["candidatePassRate"] == pytest.approx(2 / 3)
    checks = m["decision"]["checks"]
    assert checks["nonInferior"] is False
    assert all(ok for name, ok in checks.items() if name != "nonInferior")
    (reason,) = m["decision"]["reasons"]
    assert reason.startswith("quality:") and "non-inferiority" in reason

    texts = case_texts(oc, "triage")
    samples = oc.json("routing", "measurement", "show", m["id"], "--samples")["samples"]
    for s in samples:  # the judge failed exactly the answers the flaky upstream botched
        assert s["candidatePassed"] is (not is_bad_quality(texts[s["evalCaseId"]]))
        assert s["baselinePassed"] is True
    story = oc.run("routing", "measurement", "show", m["id"]).stdout
    assert "decision   no proposal: quality: candidate pass rate 0.67 vs baseline 1.00" in story
    assert all(p["measurementId"] != m["id"] for p in oc.json("routing", "proposal", "list"))


def test_recommendations_rank_the_proven_saving_above_a_cheaper_failing_candidate(world: World) -> None:
    oc = world.oc
    rows = oc.json("routing", "recommendation", "list")
    by_skill = {r["skillName"]: r for r in rows}
    # the flaky candidate is cheaper (95% saving if pinned) but failed non-inferiority: it ranks last
    assert by_skill["triage"]["pinnedSavingsPct"] > by_skill["summarise"]["pinnedSavingsPct"]
    assert rows[-1]["skillName"] == "triage"
    assert by_skill["summarise"]["recommendedModel"] == "cheap-candidate"
    assert by_skill["summarise"]["measurementId"] == world.runs["summarise"]["measurement"]["id"]

    table = oc.run("routing", "recommendation", "list").stdout.splitlines()
    assert table[0].split()[:3] == ["SKILL", "CURRENT_MODEL", "RECOMMENDED_MODEL"]
    assert table[-1].split()[0] == "triage" and "none (quality)" in table[-1]
    summarise = next(line for line in table if line.startswith("summarise "))
    assert "save up to 90% (95% CI" in summarise


def test_approve_pins_the_skill_audits_it_and_a_second_approve_conflicts(world: World) -> None:
    oc, pid = world.oc, world.runs["summarise"]["proposalId"]
    assert oc.json("resolve", "summarise")["model"] == "strong-baseline"

    decided = oc.json("routing", "proposal", "approve", pid)
    assert decided == {"id": pid, "status": "applied", "appliedModel": "cheap-candidate"}
    resolved = oc.json("resolve", "summarise")
    assert (resolved["model"], resolved["source"]) == ("cheap-candidate", "skill-pinned")
    assert "cheap-candidate" in oc.run("resolve", "summarise").stdout

    entries = oc.json("audit", "list", "--limit", "1000")["data"]
    applied = [e for e in entries
               if e["resource"] == f"RoutingProposal/{pid}" and e["action"] == "RoutingProposalApplied"]
    assert len(applied) == 1
    assert applied[0]["after"]["pinnedModel"] == "cheap-candidate" and applied[0]["after"]["modelMode"] == "pinned"

    again = oc.run("routing", "proposal", "approve", pid, expect=4)
    assert "[PROPOSAL_ALREADY_DECIDED]" in again.stderr
    assert oc.json("routing", "proposal", "show", pid)["status"] == "applied"
    story = oc.run("routing", "measurement", "show", world.runs["summarise"]["measurement"]["id"]).stdout
    assert f"decision   proposal {pid} was applied" in story


def test_reject_changes_nothing_but_the_proposal(world: World) -> None:
    oc, pid = world.oc, world.runs["translate"]["proposalId"]

    def state() -> list[Any]:
        return [oc.json("skill-posture", "list"), oc.json("model-default", "list"), oc.json("resolve", "--all"),
                oc.json("model", "list")]

    before, audit_before = state(), oc.json("audit", "list", "--limit", "1000")["data"]
    assert oc.json("routing", "proposal", "reject", pid) == {"id": pid, "status": "rejected", "appliedModel": None}
    assert state() == before
    audit_after = oc.json("audit", "list", "--limit", "1000")["data"]
    assert len(audit_after) == len(audit_before) + 1
    newest = audit_after[0]
    assert (newest["action"], newest["resource"]) == ("RoutingProposalRejected", f"RoutingProposal/{pid}")
    assert oc.json("resolve", "translate")["model"] == "strong-baseline"
    assert "[PROPOSAL_ALREADY_DECIDED]" in oc.run("routing", "proposal", "approve", pid, expect=4).stderr


# ----- 5. a stale proposal and an unknown cost -----------------------------------------------------

def test_stale_proposal_is_refused_unless_forced(world: World) -> None:
    oc, pid = world.oc, world.runs["classify"]["proposalId"]
    oc.run("skill-posture", "set", "classify", "--pinned-model", "flaky-candidate")

    stale = oc.run("routing", "proposal", "approve", pid, expect=4)
    assert "[STALE_PROPOSAL]" in stale.stderr and "flaky-candidate" in stale.stderr and "--force" in stale.stderr
    assert oc.json("resolve", "classify")["model"] == "flaky-candidate"
    assert oc.json("routing", "proposal", "show", pid)["status"] == "pending"

    forced = oc.json("routing", "proposal", "approve", pid, "--force")
    assert forced == {"id": pid, "status": "applied", "appliedModel": "cheap-candidate"}
    assert oc.json("resolve", "classify")["model"] == "cheap-candidate"
    entry = next(e for e in oc.json("audit", "list", "--limit", "1000")["data"]
                 if e["action"] == "RoutingProposalApplied" and e["resource"] == f"RoutingProposal/{pid}")
    assert entry["before"]["pinnedModel"] == "flaky-candidate" and entry["after"]["forced"] is True


def test_unknown_cost_blocks_the_proposal_until_the_model_has_prices(world: World) -> None:
    oc = world.oc
    blind = oc.json("routing", "measurement", "run", "--skill", "extract", "--candidate-model", "unpriced",
                    "--seed", "7", "--quality-margin", MARGIN)
    m = blind["measurement"]
    assert blind["proposalId"] is None and m["casesCompleted"] == CASES
    assert m["decision"]["checks"]["costsKnown"] is False
    assert f"costs: the cost of {CASES} cases is unknown" in " ".join(m["decision"]["reasons"])
    samples = oc.json("routing", "measurement", "show", m["id"], "--samples")["samples"]
    assert all(s["candidateCostUsd"] is None and s["candidateCostSource"] is None for s in samples)
    assert all(s["baselineCostSource"] == "header" for s in samples)  # never a silent 0

    oc.run("model", "update", "unpriced", "--input-cost-per-mtok", "1", "--output-cost-per-mtok", "3")
    priced = oc.json("routing", "measurement", "run", "--skill", "extract", "--candidate-model", "unpriced",
                     "--seed", "7", "--quality-margin", MARGIN)
    assert priced["proposalId"] is not None
    assert priced["measurement"]["decision"]["checks"]["costsKnown"] is True
    texts = case_texts(oc, "extract")
    samples = oc.json("routing", "measurement", "show", priced["measurement"]["id"], "--samples")["samples"]
    for s in samples:  # tokens from the proxy's usage × the prices registered with `oc model`
        text = texts[s["evalCaseId"]]
        assert s["candidateCostSource"] == "prices"
        assert s["candidateCostUsd"] == pytest.approx((count_words(text) * 1 + count_words(f"GOOD: {text}") * 3) / 1e6)
