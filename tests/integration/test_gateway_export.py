"""`oc gateway export` drives a real LiteLLM proxy: the proxy is started from the exported file.

The upstreams are OpenAI-compatible servers on loopback (``tests/support/named_upstream.py``) that
answer every call with their own name, reached through each model's ``api_base``, so the answer
tells which upstream served a request. The registry belongs to ClusterTenant ``acme``:

* ``strong`` ($10/$30 per Mtok) and ``cheap`` ($1/$3) — the measured pair; ``judge`` grades;
* ``primary`` points at a port nothing listens on (connection refused); acme's default names it
  with the fallback chain ``[backup]``;
* ``other`` is a global model acme is not granted; the org skill ``translate`` is pinned to it, so
  its resolution for acme is blocked.

One database and one sequence for the module: export → proxy → requests → measurement through that
proxy → approve → diff → re-export → proxy restart → requests again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.integration.conftest import LITELLM_MISSING, litellm_available
from tests.integration.litellm_proxy import DEFAULT_MASTER_KEY, Proxy, start_proxy_from_config
from tests.support.named_upstream import COMPLETION_TOKENS, PROMPT_TOKENS, NamedUpstream, refused_api_base
from tests.support.oc_process import Oc

pytestmark = pytest.mark.integration

SECRET_VAR = "ACME_GATEWAY_KEY"  # what the credential's secretRef `acme-gateway-key` maps to
SKILL = "team/acme/summarise"
CASES = 10

BASE = f"""\
general_settings:
  master_key: {DEFAULT_MASTER_KEY}
litellm_settings:
  telemetry: false
  request_timeout: 30
router_settings:
  num_retries: 0
  disable_cooldowns: true
