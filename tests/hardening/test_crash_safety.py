"""kill -9 at any point leaves a consistent database (SPEC §5.4, §9).

Three kinds of process are killed outright, at moments drawn from fixed seeds so a failure can
be replayed:

* a measurement, mid-run (the gateway answers slowly, so the run is long enough to hit). After
  each kill: ``PRAGMA integrity_check`` is ok, no case row is half-written, the run shows as
  interrupted, and ``--resume`` ends with exactly the figures of an uninterrupted run with the
  same ``--seed``;
* an ``eval-case import`` of a large file (before, during and after its one transaction): the
  import is all or nothing, its audit entry exists exactly when its rows do;
* 16 concurrent ``model add`` processes on a new database (so also mid-migration): every write
  that reported success is there, every model present has exactly one audit entry, the chain
  verifies, and the next writer is not blocked by a dead one's lock.

``tests/integration/test_measurement_faults.py`` kills one run against the real LiteLLM proxy;
``tests/cli/test_measurement_cli.py`` interrupts one with Ctrl-C.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oc_cli.local.backend import LocalControlPlane
from tests.conftest import NULL_KEYRING, UNSET_VARS, OcEnv, subprocess_env
from tests.support.fake_gateway import FakeGateway, Reply

CASES = 16
RUN_SEED = 7  # the bootstrap seed of every run here
KILL_SEEDS = (31, 3, 25, 19, 2)  # the kill comes after 0, 3, 6, 10 and 13 cases are stored
BASELINE_DELAY_MS = 120  # 16 cases two at a time: at least 8 × 120 ms of run to hit
ANSWERED = CASES - 2  # while a run is to be killed, the baseline's later calls hang: it cannot finish first
IMPORT_LINES = 20_000
FIGURES = ("sampledCalls", "atBarCheapFraction", "projectedSavingsPct", "ciLowPct", "ciHighPct",
           "pinnedSavingsPct", "pinnedCiLowPct", "pinnedCiHighPct", "baselinePassRate", "baselinePassRateCi",
           "candidatePassRate", "candidatePassRateCi", "passRateDiff", "passRateDiffCiLow", "passRateDiffCiHigh",
           "mcnemarP", "baselineCostUsd", "candidateCostUsd", "overheadUsd", "bootstrap", "decision",
           "casesTotal", "casesCompleted", "casesFailed")
RESULT_COLUMNS = ("baseline_output", "candidate_output", "baseline_score", "candidate_score", "baseline_cost_usd",
                  "candidate_cost_usd", "judge_cost_usd", "baseline_cost_source", "candidate_cost_source",
                  "baseline_latency_ms", "candidate_latency_ms", "judge_latency_ms")


def sealed_env(root: Path, **extra: str) -> dict[str, str]:
    """An environment like ``oc_env``'s for processes started outside a test (module fixtures)."""
    for sub in ("config", "data", "cache", "state"):
        (root / "xdg" / sub).mkdir(parents=True, exist_ok=True)
    env = subprocess_env({name: None for name in UNSET_VARS})
    env.update(HOME=str(root), XDG_CONFIG_HOME=str(root / "xdg" / "config"), XDG_DATA_HOME=str(root / "xdg" / "data"),
               XDG_CACHE_HOME=str(root / "xdg" / "cache"), XDG_STATE_HOME=str(root / "xdg" / "state"),
               OC_DB=str(root / "oc.db"), OC_CONFIG=str(root / "config.toml"), PYTHON_KEYRING_BACKEND=NULL_KEYRING,
               CI="1", **extra)
    return env


def start_oc(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "oc_cli", *args], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    return proc.returncode, out, err


def kill_9(proc: subprocess.Popen[str]) -> None:
    proc.kill()  # SIGKILL: no handler, no clean-up, no rollback by the process itself
    proc.communicate(timeout=60)


def query(db: Path, sql: str, *args: Any) -> list[sqlite3.Row]:
    c = sqlite3.connect(db, timeout=30)
    c.row_factory = sqlite3.Row
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def integrity(db: Path) -> str:
    """``PRAGMA integrity_check`` after recovery (opening the file replays or drops the WAL)."""
    return query(db, "PRAGMA integrity_check")[0][0]


