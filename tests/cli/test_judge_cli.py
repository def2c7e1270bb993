"""`oc routing judge` through the real CLI against the scripted local gateway (no LiteLLM needed).

The full story — honest and biased judges, calibration verdicts, corrected pass rates that contain
the truth, the proposal gate — runs against a real LiteLLM proxy in
tests/integration/test_judge_calibration.py. Here: the file round trip, the edge cases of the
label file, and interactive labelling driven through a pseudo-terminal, which always runs.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import subprocess
import termios
import time
from pathlib import Path

import pytest

from oc_cli import schema
from tests.support.fake_gateway import FakeGateway, Reply
from tests.support.oc_process import OC, Oc

CASES = 3


@pytest.fixture
def oc(tmp_path: Path) -> Oc:
    """A completed measurement of 3 cases whose judge passes every answer; ``oc.mid`` is its id."""
    with FakeGateway() as gw:
        gw.add_model("base", prices=(10.0, 30.0))
        gw.add_model("cand", prices=(1.0, 3.0))
        gw.add_model("judge", Reply.ok('{"score": 0.9}'), prices=(2.0, 6.0))
        cli = Oc(tmp_path, LITELLM_ENDPOINT=gw.url, LITELLM_MASTER_KEY=gw.api_key or "", ROUTING_JUDGE_MODEL="judge")
        for name, upstream in (("base", "openai/gpt-4o"), ("cand", "anthropic/claude-3-haiku"),
                               ("judge", "gemini/gemini-1.5-pro")):
            cli.run("model", "add", "--name", name, "--upstream", upstream)
        cli.run("model-default", "set", "--model", "base")
        path = tmp_path / "cases.jsonl"
        path.write_text("".join(json.dumps({"skillName": "summarise", "input": f"Summarise ticket {i}.",
                                            "expected": "One sentence."}) + "\n" for i in range(CASES)))
        cli.run("routing", "eval-case", "import", str(path))
        cli.mid = cli.json("routing", "measurement", "run", "--skill", "summarise", "--candidate-model", "cand",
                           "--seed", "1")["measurement"]["id"]
    return cli


def test_sample_label_and_calibrate_a_small_slice(oc: Oc, tmp_path: Path) -> None:
    done = oc.run("routing", "judge", "sample", oc.mid, "--seed", "3")
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 2 * CASES and {(r["case"], r["side"]) for r in rows} == {
        (c, s) for c in range(1, CASES + 1) for s in ("baseline", "candidate")}
    assert all(r["humanPass"] is None and r["judgePass"] is True and r["judgeScore"] == 0.9 for r in rows)
    assert "6 of 6 answers sampled" in done.stderr and "(seed 3)" in done.stderr
    assert oc.run("routing", "judge", "sample", oc.mid, "--seed", "3").stdout == done.stdout  # seeded

    rows[0]["humanPass"] = False
    rows[1]["humanPass"] = True  # the rest stay null: not graded yet
    path = tmp_path / "grades.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = oc.json("routing", "judge", "label", str(path))
    assert (result["imported"], result["created"], result["skippedUnlabelled"]) == (2, 2, 4)

    [cal] = oc.json("routing", "judge", "calibration")
    assert (cal["judgeModel"], cal["skill"], cal["labels"]) == ("judge", "summarise", 2)
    assert cal["verdict"] == "too few labels" and cal["specificity"] == 0.0 and cal["sensitivity"] == 1.0
    assert cal["bias"] == pytest.approx(0.5)

    shown = oc.json("routing", "measurement", "show", oc.mid)["judgeCalibration"]
    assert shown["verdict"] == "too few labels" and shown["correctedPassRates"] is None  # a judge no better than a coin
    text = oc.run("routing", "measurement", "show", oc.mid).stdout
    assert "judge      too few labels for this skill: 2 human labels" in text
    assert "corrected  no correction" in text

    audit = oc.json("audit", "list")
    entries = audit["data"] if isinstance(audit, dict) else audit
    assert any(e["action"] == "JudgeLabelsImported" for e in entries)


def test_json_answers_match_their_declarations(oc: Oc, tmp_path: Path) -> None:
    sample = oc.json("routing", "judge", "sample", oc.mid, "-o", "json")
    schema.check(schema.JUDGE_SAMPLE, sample, closed=True)
    uncalibrated = oc.json("routing", "measurement", "show", oc.mid)
    schema.check(schema.MEASUREMENT, uncalibrated, closed=True)
    schema.check(schema.JUDGE_CORRECTION, uncalibrated["judgeCalibration"], closed=True)
    rows = [{**r, "humanPass": i % 2 == 0} for i, r in enumerate(sample["rows"])]
    path = tmp_path / "grades.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    schema.check(schema.LABELS_IMPORTED, oc.json("routing", "judge", "label", str(path)), closed=True)
    schema.check(schema.JUDGE_CALIBRATION, oc.json("routing", "judge", "calibration"), many=True, closed=True)
    schema.check(schema.JUDGE_CORRECTION, oc.json("routing", "measurement", "show", oc.mid)["judgeCalibration"],
                 closed=True)
    table = oc.run("routing", "judge", "sample", oc.mid, "-o", "table").stdout.splitlines()
    assert table[0].split() == ["CASE", "SIDE", "MODEL", "JUDGE_SCORE", "JUDGE_PASS", "ANSWER"]


def test_calibration_for_a_judge_without_labels_says_too_few(oc: Oc) -> None:
    [cal] = oc.json("routing", "judge", "calibration", "--skill", "summarise", "--judge", "judge")
    assert cal["labels"] == 0 and cal["verdict"] == "too few labels"
    assert oc.json("routing", "judge", "calibration") == []
    assert "no human labels yet" in oc.run("routing", "judge", "calibration").stderr


@pytest.mark.parametrize("content,line,fragment", [
    ('{"measurementId": "{mid}", "case": 1, "side": "baseline", "humanPass": true}\n'
     '{"measurementId": "{mid}", "case": 1, "side": "baseline", "humanPass": false}\n', 2, "first on line 1"),
    ('\n\n{"measurementId": "{mid}", "case": 0, "side": "baseline", "humanPass": true}\n', 3, "'case' must be"),
    ('{"measurementId": "{mid}", "case": 1, "side": "judge", "humanPass": true}\n', 1, "'side' must be"),
    ('{"measurementId": "{mid}", "case": 1, "side": "baseline", "humanPass": "yes"}\n', 1, "'humanPass' must be"),
    ('{"measurementId": "{mid}", "case": 1, "side": "baseline", "humanPass": true, "humanScore": 2}\n', 1,
     "'humanScore' must be"),
    ('[1, 2]\n', 1, "expected a JSON object"),
])
def test_bad_label_lines_name_their_number_and_import_nothing(oc: Oc, tmp_path: Path, content: str, line: int,
                                                             fragment: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content.replace("{mid}", oc.mid))
    done = oc.run("routing", "judge", "label", str(path), expect=2)
    [message] = done.stderr.strip().splitlines()
    assert message.startswith(f"error: label file {path} line {line} — ") and fragment in message
    assert oc.json("routing", "judge", "calibration") == []


def test_a_missing_label_file_is_a_usage_error_with_a_hint(oc: Oc) -> None:
    done = oc.run("routing", "judge", "label", oc.mid, expect=2)
    assert "cannot read label file" in done.stderr and "--interactive" in done.stderr


def test_interactive_needs_a_terminal(oc: Oc) -> None:
    done = oc.run("routing", "judge", "label", oc.mid, "--interactive", expect=2)
    assert done.stderr.startswith("error: --interactive needs a terminal")


def test_sample_of_an_unknown_measurement_is_not_found(oc: Oc) -> None:
    oc.run("routing", "judge", "sample", "nope", expect=3)


# ----- interactive labelling in a real (pseudo-)terminal ------------------------------------------------

def _own_terminal() -> None:
    """In the child: a session of its own whose controlling terminal is the pty (so Ctrl-C is SIGINT)."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """``oc`` on a pseudo-terminal: read what it draws, press keys."""

    def __init__(self, oc: Oc, *args: str) -> None:
        self.master, slave = pty.openpty()
        env = {**oc.env, "COLUMNS": "100", "LINES": "40", "TERM": "xterm"}
        self.proc = subprocess.Popen([OC, *args], stdin=slave, stdout=slave, stderr=slave, env=env,
                                     close_fds=True, preexec_fn=_own_terminal)
        os.close(slave)
        self.screen = ""

    def read_until(self, marker: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while marker not in self.screen:
            if time.monotonic() > deadline:
                raise AssertionError(f"{marker!r} never appeared; screen so far:\n{self.screen[-2000:]}")
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the other side closed
                    chunk = b""
                if not chunk and self.proc.poll() is not None:
                    raise AssertionError(f"oc exited before {marker!r}:\n{self.screen[-2000:]}")
                self.screen += chunk.decode("utf-8", "replace")
        return self.screen

    def press(self, key: str) -> None:
        os.write(self.master, key.encode())

    def close(self) -> int:
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=30)
        finally:
            os.close(self.master)
        return code


def test_interactive_labelling_keeps_the_labels_given_when_quitting_half_way(oc: Oc) -> None:
    term = Terminal(oc, "routing", "judge", "label", oc.mid, "--interactive")
    try:
        term.read_until("1 of 6")
        screen = term.read_until("[q] quit")
        assert "input" in screen and "expected" in screen and "One sentence." in screen
        assert "GOOD: Summarise ticket" in screen  # the answer being graded
        assert "0.9" not in screen  # the judge's score is not shown to the person
        term.press("p")
        term.read_until("2 of 6")
        term.press("f")
        term.read_until("3 of 6")
        term.press("s")
        term.read_until("4 of 6")
        term.press("q")
        term.read_until("still unlabelled")
    finally:
        code = term.close()
    assert code == 0
    assert "2 label(s) saved, 1 skipped, 4 answer(s)" in term.screen
    [cal] = oc.json("routing", "judge", "calibration")
    assert cal["labels"] == 2 and cal["confusion"]["judgePassHumanPass"] == 1
    assert cal["confusion"]["judgePassHumanFail"] == 1

    # the next session starts where this one stopped; Ctrl-C also keeps what was given
    term = Terminal(oc, "routing", "judge", "label", oc.mid, "--interactive")
    try:
        term.read_until("1 of 4")
        term.read_until("[q] quit")
        term.press("p")
        term.read_until("2 of 4")
        term.press("\x03")
        term.read_until("still unlabelled")
    finally:
        assert term.close() == 0
    assert oc.json("routing", "judge", "calibration")[0]["labels"] == 3
