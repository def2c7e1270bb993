"""The judge checked against people, end to end: real `oc` processes against a real LiteLLM proxy.

Two models give the same answers (``mixed``: a quarter wrong, half padded with empty words) at
prices ten times apart. Two judges grade them: the honest ``judge`` and ``biased-judge``, which
passes any answer over ``BIASED_JUDGE_WORDS`` words whatever it says. A labelling script that
knows the truth (``is_bad_answer``) stands in for people:

``judge sample`` → the script fills ``humanPass`` → ``judge label`` → ``judge calibration``, then
corrected pass rates in ``measurement show`` and the ``--require-calibrated-judge`` gate.
Interactive labelling in a terminal is in tests/cli/test_judge_cli.py (it needs no proxy).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fake_upstreams import is_bad_answer, is_long_answer
from tests.integration.litellm_proxy import Proxy
from tests.support.oc_process import Oc

pytestmark = pytest.mark.integration

SKILL = "answer"
CASES = 40
UPSTREAMS = {
    "mixed-baseline": "openai/gpt-4o",
    "mixed-candidate": "anthropic/claude-3-haiku",
    "judge": "gemini/gemini-1.5-pro",
    "biased-judge": "mistral/mistral-large",
}


def texts(skill: str, count: int) -> list[str]:
    return [f"Question {i} for {skill}: which service owns the nightly export job?" for i in range(count)]


def true_pass_rate(skill: str = SKILL, count: int = CASES) -> float:
    """The share of right answers: what a person would pass (both models answer alike)."""
    return sum(1 for t in texts(skill, count) if not is_bad_answer(t)) / count


def import_cases(oc: Oc, skill: str, count: int) -> None:
    path = oc.home / f"{skill}-cases.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for text in texts(skill, count):
            fh.write(json.dumps({"skillName": skill, "input": {"messages": [{"role": "user", "content": text}]},
                                 "expected": "The owning service's name.", "qualityBar": 0.8}) + "\n")
    oc.run("routing", "eval-case", "import", str(path))


def label_like_a_person(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill ``humanPass`` with the truth: a person passes the right answers."""
    out = []
    for row in rows:
        text = row["input"]["messages"][-1]["content"]
        out.append({**row, "humanPass": not is_bad_answer(text), "labeler": "script"})
    return out


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@dataclass
class World:
    honest: Oc  # the judge is `judge`
    biased: Oc  # the judge is `biased-judge`
    runs: dict[str, dict[str, Any]]
    uncalibrated_show: str
    uncalibrated_gate: dict[str, Any]


def measure(oc: Oc, *extra: str, skill: str = SKILL) -> dict[str, Any]:
    # 40 identical verdicts show non-inferiority only at a margin above 0.088 (0.05 needs 73 cases)
    return oc.json("routing", "measurement", "run", "--skill", skill, "--candidate-model", "mixed-candidate",
                   "--seed", "7", "--quality-margin", "0.1", *extra)


@pytest.fixture(scope="module")
def world(litellm_proxy: Proxy, tmp_path_factory: pytest.TempPathFactory) -> World:
    home = tmp_path_factory.mktemp("judge-calibration")
    seams = {"LITELLM_ENDPOINT": litellm_proxy.url, "LITELLM_MASTER_KEY": litellm_proxy.master_key}
    honest = Oc(home, ROUTING_JUDGE_MODEL="judge", **seams)
    biased = Oc(home, ROUTING_JUDGE_MODEL="biased-judge", **seams)
    for name, upstream in UPSTREAMS.items():
        honest.run("model", "add", "--name", name, "--upstream", upstream)
    honest.run("model-default", "set", "--model", "mixed-baseline")
    import_cases(honest, SKILL, CASES)
    runs = {"honest": measure(honest), "biased": measure(biased)}
    uncalibrated_show = honest.run("routing", "measurement", "show", runs["honest"]["measurement"]["id"]).stdout
    uncalibrated_gate = measure(biased, "--require-calibrated-judge")

    for name, oc in (("honest", honest), ("biased", biased)):
        mid = runs[name]["measurement"]["id"]
        sample = home / f"{name}-sample.jsonl"
        oc.run("routing", "judge", "sample", mid, "--size", str(2 * CASES), "--seed", "1", "--file", str(sample))
        rows = [json.loads(line) for line in sample.read_text().splitlines()]
        assert len(rows) == 2 * CASES and all(r["humanPass"] is None for r in rows)
        labelled = write_jsonl(home / f"{name}-labelled.jsonl", label_like_a_person(rows))
        result = oc.json("routing", "judge", "label", str(labelled))
        assert result["imported"] == 2 * CASES and result["created"] == 2 * CASES
    return World(honest, biased, runs, uncalibrated_show, uncalibrated_gate)