def peek(db: Path, sql: str) -> list[tuple]:
    """A read-only look at a database another process is writing (empty while it cannot be read)."""
    try:
        c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return []
    try:
        return c.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        c.close()


def stored_cases(db: Path) -> int | None:
    """How many cases a running measurement has stored; None before it has written its case rows."""
    rows = peek(db, "SELECT sum(status = 'completed') FROM measurement_cases")
    return rows[0][0] if rows else None


def verify_audit(db: Path) -> dict[str, Any]:
    cp = LocalControlPlane(db, actor="verifier")
    try:
        return cp.verify_audit()
    finally:
        cp.close()


# ----- the measurement ------------------------------------------------------------------------------

def answer_slowly(gw: FakeGateway, *, then_hang: bool = False) -> None:
    """Script the baseline: slow answers, and with ``then_hang`` no answer after the first 14 calls."""
    slow = Reply.slow(BASELINE_DELAY_MS)
    gw.add_model("base", *([slow] * ANSWERED + [Reply.hang(60.0)] if then_hang else [slow]), prices=(10.0, 30.0))


@pytest.fixture(scope="module")
def gateway() -> Iterator[FakeGateway]:
    """A slow baseline; a candidate whose price ratio varies with the answer's length; a passing judge."""
    with FakeGateway(api_key="sk-crash-test-gateway") as gw:
        answer_slowly(gw)
        gw.add_model("cand", prices=(1.0, 9.0))
        gw.add_model("judge", Reply.ok('{"score": 0.9}'), prices=(2.0, 6.0))
        yield gw


def seams(gw: FakeGateway) -> dict[str, str]:
    return {"LITELLM_ENDPOINT": gw.url, "LITELLM_MASTER_KEY": gw.api_key or "", "ROUTING_JUDGE_MODEL": "judge"}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the three models, ``base`` as the global default and 16 eval cases."""
    db = tmp_path_factory.mktemp("crash-template") / "oc.db"
    cp = LocalControlPlane(db, actor="tester")
    try:
        cp.create_model({"publicModelName": "base", "upstreamModel": "openai/gpt-4o"})
        cp.create_model({"publicModelName": "cand", "upstreamModel": "anthropic/claude-3-haiku"})
        cp.create_model({"publicModelName": "judge", "upstreamModel": "gemini/gemini-1.5-pro"})
        cp.set_default(cluster_tenant=None, default_model="base", auto_config=None, fields={"defaultModel"})
        cp.import_eval_cases([
            {"skillName": "summarise", "skillScope": "org", "qualityBar": 0.8, "expected": "One sentence.",
             "input": {"messages": [{"role": "user", "content": f"Summarise ticket {i}: " + "the disk is full " * i}]}}
            for i in range(CASES)])
    finally:
        cp.close()
    return db


def run_args(*extra: str) -> list[str]:
    # 16 identical verdicts show non-inferiority only at a wide margin (0.05 needs 73 cases)
    return ["routing", "measurement", "run", "--skill", "summarise", "--candidate-model", "cand",
            "--seed", str(RUN_SEED), "--quality-margin", "0.25", *extra, "-o", "json"]


@pytest.fixture(scope="module")
def reference(template: Path, gateway: FakeGateway, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same measurement, never interrupted."""
    root = tmp_path_factory.mktemp("crash-reference")
    shutil.copy(template, root / "oc.db")
    code, out, err = finish(start_oc(*run_args("--concurrency", "8"), env=sealed_env(root, **seams(gateway))))
    assert code == 0, err
    result = json.loads(out)
    assert result["proposalId"] is not None and result["measurement"]["casesCompleted"] == CASES
    return result["measurement"]


