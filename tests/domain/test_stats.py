"""The measurement estimator: savings, pass-rate intervals, McNemar, Tango, the sign-flip test, the rule.

The simulation tests at the end are acceptance criteria of the product, not just unit tests:
they check that the intervals cover what they claim to and that the proposal rule neither
proposes switches that save nothing or lose quality, nor misses an obvious one.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oc_cli.domain.stats as stats
from oc_cli.domain.stats import (
    Sample,
    decide,
    mcnemar_exact_p,
    pinned_savings_pct,
    projected_savings_pct,
    quality_cases_needed,
    savings_cases_needed,
    sign_flip_ratios,
    summarize,
    tango_interval,
    wilson_interval,
)

BAR = 0.5
Z = 1.959964


def case(
    baseline_cost: float, candidate_cost: float, baseline_pass: bool = True, candidate_pass: bool = True
) -> Sample:
    """A case graded 1 or 0 against a bar of 0.5."""
    return Sample(baseline_cost, candidate_cost, float(baseline_pass), float(candidate_pass), BAR)


def skewed_costs(rng: np.random.Generator, n: int, sigma: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Paired per-case costs of two equally priced models: shared case size, independent noise.

    Case sizes are lognormal (a few long cases dominate the spend, as in real eval sets) and the
    per-model noise has mean 1, so both models' expected cost per case is the same.
    """
    size = rng.lognormal(-7.0, sigma, n)
    noise_sigma = 0.3
    baseline = size * rng.lognormal(-noise_sigma**2 / 2, noise_sigma, n)
    candidate = size * rng.lognormal(-noise_sigma**2 / 2, noise_sigma, n)
    return baseline, candidate


