"""The frontier chart of a multi-candidate run: readable at 80 columns, plain when piped."""

from __future__ import annotations

import pytest

from oc_cli import output
from oc_cli.commands.routing import _frontier
from oc_cli.domain.frontier import frontier
from oc_cli.local.measure import choose_proposal


def view(mid: str, model: str, cost: float, rate: float, saving: float, *, propose: bool, non_inferior: bool = True,
         proposal: str | None = None) -> dict:
    checks = {"savings": True, "nonInferior": non_inferior, "minCases": True, "noFailures": True, "costsKnown": True}
    return {"id": mid, "candidateModel": model, "currentModel": "a-rather-long-baseline-model-name-v2",
            "sampledCalls": 40, "baselineCostUsd": 0.04, "candidateCostUsd": cost, "baselinePassRate": 0.95,
            "baselinePassRateCi": [0.83, 0.99], "candidatePassRate": rate, "candidatePassRateCi": [rate - 0.12,
                                                                                                  min(1.0, rate + 0.04)],
            "pinnedSavingsPct": saving, "pinnedCiLowPct": saving - 5, "pinnedCiHighPct": saving + 3,
            "proposalId": proposal, "decision": {"propose": propose, "checks": checks, "reasons": []}}


VIEWS = [view("m1", "cheap", 0.004, 0.95, 90.0, propose=True, proposal="p1"),
         view("m2", "cheaper-but-worse-quality-model-with-a-long-name", 0.001, 0.6, 97.5, propose=False,
              non_inferior=False),
         view("m3", "middle", 0.02, 0.93, 50.0, propose=False) | {"decision": {
             "propose": False, "alsoQualifies": True, "checks": {"nonInferior": True}, "reasons": []}}]


def test_points_put_the_baseline_first_and_mark_the_proposed_and_the_qualifying() -> None:
    points = frontier(VIEWS)
    assert [(p["label"], p["role"], p["proposed"], p["qualifies"]) for p in points] == [
        ("B", "baseline", False, None), ("1", "candidate", True, True), ("2", "candidate", False, False),
        ("3", "candidate", False, True)]
    assert points[0]["costPerCaseUsd"] == pytest.approx(0.001)
    assert points[1]["costPerCaseCi"] == pytest.approx([0.001 * 0.07, 0.001 * 0.15])
    assert [p["paretoOptimal"] for p in points] == [False, True, True, False]


@pytest.mark.parametrize("tty", [False, True])
def test_chart_and_table_fit_80_columns_without_escapes_when_colour_is_off(monkeypatch, capsys, tty) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(output, "stdout_is_tty", lambda: tty)
    _frontier.render(frontier(VIEWS), "Frontier of group g1: skill summarise, 40 cases")
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    assert "\x1b[" not in text
    assert "[1*]" in text and "-2-" in text and "3*" in text and " B" in text
    assert "cost per case (USD)" in text and "pass rate" in text
    rows = lines[lines.index("") + 2:]
    assert [r.split()[-1] for r in rows] == ["baseline", "proposed", "quality", "qualifies"]


def test_the_rule_proposes_the_largest_pinned_saving_among_passing_candidates() -> None:
    members = {"a": {"candidate_model": "alpha"}, "b": {"candidate_model": "beta"}, "c": {"candidate_model": "gamma"}}

    def summary(saving: float, low: float, ok: bool) -> dict:
        return {"pinnedSavingsPct": saving, "pinnedCiLowPct": low,
                "decision": {"propose": ok, "reasons": [] if ok else ["quality: worse"], "checks": {}}}

    summaries = {"a": summary(60, 40, True), "b": summary(80, 50, True), "c": summary(95, 90, False)}
    assert choose_proposal(members, summaries) == "b"
    assert summaries["a"]["decision"]["propose"] is False and summaries["a"]["decision"]["alsoQualifies"] is True
    assert summaries["a"]["decision"]["reasons"] == [
        "also qualifies, but beta was proposed: it saves more if pinned (80.0% vs 60.0%)"]
    assert summaries["c"]["decision"]["reasons"] == ["quality: worse"]
    tie = {"a": summary(80, 50, True), "b": summary(80, 50, True)}
    assert choose_proposal(members, tie) == "a"  # equal savings and bounds: by model name
    assert choose_proposal(members, {"c": summary(95, 90, False)}) is None
