"""The user guide's commands, run through the real CLI against both backends.

SPEC §7 promises that ``-o json`` prints the API's wire shape in local *and* remote mode, and
SPEC §3 that every command of the guide works as printed. Each scenario here runs as a
subprocess (``python -m oc_cli``) once against a local SQLite file and once against a fresh
in-process control plane (``tests.support.cp_server``, dev mode), with an isolated ``$HOME``,
config file and a null keyring. The tests check:

* per mode: every JSON answer carries the API's field set for its resource (opencrane-api §2–§12;
  local may add fields), and the values that follow from the commands;
* in remote mode: each command sent exactly the documented requests (method, path, query, body),
  e.g. a full-body PUT after a GET for ``model update``, ``{"modelMode": null}`` for a posture
  clear and ``skillTeam=`` for an empty ``--skill-team`` filter;
* across modes: the same top-level JSON types, row counts and agreeing values.

Set-up that only one mode needs is done only there: the API never creates skills (remote seeds
one with ``add_skill``), and local mode needs a ClusterTenant with a grant before a tenant default.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from oc_cli import schema
from tests.support.cp_server import API, ControlPlaneServer, MeasurementOutcome
from tests.support.fake_gateway import FakeGateway, Reply

REPO = Path(__file__).resolve().parents[2]
MODES = ("local", "remote")
SUBPROCESS_TIMEOUT_S = 60

# The seed guide's eval case, exactly as printed (the expected answer is plain text, not JSON).
SEED_INPUT = '{"messages":[{"role":"user","content":"Summarise: …"}]}'
SEED_EXPECTED = "A two-sentence summary covering …"
DEFAULT_AUTO_CONFIG = {"objective": "cheapest-passing-bar", "sessionPin": True, "explorationRate": 0}

# The API's field set of each resource (opencrane-api.md). Local mode may add fields, never drop these.
CREDENTIAL_FIELDS = frozenset({"id", "scope", "clusterTenant", "provider", "secretRef", "litellmCredentialName",
                               "createdAt", "updatedAt"})
MODEL_FIELDS = frozenset({"id", "scope", "clusterTenant", "publicModelName", "litellmModelId", "upstreamModel",
                          "apiBase", "isDefault", "providerCredentialId", "createdAt", "updatedAt"})
POSTURE_FIELDS = frozenset({"name", "scope", "team", "path", "modelMode", "pinnedModel", "autoConfig",
                            "createdAt", "updatedAt"})
DEFAULT_FIELDS = frozenset({"id", "scope", "clusterTenant", "defaultModel", "autoConfig", "createdAt", "updatedAt"})
EVAL_CASE_FIELDS = frozenset({"id", "skillName", "skillScope", "skillTeam", "input", "expected", "qualityBar",
                              "createdAt", "updatedAt"})
MEASUREMENT_FIELDS = frozenset({"id", "skillName", "skillScope", "skillTeam", "candidateModel", "sampledCalls",
                                "atBarCheapFraction", "projectedSavingsPct", "ciLowPct", "ciHighPct", "overheadPct",
                                "skillContentHash", "skillDigest", "candidateModelId", "candidateUpstreamModel",
                                "runAt"})
PROPOSAL_FIELDS = frozenset({"id", "skillName", "skillScope", "skillTeam", "fromModel", "proposedModel",
                             "projectedSavingsPct", "ciLowPct", "ciHighPct", "skillContentHash", "skillDigest",
                             "proposedModelId", "measurementId", "status", "decidedBy", "decidedAt", "createdAt"})
RECOMMENDATION_FIELDS = frozenset({"skillName", "skillScope", "skillTeam", "modelMode", "currentModel",
                                   "recommendedModel", "recommendedModelId", "skillContentHash", "skillDigest",
                                   "projectedSavingsPct", "ciLowPct", "ciHighPct", "hasOpenProposal", "proposalId",
                                   "measurementId", "runAt"})
AUDIT_ENVELOPE_FIELDS = frozenset({"data", "pagination"})
AUDIT_ENTRY_FIELDS = frozenset({"timestamp", "action", "resource", "message"})  # `tenant` is omitted when null
PAGINATION_FIELDS = frozenset({"limit", "hasMore"})
DELETED_FIELDS = frozenset({"id", "status"})
UNCONFIGURED_RUN_FIELDS = frozenset({"status", "note"})
MEASURED_RUN_FIELDS = frozenset({"status", "measurement", "proposalId"})
DECISION_FIELDS = frozenset({"id", "status", "appliedModel"})

# The declaration (oc_cli.schema) of each field set above: its API fields must be exactly the set,
# and a control-plane row may carry, beyond them, only what the client declares it adds (a
# posture's derived `key`, a measurement's joined `proposalId`).
DECLARED = {CREDENTIAL_FIELDS: schema.CREDENTIAL, MODEL_FIELDS: schema.MODEL, POSTURE_FIELDS: schema.POSTURE,
            DEFAULT_FIELDS: schema.DEFAULT, EVAL_CASE_FIELDS: schema.EVAL_CASE,
            MEASUREMENT_FIELDS: schema.MEASUREMENT, PROPOSAL_FIELDS: schema.PROPOSAL,
            RECOMMENDATION_FIELDS: schema.RECOMMENDATION, DELETED_FIELDS: schema.DELETED,
            DECISION_FIELDS: schema.DECIDED}


# -- running oc ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request the control plane received, with the ``/api/v1`` prefix taken off the path."""

    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class Result:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    calls: list[Call]
    raw_queries: list[str]

    def json(self) -> Any:
        return json.loads(self.stdout)