def close(a: float, b: float) -> bool:
    """Equal up to rounding: resampled sums are accumulated in another order than point estimates."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


# --- Sample -------------------------------------------------------------------------------------


def test_pass_means_score_reaches_the_bar() -> None:
    s = Sample(1.0, 0.5, baseline_score=0.5, candidate_score=0.49, quality_bar=0.5)
    assert s.baseline_passed and not s.candidate_passed
    assert s.effective_cost == 1.0  # the candidate failed, so the reference charges the baseline


@pytest.mark.parametrize("cost", [-0.01, math.nan, math.inf])
def test_sample_rejects_costs_that_are_not_known_non_negative_amounts(cost: float) -> None:
    with pytest.raises(ValueError, match="cost"):
        Sample(cost, 1.0, 1.0, 1.0, BAR)
    with pytest.raises(ValueError, match="cost"):
        Sample(1.0, cost, 1.0, 1.0, BAR)


def test_sample_rejects_a_nan_score() -> None:
    with pytest.raises(ValueError, match="score"):
        Sample(1.0, 1.0, math.nan, 1.0, BAR)


# --- Point estimates -----------------------------------------------------------------------------


def test_savings_on_a_hand_computed_example() -> None:
    samples = [case(1.0, 0.2), case(2.0, 0.5, candidate_pass=False), case(1.0, 0.1)]
    # Σbaseline = 4.0, Σcandidate = 0.8; effective = 0.2 + 2.0 (failed: baseline) + 0.1 = 2.3
    assert pinned_savings_pct(samples) == pytest.approx(80.0)
    assert projected_savings_pct(samples) == pytest.approx(42.5)


def test_projected_savings_can_exceed_what_pinning_delivers() -> None:
    # The candidate rambles (and fails) on the hard case: the reference drops that cost.
    samples = [case(1.0, 0.1), case(1.0, 0.1), case(1.0, 5.0, candidate_pass=False)]
    assert projected_savings_pct(samples) == pytest.approx(60.0)  # (1 - 1.2/3) * 100
    assert pinned_savings_pct(samples) == pytest.approx(-73.33333333)  # (1 - 5.2/3) * 100


def test_savings_is_negative_when_the_candidate_costs_more() -> None:
    assert pinned_savings_pct([case(1.0, 1.5)]) == pytest.approx(-50.0)


@pytest.mark.parametrize("samples", [[], [case(0.0, 0.0)], [case(0.0, 3.0), case(0.0, 1.0)]])
def test_savings_is_zero_without_baseline_spend(samples: list[Sample]) -> None:
    assert pinned_savings_pct(samples) == 0.0
    assert projected_savings_pct(samples) == 0.0


# --- Wilson -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [  # Newcombe (1998), Statistics in Medicine 17:857, Table II, method 3 (score, no correction)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_published_values(k: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(k, n)
    assert got == (pytest.approx(low, abs=5e-5), pytest.approx(high, abs=5e-5))


def test_wilson_is_symmetric_around_one_half() -> None:
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(1 - high)
    assert low == pytest.approx(0.2366, abs=5e-5)


def test_wilson_is_exact_at_the_edges_and_uninformative_without_cases() -> None:
    assert wilson_interval(0, 7)[0] == 0.0
    assert wilson_interval(7, 7)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_widens_with_confidence() -> None:
    low95, high95 = wilson_interval(6, 10)
    low99, high99 = wilson_interval(6, 10, z=2.575829)
    assert low99 < low95 < 0.6 < high95 < high99


@pytest.mark.parametrize(("k", "n"), [(-1, 5), (6, 5), (0, -1)])
def test_wilson_rejects_impossible_counts(k: int, n: int) -> None:
    with pytest.raises(ValueError):
        wilson_interval(k, n)


# --- McNemar ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (1, 9, 0.021484375),  # 2 * (1 + 10) / 2**10
        (9, 1, 0.021484375),
        (0, 5, 0.0625),  # 2 / 2**5
        (0, 0, 1.0),
        (4, 4, 1.0),
        (3, 4, 1.0),
    ],
)
def test_mcnemar_exact_known_values(b: int, c: int, p: float) -> None:
    assert mcnemar_exact_p(b, c) == p


def test_mcnemar_matches_the_binomial_tail_exactly() -> None:
    b, c = 12, 31
    tail = Fraction(sum(comb(b + c, i) for i in range(b + 1)), 2 ** (b + c))
    assert mcnemar_exact_p(b, c) == float(2 * tail)


def test_mcnemar_handles_many_discordant_pairs_without_overflow() -> None:
    assert mcnemar_exact_p(3000, 3000) == 1.0
    p = mcnemar_exact_p(2900, 3100)
    assert 0.0 < p < 0.02


def test_mcnemar_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        mcnemar_exact_p(-1, 3)


# --- Tango's score interval ---------------------------------------------------------------------


def test_tango_matches_the_published_example() -> None:
    # Cavo et al. (2012) in Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency
    # Tables" (2017), ch. 8: n12 = 6, n21 = 16, N = 161 gives -0.0621 (95% CI -0.1240 to -0.0054).
    low, high = tango_interval(6, 16, 161)
    assert round(low, 4) == -0.1240 and round(high, 4) == -0.0054


@pytest.mark.parametrize("n", [1, 10, 20, 72, 73, 200])
def test_tango_without_disagreement_is_plus_minus_z2_over_n_plus_z2(n: int) -> None:
    low, high = tango_interval(0, 0, n)
    half = Z * Z / (n + Z * Z)
    assert low == pytest.approx(-half, abs=1e-9) and high == pytest.approx(half, abs=1e-9)


def test_identical_verdicts_pass_a_margin_of_005_from_73_cases_on() -> None:
    assert tango_interval(0, 0, 72)[0] < -0.05 < tango_interval(0, 0, 73)[0]


def test_tango_score_is_z_at_the_bounds_and_swapping_the_models_mirrors_the_interval() -> None:
    low, high = tango_interval(3, 9, 50)
    assert stats._tango_score(3, 9, 50, low) == pytest.approx(Z, abs=1e-6)
    assert stats._tango_score(3, 9, 50, high) == pytest.approx(-Z, abs=1e-6)
    mirrored = tango_interval(9, 3, 50)
    assert mirrored[0] == pytest.approx(-high) and mirrored[1] == pytest.approx(-low)


def test_tango_at_the_extremes() -> None:
    assert tango_interval(0, 10, 10)[0] == -1.0
    assert tango_interval(10, 0, 10)[1] == 1.0
    with pytest.raises(ValueError):
        tango_interval(3, 3, 5)


def test_tango_test_rejects_at_most_alpha_at_the_margin() -> None:
    # Exact size of "lower bound > -0.05" when the candidate is exactly 0.05 worse, computed over
    # every (gained, lost) outcome of 60 cases with the baseline passing 90% and failures independent.
    n, p_gain, p_lose = 60, 0.1 * 0.85, 0.9 * 0.15
    size = 0.0
    for gained in range(n + 1):
        for lost in range(n + 1 - gained):
            if tango_interval(gained, lost, n)[0] > -0.05:
                size += (math.factorial(n) / (math.factorial(gained) * math.factorial(lost)
                         * math.factorial(n - gained - lost))) * p_gain**gained * p_lose**lost * (
                             1 - p_gain - p_lose) ** (n - gained - lost)
    assert size <= 0.035


# --- The sign-flip test ---------------------------------------------------------------------------


def test_a_saving_on_every_one_of_n_cases_has_p_two_to_the_minus_n() -> None:
    (test,) = sign_flip_ratios([1.0] * 10, [[0.1] * 10], draws=10_000, seed=0)
    assert test.exact and test.draws == 2**10 - 1
    assert test.p == 2.0**-10
    assert test.estimate == pytest.approx(0.1) and test.low == pytest.approx(0.1) and test.high == pytest.approx(0.1)


def brute_force_bounds(base: list[float], spent: list[float], alpha: float = 0.05) -> tuple[float, float]:
    """Invert the exact sign-flip test by scanning ratios: every subset's sign pattern, p at each r."""
    n = len(base)
    subsets = [[i for i in range(n) if mask >> i & 1] for mask in range(1, 2**n)]

    def p_upper(r: float) -> float:  # H0 ratio = r against "the ratio is below r"
        return (1 + sum(1 for f in subsets if sum(r * base[i] - spent[i] for i in f) <= 0)) / 2**n

    def p_lower(r: float) -> float:
        return (1 + sum(1 for f in subsets if sum(r * base[i] - spent[i] for i in f) >= 0)) / 2**n

    grid = np.linspace(0.0, 3.0, 3001)
    kept = [r for r in grid if p_upper(r) > alpha / 2 and p_lower(r) > alpha / 2]
    return min(kept), max(kept)


