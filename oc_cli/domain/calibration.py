"""The judge checked against people: agreement statistics and human-corrected pass rates.

Pure functions of plain values (no I/O), so they can be tested against simulated labels with a
known truth. A *label* is one answer graded twice: by the judge (``judge`` — did its score reach
the case's quality bar) and by a person (``human``). From a set of labels:

* **agreement** and **Cohen's kappa** (agreement beyond what the two marginal pass rates give by
  chance), with the large-sample interval of Fleiss, Cohen & Everitt (1969);
* **sensitivity** P(judge passes | person passes) and **specificity** P(judge fails | person
  fails), each with a Wilson interval;
* **bias**: the judge's pass rate minus the people's on the same answers;
* **verbosity**: Spearman's rank correlation of the judge's score with the answer's length among
  answers people graded alike (within the human-pass and the human-fail group, pooled by size);
  a judge that rewards length shows a positive correlation where length says nothing about merit;
* a **verdict** against :data:`THRESHOLDS`.

A measurement's raw pass rate ``p`` (the judge's) is corrected with Rogan–Gladen:
``(p + specificity − 1) / (sensitivity + specificity − 1)``, clamped to [0, 1]. Its interval is a
bootstrap over *both* sources of uncertainty: the measurement's cases and the label set are
resampled independently in every replicate (:func:`corrected_pass_rate`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: The documented thresholds of a ``calibrated`` verdict (docs/judge.md). Point estimates are
#: compared: the intervals are reported beside them so a reader sees how firm each one is.
THRESHOLDS: dict[str, float] = {"minLabels": 30, "kappa": 0.6, "sensitivity": 0.8, "specificity": 0.8}

#: Spearman correlation of score with length (among answers people graded alike) from which the
#: report warns of a verbosity bias.
VERBOSITY_WARNING = 0.3

CALIBRATED = "calibrated"
TOO_FEW = "too few labels"
UNRELIABLE = "unreliable"

Z_95 = 1.959964


@dataclass(frozen=True)
class Label:
    """One answer graded by the judge and by a person."""

    judge: bool  # the judge's verdict (score >= the case's quality bar)
    human: bool  # the person's verdict
    score: float | None = None  # the judge's score, 0..1
    length: int | None = None  # the answer's length in characters


def _wilson(k: int, n: int) -> tuple[float, float]:
    from oc_cli.domain.stats import wilson_interval

    return wilson_interval(k, n, Z_95)


def cohen_kappa(labels: Sequence[Label], z: float = Z_95) -> tuple[float | None, tuple[float, float] | None]:
    """Cohen's kappa of judge vs human verdicts and its large-sample interval.

    ``None`` when kappa is undefined: no labels, or both raters gave one verdict only (chance
    agreement is then 1). The interval uses the asymptotic variance of Fleiss, Cohen & Everitt
    (1969), clipped to [−1, 1]; at perfect agreement it is the single point 1.
    """
    n = len(labels)
    if n == 0:
        return None, None
    cells = {(j, h): 0 for j in (True, False) for h in (True, False)}
    for lab in labels:
        cells[(lab.judge, lab.human)] += 1
    p = {key: count / n for key, count in cells.items()}
    judge_marg = {v: p[(v, True)] + p[(v, False)] for v in (True, False)}
    human_marg = {v: p[(True, v)] + p[(False, v)] for v in (True, False)}
    po = p[(True, True)] + p[(False, False)]
    pe = sum(judge_marg[v] * human_marg[v] for v in (True, False))
    if pe >= 1.0 - 1e-12:
        return None, None
    kappa = (po - pe) / (1.0 - pe)
    diag = sum(p[(v, v)] * (1.0 - (judge_marg[v] + human_marg[v]) * (1.0 - kappa)) ** 2 for v in (True, False))
    off = sum(p[(a, b)] * (human_marg[a] + judge_marg[b]) ** 2 for a in (True, False) for b in (True, False)
              if a != b) * (1.0 - kappa) ** 2
    var = (diag + off - (kappa - pe * (1.0 - kappa)) ** 2) / (n * (1.0 - pe) ** 2)
    half = z * math.sqrt(max(0.0, var))
    return kappa, (max(-1.0, kappa - half), min(1.0, kappa + half))


def _ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation (ties get average ranks); ``None`` when either side is constant
    or there are fewer than three pairs."""
    if len(x) != len(y):
        raise ValueError("x and y must have the same length")
    if len(x) < 3:
        return None
    rx, ry = _ranks(x), _ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def verbosity(labels: Sequence[Label]) -> dict[str, Any]:
    """Rank correlation of judge score with answer length among answers people graded alike.

    Computed within the human-pass and the human-fail group (so that good answers being longer
    is not mistaken for bias) and pooled, weighted by each group's size, over the groups where it
    is defined (a group whose scores or lengths are all equal has none).
    """
    groups: dict[str, Any] = {}
    pooled_num, pooled_den = 0.0, 0
    for name, verdict in (("humanPass", True), ("humanFail", False)):
        pairs = [(lab.score, lab.length) for lab in labels
                 if lab.human is verdict and lab.score is not None and lab.length is not None]
        rho = spearman([p[0] for p in pairs], [p[1] for p in pairs]) if pairs else None
        groups[name] = {"n": len(pairs), "rho": rho}
        if rho is not None:
            pooled_num += rho * len(pairs)
            pooled_den += len(pairs)
    rho = pooled_num / pooled_den if pooled_den else None
    return {"rho": rho, "n": pooled_den, "groups": groups,
            "warning": rho is not None and rho >= VERBOSITY_WARNING}