def calibration_of(oc: Oc, judge: str, *extra: str) -> dict[str, Any]:
    rows = oc.json("routing", "judge", "calibration", "--skill", SKILL, "--judge", judge, *extra)
    assert len(rows) == 1
    return rows[0]


# ----- 1. the honest judge is calibrated; the biased one is unreliable, and the numbers say why --------

def test_the_honest_judge_is_calibrated_with_kappa_near_one(world: World) -> None:
    cal = calibration_of(world.honest, "judge")
    assert cal["labels"] == 2 * CASES
    assert cal["verdict"] == "calibrated" and cal["reasons"] == []
    assert cal["kappa"] == pytest.approx(1.0) and cal["agreement"] == 1.0
    assert cal["sensitivity"] == cal["specificity"] == 1.0
    assert cal["bias"] == pytest.approx(0.0)


def test_the_biased_judge_is_unreliable_with_low_specificity_and_a_length_correlation(world: World) -> None:
    cal = calibration_of(world.biased, "biased-judge")
    assert cal["labels"] == 2 * CASES
    assert cal["verdict"] == "unreliable"
    # it passes every padded wrong answer: specificity is the share of wrong answers that are short
    wrong = [t for t in texts(SKILL, CASES) if is_bad_answer(t)]
    assert cal["specificity"] == pytest.approx(sum(1 for t in wrong if not is_long_answer(t)) / len(wrong))
    assert cal["specificity"] < 0.8 and cal["sensitivity"] == 1.0
    assert any("specificity" in r for r in cal["reasons"])
    assert cal["bias"] > 0
    assert cal["verbosity"]["rho"] > 0.3 and cal["verbosity"]["warning"] is True
    assert cal["verbosity"]["groups"]["humanFail"]["rho"] > 0.3

    text = world.biased.run("routing", "judge", "calibration", "--judge", "biased-judge").stdout
    assert "Judge biased-judge on skill answer: unreliable" in text
    assert "the judge rewards length" in text and "specificity" in text


def test_swap_check_re_judges_with_the_sections_swapped(world: World, litellm_proxy: Proxy) -> None:
    before = litellm_proxy.calls("judge")
    cal = calibration_of(world.honest, "judge", "--swap-check", "6")
    order = cal["orderSensitivity"]
    assert order["checked"] == 6 and order["flips"] == 0 and order["errors"] == 0
    assert litellm_proxy.calls("judge") == before + 6
    with closing(sqlite3.connect(world.honest.db)) as db:  # recorded like every gateway call oc makes
        recorded = db.execute("SELECT count(*), count(spend_usd) FROM usage WHERE request_id LIKE 'oc:swap-check:%'"
                              " AND kind = 'judge' AND model = 'judge' AND status = 'success'").fetchone()
    assert recorded == (6, 6)


# ----- 2. corrected pass rates contain the truth the raw ones miss ---------------------------------------

def test_measurement_show_without_labels_says_the_judge_is_not_calibrated(world: World) -> None:
    mid = world.runs["honest"]["measurement"]["id"]
    assert "judge not calibrated for this skill" in world.uncalibrated_show
    assert f"oc routing judge sample {mid}" in world.uncalibrated_show


def test_corrected_pass_rates_of_the_biased_judge_contain_the_true_rates(world: World) -> None:
    mid = world.runs["biased"]["measurement"]["id"]
    m = world.biased.json("routing", "measurement", "show", mid)
    truth = true_pass_rate()
    assert m["baselinePassRate"] > truth + 0.05  # the raw rate is inflated by the padded wrong answers
    cal = m["judgeCalibration"]
    assert cal["judgeModel"] == "biased-judge" and cal["verdict"] == "unreliable"
    for side in ("baseline", "candidate"):
        rate = cal["correctedPassRates"][side]
        assert rate["raw"] == m[f"{side}PassRate"]
        low, high = rate["ci"]
        assert low <= truth <= high
        assert low <= rate["corrected"] <= high
    assert cal["method"]["name"] == "rogan-gladen"

    text = world.biased.run("routing", "measurement", "show", mid).stdout
    assert "judge      unreliable for this skill" in text and "corrected  baseline passes" in text


