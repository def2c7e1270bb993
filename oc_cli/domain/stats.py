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

Uncertainty comes from a seeded, paired bootstrap (:func:`paired_bootstrap`): cases are resampled
with replacement and every statistic is computed on the same resampled cases, so the correlation
between the two models' costs and grades on one case is preserved. The savings intervals are
studentized by default, because percentile and BCa intervals of a cost ratio are too narrow at
the tens of cases an eval set has (docs/statistics.md has the simulations).

This is the module that needs numpy; import it lazily, where a measurement is summarised, so
commands that do not measure never pay for numpy's import.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

Method = Literal["studentized", "bca", "percentile"]

#: z for a two-sided 95% interval, the default confidence of every interval reported.
Z_95 = 1.959964

#: Upper bound on the number of index cells (resamples x cases) generated at once. 2**16 int64
#: cells keep a chunk's indices and counts near 512 KiB each: memory stays bounded whatever the
#: number of cases or resamples, and a chunk stays in cache, which is also what makes it fast.
_CHUNK_CELLS = 1 << 16

#: Relative spread below which a bootstrap distribution counts as a single point. Resampled sums
#: are accumulated in a different order than the point estimate, so "all resamples equal" has to
#: tolerate rounding in the last bits.
_DEGENERATE_RTOL = 1e-12

#: Half-width on the log scale beyond which a savings interval is treated as unbounded: e**50
#: is a factor no cost ratio can meaningfully be uncertain by, and e**710 overflows a float.
_MAX_LOG_SPREAD = 50.0

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


@dataclass(frozen=True)
class Interval:
    """A point estimate, its interval, and how the interval was obtained.

    ``method`` is what actually produced the bounds: ``studentized``, ``bca`` or ``percentile``
    (``none`` when there were no cases). ``fallback`` is None when the requested method was used, or
    when every resample gave the same value so that any method yields the point itself; otherwise it
    says why the requested method was undefined for this data. Such an interval is shown, but the
    proposal rule does not rely on a savings interval with a fallback.
    """

    estimate: float
    low: float
    high: float
    method: str
    fallback: str | None = None


@dataclass(frozen=True)
class BootstrapResult:
    """Intervals of the three paired statistics, with the settings that reproduce them."""

    projected_savings: Interval
    pinned_savings: Interval
    pass_rate_diff: Interval
    resamples: int
    seed: int
    method: Method  # as requested; each Interval records what was actually used
    alpha: float


@dataclass(frozen=True)
class _Ratio:
    """Where a savings ratio ``R = Σspent / Σbaseline`` finds its columns in the design matrix.

    ``z`` holds the residuals ``spent - R·baseline`` at the sample's ``R``; ``z2`` and ``zb`` their
    squares and their products with the baseline cost. Resampled sums of these give each
    resample's standard error without a second pass over the cases.
    """

    spent: int
    z: int
    z2: int
    zb: int


_BASE, _CAND, _EFF, _DIFF, _BASE2 = range(5)
_PROJECTED = _Ratio(spent=_EFF, z=5, z2=6, zb=7)
_PINNED = _Ratio(spent=_CAND, z=8, z2=9, zb=10)


def _design(samples: Sequence[Sample]) -> np.ndarray:
    """The ``n x 11`` matrix of per-case quantities every resampled statistic is a sum of.

    Baseline, candidate and effective (reference) cost; the pass difference
    ``candidate_passed - baseline_passed`` in {-1, 0, 1}; the squared baseline cost; and for each
    savings ratio the residual columns described in :class:`_Ratio`.
    """
    base = np.array([s.baseline_cost for s in samples], dtype=np.float64)
    cand = np.array([s.candidate_cost for s in samples], dtype=np.float64)
    eff = np.array([s.effective_cost for s in samples], dtype=np.float64)
    diff = np.array([float(s.candidate_passed) - float(s.baseline_passed) for s in samples], dtype=np.float64)
    total = float(base.sum())
    columns = [base, cand, eff, diff, base**2]
    for spent in (eff, cand):  # in the order of _PROJECTED, _PINNED
        z = spent - (float(spent.sum()) / total) * base if total > 0 else np.zeros_like(base)
        columns += [z, z**2, z * base]
    return np.column_stack(columns)


