"""The judge's calibration statistics against hand-computed values and simulated labels with a known truth."""

from __future__ import annotations

import random

import pytest

from oc_cli.domain import calibration as cal
from oc_cli.domain.calibration import Label
from oc_cli.domain.judge import build_judge_messages


def table(tp: int, fn: int, fp: int, tn: int) -> list[Label]:
    """Labels from a judge × human table: tp judge and person pass, fn only the person, fp only the judge."""
    return ([Label(True, True)] * tp + [Label(False, True)] * fn + [Label(True, False)] * fp
            + [Label(False, False)] * tn)


# ----- kappa ----------------------------------------------------------------------------------------

def test_kappa_of_a_hand_computed_table() -> None:
    # po = 0.7; judge passes 0.6, people 0.5 -> pe = 0.6*0.5 + 0.4*0.5 = 0.5 -> kappa = 0.4
    kappa, (low, high) = cal.cohen_kappa(table(20, 5, 10, 15))
    assert kappa == pytest.approx(0.4)
    assert low < 0.4 < high and high - low == pytest.approx(2 * 0.2489, abs=0.001)


def test_kappa_interval_matches_the_fleiss_cohen_everitt_variance() -> None:
    # Fleiss, Cohen & Everitt (1969) for the table above, written out cell by cell.
    n, k, pe = 50, 0.4, 0.5
    p = {"tp": 0.4, "fn": 0.1, "fp": 0.2, "tn": 0.3}
    jp, hp = 0.6, 0.5  # judge pass, human pass marginals
    diag = p["tp"] * (1 - (jp + hp) * (1 - k)) ** 2 + p["tn"] * (1 - ((1 - jp) + (1 - hp)) * (1 - k)) ** 2
    # cell (judge i, human j), i != j: (human marginal of i + judge marginal of j)^2
    off = (1 - k) ** 2 * (p["fp"] * (hp + (1 - jp)) ** 2 + p["fn"] * ((1 - hp) + jp) ** 2)
    var = (diag + off - (k - pe * (1 - k)) ** 2) / (n * (1 - pe) ** 2)
    _, (low, high) = cal.cohen_kappa(table(20, 5, 10, 15))
    assert high - k == pytest.approx(1.959964 * var ** 0.5)
    assert k - low == pytest.approx(1.959964 * var ** 0.5)


def test_kappa_is_one_for_perfect_agreement_and_undefined_without_variety() -> None:
    kappa, ci = cal.cohen_kappa(table(10, 0, 0, 5))
    assert kappa == pytest.approx(1.0) and ci == pytest.approx((1.0, 1.0))
    assert cal.cohen_kappa(table(10, 0, 0, 0)) == (None, None)  # both always pass: chance agreement is 1
    assert cal.cohen_kappa([]) == (None, None)


def test_kappa_is_negative_for_systematic_disagreement() -> None:
    kappa, _ = cal.cohen_kappa(table(0, 10, 10, 0))
    assert kappa == pytest.approx(-1.0)


# ----- Spearman ---------------------------------------------------------------------------------------

def test_spearman_on_monotone_reversed_tied_and_constant_data() -> None:
    assert cal.spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert cal.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties share their average rank: ranks x = 1,2,3,4,5; y = 1,2,3.5,3.5,5 -> Pearson of the ranks
    assert cal.spearman([1, 2, 3, 4, 5], [5, 6, 7, 7, 8]) == pytest.approx(0.9746794344808963)
    assert cal.spearman([1, 2, 3], [2, 2, 2]) is None
    assert cal.spearman([1, 2], [1, 2]) is None


def test_verbosity_is_measured_within_the_groups_people_graded_alike() -> None:
    # Good answers are longer than bad ones, and an honest judge scores them higher: that is
    # merit, not verbosity, and within each group the score does not follow length.
    honest = ([Label(True, True, 0.9, n) for n in (200, 300, 400, 500)]
              + [Label(False, False, 0.1, n) for n in (10, 20, 30, 40)])
    assert cal.verbosity(honest)["rho"] is None
    # A judge that passes long wrong answers: among the wrong answers, score rises with length.
    biased = honest[:4] + [Label(n > 25, False, 0.9 if n > 25 else 0.1, n) for n in (10, 20, 30, 40)]
    v = cal.verbosity(biased)
    assert v["groups"]["humanFail"]["rho"] > 0.8 and v["rho"] > 0.8 and v["warning"] is True


# ----- calibration verdicts ---------------------------------------------------------------------------

def test_a_judge_agreeing_with_people_on_enough_labels_is_calibrated() -> None:
    result = cal.calibration(table(25, 1, 1, 13))
    assert result["verdict"] == cal.CALIBRATED and result["reasons"] == []
    assert result["labels"] == 40 and result["agreement"] == pytest.approx(0.95)
    assert result["sensitivity"] == pytest.approx(25 / 26) and result["specificity"] == pytest.approx(13 / 14)
    low, high = result["sensitivityCi"]
    assert low < 25 / 26 < high <= 1.0
    assert result["bias"] == pytest.approx(0.0)


