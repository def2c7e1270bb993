"""The savings and quality estimator of a measurement: paired statistics over eval cases.

A measurement replays each eval case through the baseline and the candidate model and has a judge
grade both answers. Each completed case becomes one :class:`Sample`; everything here is a pure
function of those samples (no I/O), so the numbers a person sees can be recomputed exactly from the
stored cases and the recorded seed.

Two savings figures are reported because they answer different questions:

* ``projected_savings_pct`` is the reference implementation's figure. It charges the candidate's
  cost only for the cases the candidate passed and the baseline's cost for the rest, i.e. it assumes
  a router that knows in advance which cases the candidate will get right. No router knows that, so
  it overstates what approving a switch delivers. It is kept for comparison with the reference.
* ``pinned_savings_pct`` is what approving the proposal actually does: it pins the skill, and every
  call goes to the candidate, pass or fail. The proposal rule (:func:`decide`) uses this figure.

The proposal rule rests on two tests whose error rates hold at the tens of cases an eval set has
(docs/statistics.md has the derivations and the simulated operating characteristics):

* quality: Tango's score interval for the difference of paired pass rates
  (:func:`tango_interval`). It stays valid when the two models never disagree, where a bootstrap
  interval collapses to a point.
* savings: a paired sign-flip randomization test on the per-case cost differences, inverted into
  an interval for the cost ratio (:func:`sign_flip_ratio`). Its validity rests on neither the
  shape of the costs nor their having spread, so heavy tails and many identical prices break
  neither the interval nor the decision, and the decision is exactly "the interval lies above 0".

This is the module that needs numpy; import it lazily, where a measurement is summarised, so
commands that do not measure never pay for numpy's import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

#: z for a two-sided 95% interval, the default confidence of every interval reported.
Z_95 = 1.959964

#: Power the sample-size advice (``casesNeeded``) plans for.
POWER = 0.8

#: Upper bound on the random bytes (draws x groups of 8 cases) drawn at once, so memory stays
#: bounded (4 MiB) whatever the number of cases or draws.
_CHUNK_CELLS = 1 << 22

_NORMAL = NormalDist()


@dataclass(frozen=True)
class Sample:
    """One completed eval case: what each model cost and how the judge scored it.

    A model passes the case when its score reaches the case's quality bar. Costs are in USD and
    must be known, finite and non-negative: a case whose cost is unknown is not a sample, it is
    counted separately and blocks a proposal (see :func:`decide`).
    """

    baseline_cost: float
    candidate_cost: float
    baseline_score: float
    candidate_score: float
    quality_bar: float

    def __post_init__(self) -> None:
        for name in ("baseline_cost", "candidate_cost"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite, non-negative cost in USD, got {value!r}")
        for name in ("baseline_score", "candidate_score", "quality_bar"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)!r}")

    @property
    def baseline_passed(self) -> bool:
        return self.baseline_score >= self.quality_bar

    @property
    def candidate_passed(self) -> bool:
        return self.candidate_score >= self.quality_bar

    @property
    def effective_cost(self) -> float:
        """The reference's per-case cost: the candidate's if it passed, else the baseline's."""
        return self.candidate_cost if self.candidate_passed else self.baseline_cost


def _savings(spent: float, baseline: float) -> float:
    """Percent saved relative to the baseline spend; 0 when there is no baseline spend to save on."""
    if baseline <= 0:
        return 0.0
    return (1.0 - spent / baseline) * 100.0


def projected_savings_pct(samples: Sequence[Sample]) -> float:
    """The reference's savings estimate, which assumes oracle routing (see the module docstring)."""
    return _savings(math.fsum(s.effective_cost for s in samples), math.fsum(s.baseline_cost for s in samples))


def pinned_savings_pct(samples: Sequence[Sample]) -> float:
    """What pinning the skill to the candidate saves: ``1 - Σcandidate / Σbaseline``, in percent."""
    return _savings(math.fsum(s.candidate_cost for s in samples), math.fsum(s.baseline_cost for s in samples))