def _resampled_sums(design: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Column sums of every bootstrap resample (``resamples x columns``), built in bounded chunks.

    Each resample draws ``n`` case indices with replacement and the same indices feed every column,
    which is what makes the bootstrap paired. A chunk's indices become per-case counts with one
    ``bincount``, and each column's sums one matrix-vector product, far faster than gathering values
    index by index. (One matrix-matrix product per chunk would be as fast on an idle machine, but
    a multithreaded BLAS makes it ten times slower when the cores are busy.)
    """
    n = design.shape[0]
    chunk = max(1, min(resamples, _CHUNK_CELLS // n))
    row_offsets = (np.arange(chunk, dtype=np.int64) * n)[:, None]
    columns = np.ascontiguousarray(design.T)
    sums = np.empty((resamples, design.shape[1]), dtype=np.float64)
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(rows, n), dtype=np.int64)
        counts = np.bincount((idx + row_offsets[:rows]).ravel(), minlength=rows * n).reshape(rows, n)
        weights = counts.astype(np.float64)
        for j, column in enumerate(columns):
            sums[start : start + rows, j] = weights @ column
    return sums


def _savings_of_sums(spent: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Vectorised :func:`_savings`, with the same 0 for a non-positive baseline spend."""
    positive = base > 0
    return np.where(positive, (1.0 - spent / np.where(positive, base, 1.0)) * 100.0, 0.0)


def _statistics(sums: np.ndarray, n: int) -> np.ndarray:
    """(projected %, pinned %, pass-rate difference) for each row of column sums over ``n`` cases."""
    return np.column_stack(
        (
            _savings_of_sums(sums[:, _EFF], sums[:, _BASE]),
            _savings_of_sums(sums[:, _CAND], sums[:, _BASE]),
            sums[:, _DIFF] / n,
        )
    )


def _jackknife(design: np.ndarray) -> np.ndarray:
    """Leave-one-out statistics (``n x 3``) in O(n): the total sums minus each case's own row."""
    return _statistics(design.sum(axis=0)[None, :] - design, design.shape[0] - 1)


# What an attempt at a refined interval returns: the bounds, or why the method is undefined here.
_Attempt = Callable[[], "tuple[float, float] | str"]


def _percentile_bounds(values: np.ndarray, alpha: float) -> tuple[float, float]:
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2], method="linear")
    return float(low), float(high)


def _bca_bounds(
    values: np.ndarray, estimate: float, jackknife: np.ndarray, alpha: float
) -> tuple[float, float] | str:
    """Bias-corrected and accelerated percentile bounds, or why BCa is undefined for this data.

    Bias correction ``z0`` counts resamples below the estimate (ties count half, which matters for
    the pass-rate difference, whose resamples take few distinct values). Acceleration ``a`` is the
    skewness of the jackknife values.
    """
    below = np.count_nonzero(values < estimate) + 0.5 * np.count_nonzero(values == estimate)
    share = below / values.size
    if not 0.0 < share < 1.0:
        return "BCa is undefined: every resample lies on one side of the estimate"
    z0 = _NORMAL.inv_cdf(share)
    deviations = jackknife.mean() - jackknife
    spread = float(np.sum(deviations**2))
    if spread <= 0.0:
        return "BCa is undefined: the jackknife values have no spread"
    accel = float(np.sum(deviations**3)) / (6.0 * spread**1.5)
    levels = []
    for z_alpha in (_NORMAL.inv_cdf(alpha / 2), _NORMAL.inv_cdf(1 - alpha / 2)):
        shift = z0 + z_alpha
        denom = 1.0 - accel * shift
        if denom <= 0.0:
            return "BCa is undefined: the acceleration is too large for this confidence level"
        levels.append(_NORMAL.cdf(z0 + shift / denom))
    low, high = np.quantile(values, levels, method="linear")
    return float(low), float(high)