def test_the_interval_is_the_set_of_ratios_the_exact_test_keeps() -> None:
    rng = np.random.default_rng(5)
    base = list(rng.lognormal(0.0, 0.8, 8))
    spent = [b * r for b, r in zip(base, rng.lognormal(-0.5, 0.6, 8))]
    (test,) = sign_flip_ratios(base, [spent], draws=10_000, seed=0)
    low, high = brute_force_bounds(base, spent)
    assert test.exact
    assert test.low == pytest.approx(low, abs=1e-3) and test.high == pytest.approx(high, abs=1e-3)


def test_monte_carlo_draws_are_seeded() -> None:
    rng = np.random.default_rng(9)
    base = list(rng.lognormal(0.0, 1.0, 40))
    spent = [b * r for b, r in zip(base, rng.lognormal(-0.3, 1.0, 40))]
    first = sign_flip_ratios(base, [spent], draws=2000, seed=1)
    assert sign_flip_ratios(base, [spent], draws=2000, seed=1) == first
    other = sign_flip_ratios(base, [spent], draws=2000, seed=2)
    assert not first[0].exact and (other[0].low, other[0].high) != (first[0].low, first[0].high)


def test_chunking_does_not_change_the_subsets(monkeypatch: pytest.MonkeyPatch) -> None:
    columns = np.random.default_rng(3).lognormal(0.0, 1.0, (100, 2))
    whole, _ = stats._subset_sums(columns, 1000, np.random.default_rng(4))
    monkeypatch.setattr(stats, "_CHUNK_CELLS", 13 * 7)  # 7 subsets a chunk, ragged end
    chunked, _ = stats._subset_sums(columns, 1000, np.random.default_rng(4))
    # one draw per chunk of bytes: the stream differs, the distribution does not; the sums of
    # each subset are still sums over the cases it picked
    assert chunked.shape == whole.shape
    assert np.all(chunked >= 0) and np.all(chunked <= columns.sum(axis=0) + 1e-9)