def test_too_few_labels_or_a_missing_side_is_too_few() -> None:
    few = cal.calibration(table(10, 0, 0, 5))
    assert few["verdict"] == cal.TOO_FEW and "15 labels; at least 30 are needed" in few["reasons"]
    one_sided = cal.calibration(table(40, 0, 0, 0))
    assert one_sided["verdict"] == cal.TOO_FEW
    assert any("specificity is unknown" in r for r in one_sided["reasons"])
    assert one_sided["specificity"] is None and one_sided["specificityCi"] is None


def test_a_judge_that_passes_what_people_fail_is_unreliable_and_says_so() -> None:
    result = cal.calibration(table(30, 0, 6, 4))
    assert result["verdict"] == cal.UNRELIABLE
    assert result["specificity"] == pytest.approx(0.4)
    assert any(r.startswith("specificity 0.40 is below 0.8") for r in result["reasons"])
    assert result["bias"] == pytest.approx(6 / 40)


def test_thresholds_can_be_tightened() -> None:
    result = cal.calibration(table(25, 1, 1, 13), {"kappa": 0.95})
    assert result["verdict"] == cal.UNRELIABLE and result["thresholds"]["kappa"] == 0.95


# ----- the correction -----------------------------------------------------------------------------------

def test_rogan_gladen_undoes_a_known_misclassification() -> None:
    # true rate 0.75; the judge passes every good answer and half the bad ones: observed 0.875
    assert cal.rogan_gladen(0.875, 1.0, 0.5) == pytest.approx(0.75)
    assert cal.rogan_gladen(0.0, 0.9, 0.9) == 0.0  # clamped, never negative
    assert cal.rogan_gladen(0.5, 0.5, 0.5) is None  # a coin says nothing


def test_corrected_rate_is_none_without_both_kinds_of_label() -> None:
    assert cal.corrected_pass_rate(30, 40, table(20, 0, 0, 0)) is None
    assert cal.corrected_pass_rate(0, 0, table(20, 2, 2, 20)) is None


def test_corrected_rate_is_reproducible_for_a_seed() -> None:
    labels = table(40, 4, 6, 20)
    a = cal.corrected_pass_rate(60, 80, labels, resamples=2000, seed=3)
    b = cal.corrected_pass_rate(60, 80, labels, resamples=2000, seed=3)
    assert a == b and a["ci"][0] <= a["corrected"] <= a["ci"][1]


def _simulate(rng: random.Random, truth: float, sens: float, spec: float, cases: int, n_labels: int):
    """One measurement judged by an imperfect judge, and an independent random labelled slice."""
    def judged(good: bool) -> bool:
        return rng.random() < (sens if good else 1 - spec)

    passes = sum(judged(rng.random() < truth) for _ in range(cases))
    labels = []
    for _ in range(n_labels):
        good = rng.random() < truth
        labels.append(Label(judged(good), good))
    return passes, labels


@pytest.mark.parametrize("truth,sens,spec", [(0.75, 1.0, 0.5), (0.6, 0.9, 0.8), (0.9, 0.85, 0.7)])
def test_corrected_interval_covers_the_true_rate_at_its_nominal_level(truth: float, sens: float,
                                                                       spec: float) -> None:
    """Coverage over simulated measurements: at least ~95% (allowing for 300 runs' Monte Carlo error).

    The interval carries both sources of uncertainty; one that bootstrapped only the cases would
    cover far less often, because the labels' estimate of the judge's error is itself uncertain.
    """
    rng = random.Random(1234)
    runs, covered, cases_only_covered = 300, 0, 0
    for i in range(runs):
        passes, labels = _simulate(rng, truth, sens, spec, cases=100, n_labels=60)
        result = cal.corrected_pass_rate(passes, 100, labels, resamples=1000, seed=i)
        if result is None:
            continue
        low, high = result["ci"]
        covered += low <= truth <= high
        # the same interval with the labels held fixed (cases resampled only), for comparison
        tp = sum(1 for x in labels if x.judge and x.human)
        fn = sum(1 for x in labels if not x.judge and x.human)
        fp = sum(1 for x in labels if x.judge and not x.human)
        tn = len(labels) - tp - fn - fp
        se, sp = tp / (tp + fn), tn / (tn + fp)
        p = passes / 100
        half = 1.959964 * (p * (1 - p) / 100) ** 0.5
        lo = cal.rogan_gladen(max(0.0, p - half), se, sp)
        hi = cal.rogan_gladen(min(1.0, p + half), se, sp)
        cases_only_covered += lo is not None and lo <= truth <= hi
    assert covered / runs >= 0.92
    assert cases_only_covered < covered


# ----- the swap-check prompt ------------------------------------------------------------------------------

def test_the_swapped_prompt_puts_the_reference_before_the_answer_and_says_the_same() -> None:
    plain = build_judge_messages("question", "the answer", "the reference")[1]["content"]
    swapped = build_judge_messages("question", "the answer", "the reference", swapped=True)[1]["content"]
    assert plain.index("\nCANDIDATE OUTPUT\n") < plain.index("\nEXPECTED ANSWER / RUBRIC\n")
    assert swapped.index("\nEXPECTED ANSWER / RUBRIC\n") < swapped.index("\nCANDIDATE OUTPUT\n")
    assert sorted(plain.split("\n")) == sorted(swapped.split("\n"))