def assert_no_half_written_case(db: Path, mid: str) -> Counter[str]:
    """Each case row is pending with no result, completed with every result, or failed with a reason;
    a completed case's four gateway calls (usage rows ``oc:MID:POSITION:TRY:CALL``) were stored in
    the same transaction as its result, and a pending case has none."""
    rows = query(db, "SELECT * FROM measurement_cases WHERE measurement_id = ? ORDER BY position", mid)
    calls = Counter(tuple(r["request_id"].split(":")[2:4])
                    for r in query(db, "SELECT request_id FROM usage WHERE measurement_id = ?", mid))
    assert len(rows) == CASES
    for r in rows:
        where = f"case {r['position'] + 1} ({r['status']})"
        if r["status"] == "pending":
            assert all(r[col] is None for col in RESULT_COLUMNS), where
            assert (r["error"], r["attempts"], r["tries"]) == (None, 0, 0), where
            assert not any(position == str(r["position"]) for position, _ in calls), where
        elif r["status"] == "completed":
            assert all(r[col] is not None for col in RESULT_COLUMNS), where
            assert r["error"] is None and r["attempts"] >= 4 and r["tries"] >= 1, where
            assert calls[(str(r["position"]), str(r["tries"] - 1))] == 4, where
        else:
            assert r["status"] == "failed" and r["error"], where
    return Counter(r["status"] for r in rows)


@pytest.mark.slow
@pytest.mark.parametrize("kill_seed", KILL_SEEDS)
def test_kill_9_mid_measurement_then_resume_gives_the_uninterrupted_figures(
        kill_seed: int, oc_env: OcEnv, template: Path, gateway: FakeGateway, reference: dict[str, Any], run_oc):
    shutil.copy(template, oc_env.db)
    env = seams(gateway)
    rng = random.Random(kill_seed)
    target = rng.randrange(0, ANSWERED)  # kill once this many cases are stored, after a random delay
    answer_slowly(gateway, then_hang=True)
    proc = start_oc(*run_args("--concurrency", "2"), env=subprocess_env({**env, "CI": "1"}))
    deadline = time.monotonic() + 60
    while (stored := stored_cases(oc_env.db)) is None or stored < target:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, BASELINE_DELAY_MS / 1000))
    assert proc.poll() is None, "the run ended before the kill"
    kill_9(proc)

    assert integrity(oc_env.db) == "ok"
    (mid,) = [r["id"] for r in query(oc_env.db, "SELECT id FROM measurements")]
    statuses = assert_no_half_written_case(oc_env.db, mid)
    assert statuses["completed"] < CASES and statuses["failed"] == 0
    assert verify_audit(oc_env.db)["ok"]

    shown = run_oc("routing", "measurement", "show", mid, "-o", "json", env=env)
    assert shown.code == 0, shown.err
    assert (shown.json()["status"], shown.json()["casesCompleted"]) == ("interrupted", statuses["completed"])
    assert query(oc_env.db, "SELECT count(*) FROM proposals")[0][0] == 0

    answer_slowly(gateway)
    resumed = run_oc("routing", "measurement", "run", "--resume", mid, "-o", "json", env=env)
    assert resumed.code == 0 and "Traceback" not in resumed.err, resumed.err
    result = resumed.json()
    assert result["proposalId"] is not None
    for figure in FIGURES:
        got, want = result["measurement"][figure], reference[figure]
        # sums of costs may differ in the last bit with the order cases finished in; the rest is exact
        assert got == (pytest.approx(want) if isinstance(want, float) else want), figure
    assert assert_no_half_written_case(oc_env.db, mid) == {"completed": CASES}
    audit = verify_audit(oc_env.db)
    assert audit["ok"], audit["problems"]
    actions = Counter(r["action"] for r in query(oc_env.db, "SELECT action FROM audit_log"))
    assert (actions["MeasurementStarted"], actions["MeasurementResumed"], actions["MeasurementCompleted"],
            actions["RoutingProposalCreated"]) == (1, 1, 1, 1)


# ----- a large import -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def big_import(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash-import") / "cases.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(IMPORT_LINES):
            fh.write(json.dumps({"skillName": "bulk", "skillScope": "org", "qualityBar": 0.8, "expected": "ok",
                                 "input": {"messages": [{"role": "user", "content": f"case {i}: " + "lorem " * 40}]}})
                     + "\n")
    return path


def wal_bigger_than(db: Path, size: int) -> bool:
    wal = Path(f"{db}-wal")
    return wal.exists() and wal.stat().st_size > size


