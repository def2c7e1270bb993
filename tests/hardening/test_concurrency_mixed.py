"""Concurrent writers of different kinds (SPEC §9): nothing lost, nothing locked, one audit entry each.

``tests/cli/test_concurrency.py`` starts 16 ``model add`` processes on a new database and 16
mixed registry writers; ``tests/cli/test_measurement_cli.py`` races 20 approvals of one
proposal. This module adds what those leave out:

* eval cases written concurrently, four of them racing to register the same new skill;
* writers acting as a ClusterTenant (``--as-tenant``) next to operators;
* 16 writers that all hit the *same* rows (the global default, one posture, one skill's eval
  cases) while readers run alongside: the audit chain must record every write in the order the
  database serialised them, so the last entry's ``after`` is the state that won;
* every write that prints an id has exactly one audit entry naming that id.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest

from oc_cli.domain.skillkey import parse
from tests.conftest import OcEnv, subprocess_env

WRITERS = 16


def start_all(commands: list[list[str]]) -> list[tuple[list[str], int, str, str]]:
    """Start every command before waiting for any; (args, exit code, stdout, stderr) each."""
    env = subprocess_env({"CI": "1"})
    procs = [(args, subprocess.Popen([sys.executable, "-m", "oc_cli", *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
             for args in commands]
    results = []
    for args, proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((args, proc.returncode, out, err))
    return results


def assert_clean(results: list[tuple[list[str], int, str, str]]) -> None:
    for args, code, _out, err in results:
        lowered = err.lower()
        assert "locked" not in lowered and "busy" not in lowered, (args, err)
        assert "Traceback" not in err, (args, err)
        assert code == 0, (args, err)


def audit_entries(run_oc) -> list[dict[str, Any]]:
    """Every audit entry, oldest first (pages through the cursor)."""
    entries: list[dict[str, Any]] = []
    cursor: list[str] = []
    while True:
        page = run_oc("audit", "list", "--limit", "1000", *cursor, "-o", "json").json()
        entries.extend(page["data"])
        if not page["pagination"]["hasMore"]:
            return sorted(entries, key=lambda e: e["seq"])
        cursor = ["--cursor", page["pagination"]["nextCursor"]]


@pytest.fixture
def seeded(local_cp) -> int:
    """Tenants acme and beta, global models fast and cheap granted to both, an acme-owned model;
    returns how many audit entries the seeding wrote."""
    op = local_cp()
    for tenant in ("acme", "beta"):
        op.create_cluster_tenant(tenant)
    for name in ("fast", "cheap"):
        op.create_model({"publicModelName": name, "upstreamModel": f"openai/{name}"})
    op.create_model({"publicModelName": "acme-ft", "upstreamModel": "openai/ft", "clusterTenant": "acme"})
    op.grant_models("acme", ["fast", "cheap"])
    op.grant_models("beta", ["fast", "cheap"])
    op.set_posture(parse("team/acme/contended"), mode="pinned", pinned_model="fast")
    checked = op.verify_audit()["checked"]
    op.close()
    return checked


@pytest.mark.slow
def test_sixteen_writers_of_five_kinds_lose_nothing_and_audit_each_write_once(oc_env: OcEnv, seeded: int, run_oc):
    case_input = '{"messages":[{"role":"user","content":"Summarise the incident."}]}'
    commands = (
        [["model", "add", "--name", f"extra-{i}", "--upstream", f"openai/extra-{i}", "-o", "json"] for i in range(3)]
        + [["--as-tenant", "acme", "model", "add", "--name", "acme-extra", "--upstream", "openai/acme-extra",
            "-o", "json"]]
        + [["skill-posture", "set", f"team/acme/skill-{i}", "--pinned-model", "acme-ft" if i else "cheap",
            "-o", "json"] for i in range(2)]
        + [["--as-tenant", "beta", "skill-posture", "set", "team/beta/skill-0", "--auto", "-o", "json"],
           ["skill-posture", "set", "org-skill", "--auto", "--auto-config",
            '{"objective":"balanced","sessionPin":false,"explorationRate":0.1,"allowedModels":["fast","cheap"]}',
            "-o", "json"]]
        + [["model-default", "set", "--model", "fast", "-o", "json"],
           ["model-default", "set", "--cluster-tenant", "acme", "--model", "acme-ft", "-o", "json"],
           ["--as-tenant", "beta", "model-default", "set", "--model", "cheap", "-o", "json"]]
        # four writers race to register the same new skill, a fifth registers a team skill
        + [["routing", "eval-case", "add", "--skill", "fresh", "--input", case_input, "--quality-bar", "0.7",
            "-o", "json"] for _ in range(4)]
        + [["--as-tenant", "beta", "routing", "eval-case", "add", "--skill", "team/beta/fresh", "--input",
            "plain text task", "-o", "json"]]
    )
    assert len(commands) == WRITERS
    results = start_all(commands)
    assert_clean(results)

    # no lost write: count what is stored
    models = {m["publicModelName"]: m for m in run_oc("model", "list", "-o", "json").json()}
    assert set(models) == {"fast", "cheap", "acme-ft", "extra-0", "extra-1", "extra-2", "acme-extra"}
    assert models["acme-extra"]["clusterTenant"] == "acme"
    postures = {p["key"]: p for p in run_oc("skill-posture", "list", "-o", "json").json()}
    assert {k: p["pinnedModel"] for k, p in postures.items() if p["modelMode"] == "pinned"} == {
        "team/acme/contended": "fast", "team/acme/skill-0": "cheap", "team/acme/skill-1": "acme-ft"}
    assert {k for k, p in postures.items() if p["modelMode"] == "auto"} == {"team/beta/skill-0", "org-skill"}
    assert {"fresh", "team/beta/fresh"} <= set(postures)  # registered by the eval cases, once each
    defaults = {(d["scope"], d["clusterTenant"]): d["defaultModel"]
                for d in run_oc("model-default", "list", "-o", "json").json()}
    assert defaults == {("global", None): "fast", ("clusterTenant", "acme"): "acme-ft",
                        ("clusterTenant", "beta"): "cheap"}
    cases = run_oc("routing", "eval-case", "list", "-o", "json").json()
    assert Counter((c["skillScope"], c["skillTeam"], c["skillName"]) for c in cases) == {
        ("org", "", "fresh"): 4, ("team", "beta", "fresh"): 1}

    # one audit entry per write, and one per id a write printed
    entries = audit_entries(run_oc)
    new = entries[seeded:]
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert Counter(e["action"] for e in new) == {
        "ModelCreated": 4, "SkillPostureSet": 4, "ModelDefaultSet": 3, "EvalCaseCreated": 5,
        # skill-0 and skill-1 of acme, skill-0 of beta, org-skill, fresh, team/beta/fresh
        "SkillRegistered": 6}
    registered = Counter(e["resource"] for e in new if e["action"] == "SkillRegistered")
    assert registered["Skill/fresh"] == 1 and registered["Skill/team/beta/fresh"] == 1
    by_resource = Counter(e["resource"] for e in new)
    for args, _code, out, _err in results:
        resource = {"model": "ModelDefinition", "eval-case": "RoutingEvalCase"}.get(
            next(a for a in args if not a.startswith("-") and a not in ("acme", "beta", "routing")))
        if resource:
            assert by_resource[f"{resource}/{json.loads(out)['id']}"] == 1, args
    beta_entries = [e for e in new if e["actor"].endswith("@beta")]
    assert len(beta_entries) == 5 and all(e.get("tenant") == "beta" for e in beta_entries)

    verify = run_oc("audit", "verify", "-o", "json")
    assert verify.code == 0, verify.err
    assert verify.json()["ok"] is True and verify.json()["checked"] == seeded + WRITERS + 6


@pytest.mark.slow
def test_sixteen_writers_on_the_same_rows_are_serialised_and_the_audit_order_is_the_winning_order(
        oc_env: OcEnv, seeded: int, run_oc):
    writes = (
        [["model-default", "set", "--model", "fast" if i % 2 else "cheap"] for i in range(6)]
        + [["skill-posture", "set", "team/acme/contended", "--pinned-model", ("fast", "cheap", "acme-ft")[i % 3]]
           for i in range(5)]
        + [["routing", "eval-case", "add", "--skill", "team/acme/contended", "--input", f"task {i}",
            "--quality-bar", "0.9"] for i in range(5)]
    )
    readers = [["resolve", "team/acme/contended", "-o", "json"], ["model-default", "list", "-o", "json"],
               ["audit", "list", "--limit", "5", "-o", "json"], ["routing", "eval-case", "list", "-o", "json"]]
    assert len(writes) == WRITERS
    results = start_all(writes + readers)
    assert_clean(results)
    for _args, _code, out, _err in results[WRITERS:]:
        json.loads(out)  # readers saw a consistent snapshot, not an error

    entries = audit_entries(run_oc)
    new = entries[seeded:]
    assert Counter(e["action"] for e in new) == {"ModelDefaultSet": 6, "SkillPostureSet": 5, "EvalCaseCreated": 5}
    # Each entry's `before` is the previous entry's `after`: no write read a stale row.
    for action in ("ModelDefaultSet", "SkillPostureSet"):
        chain = [e for e in new if e["action"] == action]
        for earlier, later in zip(chain, chain[1:]):
            assert later["before"] is not None and earlier["after"] is not None
            field = "defaultModel" if action == "ModelDefaultSet" else "pinnedModel"
            assert later["before"][field] == earlier["after"][field], (action, earlier["seq"], later["seq"])
    last_default = [e for e in new if e["action"] == "ModelDefaultSet"][-1]["after"]["defaultModel"]
    last_pin = [e for e in new if e["action"] == "SkillPostureSet"][-1]["after"]["pinnedModel"]
    assert run_oc("model-default", "show", "global", "-o", "json").json()["defaultModel"] == last_default
    assert run_oc("skill-posture", "show", "team/acme/contended", "-o", "json").json()["pinnedModel"] == last_pin
    cases = run_oc("routing", "eval-case", "list", "--skill", "team/acme/contended", "-o", "json").json()
    assert sorted(c["input"] for c in cases) == [f"task {i}" for i in range(5)]

    verify = run_oc("audit", "verify", "-o", "json")
    assert verify.code == 0 and verify.json()["checked"] == seeded + WRITERS
