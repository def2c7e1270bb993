"""Operating characteristics of the proposal rule: how often it proposes, and how often its intervals
cover the truth, in simulated measurements whose truth is known.

    python benchmarks/bench_operating.py [--reps 1000] [--cases 10,20,50,200] [--scenario NAME ...]

Every simulated measurement goes through :func:`oc_cli.domain.stats.summarize_run` with the run
options a measurement stores by default (``MeasurementMixin._run_options({})``: margin 0.05, at
least 10 cases, 10,000 sign patterns), exactly as ``local/measure.py::_finish`` calls it, with a
different seed per measurement. Prints a markdown table (the one in docs/statistics.md) and, with
``--json``, one JSON line per cell.

Columns: ``propose`` is the share of measurements that emit a proposal; ``savings`` and
``quality`` the shares whose savings and non-inferiority checks hold; ``savings cover`` and
``diff cover`` the shares whose pinned-saving and pass-rate-difference intervals contain the true
value; ``casesNeeded`` the median advice among measurements that got one. With 1,000 measurements
a rate near 2.5% carries a Monte Carlo standard error of 0.5 points, near 5% of 0.7, near 95% of 0.7.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np  # noqa: E402

from oc_cli.domain.stats import Sample, summarize_run  # noqa: E402
from oc_cli.local.measure import MeasurementMixin  # noqa: E402

BAR = 0.5
NOISE_SIGMA = 0.3  # per-model cost noise around the case's size (lognormal, mean 1)


@dataclass(frozen=True)
class Scenario:
    """A simulated skill: each model's pass probability, how their verdicts go together, and costs.

    ``lost``/``gained``: the probability that only the baseline / only the candidate passes a
    case (their difference fixes the candidate's pass rate); ``price``: the candidate's expected
    cost per case relative to the baseline's; ``sigma``: the spread (lognormal σ) of case sizes;
    ``flat``: the share of cases with one identical price and fixed-size answers (the candidate's
    cost on them is exactly ``price`` times the baseline's).
    """

    name: str
    baseline_pass: float
    lost: float
    gained: float
    price: float
    sigma: float = 0.8
    flat: float = 0.0

    @property
    def true_diff(self) -> float:
        return self.gained - self.lost

    @property
    def true_saving_pct(self) -> float:
        return (1.0 - self.price) * 100.0


def independent(name: str, pb: float, pc: float, **costs: float) -> Scenario:
    """Verdicts that fail independently: only-baseline = pb(1 − pc), only-candidate = (1 − pb)pc."""
    return Scenario(name, pb, pb * (1 - pc), (1 - pb) * pc, **costs)


SCENARIOS = [
    independent("worse by twice the margin (0.9 vs 0.8, independent)", 0.9, 0.8, price=0.1),
    independent("at the margin (0.9 vs 0.85, independent)", 0.9, 0.85, price=0.1),
    independent("perfect baseline (1.0 vs 0.9)", 1.0, 0.9, price=0.1),
    independent("equal quality, independent verdicts (0.9, 0.9)", 0.9, 0.9, price=0.1),
    Scenario("equal quality, verdicts agree on 96% (0.9, 0.9)", 0.9, 0.02, 0.02, price=0.1),
    Scenario("equal prices, light tails (σ 0.4), same verdicts", 0.9, 0.0, 0.0, price=1.0, sigma=0.4),
    Scenario("equal prices, heavy tails (σ 1.5), same verdicts", 0.9, 0.0, 0.0, price=1.0, sigma=1.5),
    Scenario("flat prices (90% one price), 1% of the price, same verdicts", 0.9, 0.0, 0.0, price=0.01,
             sigma=0.8, flat=0.9),
    Scenario("flat prices (90% one price), 1% of the price, 0.9 vs 0.85", 0.9, 0.9 * 0.15, 0.1 * 0.85,
             price=0.01, sigma=0.8, flat=0.9),
]


def simulate(s: Scenario, n: int, rng: np.random.Generator) -> list[Sample]:
    """One measurement of ``n`` cases drawn from scenario ``s``."""
    u = rng.random(n)
    base_pass = np.where(u < s.lost, True, np.where(u < s.lost + s.gained, False, rng.random(n) < (
        (s.baseline_pass - s.lost) / max(1e-12, 1.0 - s.lost - s.gained))))
    cand_pass = np.where(u < s.lost, False, np.where(u < s.lost + s.gained, True, base_pass))
    size = rng.lognormal(-s.sigma**2 / 2, s.sigma, n)
    mean_one = -(NOISE_SIGMA**2) / 2
    base = size * rng.lognormal(mean_one, NOISE_SIGMA, n)
    cand = s.price * size * rng.lognormal(mean_one, NOISE_SIGMA, n)
    if s.flat:
        same = rng.random(n) < s.flat
        base = np.where(same, 1.0, base)
        cand = np.where(same, s.price, cand)
    scale = 1e-3  # dollars per unit of size: a cost per call as the gateway reports it
    return [Sample(float(b) * scale, float(c) * scale, float(bp), float(cp), BAR)
            for b, c, bp, cp in zip(base, cand, base_pass, cand_pass)]


def cell(s: Scenario, n: int, reps: int, seed: int) -> dict:
    options = MeasurementMixin._run_options({})
    rng = np.random.default_rng(seed)
    propose = savings = quality = savings_cover = diff_cover = 0
    needed: list[int] = []
    started = time.perf_counter()
    for rep in range(reps):
        summary = summarize_run(simulate(s, n, rng), {**options, "seed": rep})
        decision = summary["decision"]
        propose += decision["propose"]
        savings += decision["checks"]["savings"]
        quality += decision["checks"]["nonInferior"]
        low, high = summary["pinnedCiLowPct"], summary["pinnedCiHighPct"]
        savings_cover += (low is None or low <= s.true_saving_pct + 1e-9) and (
            high is None or s.true_saving_pct - 1e-9 <= high)
        diff_cover += summary["passRateDiffCiLow"] - 1e-12 <= s.true_diff <= summary["passRateDiffCiHigh"] + 1e-12
        if decision["casesNeeded"] is not None:
            needed.append(decision["casesNeeded"])
    return {
        "scenario": s.name, "cases": n, "measurements": reps, "propose": propose / reps, "savings": savings / reps,
        "quality": quality / reps, "savingsCover": savings_cover / reps, "diffCover": diff_cover / reps,
        "casesNeededMedian": int(np.median(needed)) if needed else None, "withAdvice": len(needed) / reps,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000, help="simulated measurements per cell")
    parser.add_argument("--cases", default="10,20,50,200", help="comma-separated case counts")
    parser.add_argument("--scenario", action="append", help="only scenarios whose name contains this")
    parser.add_argument("--json", action="store_true", help="also print one JSON line per cell")
    args = parser.parse_args()
    sizes = [int(x) for x in args.cases.split(",")]
    chosen = [s for s in SCENARIOS if not args.scenario or any(f in s.name for f in args.scenario)]
    print("| scenario | cases | propose | savings | quality | savings cover | diff cover | casesNeeded |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for i, s in enumerate(chosen):
        for n in sizes:
            row = cell(s, n, args.reps, seed=1000 * i + n)
            pct = lambda x: f"{x * 100:.1f}%"  # noqa: E731
            advice = "—" if row["casesNeededMedian"] is None else f"{row['casesNeededMedian']} ({pct(row['withAdvice'])})"
            print(f"| {s.name} | {n} | {pct(row['propose'])} | {pct(row['savings'])} | {pct(row['quality'])} |"
                  f" {pct(row['savingsCover'])} | {pct(row['diffCover'])} | {advice} |", flush=True)
            if args.json:
                print(json.dumps(row), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