# When to kill the import: while it reads and checks the file, while its transaction writes (its
# pages spill into the WAL), just after it committed, and after delays drawn from two seeds.
IMPORT_KILLS: dict[str, str | float] = {"reading": 0.3, "mid-transaction": "wal", "after-commit": "rows",
                                        **{f"seed-{s}": random.Random(s).uniform(0.1, 2.0) for s in (5, 6)}}


@pytest.mark.slow
@pytest.mark.parametrize("moment", IMPORT_KILLS.values(), ids=IMPORT_KILLS.keys())
def test_kill_9_during_a_large_import_imports_all_or_nothing(moment: str | float, oc_env: OcEnv, big_import: Path,
                                                           local_cp, run_oc):
    op = local_cp()
    op.create_model({"publicModelName": "base", "upstreamModel": "openai/gpt-4o"})
    op.close()

    proc = start_oc("routing", "eval-case", "import", str(big_import), env=subprocess_env())
    started = time.monotonic()
    if isinstance(moment, float):
        time.sleep(moment)
    else:
        reached = (lambda: wal_bigger_than(oc_env.db, 1 << 20)) if moment == "wal" else (
            lambda: peek(oc_env.db, "SELECT count(*) FROM eval_cases") == [(IMPORT_LINES,)])
        while not reached():
            assert proc.poll() is None, f"the import ended before {moment!r} was seen"
            assert time.monotonic() - started < 60
            time.sleep(0.002)
    kill_9(proc)

    assert integrity(oc_env.db) == "ok"
    stored = query(oc_env.db, "SELECT count(*) FROM eval_cases")[0][0]
    assert stored in (0, IMPORT_LINES), f"a partial import: {stored} of {IMPORT_LINES} rows"
    actions = Counter(r["action"] for r in query(oc_env.db, "SELECT action FROM audit_log"))
    imported = 1 if stored else 0
    assert (actions["EvalCasesImported"], actions["SkillRegistered"]) == (imported, imported)
    audit = verify_audit(oc_env.db)
    assert audit["ok"] and audit["checked"] == 1 + 2 * imported

    after = run_oc("model", "add", "--name", "next", "--upstream", "openai/next")  # no lock left behind
    assert after.code == 0, after.err


# ----- concurrent writers on a new database -------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("kill_seed", (1, 2, 3))
def test_kill_9_of_concurrent_writers_loses_no_acknowledged_write(kill_seed: int, oc_env: OcEnv, run_oc):
    rng = random.Random(kill_seed)
    env = subprocess_env()
    procs = [start_oc("model", "add", "--name", f"m-{i:02d}", "--upstream", f"openai/m{i}", "-o", "json", env=env)
             for i in range(16)]
    started = time.monotonic()
    # half of them are killed at random moments (start-up, migration, write), the rest run to the end
    victims = sorted((rng.uniform(0.05, 2.0), i) for i in rng.sample(range(16), 8))
    for delay, i in victims:
        time.sleep(max(0.0, started + delay - time.monotonic()))
        procs[i].kill()
    acknowledged = set()
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=120)
        code = proc.returncode
        assert "Traceback" not in err and "locked" not in err.lower(), err
        if code == 0:
            acknowledged.add(json.loads(out)["id"])
        else:
            assert code == -9, (i, code, err)
    assert len(acknowledged) >= 8

    assert integrity(oc_env.db) == "ok"
    models = {r["id"]: r["public_model_name"] for r in query(oc_env.db, "SELECT id, public_model_name FROM models")}
    assert acknowledged <= set(models)
    created = Counter(r["resource"] for r in query(oc_env.db, "SELECT resource FROM audit_log WHERE action = 'ModelCreated'"))
    assert created == Counter(f"ModelDefinition/{mid}" for mid in models)
    audit = verify_audit(oc_env.db)
    assert audit["ok"] and audit["checked"] == len(models)

    after = run_oc("model", "add", "--name", "after-the-kill", "--upstream", "openai/x", "-o", "json")
    assert after.code == 0, after.err
    assert run_oc("audit", "verify").code == 0
