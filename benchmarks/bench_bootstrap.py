"""Time a measurement's statistics at the size a large measurement reaches.

    python benchmarks/bench_bootstrap.py [--cases 2000] [--resamples 10000] [--runs 5]

Runs :func:`oc_cli.domain.stats.summarize` (the sign-flip test over ``--resamples`` random sign
patterns for both savings figures, Tango's interval, Wilson, McNemar, the advice) on a fixed
synthetic measurement (lognormal per-case costs, a candidate at about a fifth of the price, ~90%
pass rates) once to warm up, then ``--runs`` times, and prints one JSON line with the median wall
time. The target is 0.5 s at 2,000 cases and 10,000 resamples. (The name is historical: the
intervals came from a paired bootstrap before the sign-flip test replaced it.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np  # noqa: E402

from oc_cli.domain.stats import Sample, summarize  # noqa: E402

TARGET_SECONDS = 0.5


def synthetic_measurement(cases: int, seed: int = 0) -> list[Sample]:
    rng = np.random.default_rng(seed)
    size = rng.lognormal(-7.0, 0.8, cases)
    baseline = size * rng.lognormal(0.0, 0.3, cases)
    candidate = 0.2 * size * rng.lognormal(0.0, 0.3, cases)
    baseline_score = rng.uniform(0.3, 1.0, cases)
    candidate_score = rng.uniform(0.25, 1.0, cases)
    return [
        Sample(float(b), float(c), float(bs), float(cs), 0.35)
        for b, c, bs, cs in zip(baseline, candidate, baseline_score, candidate_score)
    ]


def median_seconds(samples: list[Sample], resamples: int, runs: int) -> float:
    summarize(samples, resamples=resamples, seed=0)  # warm-up
    timings = []
    for run in range(runs):
        start = time.perf_counter()
        summarize(samples, resamples=resamples, seed=run)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    samples = synthetic_measurement(args.cases)
    median = round(median_seconds(samples, args.resamples, args.runs), 4)
    print(
        json.dumps(
            {
                "benchmark": "summarize",
                "cases": args.cases,
                "resamples": args.resamples,
                "runs": args.runs,
                "median_seconds": median,
                "target_seconds": TARGET_SECONDS,
                "within_target": median <= TARGET_SECONDS,
                "numpy": np.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