"""


def chat(proxy: Proxy, model: str) -> httpx.Response:
    return httpx.post(f"{proxy.url}/v1/chat/completions", timeout=60,
                      headers={"authorization": f"Bearer {proxy.master_key}"},
                      json={"model": model, "messages": [{"role": "user", "content": "Which upstream are you?"}]})


def served_by(proxy: Proxy, model: str) -> str:
    response = chat(proxy, model)
    assert response.status_code == 200, f"{model}: {response.status_code} {response.text[:300]}"
    return response.json()["choices"][0]["message"]["content"]


@dataclass
class World:
    oc: Oc
    directory: Path
    upstreams: dict[str, NamedUpstream]
    secret: str
    deployed: Path
    first_export_err: str

    def proxy(self, name: str) -> Proxy:
        # a generous start-up bound: the machine may be busy, and a slow start is not what is under test
        return start_proxy_from_config(self.directory / name, self.deployed, master_key=DEFAULT_MASTER_KEY,
                                       env={SECRET_VAR: self.secret}, startup_timeout=240.0)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if not litellm_available():
        pytest.skip(LITELLM_MISSING)
    directory = tmp_path_factory.mktemp("gateway-export")
    upstreams = {name: NamedUpstream(f"{name}-upstream") for name in ("strong", "cheap", "backup", "other")}
    upstreams["judge"] = NamedUpstream("judge-upstream", reply='{"score": 0.95}')
    oc = Oc(directory / "oc")
    oc.home.mkdir()
    try:
        cred = oc.json("credential", "add", "--provider", "openai", "--secret-ref", "acme-gateway-key")["id"]
        prices = {"strong": ("10", "30"), "cheap": ("1", "3"), "judge": ("2", "6")}
        for name, upstream in upstreams.items():
            extra = ["--input-cost-per-mtok", prices[name][0], "--output-cost-per-mtok", prices[name][1]] \
                if name in prices else []
            oc.run("model", "add", "--name", name, "--upstream", f"openai/{name}-model", "--api-base",
                   upstream.api_base, "--credential", cred, *extra)
        oc.run("model", "add", "--name", "primary", "--upstream", "openai/primary-model", "--api-base",
               refused_api_base(), "--credential", cred)
        oc.run("cluster-tenant", "create", "acme")
        oc.run("cluster-tenant", "grant", "acme", *[a for m in ("strong", "cheap", "backup", "judge", "primary")
                                                      for a in ("--model", m)])
        oc.run("model-default", "set", "--model", "strong")
        oc.run("model-default", "set", "--cluster-tenant", "acme", "--model", "primary", "--auto-config", json.dumps(
            {"objective": "cheapest-passing-bar", "sessionPin": True, "explorationRate": 0, "fallbacks": ["backup"]}))
        oc.run("skill-posture", "set", SKILL, "--pinned-model", "strong")
        oc.run("skill-posture", "set", "team/acme/ops", "--pinned-model", "primary")
        oc.run("skill-posture", "set", "translate", "--pinned-model", "other")
        cases = directory / "cases.jsonl"
        cases.write_text("".join(json.dumps({
            "skillName": "summarise", "skillScope": "team", "skillTeam": "acme",
            "input": {"messages": [{"role": "user", "content": f"Summarise incident {i}."}]},
            "expected": "One line.", "qualityBar": 0.8}) + "\n" for i in range(CASES)))
        oc.run("routing", "eval-case", "import", str(cases))

        base = directory / "proxy.yaml"
        base.write_text(BASE)
        first = oc.run("gateway", "export", "--cluster-tenant", "acme", "--base", str(base), "--write", str(base))
        yield World(oc, directory, upstreams, "acme-" + "k" * 20, base, first.stderr)
    finally:
        for upstream in upstreams.values():
            upstream.stop()


@pytest.fixture(scope="module")
def first_proxy(world: World) -> Iterator[Proxy]:
    proxy = world.proxy("first")
    try:
        yield proxy
    finally:
        proxy.stop()


# ----- 1. a skill: request is served by the model `oc resolve` names --------------------------------

def test_skill_request_is_served_by_the_resolved_model(world: World, first_proxy: Proxy) -> None:
    resolved = world.oc.json("resolve", SKILL)["model"]
    assert resolved == "strong"
    assert served_by(first_proxy, f"skill:{SKILL}") == "strong-upstream"
    # the proxy prices the call with the exported model_info: 10 prompt and 5 completion tokens
    response = chat(first_proxy, "strong")
    cost = float(response.headers["x-litellm-response-cost"])
    assert cost == pytest.approx((PROMPT_TOKENS * 10 + COMPLETION_TOKENS * 30) / 1e6)
    # the key reached the upstream from the environment variable the file names, not from the file
    assert world.upstreams["strong"].calls[-1]["authorization"] == f"Bearer {world.secret}"


# ----- 3. a tenant's gateway cannot serve anything else -------------------------------------------

def test_a_model_not_granted_is_absent_and_the_proxy_refuses_it(world: World, first_proxy: Proxy) -> None:
    names = [m["model_name"] for m in yaml.safe_load(world.deployed.read_text())["model_list"]]
    assert names == ["backup", "cheap", "judge", "primary", "strong"]
    response = chat(first_proxy, "other")
    assert response.status_code == 400 and "other" in response.text
    assert world.upstreams["other"].calls == []


def test_a_blocked_skill_is_left_out_and_named_on_stderr(world: World, first_proxy: Proxy) -> None:
    assert "warning: skill translate left out: resolution is blocked" in world.first_export_err
    aliases = yaml.safe_load(world.deployed.read_text())["router_settings"]["model_group_alias"]
    assert "skill:translate" not in aliases
    assert chat(first_proxy, "skill:translate").status_code == 400


# ----- 4. fallbacks with the primary upstream down ------------------------------------------------

def test_fallback_serves_a_model_request_and_a_skill_request(world: World, first_proxy: Proxy) -> None:
    fallbacks = yaml.safe_load(world.deployed.read_text())["router_settings"]["fallbacks"]
    assert {"primary": ["backup"]} in fallbacks and {"skill:team/acme/ops": ["backup"]} in fallbacks
    assert world.oc.json("resolve", "team/acme/ops")["model"] == "primary"
    before = len(world.upstreams["backup"].calls)
    assert served_by(first_proxy, "primary") == "backup-upstream"
    assert served_by(first_proxy, "skill:team/acme/ops") == "backup-upstream"
    assert len(world.upstreams["backup"].calls) == before + 2


# ----- 5. deterministic; --base keeps the rest ----------------------------------------------------

def test_export_twice_is_byte_identical_and_base_settings_survive(world: World, first_proxy: Proxy) -> None:
    again = world.directory / "again.yaml"
    again.write_text(BASE)
    world.oc.run("gateway", "export", "--cluster-tenant", "acme", "--base", str(again), "--write", str(again))
    assert again.read_bytes() == world.deployed.read_bytes()
    config, base = yaml.safe_load(world.deployed.read_text()), yaml.safe_load(BASE)
    assert config["general_settings"] == base["general_settings"]
    assert config["litellm_settings"] == base["litellm_settings"]
    assert config["router_settings"]["num_retries"] == 0 and config["router_settings"]["disable_cooldowns"] is True


# ----- 6. no secret in the file -------------------------------------------------------------------

def test_no_secret_in_the_exported_file(world: World, first_proxy: Proxy) -> None:
    text = world.deployed.read_text()
    assert world.secret not in text
    keys = {m["litellm_params"].get("api_key") for m in yaml.safe_load(text)["model_list"]}
    assert keys == {f"os.environ/{SECRET_VAR}"}


# ----- 2. measure → approve → diff → re-export → restart ------------------------------------------

def test_approved_proposal_reaches_the_gateway_after_reexport_and_restart(world: World, first_proxy: Proxy) -> None:
    oc = world.oc
    measured = Oc(oc.home, LITELLM_ENDPOINT=first_proxy.url, LITELLM_MASTER_KEY=first_proxy.master_key,
                  ROUTING_JUDGE_MODEL="judge")
    run = measured.json("routing", "measurement", "run", "--skill", SKILL, "--candidate-model", "cheap",
                        "--allow-same-family-judge", "--seed", "3",
                        "--quality-margin", "0.3")  # 10 cases can show non-inferiority only at 0.28+
    m = run["measurement"]
    assert m["status"] == "completed" and m["casesCompleted"] == CASES
    assert m["pinnedSavingsPct"] == pytest.approx(90.0)  # the proxy's costs, from the exported prices
    assert run["proposalId"]

    approved = oc.run("routing", "proposal", "approve", run["proposalId"])
    assert "oc gateway export --cluster-tenant acme --write FILE" in approved.stderr

    diff = oc.run("gateway", "diff", str(world.deployed), "--cluster-tenant", "acme", expect=1)
    assert diff.stdout == f"~ skill:{SKILL}: strong → cheap\n"
    assert served_by(first_proxy, f"skill:{SKILL}") == "strong-upstream"  # not yet deployed

    oc.run("gateway", "export", "--cluster-tenant", "acme", "--base", str(world.deployed),
           "--write", str(world.deployed))
    oc.run("gateway", "diff", str(world.deployed), "--cluster-tenant", "acme", expect=0)
    first_proxy.stop()
    second = world.proxy("second")
    try:
        assert oc.json("resolve", SKILL)["model"] == "cheap"
        assert served_by(second, f"skill:{SKILL}") == "cheap-upstream"
    finally:
        second.stop()