def _rate(k: int, n: int) -> tuple[float | None, list[float] | None]:
    if n == 0:
        return None, None
    return k / n, list(_wilson(k, n))


def calibration(labels: Sequence[Label], thresholds: dict[str, float] | None = None) -> dict[str, Any]:
    """Every figure of a calibration (camelCase) and its verdict with the reasons behind it."""
    t = {**THRESHOLDS, **(thresholds or {})}
    n = len(labels)
    tp = sum(1 for x in labels if x.judge and x.human)
    fn = sum(1 for x in labels if not x.judge and x.human)
    fp = sum(1 for x in labels if x.judge and not x.human)
    tn = n - tp - fn - fp
    kappa, kappa_ci = cohen_kappa(labels)
    sens, sens_ci = _rate(tp, tp + fn)
    spec, spec_ci = _rate(tn, tn + fp)
    judge_rate = (tp + fp) / n if n else None
    human_rate = (tp + fn) / n if n else None
    reasons: list[str] = []
    if n < t["minLabels"]:
        reasons.append(f"{n} label{'s' if n != 1 else ''}; at least {t['minLabels']:g} are needed")
    if tp + fn == 0:
        reasons.append("no answer people passed is labelled, so the sensitivity is unknown")
    if tn + fp == 0:
        reasons.append("no answer people failed is labelled, so the specificity is unknown")
    verdict = TOO_FEW if reasons else CALIBRATED
    if verdict == CALIBRATED:
        if kappa is None or kappa < t["kappa"]:
            reasons.append(f"kappa {'n/a' if kappa is None else f'{kappa:.2f}'} is below {t['kappa']:g}")
        if sens is not None and sens < t["sensitivity"]:
            reasons.append(f"sensitivity {sens:.2f} is below {t['sensitivity']:g}"
                           " (the judge fails answers people pass)")
        if spec is not None and spec < t["specificity"]:
            reasons.append(f"specificity {spec:.2f} is below {t['specificity']:g}"
                           " (the judge passes answers people fail)")
        if reasons:
            verdict = UNRELIABLE
    return {
        "labels": n,
        "agreement": (tp + tn) / n if n else None,
        "kappa": kappa,
        "kappaCi": list(kappa_ci) if kappa_ci else None,
        "sensitivity": sens,
        "sensitivityCi": sens_ci,
        "specificity": spec,
        "specificityCi": spec_ci,
        "confusion": {"judgePassHumanPass": tp, "judgeFailHumanPass": fn,
                      "judgePassHumanFail": fp, "judgeFailHumanFail": tn},
        "judgePassRate": judge_rate,
        "humanPassRate": human_rate,
        "bias": None if n == 0 else judge_rate - human_rate,
        "verbosity": verbosity(labels),
        "verdict": verdict,
        "reasons": reasons,
        "thresholds": t,
    }