def isolated_env(home: Path) -> dict[str, str]:
    """The caller's environment minus every oc setting, with a private home, config and no keyring."""
    dropped = ("OC_", "OPENCRANE_", "LITELLM_", "LANGFUSE_", "XDG_")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(dropped) and k not in ("ROUTING_JUDGE_MODEL", "CI", "NO_COLOR")}
    env.update(HOME=str(home), OC_CONFIG=str(home / "config.toml"), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local" / "share"),
               PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    return env


@dataclass
class Backend:
    """One mode's oc: local (``OC_DB``) or remote (``OPENCRANE_URL`` + ``OPENCRANE_TOKEN``)."""

    mode: str
    home: Path
    server: ControlPlaneServer | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = isolated_env(self.home)
        if self.server is None:
            env["OC_DB"] = str(self.home / "oc.db")
        else:
            env.update(OPENCRANE_URL=self.server.url, OPENCRANE_TOKEN="dev-token")
        env.update(self.extra_env)
        return env

    def run(self, *args: str, input: str | None = None) -> Result:
        before = len(self.server.requests) if self.server is not None else 0
        proc = subprocess.run([sys.executable, "-m", "oc_cli", *args], cwd=REPO, env=self.env(), input=input,
                              capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S)
        recorded = self.server.requests[before:] if self.server is not None else []
        calls = [Call(r.method, r.path.removeprefix(API), r.query, r.body) for r in recorded]
        return Result(args, proc.returncode, proc.stdout, proc.stderr, calls, [r.raw_query for r in recorded])

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self.run(*args, input=input)
        assert result.code == 0, f"oc {' '.join(args)} exited {result.code}: {result.stderr}"
        return result


@contextmanager
def open_backend(mode: str, home: Path) -> Iterator[Backend]:
    home.mkdir(parents=True, exist_ok=True)
    if mode == "local":
        yield Backend("local", home)
        return
    with ControlPlaneServer() as server:
        yield Backend("remote", home, server)


@pytest.fixture(params=MODES)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with open_backend(request.param, tmp_path / request.param) as b:
        yield b


Transcript = dict[str, Result]  # step name -> what oc printed and sent
Scenario = Callable[[Backend], Transcript]


@pytest.fixture(scope="module")
def seed_transcripts() -> dict[str, Transcript]:
    """Each mode's seed-guide results, filled by ``test_seed_guide_scenario`` and compared later."""
    return {}


@pytest.fixture(scope="module")
def measured_transcripts() -> dict[str, Transcript]:
    """Each mode's measured-scenario results, filled by ``test_measured_scenario``."""
    return {}


def transcripts_of_both(cache: dict[str, Transcript], tmp: Path, scenario: Scenario) -> dict[str, Transcript]:
    """Both modes' transcripts; a mode whose scenario test did not run (deselected) is run here."""
    for mode in MODES:
        if mode not in cache:
            with open_backend(mode, tmp / mode) as b:
                cache[mode] = scenario(b)
    return cache


# -- wire-shape checks --------------------------------------------------------------------------


def rows_of(value: Any) -> list[dict]:
    return value if isinstance(value, list) else [value]


def assert_wire_shape(value: Any, kind: type, fields: frozenset[str], where: str, *, exact: bool = False) -> None:
    """``value`` is a ``kind`` (dict or list of dicts) whose objects carry every API field.

    ``exact`` (used for the control plane itself) also forbids extra fields beyond those the client
    declares it adds, which keeps the field sets above honest: they are checked against the server
    every run.
    """
    added = DECLARED[fields].remote_fields() if fields in DECLARED else frozenset()
    assert isinstance(value, kind), f"{where}: expected a JSON {kind.__name__}, got {type(value).__name__}"
    for row in rows_of(value):
        assert isinstance(row, dict), f"{where}: expected objects, got {row!r}"
        missing = fields - set(row)
        assert not missing, f"{where}: API fields missing: {sorted(missing)}"
        if exact:
            assert set(row) <= fields | added, f"{where}: fields beyond the API's: {sorted(set(row) - fields - added)}"


def assert_audit_page(value: Any, where: str) -> None:
    assert_wire_shape(value, dict, AUDIT_ENVELOPE_FIELDS, where)
    assert_wire_shape(value["pagination"], dict, PAGINATION_FIELDS, f"{where} pagination")
    assert_wire_shape(value["data"], list, AUDIT_ENTRY_FIELDS, f"{where} data")


# -- the seed guide's scenario ----------------------------------------------------------------

# step -> (top-level JSON type, the API's field set of its objects)
SEED_SHAPES: dict[str, tuple[type, frozenset[str]]] = {
    "credential add": (dict, CREDENTIAL_FIELDS),
    "credential list": (list, CREDENTIAL_FIELDS),
    "credential show": (dict, CREDENTIAL_FIELDS),
    "credential update": (dict, CREDENTIAL_FIELDS),
    "model add": (dict, MODEL_FIELDS),
    "model list": (list, MODEL_FIELDS),
    "model show": (dict, MODEL_FIELDS),
    "model update": (dict, MODEL_FIELDS),
    "posture pin": (dict, POSTURE_FIELDS),
    "posture auto": (dict, POSTURE_FIELDS),
    "posture list": (list, POSTURE_FIELDS),
    "posture show": (dict, POSTURE_FIELDS),
    "posture clear": (dict, POSTURE_FIELDS),
    "default global": (dict, DEFAULT_FIELDS),
    "default tenant": (dict, DEFAULT_FIELDS),
    "default list": (list, DEFAULT_FIELDS),
    "eval-case add": (dict, EVAL_CASE_FIELDS),
    "eval-case list": (list, EVAL_CASE_FIELDS),
    "eval-case list org": (list, EVAL_CASE_FIELDS),
    "eval-case show": (dict, EVAL_CASE_FIELDS),
    "eval-case update": (dict, EVAL_CASE_FIELDS),
    "measurement run": (dict, UNCONFIGURED_RUN_FIELDS),
    "measurement list": (list, MEASUREMENT_FIELDS),
    "proposal list": (list, PROPOSAL_FIELDS),
    "recommendation list": (list, RECOMMENDATION_FIELDS),
    "audit list": (dict, AUDIT_ENVELOPE_FIELDS),
    "eval-case remove": (dict, DELETED_FIELDS),
    "default remove": (dict, DELETED_FIELDS),
    "model remove": (dict, DELETED_FIELDS),
    "credential remove": (dict, DELETED_FIELDS),
}


def seed_guide_scenario(b: Backend) -> Transcript:
    """Every command of the guide (plus the list/show/update/remove around them), in order."""
    results: Transcript = {}

    def step(name: str, *args: str, input: str | None = None) -> Any:
        results[name] = b.ok(*args, "-o", "json", input=input)
        return results[name].json()

    cred = step("credential add", "credential", "add", "--provider", "openai", "--secret-ref", "openai-prod")
    step("credential list", "credential", "list")
    step("credential show", "credential", "show", cred["id"])
    step("credential update", "credential", "update", cred["id"], "--secret-ref", "openai-prod-2")
    model = step("model add", "model", "add", "--name", "my-cheap-model", "--upstream", "openai/gpt-4o-mini",
                 "--credential", cred["id"])
    step("model list", "model", "list")
    step("model show", "model", "show", model["id"])
    step("model update", "model", "update", model["id"], "--upstream", "openai/gpt-4.1-mini")

    if b.server is not None:
        b.server.add_skill("summarise", "org")  # the API never creates skills
    step("posture pin", "skill-posture", "set", "summarise", "--pinned-model", "my-cheap-model")
    step("posture auto", "skill-posture", "set", "summarise", "--auto")
    step("posture list", "skill-posture", "list")
    step("posture show", "skill-posture", "show", "summarise")
    step("posture clear", "skill-posture", "clear", "summarise")

    global_default = step("default global", "model-default", "set", "--model", "my-cheap-model")
    if b.mode == "local":  # local mode keeps tenants to their allowlists
        b.ok("cluster-tenant", "create", "acme")
        b.ok("cluster-tenant", "grant", "acme", "--model", "my-cheap-model")
    tenant_default = step("default tenant", "model-default", "set", "--cluster-tenant", "acme",
                          "--model", "my-cheap-model")
    step("default list", "model-default", "list")
    step("default show", "model-default", "show", "global")

    case = step("eval-case add", "routing", "eval-case", "add", "--skill-name", "summarise", "--skill-scope", "org",
                "--input", SEED_INPUT, "--expected", SEED_EXPECTED, "--quality-bar", "0.8")
    step("eval-case list", "routing", "eval-case", "list", "--skill-name", "summarise")
    step("eval-case list org", "routing", "eval-case", "list", "--skill-team", "")
    step("eval-case show", "routing", "eval-case", "show", case["id"])
    step("eval-case update", "routing", "eval-case", "update", case["id"], "--quality-bar", "0.9",
         "--expected", '{"mustMention": ["cost", "quality"]}')

    step("measurement run", "routing", "measurement", "run", "--skill-name", "summarise",
         "--candidate-model", "my-cheap-model")
    step("measurement list", "routing", "measurement", "list", "--skill-name", "summarise")
    step("proposal list", "routing", "proposal", "list")
    step("recommendation list", "routing", "recommendation", "list")
    step("audit list", "audit", "list")

    step("eval-case remove", "routing", "eval-case", "remove", case["id"])
    step("default remove", "model-default", "remove", tenant_default["id"])
    b.ok("model-default", "remove", global_default["id"])
    if b.mode == "local":
        b.ok("cluster-tenant", "revoke", "acme", "--model", "my-cheap-model")
    step("model remove", "model", "remove", model["id"])
    step("credential remove", "credential", "remove", cred["id"])
    return results


def seed_expected_calls(results: Transcript) -> dict[str, list[Call]]:
    """The requests each step must send, per opencrane-api §2–§12 and SPEC §8."""
    cred = results["credential add"].json()["id"]
    model = results["model add"].json()["id"]
    case = results["eval-case add"].json()["id"]
    tenant_default = results["default tenant"].json()["id"]
    skill = {"name": "summarise", "scope": "org", "team": ""}
    seed_input = json.loads(SEED_INPUT)
    return {
        "credential add": [Call("POST", "/providers/credentials", {},
                                {"provider": "openai", "secretRef": "openai-prod"})],
        "credential list": [Call("GET", "/providers/credentials", {}, None)],
        "credential show": [Call("GET", f"/providers/credentials/{cred}", {}, None)],
        # PUT replaces the row, so the update reads it and sends every field back (§3.3).
        "credential update": [Call("GET", f"/providers/credentials/{cred}", {}, None),
                              Call("PUT", f"/providers/credentials/{cred}", {},
                                   {"provider": "openai", "secretRef": "openai-prod-2", "scope": "global"})],
        "model add": [Call("POST", "/models", {},
                           {"publicModelName": "my-cheap-model", "upstreamModel": "openai/gpt-4o-mini",
                            "providerCredentialId": cred, "isDefault": False})],
        "model list": [Call("GET", "/models", {}, None)],
        "model show": [Call("GET", f"/models/{model}", {}, None)],
        "model update": [Call("GET", f"/models/{model}", {}, None),
                         Call("PUT", f"/models/{model}", {},
                              {"publicModelName": "my-cheap-model", "upstreamModel": "openai/gpt-4.1-mini",
                               "scope": "global", "isDefault": False, "providerCredentialId": cred})],
        "posture pin": [Call("PUT", "/skills/posture/skill", skill,
                             {"modelMode": "pinned", "pinnedModel": "my-cheap-model"})],
        "posture auto": [Call("PUT", "/skills/posture/skill", skill,
                              {"modelMode": "auto", "autoConfig": DEFAULT_AUTO_CONFIG})],
        "posture list": [Call("GET", "/skills/posture", {}, None)],
        "posture show": [Call("GET", "/skills/posture/skill", skill, None)],
        "posture clear": [Call("PUT", "/skills/posture/skill", skill, {"modelMode": None})],
        # The upsert overwrites defaultModel and autoConfig, so the scope's row is read first (§6.2).
        "default global": [Call("GET", "/model-routing/defaults", {}, None),
                           Call("PUT", "/model-routing/defaults", {},
                                {"scope": "global", "defaultModel": "my-cheap-model"})],
        "default tenant": [Call("GET", "/model-routing/defaults", {"clusterTenant": "acme"}, None),
                           Call("PUT", "/model-routing/defaults", {},
                                {"scope": "clusterTenant", "clusterTenant": "acme",
                                 "defaultModel": "my-cheap-model"})],
        "default list": [Call("GET", "/model-routing/defaults", {}, None)],
        "eval-case add": [Call("POST", "/model-routing/eval-cases", {},
                               {"skillName": "summarise", "skillScope": "org", "skillTeam": "",
                                "input": seed_input, "expected": SEED_EXPECTED, "qualityBar": 0.8})],
        "eval-case list": [Call("GET", "/model-routing/eval-cases", {"skillName": "summarise"}, None)],
        "eval-case list org": [Call("GET", "/model-routing/eval-cases", {"skillTeam": ""}, None)],
        "eval-case show": [Call("GET", f"/model-routing/eval-cases/{case}", {}, None)],
        "eval-case update": [Call("GET", f"/model-routing/eval-cases/{case}", {}, None),
                             Call("PUT", f"/model-routing/eval-cases/{case}", {},
                                  {"skillName": "summarise", "skillScope": "org", "skillTeam": "",
                                   "input": seed_input, "expected": {"mustMention": ["cost", "quality"]},
                                   "qualityBar": 0.9})],
        "measurement run": [Call("POST", "/model-routing/measurements/run", {},
                                 {"skillName": "summarise", "skillScope": "org", "skillTeam": "",
                                  "candidateModel": "my-cheap-model"})],
        "measurement list": [Call("GET", "/model-routing/measurements", {"skillName": "summarise"}, None)],
        "proposal list": [Call("GET", "/model-routing/proposals", {}, None)],
        "recommendation list": [Call("GET", "/model-routing/recommendations", {}, None)],
        "audit list": [Call("GET", "/audit", {"limit": "100"}, None)],
        "eval-case remove": [Call("DELETE", f"/model-routing/eval-cases/{case}", {}, None)],
        "default remove": [Call("DELETE", f"/model-routing/defaults/{tenant_default}", {}, None)],
        "model remove": [Call("GET", f"/models/{model}", {}, None), Call("DELETE", f"/models/{model}", {}, None)],
        "credential remove": [Call("DELETE", f"/providers/credentials/{cred}", {}, None)],
    }


def seed_agreeing_values(results: Transcript) -> dict[str, Any]:
    """The values both modes must produce, by ``step: field``."""
    out = {}

    def take(step: str, *path: str | int) -> None:
        value: Any = results[step].json()
        for part in path:
            value = value[part]
        out[f"{step}: {'.'.join(str(p) for p in path)}"] = value

    for step in ("credential add", "credential show"):
        take(step, "provider")
        take(step, "secretRef")
        take(step, "scope")
    take("credential update", "secretRef")
    for step in ("model add", "model show"):
        take(step, "publicModelName")
        take(step, "upstreamModel")
        take(step, "scope")  # not litellmModelId: only the server registers with LiteLLM
    take("model list", 0, "publicModelName")
    take("model update", "upstreamModel")
    take("model update", "publicModelName")
    for step in ("posture pin", "posture auto", "posture show", "posture clear"):
        take(step, "modelMode")
        take(step, "pinnedModel")
        take(step, "autoConfig")
    take("posture list", 0, "name")
    for step in ("default global", "default tenant"):
        take(step, "scope")
        take(step, "clusterTenant")
        take(step, "defaultModel")
    for step in ("eval-case add", "eval-case show", "eval-case update"):
        take(step, "input")
        take(step, "expected")
        take(step, "qualityBar")
        take(step, "skillTeam")
    take("measurement run", "status")
    take("eval-case remove", "status")
    take("model remove", "status")
    return out


def test_seed_guide_scenario(backend: Backend, seed_transcripts: dict[str, Transcript]) -> None:
    results = seed_guide_scenario(backend)
    seed_transcripts[backend.mode] = results
    remote = backend.mode == "remote"

    for step, (kind, fields) in SEED_SHAPES.items():
        assert_wire_shape(results[step].json(), kind, fields, f"{backend.mode} {step}", exact=remote)
    assert_audit_page(results["audit list"].json(), f"{backend.mode} audit list")

    j = {step: r.json() for step, r in results.items()}
    cred, model = j["credential add"], j["model add"]
    assert (cred["provider"], cred["secretRef"], cred["scope"], cred["clusterTenant"]) == \
        ("openai", "openai-prod", "global", None)
    assert [c["id"] for c in j["credential list"]] == [cred["id"]]
    assert j["credential update"]["secretRef"] == "openai-prod-2"
    assert (model["publicModelName"], model["upstreamModel"], model["providerCredentialId"]) == \
        ("my-cheap-model", "openai/gpt-4o-mini", cred["id"])
    # the reference server reports its placeholder when it could not register the model with LiteLLM;
    # local mode registers nothing with LiteLLM and says so with null
    assert model["litellmModelId"] == ("placeholder:global-my-cheap-model" if remote else None)
    assert [m["id"] for m in j["model list"]] == [model["id"]]
    updated = j["model update"]
    assert updated["upstreamModel"] == "openai/gpt-4.1-mini"
    # The fields the update did not name keep their values (the reference CLI's partial PUT lost them).
    assert {k: updated[k] for k in ("publicModelName", "scope", "isDefault", "providerCredentialId")} == \
        {"publicModelName": "my-cheap-model", "scope": "global", "isDefault": False,
         "providerCredentialId": cred["id"]}

    assert (j["posture pin"]["modelMode"], j["posture pin"]["pinnedModel"]) == ("pinned", "my-cheap-model")
    assert (j["posture auto"]["modelMode"], j["posture auto"]["pinnedModel"]) == ("auto", None)
    assert j["posture auto"]["autoConfig"] == DEFAULT_AUTO_CONFIG
    assert [(p["name"], p["scope"], p["team"], p["modelMode"]) for p in j["posture list"]] == \
        [("summarise", "org", "", "auto")]
    assert j["posture show"]["modelMode"] == "auto"
    assert (j["posture clear"]["modelMode"], j["posture clear"]["pinnedModel"], j["posture clear"]["autoConfig"]) \
        == (None, None, None)

    assert (j["default global"]["scope"], j["default global"]["clusterTenant"], j["default global"]["defaultModel"]) \
        == ("global", None, "my-cheap-model")
    assert (j["default tenant"]["scope"], j["default tenant"]["clusterTenant"], j["default tenant"]["defaultModel"]) \
        == ("clusterTenant", "acme", "my-cheap-model")
    assert sorted((d["scope"], d["clusterTenant"]) for d in j["default list"]) == \
        [("clusterTenant", "acme"), ("global", None)]

    case = j["eval-case add"]
    assert case["input"] == json.loads(SEED_INPUT)
    assert case["expected"] == SEED_EXPECTED  # plain text stays a string
    assert (case["skillName"], case["skillScope"], case["skillTeam"], case["qualityBar"]) == \
        ("summarise", "org", "", 0.8)
    assert [c["id"] for c in j["eval-case list"]] == [case["id"]]
    assert [c["id"] for c in j["eval-case list org"]] == [case["id"]]
    assert j["eval-case show"] == case
    assert j["eval-case update"]["qualityBar"] == 0.9
    assert j["eval-case update"]["expected"] == {"mustMention": ["cost", "quality"]}
    assert j["eval-case update"]["input"] == case["input"]

    assert j["measurement run"]["status"] == "unconfigured"
    assert j["measurement list"] == [] and j["proposal list"] == [] and j["recommendation list"] == []
    for step, row_id in (("eval-case remove", case["id"]), ("default remove", j["default tenant"]["id"]),
                         ("model remove", model["id"]), ("credential remove", cred["id"])):
        assert (j[step]["id"], j[step]["status"]) == (row_id, "deleted"), step

    if remote:
        server = backend.server
        assert server is not None
        for step, calls in seed_expected_calls(results).items():
            assert results[step].calls == calls, f"remote {step}: requests differ"
        assert results["eval-case list org"].raw_queries == ["skillTeam="]
        assert all(r.headers.get("authorization") == "Bearer <redacted>" for r in server.requests)
        writes = [r for r in server.requests if r.method in ("POST", "PUT")]
        assert writes and all(r.headers.get("content-type", "").startswith("application/json") for r in writes)
        assert j["audit list"]["data"] == []  # the control plane audits only proposal decisions (§12)
    else:
        audited = " ".join(e["resource"] for e in j["audit list"]["data"])
        for row_id in (cred["id"], model["id"], case["id"], j["default global"]["id"]):
            assert row_id in audited, f"local mode audits every change; {row_id} is missing"


def assert_modes_agree(local: Transcript, remote: Transcript, shapes: dict[str, tuple[type, frozenset[str]]],
                       values: Callable[[Transcript], dict[str, Any]]) -> None:
    """Same JSON types, row counts and API fields per step; equal values where the commands fix them."""
    for step, (kind, fields) in shapes.items():
        lj, rj = local[step].json(), remote[step].json()
        assert type(lj) is type(rj), f"{step}: local {type(lj).__name__}, remote {type(rj).__name__}"
        assert_wire_shape(lj, kind, fields, f"local {step}")
        assert_wire_shape(rj, kind, fields, f"remote {step}")
        if isinstance(lj, list):
            assert len(lj) == len(rj), f"{step}: local {len(lj)} rows, remote {len(rj)}"
    lv, rv = values(local), values(remote)
    differing = {k: (lv[k], rv[k]) for k in lv if lv[k] != rv[k]}
    assert not differing, f"values differ between local and remote: {differing}"


def test_seed_guide_json_agrees_between_backends(seed_transcripts: dict[str, Transcript],
                                                  tmp_path: Path) -> None:
    both = transcripts_of_both(seed_transcripts, tmp_path, seed_guide_scenario)
    assert_modes_agree(both["local"], both["remote"], SEED_SHAPES, seed_agreeing_values)
    local_audit, remote_audit = both["local"]["audit list"].json(), both["remote"]["audit list"].json()
    assert local_audit["pagination"]["limit"] == remote_audit["pagination"]["limit"] == 100


# -- defaults by scope name ---------------------------------------------------------------------


def test_model_default_show_and_remove_accept_global_and_a_tenant_name(backend: Backend) -> None:
    """`model-default show|remove` take ``ID|global|TENANT`` (their metavar and help) in both modes."""
    backend.ok("model", "add", "--name", "my-cheap-model", "--upstream", "openai/gpt-4o-mini")
    if backend.mode == "local":
        backend.ok("cluster-tenant", "create", "acme", "--grant-all-global")
    global_row = backend.ok("model-default", "set", "--model", "my-cheap-model", "-o", "json").json()
    tenant_row = backend.ok("model-default", "set", "--cluster-tenant", "acme", "--model", "my-cheap-model",
                            "-o", "json").json()
    shown = backend.run("model-default", "show", "global", "-o", "json")
    assert shown.code == 0, shown.stderr
    assert shown.json()["id"] == global_row["id"]
    shown = backend.run("model-default", "show", "acme", "-o", "json")
    assert shown.code == 0, shown.stderr
    assert shown.json()["id"] == tenant_row["id"]
    removed = backend.run("model-default", "remove", "acme", "-o", "json")
    assert removed.code == 0, removed.stderr
    assert removed.json()["id"] == tenant_row["id"]


# -- a measured run, a proposal and its approval ------------------------------------------------

MEASURED_SHAPES: dict[str, tuple[type, frozenset[str]]] = {
    "baseline add": (dict, MODEL_FIELDS),
    "candidate add": (dict, MODEL_FIELDS),
    "posture pin": (dict, POSTURE_FIELDS),
    "measurement run": (dict, MEASURED_RUN_FIELDS),
    "measurement list": (list, MEASUREMENT_FIELDS),
    "measurement show": (dict, MEASUREMENT_FIELDS),
    "proposal list": (list, PROPOSAL_FIELDS),
    "proposal show": (dict, PROPOSAL_FIELDS),
    "recommendation list": (list, RECOMMENDATION_FIELDS),
    "proposal approve": (dict, DECISION_FIELDS),
    "posture show": (dict, POSTURE_FIELDS),
    "proposal list applied": (list, PROPOSAL_FIELDS),
    "recommendation list --all": (list, RECOMMENDATION_FIELDS),
    "audit list": (dict, AUDIT_ENVELOPE_FIELDS),
}
#: Enough for a proposal: the savings test needs 6 cases, and 8 identical verdicts show
#: non-inferiority at a margin of 0.5 (the default 0.05 needs 73 cases; docs/statistics.md).
MEASURED_CASES = 8
EVAL_CASES_JSONL = "".join(
    json.dumps({"skillName": "summarise", "skillScope": "org", "input": f"Summarise: report {i}",
                "expected": "Two sentences.", "qualityBar": 0.8}) + "\n" for i in range(MEASURED_CASES))


@contextmanager
def measurement_seams(b: Backend) -> Iterator[None]:
    """Configured seams: a scripted gateway and judge (local), a canned outcome (remote)."""
    if b.server is not None:
        b.server.set_measurement_outcome(MeasurementOutcome())
        yield
        return
    with FakeGateway(api_key="sk-gateway") as gateway:
        gateway.add_model("big-model", prices=(10.0, 30.0))
        gateway.add_model("my-cheap-model", prices=(0.1, 0.3))
        gateway.add_model("judge-model", Reply.ok('{"score": 0.95}'), prices=(1.0, 1.0))
        b.extra_env.update(LITELLM_ENDPOINT=gateway.url, LITELLM_MASTER_KEY="sk-gateway",
                           ROUTING_JUDGE_MODEL="judge-model")
        yield


def measured_scenario(b: Backend) -> Transcript:
    """Measure a cheaper candidate, read the evidence, approve the proposal, see the switch."""
    results: Transcript = {}

    def step(name: str, *args: str, input: str | None = None) -> Any:
        results[name] = b.ok(*args, "-o", "json", input=input)
        return results[name].json()

    with measurement_seams(b):
        step("baseline add", "model", "add", "--name", "big-model", "--upstream", "anthropic/claude-sonnet-4")
        step("candidate add", "model", "add", "--name", "my-cheap-model", "--upstream", "openai/gpt-4o-mini")
        if b.server is not None:
            b.server.add_skill("summarise", "org")
        step("posture pin", "skill-posture", "set", "summarise", "--pinned-model", "big-model")
        step("eval-case import", "routing", "eval-case", "import", "-", input=EVAL_CASES_JSONL)
        run = step("measurement run", "routing", "measurement", "run", "--skill-name", "summarise",
                   "--candidate-model", "my-cheap-model", "--min-cases", "3", "--quality-margin", "0.5", "--seed", "7")
        step("measurement list", "routing", "measurement", "list", "--skill-name", "summarise")
        step("measurement show", "routing", "measurement", "show", run["measurement"]["id"])
        proposal = run["proposalId"]
        assert proposal, f"{b.mode}: the measurement proposed nothing: {run}"
        step("proposal list", "routing", "proposal", "list", "--status", "pending")
        step("proposal show", "routing", "proposal", "show", proposal)
        step("recommendation list", "routing", "recommendation", "list")
        step("proposal approve", "routing", "proposal", "approve", proposal)
        results["approve again"] = b.run("routing", "proposal", "approve", proposal, "-o", "json")
        step("posture show", "skill-posture", "show", "summarise")
        step("proposal list applied", "routing", "proposal", "list", "--status", "applied")
        step("recommendation list after approve", "routing", "recommendation", "list")
        step("recommendation list --all", "routing", "recommendation", "list", "--all")
        results["recommendation table --all"] = b.ok("routing", "recommendation", "list", "--all")
        results["recommendation table"] = b.ok("routing", "recommendation", "list")
        step("audit list", "audit", "list")
    return results


def measured_agreeing_values(results: Transcript) -> dict[str, Any]:
    j = {step: r.json() for step, r in results.items() if r.code == 0 and " table" not in step}
    run = j["measurement run"]
    proposal = j["proposal show"]
    rec = j["recommendation list"][0]
    return {
        "run status": run["status"],
        "run candidate": run["measurement"]["candidateModel"],
        "run skill": (run["measurement"]["skillName"], run["measurement"]["skillScope"],
                      run["measurement"]["skillTeam"]),
        "run cases": run["measurement"]["sampledCalls"],
        "run candidate upstream": run["measurement"]["candidateUpstreamModel"],
        # not candidateModelId: the candidate's LiteLLM id, which only the server registers
        "proposal models": (proposal["fromModel"], proposal["proposedModel"], proposal["status"]),
        "proposal evidence": proposal["measurementId"] == run["measurement"]["id"],
        "recommendation": (rec["currentModel"], rec["recommendedModel"], rec["modelMode"], rec["hasOpenProposal"],
                           rec["proposalId"] == proposal["id"]),
        "approve": (j["proposal approve"]["status"], j["proposal approve"]["appliedModel"]),
        "approve again": (results["approve again"].code, results["approve again"].stdout),
        "posture after": (j["posture show"]["modelMode"], j["posture show"]["pinnedModel"]),
        "applied": [p["status"] for p in j["proposal list applied"]],
        # a switch that is made is no longer offered, unless asked for with --all
        "recommendations after approve": (j["recommendation list after approve"],
                                          [r["recommendedModel"] for r in j["recommendation list --all"]]),
    }


def test_measured_scenario(backend: Backend, measured_transcripts: dict[str, Transcript]) -> None:
    results = measured_scenario(backend)
    measured_transcripts[backend.mode] = results
    remote = backend.mode == "remote"

    for step, (kind, fields) in MEASURED_SHAPES.items():
        assert_wire_shape(results[step].json(), kind, fields, f"{backend.mode} {step}", exact=remote)
    assert_audit_page(results["audit list"].json(), f"{backend.mode} audit list")
    run = results["measurement run"].json()
    assert_wire_shape(run["measurement"], dict, MEASUREMENT_FIELDS, f"{backend.mode} run measurement", exact=remote)
    assert run["status"] == "measured" and run["measurement"]["sampledCalls"] == MEASURED_CASES
    measurement_id, proposal_id = run["measurement"]["id"], run["proposalId"]
    assert [m["id"] for m in results["measurement list"].json()] == [measurement_id]
    assert results["measurement show"].json()["id"] == measurement_id
    pending = results["proposal list"].json()
    assert [(p["id"], p["fromModel"], p["proposedModel"], p["status"]) for p in pending] == \
        [(proposal_id, "big-model", "my-cheap-model", "pending")]
    decision = results["proposal approve"].json()
    assert (decision["id"], decision["status"], decision["appliedModel"]) == \
        (proposal_id, "applied", "my-cheap-model")
    again = results["approve again"]
    assert again.code == 4 and again.stdout == ""
    assert again.stderr.count("\n") == 1 and again.stderr.startswith("error: ")
    assert "[PROPOSAL_ALREADY_DECIDED]" in again.stderr
    posture = results["posture show"].json()
    assert (posture["modelMode"], posture["pinnedModel"]) == ("pinned", "my-cheap-model")
    # After the approval the recommendation is applied: left out, shown with --all (both modes).
    assert results["recommendation list after approve"].json() == []
    assert [r["recommendedModel"] for r in results["recommendation list --all"].json()] == ["my-cheap-model"]
    table = results["recommendation table --all"].stdout.splitlines()
    assert len(table) == 2 and table[1].split()[0] == "summarise" and table[1].rstrip().endswith("applied")
    assert "switched, saving" in table[1] and "save up to" not in table[1]
    assert results["recommendation table"].stdout == ""
    assert "1 already applied: see them with --all" in results["recommendation table"].stderr
    entries = results["audit list"].json()["data"]
    assert any(e["action"] == "RoutingProposalApplied" and e["resource"] == f"RoutingProposal/{proposal_id}"
               for e in entries), entries

    if remote:
        calls = {step: r.calls for step, r in results.items()}
        assert [c.method + " " + c.path for c in calls["eval-case import"]] == \
            ["POST /model-routing/eval-cases"] * MEASURED_CASES
        # Local-mode knobs (--min-cases, --quality-margin, --seed) have no API field and are not sent.
        assert calls["measurement run"] == [Call("POST", "/model-routing/measurements/run", {},
                                                 {"skillName": "summarise", "skillScope": "org", "skillTeam": "",
                                                  "candidateModel": "my-cheap-model"})]
        assert calls["proposal list"] == [Call("GET", "/model-routing/proposals", {"status": "pending"}, None)]
        assert calls["proposal approve"] == [Call("POST", f"/model-routing/proposals/{proposal_id}/approve", {},
                                                  None)]
        assert calls["approve again"] == calls["proposal approve"]


def test_measured_json_agrees_between_backends(measured_transcripts: dict[str, Transcript],
                                               tmp_path: Path) -> None:
    both = transcripts_of_both(measured_transcripts, tmp_path, measured_scenario)
    assert_modes_agree(both["local"], both["remote"], MEASURED_SHAPES, measured_agreeing_values)


# -- the contract: every answer validates against its one declaration, in both modes -----------

# step -> (declared object, a list of them?) for every step of both scenarios
SEED_OBJECTS: dict[str, tuple[schema.Obj, bool]] = {
    "credential add": (schema.CREDENTIAL, False), "credential list": (schema.CREDENTIAL, True),
    "credential show": (schema.CREDENTIAL, False), "credential update": (schema.CREDENTIAL, False),
    "model add": (schema.MODEL, False), "model list": (schema.MODEL, True), "model show": (schema.MODEL, False),
    "model update": (schema.MODEL, False),
    "posture pin": (schema.POSTURE, False), "posture auto": (schema.POSTURE, False),
    "posture list": (schema.POSTURE, True), "posture show": (schema.POSTURE, False),
    "posture clear": (schema.POSTURE, False),
    "default global": (schema.DEFAULT, False), "default tenant": (schema.DEFAULT, False),
    "default list": (schema.DEFAULT, True), "default show": (schema.DEFAULT, False),
    "eval-case add": (schema.EVAL_CASE, False), "eval-case list": (schema.EVAL_CASE, True),
    "eval-case list org": (schema.EVAL_CASE, True), "eval-case show": (schema.EVAL_CASE, False),
    "eval-case update": (schema.EVAL_CASE, False),
    "measurement run": (schema.RUN_ANSWER, False), "measurement list": (schema.MEASUREMENT, True),
    "proposal list": (schema.PROPOSAL, True), "recommendation list": (schema.RECOMMENDATION, True),
    "audit list": (schema.AUDIT_PAGE, False),
    "eval-case remove": (schema.DELETED, False), "default remove": (schema.DELETED, False),
    "model remove": (schema.DELETED, False), "credential remove": (schema.DELETED, False),
}
MEASURED_OBJECTS: dict[str, tuple[schema.Obj, bool]] = {
    "baseline add": (schema.MODEL, False), "candidate add": (schema.MODEL, False),
    "posture pin": (schema.POSTURE, False), "eval-case import": (schema.IMPORTED, False),
    "measurement run": (schema.RUN_ANSWER, False), "measurement list": (schema.MEASUREMENT, True),
    "measurement show": (schema.MEASUREMENT, False), "proposal list": (schema.PROPOSAL, True),
    "proposal show": (schema.PROPOSAL, False), "recommendation list": (schema.RECOMMENDATION, True),
    "proposal approve": (schema.DECIDED, False), "posture show": (schema.POSTURE, False),
    "proposal list applied": (schema.PROPOSAL, True), "audit list": (schema.AUDIT_PAGE, False),
    "recommendation list after approve": (schema.RECOMMENDATION, True),
    "recommendation list --all": (schema.RECOMMENDATION, True),
}


def assert_declared(transcript: Transcript, objects: dict[str, tuple[schema.Obj, bool]], mode: str) -> None:
    """Every step's JSON is exactly one declared object (or a list of them): the closed pydantic
    model of ``oc_cli.schema`` rejects a missing or mistyped field and any field not declared."""
    # (steps named "… table" captured the table output, not JSON)
    assert set(objects) == {step for step, r in transcript.items() if r.code == 0 and " table" not in step}, \
        "a step is not mapped"
    for step, (obj, many) in objects.items():
        value = transcript[step].json()
        try:
            schema.check(obj, value, many=many, closed=True)
        except schema.WireError as exc:
            raise AssertionError(f"{mode} {step}: {exc}") from None


def test_every_json_answer_validates_against_its_declaration(seed_transcripts: dict[str, Transcript],
                                                            measured_transcripts: dict[str, Transcript],
                                                            tmp_path: Path) -> None:
    seed = transcripts_of_both(seed_transcripts, tmp_path / "seed", seed_guide_scenario)
    measured = transcripts_of_both(measured_transcripts, tmp_path / "measured", measured_scenario)
    for mode in MODES:
        assert_declared(seed[mode], SEED_OBJECTS, mode)
        assert_declared(measured[mode], MEASURED_OBJECTS, mode)
        # the lists that a scenario leaves empty in its seed run are filled in the measured one
        for step in ("measurement list", "proposal list", "recommendation list"):
            assert measured[mode][step].json(), f"{mode} {step}"
    # The derived and joined fields are there in both modes, computed the same way.
    for mode in MODES:
        assert [p["key"] for p in seed[mode]["posture list"].json()] == ["summarise"], mode
        assert [r["skill"] for r in measured[mode]["recommendation list"].json()] == ["summarise"], mode
        run = measured[mode]["measurement run"].json()
        shown = measured[mode]["measurement show"].json()
        assert run["measurement"]["proposalId"] == shown["proposalId"] == run["proposalId"], mode


def test_the_declarations_match_the_api_field_sets() -> None:
    """The API fields declared in oc_cli.schema are the ones opencrane-api.md lists (above)."""
    for fields, obj in DECLARED.items():
        assert obj.api_fields() == fields, obj
