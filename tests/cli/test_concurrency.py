"""Concurrent writers (SPEC §9): 16 ``oc`` processes at once lose nothing and none sees a lock error."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from tests.conftest import OcEnv, subprocess_env

WRITERS = 16


def start_all(commands: list[list[str]]) -> list[tuple[list[str], int, str, str]]:
    """Start every command before waiting for any; returns (args, exit code, stdout, stderr) each."""
    env = subprocess_env()
    procs = [(args, subprocess.Popen([sys.executable, "-m", "oc_cli", *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
             for args in commands]
    out = []
    for args, proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        out.append((args, proc.returncode, stdout, stderr))
    return out


def assert_all_succeeded(results) -> None:
    for args, code, _out, err in results:
        assert "locked" not in err.lower() and "busy" not in err.lower(), (args, err)
        assert code == 0, (args, err)


@pytest.mark.slow
def test_sixteen_model_adds_at_once_on_a_new_database(oc_env: OcEnv, run_oc):
    assert not oc_env.db.exists()  # the first writers also race to create the schema
    results = start_all([["model", "add", "--name", f"model-{i:02d}", "--upstream", f"openai/m{i}", "-o", "json"]
                         for i in range(WRITERS)])
    assert_all_succeeded(results)
    listed = run_oc("model", "list", "-o", "json").json()
    assert sorted(m["publicModelName"] for m in listed) == [f"model-{i:02d}" for i in range(WRITERS)]
    assert len({m["id"] for m in listed}) == WRITERS
    verify = run_oc("audit", "verify", "-o", "json")
    assert verify.code == 0, verify.err
    assert verify.json()["ok"] is True and verify.json()["checked"] == WRITERS


@pytest.mark.slow
def test_sixteen_mixed_writers_at_once(oc_env: OcEnv, local_cp, run_oc):
    op = local_cp()
    op.create_cluster_tenant("acme")
    for name in ("fast", "cheap"):
        op.create_model({"publicModelName": name, "upstreamModel": f"openai/{name}"})
    op.grant_models("acme", ["fast", "cheap"])
    seeded = op.verify_audit()["checked"]
    op.close()

    commands = []
    for i in range(4):
        commands.append(["model", "add", "--name", f"extra-{i}", "--upstream", f"openai/extra-{i}"])
        commands.append(["skill-posture", "set", f"team/acme/skill-{i}", "--pinned-model", "fast" if i % 2 else "cheap"])
        commands.append(["model-default", "set", "--model", "fast" if i % 2 else "cheap"] if i < 2 else
                        ["model-default", "set", "--cluster-tenant", "acme", "--model", "cheap" if i % 2 else "fast"])
        commands.append(["credential", "add", "--provider", f"provider-{i}", "--secret-ref", f"secret-{i}"])
    assert len(commands) == WRITERS
    assert_all_succeeded(start_all(commands))

    models = {m["publicModelName"] for m in run_oc("model", "list", "-o", "json").json()}
    assert models == {"fast", "cheap"} | {f"extra-{i}" for i in range(4)}
    postures = {p["key"]: p["pinnedModel"] for p in run_oc("skill-posture", "list", "-o", "json").json()}
    assert postures == {f"team/acme/skill-{i}": ("fast" if i % 2 else "cheap") for i in range(4)}
    defaults = run_oc("model-default", "list", "-o", "json").json()
    assert sorted((d["scope"], d["clusterTenant"]) for d in defaults) == [("clusterTenant", "acme"), ("global", None)]
    assert len(run_oc("credential", "list", "-o", "json").json()) == 4

    audit = run_oc("audit", "list", "--limit", "1000", "-o", "json").json()["data"]
    actions = Counter(e["action"] for e in audit)
    assert actions["ModelCreated"] == 2 + 4
    assert actions["SkillRegistered"] == 4 and actions["SkillPostureSet"] == 4
    assert actions["ModelDefaultSet"] == 4
    assert actions["CredentialCreated"] == 4
    verify = run_oc("audit", "verify", "-o", "json")
    assert verify.code == 0, verify.err
    assert verify.json()["checked"] == seeded + 4 + 8 + 4 + 4
