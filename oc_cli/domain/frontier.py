"""The cost/quality frontier of a multi-candidate measurement (SPEC §5.9).

One point for the shared baseline and one per candidate: cost per case (x) against pass rate (y),
with 95% intervals. A candidate's pass-rate interval is its Wilson interval; its cost interval
follows from the record's "saving if pinned" interval applied to the baseline's cost per case over
the same cases (the two come from the same paired bootstrap, so the chart and the decision agree).
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]


def _per_case(total: Any, n: int) -> float | None:
    return None if total is None or not n else total / n


def frontier(views: list[Json]) -> list[Json]:
    """Points for a group's records (as ``measurement show`` gives them), baseline first."""
    if not views:
        return []
    ref = max(views, key=lambda m: m.get("sampledCalls") or 0)
    n = ref.get("sampledCalls") or 0
    points: list[Json] = [{
        "role": "baseline", "label": "B", "model": ref.get("currentModel"), "measurementId": None,
        "costPerCaseUsd": _per_case(ref.get("baselineCostUsd"), n), "costPerCaseCi": None,
        "passRate": ref.get("baselinePassRate") if n else None,
        "passRateCi": ref.get("baselinePassRateCi") if n else None,
        "nonInferior": None, "qualifies": None, "proposed": False, "cases": n,
    }]
    for i, m in enumerate(views, 1):
        k = m.get("sampledCalls") or 0
        decision = m.get("decision") or {}
        base = _per_case(m.get("baselineCostUsd"), k)
        ci = None
        if base is not None and k:
            ci = [base * (1 - m.get("pinnedCiHighPct", 0.0) / 100), base * (1 - m.get("pinnedCiLowPct", 0.0) / 100)]
        points.append({
            "role": "candidate", "label": str(i), "model": m.get("candidateModel"), "measurementId": m.get("id"),
            "costPerCaseUsd": _per_case(m.get("candidateCostUsd"), k), "costPerCaseCi": ci,
            "passRate": m.get("candidatePassRate") if k else None,
            "passRateCi": m.get("candidatePassRateCi") if k else None,
            "nonInferior": (decision.get("checks") or {}).get("nonInferior"),
            "qualifies": bool(decision.get("propose") or decision.get("alsoQualifies")),
            "proposed": bool(m.get("proposalId")), "cases": k,
            "pinnedSavingsPct": m.get("pinnedSavingsPct") if k else None,
            "decision": decision,
        })
    plotted = [p for p in points if p["costPerCaseUsd"] is not None and p["passRate"] is not None]
    for p in points:
        p["paretoOptimal"] = p in plotted and not any(
            q is not p and q["costPerCaseUsd"] <= p["costPerCaseUsd"] and q["passRate"] >= p["passRate"]
            and (q["costPerCaseUsd"] < p["costPerCaseUsd"] or q["passRate"] > p["passRate"]) for q in plotted)
    return points