def _ratio(values: np.ndarray, over: np.ndarray, zero: float) -> np.ndarray:
    """``|values| / over``, where a zero ``over`` (a resample without spread) gives 0 if ``|values|``
    is within ``zero`` of 0 and infinity otherwise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.abs(values) / over
    return np.where(over > 0, t, np.where(np.abs(values) <= zero, 0.0, np.inf))


def _critical_value(pivots: np.ndarray, alpha: float) -> float:
    """The ``1 - alpha`` quantile of ``|T*|``: infinite when too many resamples had no spread."""
    with np.errstate(invalid="ignore"):  # interpolating next to an infinite pivot gives nan
        q = float(np.quantile(pivots, 1 - alpha, method="linear"))
    return q if math.isfinite(q) else math.inf


def _fieller_pivots(sums: np.ndarray, n: int, ratio: _Ratio, scale: float) -> np.ndarray:
    """``|T*|`` of the linear pivot: the resampled mean residual over its standard error.

    In the bootstrap world the true ratio is the sample's ``R``, so ``T*`` measures how far a
    resample's mean of ``spent - R·baseline`` strays from 0 in units of its own standard error
    (sample variance with n − 1, as in :func:`_fieller`). ``scale``, the sample's mean squared
    residual, sets what counts as zero.
    """
    mean = sums[:, ratio.z] / n
    var = np.maximum(sums[:, ratio.z2] / n - mean**2, 0.0)
    se = np.sqrt(np.where(var > 1e-12 * scale, var, 0.0) / (n - 1))
    return _ratio(mean, se, zero=math.sqrt(1e-12 * scale))


def _log_pivots(sums: np.ndarray, n: int, ratio: _Ratio, estimate: float, scale: float) -> np.ndarray:
    """``|T*|`` on the log scale: ``|log R* − log R|`` over the resample's standard error of ``log R*``.

    The standard error is the delta-method one, ``sqrt(Σ(spent − R*·baseline)² · n/(n−1)) / Σspent``,
    with the sum of squares expanded around the sample's residuals so it needs only column sums.
    Resamples whose ratio is not positive cannot be put on the log scale and count as infinite.
    """
    base, spent = sums[:, _BASE], sums[:, ratio.spent]
    with np.errstate(divide="ignore", invalid="ignore"):
        resampled = spent / base
        shift = resampled - estimate
        squares = sums[:, ratio.z2] - 2.0 * shift * sums[:, ratio.zb] + shift**2 * sums[:, _BASE2]
        se = np.sqrt(np.where(squares > 1e-12 * scale, squares, 0.0) * n / (n - 1)) / spent
        distance = np.log(resampled) - math.log(estimate)
    valid = (base > 0) & (spent > 0)
    return np.where(valid, _ratio(np.where(valid, distance, 0.0), np.where(valid, se, 0.0), zero=1e-12), np.inf)


def _fieller(spent: np.ndarray, base: np.ndarray, q: float) -> tuple[float, float] | None:
    """Savings % bounds from all ratios ``r`` with ``|mean(spent - r·base)| <= q·se(spent - r·base)``.

    This inverts the linear studentized statistic for a ratio of means (Fieller's construction),
    solved as a quadratic in ``r``. Unlike ``R ± q·se(R)`` it carries the uncertainty of the
    denominator, the baseline spend, which is what keeps it honest on skewed costs. The set is
    unbounded (None) when the baseline mean is itself within ``q`` standard errors of 0. Costs are
    non-negative, so ``r >= 0`` and the saving is at most 100%: the upper bound is cut there, which
    cannot exclude the true value.
    """
    n = base.size
    mean_base = float(base.mean())
    if mean_base <= 0.0:
        return None
    x = base / mean_base  # rescaled so the baseline mean is 1: keeps the quadratic well conditioned
    y = spent / mean_base
    ratio = float(y.mean())
    cov = np.cov(np.vstack((x, y)), ddof=1) / n
    q2 = q * q
    a = 1.0 - q2 * float(cov[0, 0])
    if a <= 0.0:
        return None
    b = -2.0 * (ratio - q2 * float(cov[0, 1]))
    c = ratio * ratio - q2 * float(cov[1, 1])
    root = math.sqrt(max(b * b - 4.0 * a * c, 0.0))
    r_low, r_high = (-b - root) / (2.0 * a), (-b + root) / (2.0 * a)
    return (1.0 - r_high) * 100.0, min(100.0, (1.0 - r_low) * 100.0)


def _studentized_bounds(
    sums: np.ndarray, design: np.ndarray, ratio: _Ratio, alpha: float
) -> tuple[float, float] | str:
    """Symmetric studentized bootstrap bounds for a savings ratio, or why they are undefined.

    The critical value is the ``1 - alpha`` quantile of the resampled ``|T*|`` rather than a normal
    or t quantile, so the resamples calibrate the width, heavy tails included. The interval is
    Fieller's (:func:`_fieller`) when that is bounded. When it is not — one or two cases dominate
    the baseline spend, so its mean is not clearly above 0 on a linear scale — the interval is
    ``R·exp(±q·se(log R))`` with ``q`` from the log-scale pivot: costs are positive, and on the log
    scale a ratio stays bounded.
    """
    n = design.shape[0]
    spent, base = design[:, ratio.spent], design[:, _BASE]
    scale = float(design[:, ratio.z2].mean())
    q = _critical_value(_fieller_pivots(sums, n, ratio, scale), alpha)
    if math.isfinite(q):
        bounds = _fieller(spent, base, q)
        if bounds is not None:
            return bounds
    total_spent, total_base = float(spent.sum()), float(base.sum())
    if total_spent <= 0.0 or total_base <= 0.0:
        return "the studentized interval is undefined: no spend to take the logarithm of"
    estimate = total_spent / total_base
    q = _critical_value(_log_pivots(sums, n, ratio, estimate, scale * n), alpha)
    if not math.isfinite(q):
        return (
            "the studentized interval is undefined: too many resamples have no spread"
            " (cases with identical costs)"
        )
    spread = q * math.sqrt(float(design[:, ratio.z2].sum()) * n / (n - 1)) / total_spent
    if spread > _MAX_LOG_SPREAD:
        return "the studentized interval is unbounded: the per-case costs vary too much for this many cases"
    return (1.0 - estimate * math.exp(spread)) * 100.0, (1.0 - estimate * math.exp(-spread)) * 100.0


def _is_degenerate(values: np.ndarray) -> bool:
    spread = float(values.max() - values.min())
    return spread <= _DEGENERATE_RTOL * max(1.0, float(np.abs(values).max()))


def _interval(
    values: np.ndarray,
    estimate: float,
    alpha: float,
    attempts: Sequence[tuple[str, _Attempt]],
    unavailable: str | None = None,
) -> Interval:
    """The interval of the first attempt that is defined, else the percentile interval.

    ``attempts`` are the refined methods in order of preference, the requested one first; the
    reason the first one failed (or ``unavailable``, when none could be tried) is recorded.
    """
    if _is_degenerate(values):
        # Every resample gave the same value: no sampling spread to express, and every method
        # would return the point itself (the refined ones would divide by the spread).
        return Interval(estimate, estimate, estimate, "percentile", unavailable)
    fallback = unavailable
    for name, attempt in attempts:
        outcome = attempt()
        if isinstance(outcome, str):
            fallback = fallback or outcome
            continue
        low, high = outcome
        if name == "studentized":
            # The estimate lies inside a studentized interval by construction; this only removes
            # last-bit rounding between the two ways the ratio is computed.
            low, high = min(low, estimate), max(high, estimate)
        return Interval(estimate, low, high, name, fallback)
    low, high = _percentile_bounds(values, alpha)
    return Interval(estimate, low, high, "percentile", fallback)


def paired_bootstrap(
    samples: Sequence[Sample],
    *,
    resamples: int = 10_000,
    seed: int = 0,
    method: Method = "studentized",
    alpha: float = 0.05,
) -> BootstrapResult:
    """Paired bootstrap intervals for projected savings %, pinned savings % and the pass-rate difference.

    ``method``:

    * ``studentized`` (default) — the savings ratios get symmetric studentized intervals
      (:func:`_studentized_bounds`); the pass-rate difference, a difference of 0/1 outcomes whose
      resamples often have no spread to studentize by, gets BCa. In simulations with skewed
      per-case costs it is the method that keeps the one-sided error of "the saving is above 0"
      near or below its nominal 2.5% at 10-50 cases, where BCa and percentile intervals are too
      narrow and err two to three times as often (figures in docs/statistics.md).
    * ``bca`` — bias-corrected and accelerated percentile intervals for all three.
    * ``percentile`` — plain percentile intervals (linear interpolation) for all three.

    Where the requested method is undefined the interval falls back along studentized → BCa →
    percentile and :attr:`Interval.fallback` says why; both refined methods need at least 3 cases.
    Deterministic for a given ``seed``, case order and ``resamples``. With no samples every figure
    is 0 and the method is ``none``.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if method not in ("studentized", "bca", "percentile"):
        raise ValueError(f"method must be 'studentized', 'bca' or 'percentile', got {method!r}")
    n = len(samples)
    if n == 0:
        empty = Interval(0.0, 0.0, 0.0, "none")
        return BootstrapResult(empty, empty, empty, resamples, seed, method, alpha)

    design = _design(samples)
    sums = _resampled_sums(design, resamples, np.random.default_rng(seed))
    distribution = _statistics(sums, n)
    estimates = (projected_savings_pct(samples), pinned_savings_pct(samples), float(design[:, _DIFF].sum()) / n)
    refined = method != "percentile" and n >= 3
    jackknife = _jackknife(design) if refined else None

    def bca(j: int) -> list[tuple[str, _Attempt]]:
        if jackknife is None:
            return []
        leave_one_out = jackknife[:, j]
        return [("bca", lambda: _bca_bounds(distribution[:, j], estimates[j], leave_one_out, alpha))]

    def studentized(ratio: _Ratio) -> list[tuple[str, _Attempt]]:
        if not refined or method != "studentized":
            return []
        return [("studentized", lambda: _studentized_bounds(sums, design, ratio, alpha))]

    def too_few(name: str) -> str | None:
        return f"a {name} interval needs at least 3 cases" if method != "percentile" and n < 3 else None

    requested = "BCa" if method == "bca" else method

    projected = _interval(
        distribution[:, 0], estimates[0], alpha, studentized(_PROJECTED) + bca(0), too_few(requested)
    )
    pinned = _interval(distribution[:, 1], estimates[1], alpha, studentized(_PINNED) + bca(1), too_few(requested))
    diff = _interval(distribution[:, 2], estimates[2], alpha, bca(2), too_few("BCa"))
    return BootstrapResult(projected, pinned, diff, resamples, seed, method, alpha)


@dataclass(frozen=True)
class Decision:
    """Whether to emit a proposal, each check's outcome, and a sentence for every failed check."""

    propose: bool
    reasons: tuple[str, ...]
    checks: Mapping[str, bool]

    def to_wire(self) -> dict[str, Any]:
        return {"propose": self.propose, "reasons": list(self.reasons), "checks": dict(self.checks)}


def _cases(count: int) -> str:
    return f"{count} case" if count == 1 else f"{count} cases"


def _signed(value: float, digits: int) -> str:
    """A number with a typographic minus, as the sentences shown to people use."""
    text = f"{value:.{digits}f}"
    return "\u2212" + text[1:] if text.startswith("-") else text


def decide(
    *,
    sampled_cases: int,
    savings_pct: float,
    savings_ci_low_pct: float,
    savings_ci_high_pct: float,
    savings_ci_fallback: str | None = None,
    baseline_pass_rate: float,
    candidate_pass_rate: float,
    pass_rate_diff_ci_low: float,
    quality_margin: float = 0.05,
    min_cases: int = 10,
    failed_cases: int = 0,
    unknown_cost_cases: int = 0,
    confidence_pct: float = 95.0,
) -> Decision:
    """The proposal rule: propose a switch only when the evidence supports every part of it.

    * ``savings`` — the interval of the saving of the switch (the pinned saving, passed as
      ``savings_*``) lies above zero, and was computed by the requested method: a fallback
      interval (``savings_ci_fallback`` set) is shown but is too narrow to act on;
    * ``nonInferior`` — there are cases, and the lower bound of (candidate − baseline) pass rate is
      above −margin;
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
        "savings": savings_ci_low_pct > 0.0 and savings_ci_fallback is None,
        "nonInferior": sampled_cases > 0 and pass_rate_diff_ci_low > -quality_margin,
        "minCases": sampled_cases >= min_cases,
        "noFailures": failed_cases == 0,
        "costsKnown": unknown_cost_cases == 0,
    }
    level = f"{confidence_pct:g}%"
    reasons: list[str] = []
    interval = f"[{_signed(savings_ci_low_pct, 1)}%, {_signed(savings_ci_high_pct, 1)}%]"
    # cases whose cost is unknown did complete; they just cannot enter the estimate
    none_usable = ("no completed case has a known cost" if unknown_cost_cases else "no case completed")
    if sampled_cases == 0:
        reasons.append(f"savings: {none_usable}, so there is no saving to estimate")
    elif savings_ci_low_pct <= 0.0:
        reasons.append(
            f"savings: pinning the candidate saves an estimated {_signed(savings_pct, 1)}%, but the {level}"
            f" interval {interval} does not lie above 0%"
        )
    elif savings_ci_fallback is not None:
        reasons.append(
            f"savings: the {level} interval of the saving could not be computed as requested"
            f" ({savings_ci_fallback}); the fallback interval {interval} is too narrow to act on"
            " — measure more cases"
        )
    if sampled_cases == 0:
        reasons.append(f"quality: {none_usable}, so the pass rates cannot be compared")
    elif not checks["nonInferior"]:
        reasons.append(
            f"quality: candidate pass rate {candidate_pass_rate:.2f} vs baseline {baseline_pass_rate:.2f};"
            f" the lower bound of the difference ({_signed(pass_rate_diff_ci_low, 2)}) is not above"
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


def summarize(
    samples: Sequence[Sample],
    *,
    seed: int,
    resamples: int = 10_000,
    method: Method = "studentized",
    alpha: float = 0.05,
    quality_margin: float = 0.05,
    min_cases: int = 10,
    failed_cases: int = 0,
    unknown_cost_cases: int = 0,
) -> dict[str, Any]:
    """Every figure of a measurement, in wire-style camelCase, plus the proposal decision.

    ``samples`` are the completed cases with known costs; cases that failed or whose cost is unknown
    are passed as counts, since they cannot be estimated from but must block a proposal. Pass-rate
    intervals are Wilson intervals at the same confidence as the bootstrap (``1 - alpha``).
    """
    n = len(samples)
    boot = paired_bootstrap(samples, resamples=resamples, seed=seed, method=method, alpha=alpha)
    z = _NORMAL.inv_cdf(1 - alpha / 2)
    baseline_passes = sum(1 for s in samples if s.baseline_passed)
    candidate_passes = sum(1 for s in samples if s.candidate_passed)
    baseline_only = sum(1 for s in samples if s.baseline_passed and not s.candidate_passed)
    candidate_only = sum(1 for s in samples if s.candidate_passed and not s.baseline_passed)
    baseline_rate = baseline_passes / n if n else 0.0
    candidate_rate = candidate_passes / n if n else 0.0
    pinned = boot.pinned_savings
    decision = decide(
        sampled_cases=n,
        savings_pct=pinned.estimate,
        savings_ci_low_pct=pinned.low,
        savings_ci_high_pct=pinned.high,
        savings_ci_fallback=pinned.fallback,
        baseline_pass_rate=baseline_rate,
        candidate_pass_rate=candidate_rate,
        pass_rate_diff_ci_low=boot.pass_rate_diff.low,
        quality_margin=quality_margin,
        min_cases=min_cases,
        failed_cases=failed_cases,
        unknown_cost_cases=unknown_cost_cases,
        confidence_pct=(1 - alpha) * 100,
    )
    return {
        "sampledCalls": n,
        "atBarCheapFraction": candidate_rate,
        "projectedSavingsPct": boot.projected_savings.estimate,
        "ciLowPct": boot.projected_savings.low,
        "ciHighPct": boot.projected_savings.high,
        "pinnedSavingsPct": pinned.estimate,
        "pinnedCiLowPct": pinned.low,
        "pinnedCiHighPct": pinned.high,
        "baselinePassRate": baseline_rate,
        "baselinePassRateCi": list(wilson_interval(baseline_passes, n, z)),
        "candidatePassRate": candidate_rate,
        "candidatePassRateCi": list(wilson_interval(candidate_passes, n, z)),
        "passRateDiff": boot.pass_rate_diff.estimate,
        "passRateDiffCiLow": boot.pass_rate_diff.low,
        "passRateDiffCiHigh": boot.pass_rate_diff.high,
        "mcnemarP": mcnemar_exact_p(baseline_only, candidate_only),
        "discordant": {"baselineOnly": baseline_only, "candidateOnly": candidate_only},
        "baselineCostUsd": math.fsum(s.baseline_cost for s in samples),
        "candidateCostUsd": math.fsum(s.candidate_cost for s in samples),
        "bootstrap": {
            "resamples": resamples,
            "seed": seed,
            # The method behind the pinned-savings interval, the one the proposal rule relies on;
            # "methods" has every interval's, and "requestedMethod" what was asked for.
            "method": pinned.method,
            "requestedMethod": boot.method,
            "methods": {
                "projectedSavings": boot.projected_savings.method,
                "pinnedSavings": pinned.method,
                "passRateDiff": boot.pass_rate_diff.method,
            },
            "fallbacks": {
                name: interval.fallback
                for name, interval in (
                    ("projectedSavings", boot.projected_savings),
                    ("pinnedSavings", pinned),
                    ("passRateDiff", boot.pass_rate_diff),
                )
                if interval.fallback is not None
            },
            "alpha": alpha,
        },
        "decision": decision.to_wire(),
    }