def rogan_gladen(p: float, sensitivity: float, specificity: float) -> float | None:
    """The true pass rate behind an observed (judge) pass rate ``p``, clamped to [0, 1].

    ``None`` when the judge is no better than a coin (sensitivity + specificity ≤ 1): its verdicts
    then say nothing about the truth and no correction exists.
    """
    youden = sensitivity + specificity - 1.0
    if youden <= 1e-12:
        return None
    return min(1.0, max(0.0, (p + specificity - 1.0) / youden))


def corrected_pass_rate(passes: int, cases: int, labels: Sequence[Label], *, resamples: int = 10_000,
                        seed: int = 0, alpha: float = 0.05) -> dict[str, Any] | None:
    """Rogan–Gladen corrected pass rate of ``passes`` judge passes out of ``cases``, with a
    percentile bootstrap interval that carries the uncertainty of both the measurement and the
    calibration.

    Each replicate resamples the measurement's cases (the judge's pass count is then binomial) and,
    independently, the label set (the four judge × human cells are then multinomial), recomputes
    sensitivity, specificity and the corrected rate. A replicate in which the resampled judge is no
    better than a coin identifies nothing: it counts as 0 for the lower bound and 1 for the upper,
    which widens the interval instead of silently dropping the replicate. ``None`` when there is no
    point estimate (no cases, sensitivity or specificity unknown, or a coin-flip judge).
    """
    import numpy as np

    tp = sum(1 for x in labels if x.judge and x.human)
    fn = sum(1 for x in labels if not x.judge and x.human)
    fp = sum(1 for x in labels if x.judge and not x.human)
    tn = len(labels) - tp - fn - fp
    if cases == 0 or tp + fn == 0 or tn + fp == 0:
        return None
    sens, spec = tp / (tp + fn), tn / (tn + fp)
    estimate = rogan_gladen(passes / cases, sens, spec)
    if estimate is None:
        return None
    rng = np.random.default_rng(seed)
    p_star = rng.binomial(cases, passes / cases, size=resamples) / cases
    n = len(labels)
    cells = rng.multinomial(n, np.array([tp, fn, fp, tn], dtype=float) / n, size=resamples)
    pos = cells[:, 0] + cells[:, 1]
    neg = cells[:, 2] + cells[:, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        se_star = cells[:, 0] / pos
        sp_star = cells[:, 3] / neg
        youden = se_star + sp_star - 1.0
        value = np.clip((p_star + sp_star - 1.0) / youden, 0.0, 1.0)
    undefined = ~((pos > 0) & (neg > 0) & (youden > 1e-12))
    low = float(np.quantile(np.where(undefined, 0.0, value), alpha / 2))
    high = float(np.quantile(np.where(undefined, 1.0, value), 1 - alpha / 2))
    return {
        "raw": passes / cases,
        "corrected": estimate,
        "ci": [min(low, estimate), max(high, estimate)],
        "undefinedResamples": int(undefined.sum()),
    }


def correction_method(resamples: int, seed: int) -> dict[str, Any]:
    return {"name": "rogan-gladen", "interval": "percentile bootstrap over the measurement's cases and the labels",
            "resamples": resamples, "seed": seed, "confidence": 0.95}


def flip_rate(flips: int, checked: int) -> dict[str, Any]:
    """How often the verdict changed when the prompt's sections were swapped, with a Wilson interval."""
    rate, ci = _rate(flips, checked)
    return {"checked": checked, "flips": flips, "flipRate": rate, "flipRateCi": ci}