def test_many_identical_prices_do_not_break_the_test() -> None:
    # 36 of 40 cases at one price, the candidate 99% cheaper on each: no spread to speak of.
    base = [0.002] * 36 + [0.004, 0.003, 0.005, 0.006]
    (test,) = sign_flip_ratios(base, [[b / 100 for b in base]], draws=10_000, seed=0)
    assert test.p < 0.001
    assert test.low == pytest.approx(0.01) and test.high == pytest.approx(0.01)


def test_equal_costs_on_every_case_give_no_saving() -> None:
    (test,) = sign_flip_ratios([0.5] * 30, [[0.5] * 30], draws=5000, seed=0)
    assert test.p == 1.0 and test.low == 1.0 and test.high == 1.0


def test_too_few_cases_leave_the_saving_unbounded() -> None:
    # With 5 cases even a saving on every case has p = 1/32 > 0.025: no bound is possible.
    (test,) = sign_flip_ratios([1.0] * 5, [[0.1] * 5], draws=10_000, seed=0)
    assert test.high is None and test.p == 1 / 32
    (test,) = sign_flip_ratios([1.0] * 6, [[0.1] * 6], draws=10_000, seed=0)
    assert test.high == pytest.approx(0.1)


def test_no_baseline_spend_has_no_ratio() -> None:
    (test,) = sign_flip_ratios([0.0] * 12, [[0.1] * 12], draws=5000, seed=0)
    assert test.estimate is None and test.low is None and test.high is None


# --- Sample-size advice ---------------------------------------------------------------------------


def test_cases_needed_without_disagreement_is_where_identical_verdicts_start_to_pass() -> None:
    assert quality_cases_needed(0.0, 0.05) == 73
    assert quality_cases_needed(0.0, 0.10) == 35
    assert tango_interval(0, 0, 34)[0] < -0.10 < tango_interval(0, 0, 35)[0]
    assert quality_cases_needed(0.1, 0.0) is None
    assert quality_cases_needed(0.1, 0.05, difference=-0.05) is None


@pytest.mark.parametrize("discordance", [0.04, 0.1, 0.2])
def test_quality_cases_needed_gives_about_80_percent_power(discordance: float) -> None:
    n = quality_cases_needed(discordance, 0.05)
    rng = np.random.default_rng(1)
    draws = rng.multinomial(n, [discordance / 2, discordance / 2, 1 - discordance], size=2000)
    power = np.mean([tango_interval(int(g), int(lost), n)[0] > -0.05 for g, lost, _ in draws])
    assert 0.75 <= power <= 0.88


def test_savings_cases_needed_gives_about_80_percent_power() -> None:
    rng = np.random.default_rng(2)

    def differences(n: int) -> np.ndarray:  # a 5% saving buried in noisy costs
        size = rng.lognormal(0.0, 0.5, n)
        return size * rng.lognormal(0.0, 0.3, n) - 0.95 * size * rng.lognormal(0.0, 0.3, n)

    pilot = differences(20_000)
    n = savings_cases_needed(pilot)
    assert n is not None and n > 50
    rejected = 0
    for seed in range(300):
        d = differences(n)
        base = np.full(n, 10.0)
        (test,) = sign_flip_ratios(base, [base - d], draws=2000, seed=seed)
        rejected += test.p <= 0.025
    assert 0.72 <= rejected / 300 <= 0.88
    assert savings_cases_needed(np.array([-1.0, 0.5])) is None
    assert savings_cases_needed(np.array([0.3] * 4)) == 6


def evidence(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "sampled_cases": 30,
        "savings_pct": 60.0,
        "savings_ci_low_pct": 40.0,
        "savings_ci_high_pct": 75.0,
        "baseline_pass_rate": 1.0,
        "candidate_pass_rate": 1.0,
        "pass_rate_diff_ci_low": 0.0,
    }
    base.update(overrides)
    return base


def test_rule_proposes_when_every_check_passes() -> None:
    decision = decide(**evidence())
    assert decision.propose
    assert decision.reasons == ()
    names = ("savings", "nonInferior", "minCases", "noFailures", "costsKnown")
    assert decision.checks == dict.fromkeys(names, True)