# ----- 3. --require-calibrated-judge blocks the biased judge's proposal, not the honest one's -------------

def test_require_calibrated_judge_blocks_the_biased_judge_with_a_reason(world: World) -> None:
    assert world.runs["biased"]["measurement"]["decision"]["propose"] is True  # without the gate it would
    gated = measure(world.biased, "--require-calibrated-judge")
    decision = gated["measurement"]["decision"]
    assert gated["proposalId"] is None and decision["propose"] is False
    assert decision["checks"]["calibratedJudge"] is False
    reason = [r for r in decision["reasons"] if r.startswith("judge:")]
    assert len(reason) == 1 and "unreliable" in reason[0] and "specificity" in reason[0]


def test_require_calibrated_judge_without_labels_names_what_is_missing(world: World) -> None:
    decision = world.uncalibrated_gate["measurement"]["decision"]
    assert world.uncalibrated_gate["proposalId"] is None and decision["propose"] is False
    assert any("not calibrated" in r and "oc routing judge sample" in r for r in decision["reasons"])


def test_a_calibrated_judge_passes_the_gate_set_in_the_environment(world: World) -> None:
    world.honest.env["OC_REQUIRE_CALIBRATED_JUDGE"] = "true"
    try:
        run = measure(world.honest)
    finally:
        del world.honest.env["OC_REQUIRE_CALIBRATED_JUDGE"]
    assert run["proposalId"] is not None
    assert run["measurement"]["decision"]["checks"]["calibratedJudge"] is True


def test_the_gate_as_a_context_setting(world: World) -> None:
    oc = world.biased
    oc.run("config", "set-context", "ci", "--require-calibrated-judge", "--use")
    try:
        run = measure(oc)
    finally:
        oc.run("config", "set-context", "ci", "--no-require-calibrated-judge")
    assert run["proposalId"] is None
    assert any(r.startswith("judge:") for r in run["measurement"]["decision"]["reasons"])
    assert measure(oc)["proposalId"] is not None  # the setting, not the data, blocked it


# ----- 4. a bad label file: one line with its number, exit 2, the database untouched -------------------

def db_digest(oc: Oc) -> str:
    h = hashlib.sha256()
    for suffix in ("", "-wal"):
        path = Path(str(oc.db) + suffix)
        h.update(path.read_bytes() if path.exists() else b"")
    return h.hexdigest()


def good_row(world: World, case: int = 1) -> dict[str, Any]:
    return {"measurementId": world.runs["honest"]["measurement"]["id"], "case": case, "side": "baseline",
            "humanPass": False}


@pytest.mark.parametrize("problem", ["missing humanPass", "unknown measurement", "case out of range", "broken JSON"])
def test_a_bad_label_file_changes_nothing(world: World, problem: str, tmp_path: Path) -> None:
    oc = world.honest
    rows = [json.dumps(good_row(world, 1)), json.dumps(good_row(world, 2))]
    bad = {**good_row(world, 3)}
    if problem == "missing humanPass":
        del bad["humanPass"]
        expected = "'humanPass' is missing"
    elif problem == "unknown measurement":
        bad["measurementId"] = "no-such-measurement"
        expected = "measurement 'no-such-measurement' not found"
    elif problem == "case out of range":
        bad["case"] = CASES + 1
        expected = f"case {CASES + 1} is out of range"
    rows.append(json.dumps(bad) if problem != "broken JSON" else '{"measurementId": "x", "case": 3,')
    if problem == "broken JSON":
        expected = "not valid JSON"
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    before = db_digest(oc)
    done = oc.run("routing", "judge", "label", str(path), expect=2)
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: label file {path} line 3 — ") and expected in lines[0]
    assert "[INVALID_LABEL]" in lines[0]
    assert db_digest(oc) == before


def test_re_importing_a_label_overwrites_it(world: World, tmp_path: Path) -> None:
    oc = world.honest
    row = good_row(world, 1)
    text = [t for t in texts(SKILL, CASES)][0]
    truth = not is_bad_answer(text)
    for value, created in ((not truth, 0), (truth, 0)):
        result = oc.json("routing", "judge", "label", str(write_jsonl(tmp_path / "one.jsonl",
                                                                      [{**row, "humanPass": value}])))
        assert result == {**result, "imported": 1, "created": created, "updated": 1}
    assert calibration_of(oc, "judge")["labels"] == 2 * CASES
