"""The proposal rule at its default settings, end to end against a real LiteLLM proxy.

Templated inputs with fixed-size answers make every case cost exactly the same, the case that broke
the bootstrap rule (resamples without spread). A candidate at 1% of the price that passes every
case must be proposed once there are enough cases to show non-inferiority at margin 0.05 (73), and
below that the measurement must say how many cases would settle it. The same cases and seed in two
fresh databases give identical figures.

The module starts a proxy of its own: its candidates are priced at 1% of the baseline, and one
prices input and output in another ratio than the baseline, so that per-case cost ratios vary.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import LITELLM_MISSING, litellm_available
from tests.integration.fake_upstreams import is_bad_quality
from tests.integration.litellm_proxy import Proxy, model_entry, start_proxy
from tests.support.oc_process import Oc

pytestmark = pytest.mark.integration

#: Proxy model name -> (fake kind, USD per million input and output tokens, registry upstream).
MODELS = {
    "strong-baseline": ("answer", 10.0, 30.0, "openai/gpt-4o"),
    "tiny-candidate": ("answer", 0.1, 0.3, "anthropic/claude-3-haiku"),
    "tiny-flaky": ("flaky-quality", 0.1, 0.3, "anthropic/claude-3-5-haiku"),
    "odd-candidate": ("answer", 0.5, 4.0, "mistral/mistral-small"),
    "judge": ("judge", 2.0, 6.0, "gemini/gemini-1.5-pro"),
}
FIGURES = ("sampledCalls", "pinnedSavingsPct", "pinnedCiLowPct", "pinnedCiHighPct", "projectedSavingsPct",
           "ciLowPct", "ciHighPct", "savingsP", "passRateDiff", "passRateDiffCiLow", "passRateDiffCiHigh",
           "mcnemarP", "baselineCostUsd", "candidateCostUsd", "decision")


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    if not litellm_available():
        pytest.skip(LITELLM_MISSING)
    models = [model_entry(name, kind, input_per_mtok=inp, output_per_mtok=out)
              for name, (kind, inp, out, _) in MODELS.items()]
    running = start_proxy(tmp_path_factory.mktemp("verdicts-proxy"), models, startup_timeout=240.0)  # busy machines
    try:
        yield running
    finally:
        running.stop()


def new_oc(home: Path, proxy: Proxy) -> Oc:
    oc = Oc(home, LITELLM_ENDPOINT=proxy.url, LITELLM_MASTER_KEY=proxy.master_key, ROUTING_JUDGE_MODEL="judge")
    for name, (*_, upstream) in MODELS.items():
        oc.run("model", "add", "--name", name, "--upstream", upstream)
    oc.run("model-default", "set", "--model", "strong-baseline")
    return oc


def write_cases(path: Path, skill: str, texts: list[str]) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for text in texts:
            fh.write(json.dumps({"skillName": skill, "skillScope": "org", "expected": "The ticket's category.",
                                 "input": {"messages": [{"role": "user", "content": text}]}}) + "\n")
    return path


def templated(count: int, start: int = 0) -> list[str]:
    """Classification tickets of identical length: every call of one model costs the same."""
    return [f"Classify ticket {i}: the checkout page times out." for i in range(start, start + count)]


def measure(oc: Oc, skill: str, candidate: str) -> dict[str, Any]:
    return oc.json("routing", "measurement", "run", "--skill", skill, "--candidate-model", candidate, "--seed", "7")


@pytest.fixture(scope="module")
def oc(proxy: Proxy, tmp_path_factory: pytest.TempPathFactory) -> Oc:
    home = tmp_path_factory.mktemp("verdicts")
    oc = new_oc(home, proxy)
    good = [t for t in templated(400) if not is_bad_quality(t)]
    bad = [t for t in templated(400) if is_bad_quality(t)]
    for skill, texts in (("classify", templated(120)), ("triage", templated(20)), ("route", bad[:1] + good[:9])):
        oc.run("routing", "eval-case", "import", str(write_cases(home / f"{skill}.jsonl", skill, texts)))
    return oc


def test_a_candidate_at_1_percent_with_fixed_size_answers_passing_120_cases_is_proposed(oc: Oc) -> None:
    run = measure(oc, "classify", "tiny-candidate")
    m = run["measurement"]
    assert (m["casesCompleted"], m["baselinePassRate"], m["candidatePassRate"]) == (120, 1.0, 1.0)
    assert len({round(s["candidateCostUsd"], 12) for s in oc.json(
        "routing", "measurement", "show", m["id"], "--samples")["samples"]}) == 1  # one price for every case
    assert m["pinnedSavingsPct"] == pytest.approx(99.0)
    assert m["pinnedCiLowPct"] == pytest.approx(99.0) and m["savingsP"] < 0.001
    assert m["passRateDiffCiLow"] > -0.05
    assert m["decision"]["propose"] is True and m["decision"]["casesNeeded"] is None
    assert run["proposalId"] is not None
    assert oc.json("routing", "proposal", "approve", run["proposalId"])["status"] == "applied"


def test_the_same_candidate_over_20_cases_is_not_proposed_and_says_how_many_cases_would_do(oc: Oc) -> None:
    run = measure(oc, "triage", "tiny-candidate")
    m = run["measurement"]
    assert run["proposalId"] is None
    checks = m["decision"]["checks"]
    assert checks["savings"] is True and checks["nonInferior"] is False  # the saving is shown; quality is not yet
    assert m["decision"]["casesNeeded"] == 73
    story = oc.run("routing", "measurement", "show", m["id"]).stdout
    assert ("  next       inconclusive: no disagreement in 20 cases, but even identical verdicts on every case show"
            " non-inferiority at margin 0.05 only from 73 cases on") in story


def test_a_candidate_that_loses_1_of_10_cases_is_not_proposed_and_gets_a_number(oc: Oc) -> None:
    run = measure(oc, "route", "tiny-flaky")
    m = run["measurement"]
    assert run["proposalId"] is None
    assert m["discordant"] == {"baselineOnly": 1, "candidateOnly": 0}
    assert isinstance(m["decision"]["casesNeeded"], int) and m["decision"]["casesNeeded"] > 10
    story = oc.run("routing", "measurement", "show", m["id"]).stdout
    assert (f"inconclusive: with the disagreement seen here (1 of 10 cases) about {m['decision']['casesNeeded']}"
            " cases would show non-inferiority at margin 0.05 with 80% power") in story


def test_the_same_cases_and_seed_in_two_fresh_databases_give_identical_figures(
        proxy: Proxy, tmp_path: Path) -> None:
    # Inputs of many lengths and a candidate whose input and output prices are in another ratio
    # than the baseline's: every case has its own cost ratio, so the savings interval depends on
    # which case sits at which position (with the sign patterns drawn for 20 cases at random).
    texts = [f"Summarise incident {i}: " + "the queue is backing up " * (i % 7 + (i * 5) % 11) for i in range(20)]
    figures = []
    for name in ("first", "second"):
        home = tmp_path / name
        home.mkdir()
        oc = new_oc(home, proxy)
        oc.run("routing", "eval-case", "import", str(write_cases(home / "cases.jsonl", "summarise", texts)))
        m = measure(oc, "summarise", "odd-candidate")["measurement"]
        assert m["bootstrap"]["exact"] is False  # 2^20 sign patterns: drawn at random, seeded
        figures.append({key: m[key] for key in FIGURES})
    assert figures[0] == figures[1]
    assert figures[0]["pinnedCiLowPct"] < figures[0]["pinnedSavingsPct"] < figures[0]["pinnedCiHighPct"]