def wilson_interval(k: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a pass rate of ``k`` out of ``n``.

    Chosen over the textbook ``p ± z·se`` interval because that one collapses to a point at 0 or n
    passes, exactly where small eval sets tend to land. With no cases nothing is known: (0, 1).
    """
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = (z / denom) * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n))
    # At k == 0 or k == n the bound is exactly 0 or 1; set it so rounding cannot push it out.
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return (low, high)


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar test: is one model more often right where the two disagree?

    ``b`` counts cases only the baseline passed, ``c`` cases only the candidate passed. Under the
    null hypothesis each discordant case is a fair coin, so the p-value is twice the smaller binomial
    tail of ``Binomial(b + c, 1/2)``, capped at 1. Computed with exact integers (Python's int/int
    division rounds correctly), so it is exact for any count.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got b={b}, c={c}")
    m = b + c
    if m == 0:
        return 1.0
    k = min(b, c)
    term = 1  # C(m, 0)
    tail = 0
    for i in range(k + 1):
        tail += term
        term = term * (m - i) // (i + 1)
    return min(1.0, 2 * tail / (1 << m))


# --- Quality: Tango's score interval --------------------------------------------------------------


def _tango_score(gained: float, lost: float, n: float, delta: float) -> float:
    """Tango's score statistic for H0: (candidate − baseline) pass rate = ``delta``.

    ``gained`` counts cases only the candidate passed, ``lost`` cases only the baseline passed.
    The variance is taken at the restricted maximum-likelihood estimate of the probability of a
    lost case under H0 (the positive root of ``2n·x² + B·x + C = 0``), which is what keeps the
    statistic finite and informative when no case was gained or lost. Decreasing in ``delta``.
    """
    b = -gained - lost + (2.0 * n - gained + lost) * delta
    c = -lost * delta * (1.0 - delta)
    a = 2.0 * n
    x = (-b + math.sqrt(max(b * b - 4.0 * a * c, 0.0))) / (2.0 * a)
    variance = n * (2.0 * x + delta * (1.0 - delta))
    numerator = gained - lost - n * delta
    if variance <= 1e-15 * n:
        return 0.0 if abs(numerator) <= 1e-12 else math.copysign(math.inf, numerator)
    return numerator / math.sqrt(variance)


def _tango_root(gained: float, lost: float, n: float, target: float, lo: float, hi: float) -> float:
    """The ``delta`` in [lo, hi] where the score statistic crosses ``target`` (by bisection)."""
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if _tango_score(gained, lost, n, mid) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2.0


def tango_interval(gained: int, lost: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Tango's (1998) score interval for the difference of paired pass rates, candidate − baseline.

    The interval is every ``delta`` the score test does not reject: ``|score(delta)| <= z``. With
    no disagreement at all it is ``±z²/(n + z²)``, not the point 0, so "never worse on these
    cases" does not pass for "not worse" until there are enough cases. ``gained``: cases only
    the candidate passed; ``lost``: cases only the baseline passed.
    """
    if n < 1 or gained < 0 or lost < 0 or gained + lost > n:
        raise ValueError(f"need 0 <= gained + lost <= n and n >= 1, got gained={gained}, lost={lost}, n={n}")
    estimate = (gained - lost) / n
    low = -1.0 if lost == n else _tango_root(gained, lost, n, z, -1.0, estimate)
    high = 1.0 if gained == n else _tango_root(gained, lost, n, -z, estimate, 1.0)
    return (max(-1.0, min(low, estimate)), min(1.0, max(high, estimate)))


# --- Savings: the sign-flip randomization test and its inversion ----------------------------------


@dataclass(frozen=True)
class RatioTest:
    """A sign-flip test of "the candidate costs less", inverted into an interval for the cost ratio.

    ``low``/``high`` bound ``Σspent / Σbaseline``; None when the data cannot bound it (too few
    cases for any subset to be rare enough, or no baseline spend). ``p`` is the one-sided p-value
    of "spent is not below baseline" (ratio >= 1). ``draws`` is how many random sign patterns were
    used, or the number of all of them when ``exact``.
    """

    estimate: float | None
    low: float | None
    high: float | None
    p: float
    draws: int
    exact: bool


def _subset_sums(columns: np.ndarray, draws: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Sums of each column over subsets of the cases: every non-empty subset, or ``draws`` random ones.

    A sign flip negates the cases in a subset; each case is in a random subset with probability
    1/2. When there are at most ``draws`` non-empty subsets they are all enumerated, so the test is
    exact. Otherwise random subsets come as random bytes, one per 8 cases, and each byte picks a
    precomputed sum of its 8 cases from a 256-entry table: ``n/8`` lookups per subset instead of
    ``n`` multiplications.
    """
    n, k = columns.shape
    if n < 63 and (1 << n) - 1 <= draws:
        masks = np.arange(1, 1 << n, dtype=np.int64)
        bits = ((masks[:, None] >> np.arange(n, dtype=np.int64)) & 1).astype(np.float64)
        return bits @ columns, True
    groups = -(-n // 8)
    padded = np.zeros((groups * 8, k), dtype=np.float64)
    padded[:n] = columns
    byte_bits = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(np.float64)  # 256 x 8
    tables = np.ascontiguousarray(np.einsum("vb,gbk->kgv", byte_bits, padded.reshape(groups, 8, k)))
    chunk = max(1, _CHUNK_CELLS // groups)
    sums = np.zeros((k, draws), dtype=np.float64)
    for start in range(0, draws, chunk):
        rows = min(chunk, draws - start)
        picks = rng.integers(0, 256, size=(groups, rows), dtype=np.uint8)
        for j in range(k):
            total = sums[j, start : start + rows]
            for g in range(groups):
                total += tables[j, g].take(picks[g])
    return sums.T, False
    return sums, False


def _kth(values: np.ndarray, k: int) -> float:
    """The k-th smallest value (1-based) of ``values``."""
    return float(np.partition(values, k - 1)[k - 1])


def _invert(spent_sums: np.ndarray, base_sums: np.ndarray, alpha: float) -> tuple[float | None, float | None, float]:
    """Ratio bounds and the p-value at ratio 1 from the subset sums of the spent and baseline costs.

    Under H0 "the ratio is r", ``e_i = r·baseline_i − spent_i`` is symmetric about 0, so flipping
    the signs of a random subset F is as likely as the data. The one-sided p-value of
    "the ratio is below r" counts subsets with ``Σ_F e_i <= 0``, i.e. ``r <= R_F = Σ_F spent / Σ_F
    baseline``: every subset contributes one threshold, and the interval's ends are order
    statistics of the subset ratios. The decision "ratio < 1" is exactly "the upper end < 1".
    """
    draws = spent_sums.size
    total = draws + 1  # the data themselves (no flip) count once
    positive = base_sums > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(positive, spent_sums / np.where(positive, base_sums, 1.0), np.inf)
    # Upper end: r is rejected when (1 + #{R_F >= r}) / total <= alpha/2, so the r kept are those
    # with #{R_F >= r} >= need: r <= the need-th largest R_F. Fewer patterns than that: unbounded.
    need = math.floor(alpha / 2 * total - 1) + 1
    if not 1 <= need <= draws:
        return None, None, (1 + int(np.count_nonzero(ratios >= 1.0))) / total
    high: float | None = -_kth(-ratios, need)
    if not math.isfinite(high):
        high = None
    # Lower end, symmetrically: r >= the need-th smallest R_F. A subset without baseline spend
    # keeps every r when it has no spend either (-inf), and none when it has some (+inf).
    low: float | None = _kth(np.where(positive, ratios, np.where(spent_sums > 0, np.inf, -np.inf)), need)
    if low == -math.inf:
        low = 0.0
    elif not math.isfinite(low):
        low = None
    else:
        low = max(0.0, low)
    p = (1 + int(np.count_nonzero(ratios >= 1.0))) / total
    return low, high, p


def sign_flip_ratios(
    baseline: Sequence[float],
    spent: Sequence[Sequence[float]],
    *,
    draws: int,
    seed: int,
    alpha: float = 0.05,
) -> list[RatioTest]:
    """Sign-flip tests of ``Σspent / Σbaseline`` for each cost column in ``spent``, on the same subsets.

    Exact (every sign pattern) when there are at most ``draws`` patterns, else Monte Carlo over
    ``draws`` seeded random patterns with the data counted once, which keeps the p-value valid.
    """
    base = np.asarray(baseline, dtype=np.float64)
    columns = np.column_stack([base] + [np.asarray(s, dtype=np.float64) for s in spent])
    sums, exact = _subset_sums(columns, draws, np.random.default_rng(seed))
    total_base = float(base.sum())
    out = []
    for j in range(1, columns.shape[1]):
        estimate = float(columns[:, j].sum()) / total_base if total_base > 0 else None
        low, high, p = _invert(sums[:, j], sums[:, 0], alpha)
        if estimate is None:
            low = high = None
        out.append(RatioTest(estimate, low, high, p, sums.shape[0], exact))
    return out


def _pct(ratio: float | None) -> float | None:
    return None if ratio is None else (1.0 - ratio) * 100.0


# --- Sample-size advice ---------------------------------------------------------------------------


def _restricted_lost_rate(gained: float, lost: float, delta: float) -> float:
    """Tango's restricted estimate of the lost-case probability (counts may be expected rates)."""
    b = -gained - lost + (2.0 - gained + lost) * delta
    c = -lost * delta * (1.0 - delta)
    return (-b + math.sqrt(max(b * b - 8.0 * c, 0.0))) / 4.0


def quality_cases_needed(
    discordance: float, margin: float, alpha: float = 0.05, power: float = POWER, difference: float = 0.0
) -> int | None:
    """Cases for Tango's test to show non-inferiority at ``margin`` with ``power``, if the models
    disagree on a share ``discordance`` of cases and the true difference is ``difference``
    (0: equally good).

    ``n = (z_a·√V0 + z_b·√V1)² / (difference + margin)²`` (Nam 1997), with ``V1 = discordance −
    difference²``, the variance of a per-case difference, and ``V0`` that variance under the null
    at ``−margin`` (Tango's restricted estimate). At ``discordance`` 0 this is ``z²(1 −
    margin)/margin``, exactly the fewest cases at which identical verdicts on every case pass (73
    at margin 0.05), which is also the floor. None when ``difference`` is not above ``−margin``:
    then no number of cases would show non-inferiority.
    """
    if difference + margin <= 0.0 or margin <= 0.0:
        return None
    z_a = _NORMAL.inv_cdf(1 - alpha / 2)
    z_b = _NORMAL.inv_cdf(power)
    gained, lost = (discordance + difference) / 2.0, (discordance - difference) / 2.0
    delta0 = -margin
    v0 = 2.0 * _restricted_lost_rate(gained, lost, delta0) + delta0 * (1.0 - delta0)
    v1 = max(discordance - difference * difference, 0.0)
    n = (z_a * math.sqrt(max(v0, 0.0)) + z_b * math.sqrt(v1)) ** 2 / (difference + margin) ** 2
    floor = math.floor(z_a * z_a * (1.0 - margin) / margin) + 1
    return max(math.ceil(n - 1e-9), floor)


def savings_cases_needed(differences: np.ndarray, alpha: float = 0.05, power: float = POWER) -> int | None:
    """Cases for the sign-flip test to show a saving with ``power``, if the per-case cost
    differences ``baseline − candidate`` keep their observed mean ``μ > 0`` and spread ``σ``.

    The test compares ``Σd`` with ``z·√(Σd²)``, so ``√n = (z_a·√(σ² + μ²) + z_b·σ) / μ``; and no
    fewer than the 6 cases at which a sign-flip test can reach one-sided 2.5% at all. None when
    the observed saving is not positive: more of the same cases would not show one.
    """
    n_obs = differences.size
    mean = float(differences.mean()) if n_obs else 0.0
    if n_obs == 0 or mean <= 0.0:
        return None
    sd = float(differences.std(ddof=1)) if n_obs > 1 else 0.0
    z_a = _NORMAL.inv_cdf(1 - alpha / 2)
    z_b = _NORMAL.inv_cdf(power)
    root = (z_a * math.sqrt(sd * sd + mean * mean) + z_b * sd) / mean
    return max(math.ceil(root * root - 1e-9), math.ceil(math.log2(2 / alpha)))


# --- The proposal rule ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """Whether to emit a proposal, each check's outcome, and a sentence for every failed check.

    ``cases_needed`` is how many cases would likely settle an inconclusive measurement (None
    when more cases would not help, or a proposal was made), and ``advice`` says it in a sentence.
    """

    propose: bool
    reasons: tuple[str, ...]
    checks: Mapping[str, bool]
    cases_needed: int | None = None
    advice: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"propose": self.propose, "reasons": list(self.reasons), "checks": dict(self.checks),
                "casesNeeded": self.cases_needed, "advice": self.advice}


def _cases(count: int) -> str:
    return f"{count} case" if count == 1 else f"{count} cases"


def _signed(value: float, digits: int) -> str:
    """A number with a typographic minus, as the sentences shown to people use."""
    text = f"{value:.{digits}f}"
    return "\u2212" + text[1:] if text.startswith("-") else text


def _bound(value: float | None, digits: int, unit: str = "") -> str:
    return "unbounded" if value is None else f"{_signed(value, digits)}{unit}"


def decide(
    *,
    sampled_cases: int,
    savings_pct: float | None,
    savings_ci_low_pct: float | None,
    savings_ci_high_pct: float | None,
    baseline_pass_rate: float | None,
    candidate_pass_rate: float | None,
    pass_rate_diff_ci_low: float | None,
    quality_margin: float = 0.05,
    min_cases: int = 10,
    failed_cases: int = 0,
    unknown_cost_cases: int = 0,
    confidence_pct: float = 95.0,
) -> Decision:
    """The proposal rule: propose a switch only when the evidence supports every part of it.

    * ``savings`` — the interval of the saving of the switch (the pinned saving, passed as
      ``savings_*``) lies above zero: the sign-flip test shows the candidate is cheaper at
      one-sided level ``(1 − confidence)/2``;
    * ``nonInferior`` — there are cases, and the lower bound of Tango's interval of (candidate −
      baseline) pass rate is above −margin (a one-sided non-inferiority test at the same level);
    * ``minCases`` — at least ``min_cases`` cases completed;
    * ``noFailures`` — no case failed;
    * ``costsKnown`` — every case's cost is known.

    Each failed check adds one sentence to ``reasons``, with the numbers behind it.
    """
    if not 0.0 <= quality_margin < 1.0:
        raise ValueError(f"quality_margin must be in [0, 1), got {quality_margin}")
    if min_cases < 1:
        raise ValueError(f"min_cases must be at least 1, got {min_cases}")
    if failed_cases < 0 or unknown_cost_cases < 0 or sampled_cases < 0:
        raise ValueError("case counts must be non-negative")

    checks = {
        "savings": sampled_cases > 0 and savings_ci_low_pct is not None and savings_ci_low_pct > 0.0,
        "nonInferior": sampled_cases > 0 and pass_rate_diff_ci_low is not None
        and pass_rate_diff_ci_low > -quality_margin,
        "minCases": sampled_cases >= min_cases,
        "noFailures": failed_cases == 0,
        "costsKnown": unknown_cost_cases == 0,
    }
    level = f"{confidence_pct:g}%"
    reasons: list[str] = []
    # cases whose cost is unknown did complete; they just cannot enter the estimate
    none_usable = ("no completed case has a known cost" if unknown_cost_cases else "no case completed")
    if sampled_cases == 0:
        reasons.append(f"savings: {none_usable}, so there is no saving to estimate")
    elif not checks["savings"]:
        interval = f"[{_bound(savings_ci_low_pct, 1, '%')}, {_bound(savings_ci_high_pct, 1, '%')}]"
        estimate = "n/a" if savings_pct is None else f"{_signed(savings_pct, 1)}%"
        reasons.append(
            f"savings: pinning the candidate saves an estimated {estimate}, but the {level}"
            f" interval {interval} does not lie above 0%"
        )
    if sampled_cases == 0:
        reasons.append(f"quality: {none_usable}, so the pass rates cannot be compared")
    elif not checks["nonInferior"]:
        reasons.append(
            f"quality: candidate pass rate {candidate_pass_rate:.2f} vs baseline {baseline_pass_rate:.2f};"
            f" the lower bound of the difference ({_bound(pass_rate_diff_ci_low, 2)}) is not above"
            f" {_signed(-quality_margin, 2)} (non-inferiority margin)"
        )
    if not checks["minCases"]:
        usable = " with a known cost" if unknown_cost_cases else ""
        reasons.append(f"sample size: {_cases(sampled_cases)} completed{usable}; at least {min_cases} are required")
    if not checks["noFailures"]:
        reasons.append(f"failures: {_cases(failed_cases)} failed; resume the run to retry them before deciding")
    if not checks["costsKnown"]:
        reasons.append(
            f"costs: the cost of {_cases(unknown_cost_cases)} is unknown; the saving cannot be trusted"
            " until every cost is known"
        )
    return Decision(propose=all(checks.values()), reasons=tuple(reasons), checks=checks)


def _advice(
    decision: Decision,
    *,
    n: int,
    lost: int,
    gained: int,
    diff_high: float | None,
    savings_high_pct: float | None,
    savings_pct: float | None,
    differences: np.ndarray,
    quality_margin: float,
    min_cases: int,
    alpha: float,
) -> Decision:
    """``decision`` with ``cases_needed`` and ``advice`` when the evidence is inconclusive.

    Inconclusive means: no proposal, yet the candidate is neither clearly worse nor clearly not
    cheaper, and what blocks the proposal is the quality or savings test or the minimum case
    count, not failed cases or unknown costs, which more cases would not fix. Clearly worse: the
    upper end of the difference's interval is below −margin (inferior), or below 0 while the
    observed difference is already beyond −margin (significantly worse, by more than the margin
    as far as can be seen). Clearly not cheaper: no positive estimated saving, or a saving
    interval entirely below 0. The advice plans for a candidate as good as the baseline.
    """
    checks = decision.checks
    if decision.propose or n == 0:
        return decision
    blocking = {name for name, ok in checks.items() if not ok}
    if blocking & {"noFailures", "costsKnown"} and not blocking & {"savings", "nonInferior", "minCases"}:
        return decision
    diff = (gained - lost) / n
    clearly_worse = diff_high is not None and (diff_high < -quality_margin or (diff_high < 0 and diff <= -quality_margin))
    not_cheaper = savings_pct is None or savings_pct <= 0.0 or (savings_high_pct is not None and savings_high_pct < 0)
    if (not checks["nonInferior"] and clearly_worse) or (not checks["savings"] and not_cheaper):
        return decision
    needs = [min_cases]
    clauses = []
    if not checks["nonInferior"]:
        discordance = (lost + gained) / n
        quality = quality_cases_needed(discordance, quality_margin, alpha)
        if quality is not None and quality <= n:
            # Equal quality would have passed with this many cases, so the candidate did worse here;
            # plan with the difference seen (None when it is already beyond the margin).
            quality = quality_cases_needed(discordance, quality_margin, alpha, difference=diff)
        if quality is None:
            return decision
        needs.append(quality)
        if lost + gained:
            clauses.append(f"with the disagreement seen here ({lost + gained} of {n} cases) about {quality} cases"
                           f" would show non-inferiority at margin {quality_margin:g} with {POWER:.0%} power")
        else:
            clauses.append(f"no disagreement in {n} cases, but even identical verdicts on every case show"
                           f" non-inferiority at margin {quality_margin:g} only from {quality} cases on")
    if not checks["savings"]:
        savings = savings_cases_needed(differences, alpha)
        if savings is None:
            return decision
        needs.append(savings)
        clauses.append(f"with the cost differences seen here about {savings} cases would show a saving"
                       f" with {POWER:.0%} power")
    needed = max(max(needs), n + 1)
    if not clauses:
        advice = f"inconclusive: at least {min_cases} cases are required before a proposal"
    else:
        advice = "inconclusive: " + "; ".join(clauses)
        if needed != max(needs[1:]):
            advice += f" (measure {needed} cases in all)"
    return Decision(decision.propose, decision.reasons, decision.checks, needed, advice)


# --- The summary of a measurement -----------------------------------------------------------------


def summarize(
    samples: Sequence[Sample],
    *,
    seed: int,
    resamples: int = 10_000,
    alpha: float = 0.05,
    quality_margin: float = 0.05,
    min_cases: int = 10,
    failed_cases: int = 0,
    unknown_cost_cases: int = 0,
) -> dict[str, Any]:
    """Every figure of a measurement, in wire-style camelCase, plus the proposal decision.

    ``samples`` are the completed cases with known costs; cases that failed or whose cost is unknown
    are passed as counts, since they cannot be estimated from but must block a proposal. A figure
    that does not exist (any rate or interval without a case) is None. ``resamples`` is the
    number of random sign patterns of the savings test (all of them when there are fewer).
    """
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    n = len(samples)
    z = _NORMAL.inv_cdf(1 - alpha / 2)
    baseline_passes = sum(1 for s in samples if s.baseline_passed)
    candidate_passes = sum(1 for s in samples if s.candidate_passed)
    lost = sum(1 for s in samples if s.baseline_passed and not s.candidate_passed)
    gained = sum(1 for s in samples if s.candidate_passed and not s.baseline_passed)
    base = np.array([s.baseline_cost for s in samples], dtype=np.float64)
    cand = np.array([s.candidate_cost for s in samples], dtype=np.float64)
    if n:
        eff = np.array([s.effective_cost for s in samples], dtype=np.float64)
        projected, pinned = sign_flip_ratios(base, (eff, cand), draws=resamples, seed=seed, alpha=alpha)
        diff_low, diff_high = tango_interval(gained, lost, n, z)
    else:
        projected = pinned = RatioTest(None, None, None, 1.0, 0, True)
        diff_low = diff_high = None
    baseline_rate = baseline_passes / n if n else None
    candidate_rate = candidate_passes / n if n else None
    pinned_pct = pinned_savings_pct(samples) if n else None
    decision = decide(
        sampled_cases=n,
        savings_pct=pinned_pct,
        savings_ci_low_pct=_pct(pinned.high),
        savings_ci_high_pct=_pct(pinned.low),
        baseline_pass_rate=baseline_rate,
        candidate_pass_rate=candidate_rate,
        pass_rate_diff_ci_low=diff_low,
        quality_margin=quality_margin,
        min_cases=min_cases,
        failed_cases=failed_cases,
        unknown_cost_cases=unknown_cost_cases,
        confidence_pct=(1 - alpha) * 100,
    )
    decision = _advice(
        decision, n=n, lost=lost, gained=gained, diff_high=diff_high, savings_high_pct=_pct(pinned.low),
        savings_pct=pinned_pct, differences=base - cand, quality_margin=quality_margin, min_cases=min_cases,
        alpha=alpha,
    )
    return {
        "sampledCalls": n,
        "atBarCheapFraction": candidate_rate,
        "projectedSavingsPct": projected_savings_pct(samples) if n else None,
        "ciLowPct": _pct(projected.high),
        "ciHighPct": _pct(projected.low),
        "pinnedSavingsPct": pinned_pct,
        "pinnedCiLowPct": _pct(pinned.high),
        "pinnedCiHighPct": _pct(pinned.low),
        "savingsP": pinned.p if n else None,
        "baselinePassRate": baseline_rate,
        "baselinePassRateCi": list(wilson_interval(baseline_passes, n, z)) if n else None,
        "candidatePassRate": candidate_rate,
        "candidatePassRateCi": list(wilson_interval(candidate_passes, n, z)) if n else None,
        "passRateDiff": (gained - lost) / n if n else None,
        "passRateDiffCiLow": diff_low,
        "passRateDiffCiHigh": diff_high,
        "mcnemarP": mcnemar_exact_p(lost, gained) if n else None,
        "discordant": {"baselineOnly": lost, "candidateOnly": gained},
        "baselineCostUsd": math.fsum(s.baseline_cost for s in samples),
        "candidateCostUsd": math.fsum(s.candidate_cost for s in samples),
        # The settings that reproduce the intervals (the name predates the randomization test).
        "bootstrap": {
            "resamples": resamples,
            "seed": seed,
            "method": "sign-flip",
            "draws": pinned.draws,
            "exact": pinned.exact,
            "methods": {"projectedSavings": "sign-flip", "pinnedSavings": "sign-flip", "passRateDiff": "tango"},
            "alpha": alpha,
        },
        "decision": decision.to_wire(),
    }


def summarize_run(
    samples: Sequence[Sample], options: Mapping[str, Any], *, failed_cases: int = 0, unknown_cost_cases: int = 0
) -> dict[str, Any]:
    """:func:`summarize` with a measurement's stored run options (seed, resamples, margin, minimum).

    The one call a finished measurement makes, and the one the operating-characteristics
    benchmark makes, so what the benchmark measures is what the product decides.
    """
    return summarize(samples, seed=options["seed"], resamples=options["resamples"],
                     quality_margin=options["qualityMargin"], min_cases=options["minCases"],
                     failed_cases=failed_cases, unknown_cost_cases=unknown_cost_cases)