@pytest.mark.parametrize(
    ("overrides", "check", "fragment"),
    [
        ({"savings_ci_low_pct": -2.5}, "savings", "interval [\u22122.5%, 75.0%] does not lie above 0%"),
        ({"savings_ci_low_pct": 0.0}, "savings", "does not lie above 0%"),
        ({"savings_ci_low_pct": None}, "savings", "interval [unbounded, 75.0%] does not lie above 0%"),
        ({"pass_rate_diff_ci_low": -0.05}, "nonInferior", "(\u22120.05) is not above \u22120.05"),
        ({"sampled_cases": 9}, "minCases", "9 cases completed; at least 10 are required"),
        ({"failed_cases": 1}, "noFailures", "1 case failed"),
        ({"unknown_cost_cases": 2}, "costsKnown", "the cost of 2 cases is unknown"),
    ],
)
def test_each_failed_check_blocks_and_explains(overrides: dict, check: str, fragment: str) -> None:
    decision = decide(**evidence(**overrides))
    assert not decision.propose
    assert [name for name, ok in decision.checks.items() if not ok] == [check]
    assert len(decision.reasons) == 1 and fragment in decision.reasons[0]


def test_quality_reason_reads_as_a_sentence() -> None:
    decision = decide(**evidence(candidate_pass_rate=2 / 3, pass_rate_diff_ci_low=-0.52))
    assert decision.reasons == (
        "quality: candidate pass rate 0.67 vs baseline 1.00; the lower bound of the difference (\u22120.52)"
        " is not above \u22120.05 (non-inferiority margin)",
    )


def test_margin_and_minimum_are_parameters() -> None:
    assert decide(**evidence(pass_rate_diff_ci_low=-0.08), quality_margin=0.1).propose
    assert decide(**evidence(sampled_cases=5), min_cases=5).propose
    with pytest.raises(ValueError):
        decide(**evidence(), quality_margin=-0.1)
    with pytest.raises(ValueError):
        decide(**evidence(), min_cases=0)


# --- summarize ----------------------------------------------------------------------------------


