"""Tenant isolation in local mode (SPEC §2, §4.2, §9): a ClusterTenant identity sees and changes
only what its tenant owns.

One database holds two tenants, acme and beta, each with an owned model, credential, default,
team skill with posture and eval cases, a measurement (against the scripted gateway) with its
proposal, imported usage, and audit entries; next to them global models, a global default, an
org skill with its own measurement and proposal. Acting as acme — with ``--as-tenant acme`` and
with a context whose ``tenant`` is acme — every read returns only acme's or global rows (and no
trace of beta), every lookup of a beta id answers "not found", and every write to beta's or
global rows is refused without changing a byte of the database.

How refusals are coded, as implemented and documented in docs/reliability.md:

* a write that *names* another owner (``--cluster-tenant beta``, ``team/beta/…``, a global
  row the tenant can see, an operator-only verb) is forbidden: exit 5;
* a write that addresses one of beta's rows *by id or name* gets exit 3, exactly what a read of
  that id gets, so a write cannot be used to learn that a hidden row exists.

``tests/cli/test_errors_and_exit_codes.py`` has the first examples of both.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from oc_cli.domain.skillkey import parse
from oc_cli.local.backend import LocalControlPlane
from tests.conftest import NULL_KEYRING, UNSET_VARS, OcResult, subprocess_env
from tests.support.fake_gateway import FakeGateway, Reply

HAS_USAGE = importlib.util.find_spec("oc_cli.commands.usage") is not None
HAS_METRICS = importlib.util.find_spec("oc_cli.commands.routing.metrics") is not None
IDENTITIES = {"--as-tenant acme": (("--as-tenant", "acme"), {}), "context tenant acme": ((), {"OC_CONTEXT": "acme-ctx"})}


@dataclass
class World:
    root: Path
    env: dict[str, str]
    ids: dict[str, str]

    def oc(self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> OcResult:
        done = subprocess.run([sys.executable, "-m", "oc_cli", *args], env={**self.env, **(env or {})},
                              input=stdin or "", capture_output=True, text=True, timeout=120)
        assert "Traceback" not in done.stderr, done.stderr
        return OcResult(done.returncode, done.stdout, done.stderr)

    def digest(self) -> str:
        h = hashlib.sha256()
        for suffix in ("", "-wal"):
            path = Path(f"{self.root / 'oc.db'}{suffix}")
            h.update(suffix.encode() + (path.read_bytes() if path.exists() else b"<absent>"))
        return h.hexdigest()


def spend_log(path: Path) -> Path:
    """Six production calls in the last hours: three of acme's, three of beta's."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = [{"request_id": f"req-{tenant}-{i}", "model": "base", "model_group": "base", "spend": 0.01,
             "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
             "startTime": (now - timedelta(hours=i + 1)).isoformat(), "endTime": (now - timedelta(hours=i + 1)).isoformat(),
             "team_id": tenant, "request_tags": [f"skill:team/{tenant}/summarise"], "status": "success"}
            for tenant in ("acme", "beta") for i in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("tenants")
    ids: dict[str, str] = {}
    op = LocalControlPlane(root / "oc.db", actor="operator")
    try:
        for tenant in ("acme", "beta"):
            op.create_cluster_tenant(tenant)
        ids["global_cred"] = op.create_credential({"provider": "openai", "secretRef": "openai-prod"})["id"]
        for name, upstream in (("base", "openai/gpt-4o"), ("cand", "anthropic/claude-3-haiku"),
                               ("judge", "gemini/gemini-1.5-pro")):
            ids[name] = op.create_model({"publicModelName": name, "upstreamModel": upstream})["id"]
        ids["global_default"] = op.set_default(cluster_tenant=None, default_model="base", auto_config=None,
                                               fields={"defaultModel"})["id"]
        op.set_posture(parse("summarise"), mode="auto")
        for tenant in ("acme", "beta"):
            cred = op.create_credential({"provider": "anthropic", "secretRef": f"{tenant}-anthropic",
                                         "clusterTenant": tenant})["id"]
            ids[f"{tenant}_cred"] = cred
            ids[f"{tenant}_ft"] = op.create_model({"publicModelName": f"{tenant}-ft", "upstreamModel": "anthropic/ft",
                                                   "clusterTenant": tenant, "providerCredentialId": cred})["id"]
            op.grant_models(tenant, ["base", "cand"])
            ids[f"{tenant}_default"] = op.set_default(cluster_tenant=tenant, default_model=f"{tenant}-ft",
                                                      auto_config=None, fields={"defaultModel"})["id"]
            op.set_posture(parse(f"team/{tenant}/summarise"), mode="pinned", pinned_model="base")
            op.import_eval_cases([{"skillName": "summarise", "skillScope": "team", "skillTeam": tenant,
                                   "input": f"{tenant} ticket {i}: the VPN drops every hour."} for i in range(8)])
            ids[f"{tenant}_case"] = op.list_eval_cases(skill_team=tenant)[0]["id"]
        op.import_eval_cases([{"skillName": "summarise", "skillScope": "org", "input": f"org ticket {i}: disk full."}
                              for i in range(8)])
        ids["org_case"] = op.list_eval_cases(skill_team="")[0]["id"]
    finally:
        op.close()

    with FakeGateway(api_key="sk-tenant-test-gateway") as gw:
        gw.add_model("base", prices=(10.0, 30.0))
        gw.add_model("cand", prices=(1.0, 3.0))
        gw.add_model("judge", Reply.ok('{"score": 0.9}'), prices=(2.0, 6.0))
        env = subprocess_env({name: None for name in UNSET_VARS})
        env.update(HOME=str(root), XDG_CONFIG_HOME=str(root / "xdg"), XDG_DATA_HOME=str(root / "xdg"),
                   OC_DB=str(root / "oc.db"), OC_CONFIG=str(root / "config.toml"), PYTHON_KEYRING_BACKEND=NULL_KEYRING,
                   CI="1", LITELLM_ENDPOINT=gw.url, LITELLM_MASTER_KEY=gw.api_key or "", ROUTING_JUDGE_MODEL="judge")
        w = World(root, env, ids)
        runs = {owner: subprocess.Popen(
            [sys.executable, "-m", "oc_cli", "routing", "measurement", "run", "--skill", skill, "--candidate-model",
             # 8 cases: enough for the savings test (6) and, at a margin of 0.5, for non-inferiority
             "cand", "--min-cases", "3", "--quality-margin", "0.5", "--seed", "1", "-o", "json"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for owner, skill in (("acme", "team/acme/summarise"), ("beta", "team/beta/summarise"), ("org", "summarise"))}
        for owner, proc in runs.items():
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            result = json.loads(out)
            assert result["proposalId"], result["measurement"]["decision"]
            ids[f"{owner}_mid"], ids[f"{owner}_pid"] = result["measurement"]["id"], result["proposalId"]
    # an import by the tenant itself, and production usage of both tenants
    acme_import = w.oc("--as-tenant", "acme", "routing", "eval-case", "import", "-", "-o", "json",
                       stdin=json.dumps({"skillName": "triage", "skillScope": "team", "skillTeam": "acme",
                                         "input": "acme triage"}) + "\n")
    assert acme_import.code == 0, acme_import.err
    if HAS_USAGE:
        imported = w.oc("usage", "import", str(spend_log(root / "spend.jsonl")), "-o", "json")
        assert imported.code == 0 and imported.json()["imported"] == 6, imported.err
    assert w.oc("config", "set-context", "acme-ctx", "--tenant", "acme").code == 0
    assert w.oc("model", "list").code == 0  # checkpoint the WAL: the digest is of a settled file
    return w


def as_acme(world: World, identity: str, *args: str, env: dict[str, str] | None = None) -> OcResult:
    flags, extra = IDENTITIES[identity]
    return world.oc(*flags, *args, env={**extra, **(env or {})})


def mine_or_global(row: dict[str, Any]) -> bool:
    return row["scope"] == "global" or row["clusterTenant"] == "acme"


def acme_or_org(row: dict[str, Any]) -> bool:
    return row["skillTeam"] in ("", "acme")


# ----- reads -----------------------------------------------------------------------------------------

LISTS: dict[str, tuple[tuple[str, ...], Any]] = {
    "model list": (("model", "list"), mine_or_global),
    "credential list": (("credential", "list"), mine_or_global),
    "model-default list": (("model-default", "list"), mine_or_global),
    "skill-posture list": (("skill-posture", "list"), lambda r: r["team"] in ("", "acme")),
    "cluster-tenant list": (("cluster-tenant", "list"), lambda r: r["name"] == "acme"),
    "resolve --all": (("resolve", "--all"), lambda r: r["team"] in ("", "acme") and r["clusterTenant"] == "acme"),
    "eval-case list": (("routing", "eval-case", "list"), acme_or_org),
    "measurement list": (("routing", "measurement", "list"), acme_or_org),
    "proposal list": (("routing", "proposal", "list"), acme_or_org),
    "recommendation list": (("routing", "recommendation", "list"), acme_or_org),
    "recommendations of beta": (("routing", "recommendation", "list", "--cluster-tenant", "beta"), lambda r: False),
    "audit list": (("audit", "list", "--limit", "1000"), lambda r: r.get("tenant") == "acme"),
    "audit of beta": (("audit", "list", "--tenant", "beta"), lambda r: False),
    **({"usage list": (("usage", "list", "--limit", "1000"), lambda r: r["clusterTenant"] == "acme")}
       if HAS_USAGE else {}),
    **({"metrics by tenant": (("routing", "metrics", "--by", "tenant"), lambda r: r["key"] == "acme")}
       if HAS_METRICS else {}),
}
#: What acme must find in each listing (so an empty answer cannot pass).
EXPECTED = {"model list": "acme-ft", "credential list": "acme-anthropic", "model-default list": "acme-ft",
            "skill-posture list": "team/acme/summarise", "cluster-tenant list": "acme", "resolve --all": "team/acme",
            "eval-case list": "acme ticket", "measurement list": "acme", "proposal list": "acme",
            "recommendation list": "acme", "audit list": "EvalCasesImported", "usage list": "req-acme",
            "metrics by tenant": "acme"}


def rows_of(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        for key in ("data", "rows", "groups"):
            if isinstance(data.get(key), list):
                return data[key]
        raise AssertionError(f"no rows in {sorted(data)}")
    return data


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("name", LISTS)
def test_every_listing_shows_only_the_tenants_and_global_rows(world: World, identity: str, name: str):
    args, belongs = LISTS[name]
    result = as_acme(world, identity, *args, "-o", "json")
    assert result.code == 0, result.err
    rows = rows_of(result.json())
    strays = [r for r in rows if not belongs(r)]
    assert strays == [], f"{name} shows rows acme does not own: {strays[:3]}"
    assert "beta" not in result.out, f"{name} mentions beta: {result.out[result.out.index('beta') - 200:][:400]}"
    if name in EXPECTED:
        assert EXPECTED[name] in result.out, f"{name} lost acme's own rows"


def test_imports_of_the_tenants_cases_are_in_its_audit(world: World):
    """Its own import and the operator's import of its cases; not the operator's of beta's or the org's."""
    entries = as_acme(world, "--as-tenant acme", "audit", "list", "-o", "json").json()["data"]
    imports = [e["actor"] for e in entries if e["action"] == "EvalCasesImported"]
    assert len(imports) == 2 and "operator" in imports and any(a.endswith("@acme") for a in imports), imports


HIDDEN = {
    "model show by name": ("model", "show", "beta-ft"),
    "model show by id": ("model", "show", "{beta_ft}"),
    "credential show": ("credential", "show", "{beta_cred}"),
    "model-default show by tenant": ("model-default", "show", "beta"),
    "model-default show by id": ("model-default", "show", "{beta_default}"),
    "skill-posture show": ("skill-posture", "show", "team/beta/summarise"),
    "cluster-tenant show": ("cluster-tenant", "show", "beta"),
    "cluster-tenant models": ("cluster-tenant", "models", "beta"),
    "eval-case show": ("routing", "eval-case", "show", "{beta_case}"),
    "measurement show": ("routing", "measurement", "show", "{beta_mid}"),
    "proposal show": ("routing", "proposal", "show", "{beta_pid}"),
}


def fill(world: World, args: tuple[str, ...]) -> list[str]:
    return [world.ids[a[1:-1]] if a.startswith("{") and a.endswith("}") else a for a in args]


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("name", HIDDEN)
def test_a_beta_id_is_not_found(world: World, identity: str, name: str):
    result = as_acme(world, identity, *fill(world, HIDDEN[name]), "-o", "json")
    assert result.code == 3, result.err
    assert result.out == "" and len(result.err.splitlines()) == 1 and result.err.startswith("error: ")


@pytest.mark.parametrize("identity", IDENTITIES)
def test_resolving_for_beta_is_refused(world: World, identity: str):
    for args in (("resolve", "team/beta/summarise"), ("resolve", "summarise", "--cluster-tenant", "beta")):
        result = as_acme(world, identity, *args, "-o", "json")
        assert result.code == 5 and result.out == "", (args, result.err)
    own = as_acme(world, identity, "resolve", "team/acme/summarise", "-o", "json")
    assert own.code == 0 and own.json()["model"] == "base"


@pytest.mark.skipif(not HAS_USAGE, reason="the `oc usage` command is not present")
@pytest.mark.parametrize("identity", IDENTITIES)
def test_asking_for_betas_usage_is_refused(world: World, identity: str):
    result = as_acme(world, identity, "usage", "list", "--cluster-tenant", "beta", "-o", "json")
    assert result.code == 5 and result.out == "", result.err


# ----- writes ------------------------------------------------------------------------------------------

MEASURE = {"LITELLM_ENDPOINT": "http://127.0.0.1:9", "LITELLM_MASTER_KEY": "unused", "ROUTING_JUDGE_MODEL": "judge"}
WRITES: dict[str, tuple[int, tuple[str, ...]]] = {
    # beta's rows, addressed by id or name: as unknown as to a read
    "update beta's model": (3, ("model", "update", "{beta_ft}", "--upstream", "anthropic/other")),
    "remove beta's model": (3, ("model", "remove", "beta-ft", "--force")),
    "update beta's credential": (3, ("credential", "update", "{beta_cred}", "--secret-ref", "stolen")),
    "remove beta's credential": (3, ("credential", "remove", "{beta_cred}")),
    "remove beta's default": (3, ("model-default", "remove", "beta")),
    "update beta's eval case": (3, ("routing", "eval-case", "update", "{beta_case}", "--quality-bar", "0.1")),
    "remove beta's eval case": (3, ("routing", "eval-case", "remove", "{beta_case}")),
    "approve beta's proposal": (3, ("routing", "proposal", "approve", "{beta_pid}")),
    "reject beta's proposal": (3, ("routing", "proposal", "reject", "{beta_pid}")),
    "resume beta's measurement": (3, ("routing", "measurement", "run", "--resume", "{beta_mid}")),
    # naming beta as the owner
    "add a model for beta": (5, ("model", "add", "--name", "x", "--upstream", "openai/x", "--cluster-tenant", "beta")),
    "add a credential for beta": (5, ("credential", "add", "--provider", "mistral", "--secret-ref", "m",
                                      "--cluster-tenant", "beta")),
    "set beta's default": (5, ("model-default", "set", "--cluster-tenant", "beta", "--model", "base")),
    "pin beta's skill": (5, ("skill-posture", "set", "team/beta/summarise", "--pinned-model", "cand")),
    "clear beta's skill": (5, ("skill-posture", "clear", "team/beta/summarise")),
    "add an eval case to beta's skill": (5, ("routing", "eval-case", "add", "--skill", "team/beta/summarise",
                                             "--input", "x")),
    "move acme's case to beta": (5, ("routing", "eval-case", "update", "{acme_case}", "--skill-team", "beta")),
    "import a case of beta's": (5, ("routing", "eval-case", "import", "-")),
    "measure beta's skill": (5, ("routing", "measurement", "run", "--skill", "team/beta/summarise",
                                 "--candidate-model", "cand")),
    # global rows and operator-only verbs
    "update a global model": (5, ("model", "update", "base", "--upstream", "openai/evil")),
    "remove a global model": (5, ("model", "remove", "cand")),
    "update a global credential": (5, ("credential", "update", "{global_cred}", "--secret-ref", "mine")),
    "remove a global credential": (5, ("credential", "remove", "{global_cred}")),
    "set the global default": (5, ("model-default", "set", "--scope", "global", "--model", "cand")),
    "remove the global default": (5, ("model-default", "remove", "global")),
    "set an org skill": (5, ("skill-posture", "set", "summarise", "--pinned-model", "cand")),
    "add an eval case to an org skill": (5, ("routing", "eval-case", "add", "--skill", "summarise", "--input", "x")),
    "update an org eval case": (5, ("routing", "eval-case", "update", "{org_case}", "--quality-bar", "0.1")),
    "remove an org eval case": (5, ("routing", "eval-case", "remove", "{org_case}")),
    "approve an org proposal": (5, ("routing", "proposal", "approve", "{org_pid}")),
    "reject an org proposal": (5, ("routing", "proposal", "reject", "{org_pid}")),
    "measure an org skill": (5, ("routing", "measurement", "run", "--skill", "summarise", "--candidate-model", "cand")),
    "resume an org measurement": (5, ("routing", "measurement", "run", "--resume", "{org_mid}")),
    "create a tenant": (5, ("cluster-tenant", "create", "gamma")),
    "grant to itself": (5, ("cluster-tenant", "grant", "acme", "--model", "judge")),
    "remove beta": (5, ("cluster-tenant", "remove", "beta", "--force")),
}
BETA_CASE_LINE = json.dumps({"skillName": "summarise", "skillScope": "team", "skillTeam": "beta", "input": "x"}) + "\n"


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("name", WRITES)
def test_a_write_to_betas_or_global_rows_is_refused_and_changes_nothing(world: World, identity: str, name: str):
    exit_code, args = WRITES[name]
    before = world.digest()
    flags, extra = IDENTITIES[identity]
    result = world.oc(*flags, *fill(world, args), env={**extra, **MEASURE},
                      stdin=BETA_CASE_LINE if args[-1] == "-" else None)
    assert result.code == exit_code, f"exit {result.code}, expected {exit_code}: {result.err}"
    assert result.out == ""
    assert len(result.err.splitlines()) == 1 and result.err.startswith("error: "), result.err
    assert world.digest() == before, "a refused write changed the database"