def plain(value: object) -> bool:
    """Only JSON's own types, so the dict serialises and compares without numpy scalars."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


@pytest.fixture
def measured() -> list[Sample]:
    """30 cases: a candidate at ~15% of the price that fails two cases the baseline passes."""
    rng = np.random.default_rng(42)
    baseline, candidate = skewed_costs(rng, 30)
    samples = [case(float(b), float(c) * 0.15) for b, c in zip(baseline, candidate)]
    samples[3] = case(samples[3].baseline_cost, samples[3].candidate_cost, candidate_pass=False)
    samples[17] = case(samples[17].baseline_cost, samples[17].candidate_cost, candidate_pass=False)
    return samples


def test_summary_on_a_hand_checked_example() -> None:
    costs = [(1.0, 0.1), (1.2, 0.1), (0.8, 0.1), (1.1, 0.2), (0.9, 0.1), (1.0, 0.15), (1.3, 0.1), (0.7, 0.05)]
    samples = [case(b, c) for b, c in costs]
    samples += [case(2.0, 0.2, candidate_pass=False), case(1.0, 0.3, baseline_pass=False)]
    summary = summarize(samples, seed=5, resamples=2000)
    assert summary["sampledCalls"] == 10
    assert summary["atBarCheapFraction"] == 0.9
    assert summary["baselinePassRate"] == 0.9 and summary["candidatePassRate"] == 0.9
    assert summary["baselinePassRateCi"] == pytest.approx(list(wilson_interval(9, 10)))
    assert summary["passRateDiff"] == 0.0
    assert [summary["passRateDiffCiLow"], summary["passRateDiffCiHigh"]] == pytest.approx(list(tango_interval(1, 1, 10)))
    assert summary["discordant"] == {"baselineOnly": 1, "candidateOnly": 1}
    assert summary["mcnemarP"] == 1.0
    assert summary["baselineCostUsd"] == pytest.approx(11.0)
    assert summary["candidateCostUsd"] == pytest.approx(1.4)
    assert summary["pinnedSavingsPct"] == pytest.approx((1 - 1.4 / 11.0) * 100)
    # effective: the candidate's cost except on the case it failed, where the baseline's 2.0 counts
    assert summary["projectedSavingsPct"] == pytest.approx((1 - 3.2 / 11.0) * 100)
    assert summary["ciLowPct"] <= summary["projectedSavingsPct"] <= summary["ciHighPct"]
    assert summary["pinnedCiLowPct"] <= summary["pinnedSavingsPct"] <= summary["pinnedCiHighPct"]
    # every case is cheaper on the candidate: the exact test over all 1,023 sign patterns
    assert summary["savingsP"] == 2.0**-10
    assert summary["bootstrap"]["resamples"] == 2000 and summary["bootstrap"]["seed"] == 5
    assert summary["bootstrap"]["method"] == "sign-flip" and summary["bootstrap"]["exact"] is True
    # One loss and one win in ten cases: the difference's interval is far wider than the margin.
    assert summary["decision"]["checks"] == {"savings": True, "nonInferior": False, "minCases": True,
                                             "noFailures": True, "costsKnown": True}
    assert summary["decision"]["propose"] is False
    assert summary["decision"]["casesNeeded"] == quality_cases_needed(0.2, 0.05)
    assert summary["decision"]["advice"].startswith("inconclusive: with the disagreement seen here (2 of 10 cases)")


def test_summary_is_plain_json(measured: list[Sample]) -> None:
    summary = summarize(measured, seed=0, resamples=500, failed_cases=1)
    assert plain(summary)
    json.dumps(summary, allow_nan=False)
    assert set(summary) == {
        "sampledCalls", "atBarCheapFraction", "projectedSavingsPct", "ciLowPct", "ciHighPct",
        "pinnedSavingsPct", "pinnedCiLowPct", "pinnedCiHighPct", "savingsP", "baselinePassRate",
        "baselinePassRateCi", "candidatePassRate", "candidatePassRateCi", "passRateDiff", "passRateDiffCiLow",
        "passRateDiffCiHigh", "mcnemarP", "discordant", "baselineCostUsd", "candidateCostUsd", "bootstrap",
        "decision",
    }  # fmt: skip
    assert set(summary["decision"]) == {"propose", "reasons", "checks", "casesNeeded", "advice"}
    assert summary["decision"]["checks"]["noFailures"] is False


def test_summary_without_cases_has_no_figures_and_proposes_nothing() -> None:
    summary = summarize([], seed=0)
    assert plain(summary)
    for key in ("atBarCheapFraction", "projectedSavingsPct", "ciLowPct", "ciHighPct", "pinnedSavingsPct",
                "pinnedCiLowPct", "pinnedCiHighPct", "savingsP", "baselinePassRate", "baselinePassRateCi",
                "candidatePassRate", "candidatePassRateCi", "passRateDiff", "passRateDiffCiLow",
                "passRateDiffCiHigh", "mcnemarP"):  # fmt: skip
        assert summary[key] is None, key
    assert summary["baselineCostUsd"] == 0.0 and summary["candidateCostUsd"] == 0.0
    assert summary["decision"]["propose"] is False
    assert summary["decision"]["checks"]["nonInferior"] is False
    assert summary["decision"]["casesNeeded"] is None


def test_a_single_passing_case_never_proposes_even_when_the_minimum_allows_it() -> None:
    # The reference proposes here: with one case every resample is identical, so ciLow = estimate > 0.
    summary = summarize([case(1.0, 0.1)], seed=0, resamples=500, min_cases=1)
    assert summary["pinnedCiLowPct"] is None  # one case cannot bound the saving
    assert summary["savingsP"] == 0.5  # the exact test: the data and their one sign flip
    assert summary["decision"]["propose"] is False
    assert summary["decision"]["checks"]["savings"] is False
    assert "interval [unbounded, unbounded] does not lie above 0%" in summary["decision"]["reasons"][0]


def flat(n: int, candidate_pass: list[bool] | None = None) -> list[Sample]:
    """A fixed-size answer at one price on every case; the candidate at 1% of the price."""
    passes = candidate_pass or [True] * n
    return [case(0.002, 0.00002, True, p) for p in passes]


def test_flat_prices_with_identical_verdicts_need_73_cases() -> None:
    small = summarize(flat(20), seed=0)
    assert small["pinnedCiLowPct"] == pytest.approx(99.0) and small["decision"]["checks"]["savings"]
    assert not small["decision"]["propose"]
    assert small["decision"]["casesNeeded"] == 73
    assert "even identical verdicts on every case show non-inferiority at margin 0.05 only from 73 cases on" in (
        small["decision"]["advice"])
    assert summarize(flat(72), seed=0)["decision"]["propose"] is False
    assert summarize(flat(73), seed=0)["decision"]["propose"] is True
    assert summarize(flat(120), seed=0)["decision"]["casesNeeded"] is None


def test_losing_one_of_ten_asks_for_a_number_of_cases() -> None:
    summary = summarize(flat(10, [True] * 9 + [False]), seed=0)
    assert not summary["decision"]["propose"]
    assert summary["decision"]["casesNeeded"] == quality_cases_needed(0.1, 0.05) == 350


def test_more_cases_would_not_help_a_clearly_worse_or_dearer_candidate() -> None:
    worse = summarize(flat(100, [i % 4 != 0 for i in range(100)]), seed=0)  # loses 25 of 100
    assert worse["passRateDiffCiHigh"] < -0.05 and worse["decision"]["casesNeeded"] is None
    dearer = summarize([case(0.001, 0.002) for _ in range(100)], seed=0)
    assert not dearer["decision"]["checks"]["savings"] and dearer["decision"]["casesNeeded"] is None
    only_failures = summarize(flat(100), seed=0, failed_cases=2)
    assert not only_failures["decision"]["propose"] and only_failures["decision"]["casesNeeded"] is None


def test_too_few_cases_alone_ask_for_the_minimum() -> None:
    summary = summarize(flat(80), seed=0, min_cases=100)
    assert summary["decision"]["casesNeeded"] == 100
    assert summary["decision"]["advice"] == "inconclusive: at least 100 cases are required before a proposal"


# --- Properties ---------------------------------------------------------------------------------

# Costs in USD: free (0) or between a nano-dollar and a thousand dollars per call. Smaller positive
# amounts are not prices, and ratios of them overflow any float.
costs = st.one_of(st.just(0.0), st.floats(min_value=1e-9, max_value=1e3))
unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
samples_strategy = st.lists(st.builds(Sample, costs, costs, unit, unit, unit), min_size=1, max_size=25)


@settings(max_examples=150, deadline=None)
@given(samples_strategy, st.integers(min_value=0, max_value=2**32))
def test_property_bounds_are_ordered_and_the_decision_is_the_interval(samples: list[Sample], seed: int) -> None:
    summary = summarize(samples, seed=seed, resamples=300)
    assert summary["pinnedSavingsPct"] <= 100.0 and summary["projectedSavingsPct"] <= 100.0
    for low, high in (("pinnedCiLowPct", "pinnedCiHighPct"), ("ciLowPct", "ciHighPct")):
        if summary[low] is not None and summary[high] is not None:
            assert summary[low] <= summary[high] <= 100.0
    assert -1.0 <= summary["passRateDiffCiLow"] <= summary["passRateDiff"] <= summary["passRateDiffCiHigh"] <= 1.0
    # The savings check is exactly "the interval lies above 0", and that is exactly p <= alpha/2.
    low = summary["pinnedCiLowPct"]
    assert summary["decision"]["checks"]["savings"] == (low is not None and low > 0) == (summary["savingsP"] <= 0.025)
    plain(summary)


@settings(max_examples=50, deadline=None)
@given(samples_strategy, st.integers(min_value=0, max_value=2**32))
def test_property_seeded_runs_reproduce(samples: list[Sample], seed: int) -> None:
    first = summarize(samples, seed=seed, resamples=200)
    assert summarize(samples, seed=seed, resamples=200) == first


# --- Simulations: acceptance criteria of the proposal rule ----------------------------------------
# Small versions of benchmarks/bench_operating.py (whose table is in docs/statistics.md), with
# 2,000 sign patterns instead of the product's 10,000: the test is valid for any number of draws.

SIM_RESAMPLES = 2000


def test_pinned_savings_interval_covers_the_true_saving() -> None:
    rng = np.random.default_rng(2024)
    price_ratio = 0.4  # the candidate costs 40% of the baseline per case, in expectation
    true_saving = (1 - price_ratio) * 100
    datasets, covered = 300, 0
    for rep in range(datasets):
        baseline, candidate = skewed_costs(rng, 30)
        samples = [case(float(b), float(c) * price_ratio) for b, c in zip(baseline, candidate)]
        summary = summarize(samples, seed=rep, resamples=SIM_RESAMPLES)
        covered += summary["pinnedCiLowPct"] <= true_saving <= summary["pinnedCiHighPct"]
    assert 0.92 <= covered / datasets <= 0.99


def test_a_candidate_that_passes_far_less_often_is_not_proposed() -> None:
    rng = np.random.default_rng(7)
    repetitions, proposed = 200, 0
    for rep in range(repetitions):
        baseline, candidate = skewed_costs(rng, 30)
        baseline_pass = rng.random(30) < 0.95
        candidate_pass = rng.random(30) < 0.75
        samples = [
            case(float(b), float(c) * 0.1, bool(bp), bool(cp))
            for b, c, bp, cp in zip(baseline, candidate, baseline_pass, candidate_pass)
        ]
        proposed += summarize(samples, seed=rep, resamples=SIM_RESAMPLES)["decision"]["propose"]
    assert proposed / repetitions <= 0.05


def test_a_perfect_baseline_against_a_90_percent_candidate_is_not_proposed_at_20_cases() -> None:
    rng = np.random.default_rng(8)
    repetitions, proposed = 300, 0
    for rep in range(repetitions):
        passes = rng.random(20) < 0.9
        samples = [case(1.0, 0.1, True, bool(p)) for p in passes]
        proposed += summarize(samples, seed=rep, resamples=SIM_RESAMPLES)["decision"]["propose"]
    assert proposed == 0  # 20 cases can never show non-inferiority at 0.05 (73 are needed)


def test_equal_prices_are_almost_never_proposed() -> None:
    # The sign-flip test's level is exact: at most 2.5% of runs propose, heavy tails or not.
    rng = np.random.default_rng(11)
    repetitions, proposed = 1000, 0
    for rep in range(repetitions):
        baseline, candidate = skewed_costs(rng, 10, sigma=1.5)
        samples = [case(float(b), float(c)) for b, c in zip(baseline, candidate)]
        proposed += summarize(samples, seed=rep, resamples=SIM_RESAMPLES, min_cases=1,
                              quality_margin=0.5)["decision"]["checks"]["savings"]
    assert proposed / repetitions <= 0.025 + 0.01  # nominal level plus two Monte Carlo standard errors


def test_a_much_cheaper_equally_good_candidate_is_proposed_at_200_cases() -> None:
    rng = np.random.default_rng(3)
    datasets, proposed = 40, 0
    for rep in range(datasets):
        baseline, candidate = skewed_costs(rng, 200)
        hard = rng.random(200) < 0.1  # both models fail the same hard cases
        samples = [case(float(b), float(c) / 10, not h, not h) for b, c, h in zip(baseline, candidate, hard)]
        summary = summarize(samples, seed=rep, resamples=SIM_RESAMPLES)
        proposed += summary["decision"]["propose"]
        assert summary["pinnedSavingsPct"] > 80.0
    assert proposed == datasets


def test_reasons_do_not_claim_no_case_completed_when_only_costs_are_unknown():
    decision = decide(sampled_cases=0, savings_pct=None, savings_ci_low_pct=None, savings_ci_high_pct=None,
                      baseline_pass_rate=None, candidate_pass_rate=None, pass_rate_diff_ci_low=None,
                      min_cases=10, unknown_cost_cases=12)
    text = " ".join(decision.reasons)
    assert "no case completed" not in text
    assert "no completed case has a known cost" in text
    assert "with a known cost" in text
    assert not decision.propose and not decision.checks["costsKnown"]
