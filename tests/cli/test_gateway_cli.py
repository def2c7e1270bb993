"""`oc gateway export` / `oc gateway diff` through the CLI, on a database of the test's own.

What a real LiteLLM proxy does with the exported file is in tests/integration/test_gateway_export.py;
these tests pin the file itself, the flags, the messages and the exit codes.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import yaml

from oc_cli import schema
from oc_cli.domain.gatewayconfig import HEADER_MARK
from tests.support.fake_gateway import FakeGateway, Reply
from tests.support.oc_process import Oc


def ok(oc_main, *args):
    result = oc_main(*args)
    assert result.code == 0, f"oc {' '.join(map(str, args))} exited {result.code}: {result.err}"
    return result


@pytest.fixture
def registry(oc_main) -> str:
    """Global strong/cheap/other (acme is granted strong and cheap) and acme's own model; a Global
    default with a fallback chain; an org skill pinned, a team skill on auto, a blocked one.
    Returns the credential id."""
    cred = ok(oc_main, "credential", "add", "--provider", "openai", "--secret-ref", "openai-key", "-o", "json").json()
    ok(oc_main, "model", "add", "--name", "strong", "--upstream", "openai/gpt-4o", "--credential", cred["id"],
       "--api-base", "http://127.0.0.1:9/v1", "--input-cost-per-mtok", "10", "--output-cost-per-mtok", "30")
    ok(oc_main, "model", "add", "--name", "cheap", "--upstream", "openai/gpt-4o-mini", "--credential", cred["id"],
       "--input-cost-per-mtok", "1", "--output-cost-per-mtok", "3")
    ok(oc_main, "model", "add", "--name", "other", "--upstream", "anthropic/claude-3-haiku")
    ok(oc_main, "cluster-tenant", "create", "acme")
    ok(oc_main, "cluster-tenant", "grant", "acme", "--model", "strong", "--model", "cheap")
    ok(oc_main, "model", "add", "--name", "acme-own", "--upstream", "openai/ft-acme", "--cluster-tenant", "acme")
    ok(oc_main, "model-default", "set", "--model", "strong", "--auto-config",
       json.dumps({"objective": "cheapest-passing-bar", "sessionPin": True, "explorationRate": 0,
                   "fallbacks": ["cheap", "other"]}))
    ok(oc_main, "skill-posture", "set", "summarise", "--pinned-model", "strong")
    ok(oc_main, "skill-posture", "set", "team/acme/triage", "--auto")
    ok(oc_main, "skill-posture", "set", "translate", "--pinned-model", "other")  # blocked for acme
    return cred["id"]


def export(oc_main, *args) -> tuple[dict, str, str]:
    result = ok(oc_main, "gateway", "export", *args)
    return yaml.safe_load(result.out), result.out, result.err


def test_global_export_maps_models_skills_and_fallbacks(oc_main, registry: str) -> None:
    config, text, err = export(oc_main)
    assert [m["model_name"] for m in config["model_list"]] == ["cheap", "other", "strong"]  # no tenant-owned model
    strong = config["model_list"][2]
    assert strong == {"model_name": "strong",
                      "litellm_params": {"model": "openai/gpt-4o", "api_base": "http://127.0.0.1:9/v1",
                                         "api_key": "os.environ/OPENAI_KEY"},
                      "model_info": {"input_cost_per_token": 1e-05, "output_cost_per_token": 3e-05}}
    assert config["router_settings"]["model_group_alias"] == {"skill:summarise": "strong", "skill:translate": "other"}
    assert config["router_settings"]["fallbacks"] == [{"skill:summarise": ["cheap", "other"]},
                                                      {"strong": ["cheap", "other"]}]
    head = text.splitlines()[:3]
    assert all(line.startswith(HEADER_MARK) for line in head) and "the global scope" in head[0]
    assert "audit-chain head " in head[1]
    assert "1 team skill left out of the global config" in err


def test_tenant_export_holds_only_its_allowlist_and_names_the_blocked_skill(oc_main, registry: str) -> None:
    config, text, err = export(oc_main, "--cluster-tenant", "acme")
    assert [m["model_name"] for m in config["model_list"]] == ["acme-own", "cheap", "strong"]
    assert "other" not in text
    aliases = config["router_settings"]["model_group_alias"]
    assert aliases == {"skill:summarise": "strong", "skill:team/acme/triage": "strong"}
    assert "warning: skill translate left out: resolution is blocked" in err
    assert "warning: fallback 'other' of the Global default ('strong') left out" in err
    assert config["router_settings"]["fallbacks"] == [
        {"skill:summarise": ["cheap"]}, {"skill:team/acme/triage": ["cheap"]}, {"strong": ["cheap"]}]
    # the aliases are exactly what `oc resolve` answers for the tenant
    for alias, model in aliases.items():
        answer = oc_main("resolve", alias.removeprefix("skill:"), "--cluster-tenant", "acme", "-o", "json").json()
        assert answer["model"] == model
    blocked = oc_main("resolve", "translate", "--cluster-tenant", "acme", "-o", "json")
    assert blocked.code == 5 and blocked.json()["blocked"] is True


def test_export_is_deterministic_and_the_header_follows_the_audit_head(oc_main, registry: str, tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    ok(oc_main, "gateway", "export", "--cluster-tenant", "acme", "--write", a)
    ok(oc_main, "gateway", "export", "--cluster-tenant", "acme", "--write", b)
    assert a.read_bytes() == b.read_bytes()
    assert oc_main("gateway", "export", "--cluster-tenant", "acme").out == a.read_text()
    ok(oc_main, "model", "update", "other", "--input-cost-per-mtok", "2")  # a change acme cannot see
    ok(oc_main, "gateway", "export", "--cluster-tenant", "acme", "--write", b)
    changed = [x for x, y in zip(a.read_text().splitlines(), b.read_text().splitlines()) if x != y]
    assert len(changed) == 1 and "audit-chain head" in changed[0]


def test_write_replaces_the_file_keeping_its_mode_and_leaves_no_temporary(oc_main, registry: str,
                                                                          tmp_path: Path) -> None:
    target = tmp_path / "proxy.yaml"
    target.write_text("old: true\n")
    target.chmod(0o640)
    result = ok(oc_main, "gateway", "export", "--write", target)
    assert result.out == "" and f"wrote {target}: 3 models, 2 skill aliases, 2 fallback chains" in result.err
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert "old" not in yaml.safe_load(target.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proxy.yaml"]
    missing = oc_main("gateway", "export", "--write", tmp_path / "no-such-dir" / "x.yaml")
    assert missing.code == 2 and "does not exist" in missing.err


def test_json_output_is_the_same_config(oc_main, registry: str) -> None:
    as_json = ok(oc_main, "gateway", "export", "-o", "json").json()
    assert as_json == export(oc_main)[0]
    bad = oc_main("gateway", "export", "-o", "table")
    assert bad.code == 2 and "expected 'yaml' or 'json'" in bad.err


BASE = """\
# deployed by ops
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY   # never inline
litellm_settings:
  drop_params: true
  success_callback: ["langfuse"]
router_settings:
  routing_strategy: simple-shuffle
  model_group_alias: {"skill:stale": "gone"}
model_list:
  - model_name: gone
    litellm_params: {model: openai/gone}
"""


def test_base_keeps_other_settings_and_says_comments_are_dropped(oc_main, registry: str, tmp_path: Path) -> None:
    base = tmp_path / "proxy.yaml"
    base.write_text(BASE)
    result = ok(oc_main, "gateway", "export", "--base", base, "--write", base)
    assert f"warning: comments in {base} are dropped" in result.err
    merged = yaml.safe_load(base.read_text())
    original = yaml.safe_load(BASE)
    assert merged["general_settings"] == original["general_settings"]
    assert merged["litellm_settings"] == original["litellm_settings"]
    assert merged["router_settings"]["routing_strategy"] == "simple-shuffle"
    assert "skill:stale" not in merged["router_settings"]["model_group_alias"]
    assert [m["model_name"] for m in merged["model_list"]] == ["cheap", "other", "strong"]
    again = ok(oc_main, "gateway", "export", "--base", base)  # oc's own header is not a user comment
    assert "comments" not in again.err and again.out == base.read_text()


def test_bad_base_changes_nothing(oc_main, registry: str, tmp_path: Path) -> None:
    target = tmp_path / "proxy.yaml"
    target.write_text("keep: me\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("model_list: [\n")
    r = oc_main("gateway", "export", "--base", broken, "--write", target)
    assert r.code == 2 and r.err.startswith("error: --base") and "[INVALID_CONFIG]" in r.err
    r = oc_main("gateway", "export", "--base", tmp_path / "absent.yaml", "--write", target)
    assert r.code == 3 and "[NOT_FOUND]" in r.err
    assert target.read_text() == "keep: me\n"


def test_no_secret_in_the_export_and_an_unusable_variable_is_an_error(oc_main, registry: str,
                                                                     tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "value-" + "q" * 24
    monkeypatch.setenv("OPENAI_KEY", secret)
    _, text, err = export(oc_main, "--cluster-tenant", "acme")
    assert secret not in text and secret not in err
    assert set(line.split("api_key: ")[1] for line in text.splitlines() if "api_key:" in line) == {
        "os.environ/OPENAI_KEY"}

    ok(oc_main, "credential", "update", registry, "--secret-ref", "1password-openai")
    target = tmp_path / "proxy.yaml"
    target.write_text("keep: me\n")
    r = oc_main("gateway", "export", "--write", target)
    assert r.code == 2 and r.out == ""
    assert f"credential {registry} (model 'cheap'): no usable environment variable name" in r.err
    assert "[SECRET_VAR_INVALID]" in r.err and "1password" not in r.err
    assert target.read_text() == "keep: me\n"
    # a secretRef that is a variable name is used as is
    ok(oc_main, "credential", "update", registry, "--secret-ref", "ACME_OPENAI_KEY")
    assert "os.environ/ACME_OPENAI_KEY" in ok(oc_main, "gateway", "export").out


def test_env_var_overrides_the_derived_name_per_credential(oc_main, registry: str, oc_env) -> None:
    ok(oc_main, "credential", "update", registry, "--secret-ref", "1password-openai", "--env-var", "ACME_KEY")
    assert json.loads(ok(oc_main, "credential", "show", registry, "-o", "json").out)["envVar"] == "ACME_KEY"
    text = ok(oc_main, "gateway", "export").out
    assert {line.split("api_key: ")[1] for line in text.splitlines() if "api_key:" in line} == {"os.environ/ACME_KEY"}

    # a bad name is a usage error that names the flag, and changes nothing
    before = oc_env.db.read_bytes()
    for bad in ("1ACME", "ACME-KEY", "sk-" + "a1b2c3d4" * 4):
        r = oc_main("credential", "update", registry, "--env-var", bad)
        assert r.code in (2, 5) and r.err.startswith("error: --env-var"), r.err
        assert bad not in r.err
    assert oc_env.db.read_bytes() == before

    # '' goes back to the rule, which fails for this secretRef
    ok(oc_main, "credential", "update", registry, "--env-var", "")
    assert json.loads(ok(oc_main, "credential", "show", registry, "-o", "json").out)["envVar"] is None
    assert "[SECRET_VAR_INVALID]" in oc_main("gateway", "export").err


def test_diff_exit_codes_and_repointing(oc_main, registry: str, tmp_path: Path) -> None:
    deployed = tmp_path / "acme.yaml"
    ok(oc_main, "gateway", "export", "--cluster-tenant", "acme", "--write", deployed)
    same = oc_main("gateway", "diff", deployed, "--cluster-tenant", "acme")
    assert (same.code, same.out) == (0, "") and "no changes" in same.err

    ok(oc_main, "skill-posture", "set", "summarise", "--pinned-model", "cheap")
    ok(oc_main, "cluster-tenant", "revoke", "acme", "--model", "strong")
    d = oc_main("gateway", "diff", deployed, "--cluster-tenant", "acme")
    assert d.code == 1
    assert "- model strong" in d.out.splitlines()
    assert "~ skill:summarise: strong → cheap" in d.out.splitlines()
    assert "- skill:team/acme/triage (was strong)" in d.out.splitlines()
    j = oc_main("gateway", "diff", deployed, "--cluster-tenant", "acme", "-o", "json")
    assert j.code == 1 and j.json()["skills"]["repointed"] == [
        {"alias": "skill:summarise", "from": "strong", "to": "cheap"}]
    schema.check(schema.GATEWAY_DIFF, j.json(), closed=True)

    assert oc_main("gateway", "diff", tmp_path / "absent.yaml").code == 3
    assert oc_main("gateway", "diff", deployed, "--cluster-tenant", "nope").code == 3


def test_diff_with_base_counts_other_keys(oc_main, registry: str, tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("general_settings: {master_key: os.environ/MASTER}\n")
    deployed = tmp_path / "deployed.yaml"
    ok(oc_main, "gateway", "export", "--base", base, "--write", deployed)
    assert oc_main("gateway", "diff", deployed, "--base", base).code == 0
    base.write_text("general_settings: {master_key: os.environ/OTHER}\n")
    d = oc_main("gateway", "diff", deployed, "--base", base)
    assert d.code == 1 and d.out == "~ general_settings\n"
    assert oc_main("gateway", "diff", deployed).code == 0  # without --base only oc's keys count


def test_tenant_identity_exports_only_its_own(oc_main, registry: str) -> None:
    mine = ok(oc_main, "--as-tenant", "acme", "gateway", "export", "-o", "json").json()
    assert mine == ok(oc_main, "gateway", "export", "--cluster-tenant", "acme", "-o", "json").json()
    ok(oc_main, "cluster-tenant", "create", "globex")
    other = oc_main("--as-tenant", "acme", "gateway", "export", "--cluster-tenant", "globex")
    assert other.code == 5 and other.out == ""


@pytest.mark.parametrize("verb", [["export"], ["diff", "x.yaml"]])
def test_remote_mode_is_not_supported(run_oc, verb: list[str]) -> None:
    r = run_oc("--url", "http://127.0.0.1:9", "gateway", *verb)
    assert r.code == 2 and r.out == ""
    assert r.err.startswith(f"error: gateway {verb[0]}: not supported by the control plane")
    assert "[NOT_SUPPORTED]" in r.err and "hint:" in r.err


def test_approve_hints_at_the_gateway_and_diff_shows_the_new_model(tmp_path: Path) -> None:
    with FakeGateway() as gw:
        gw.add_model("base", prices=(10.0, 30.0))
        gw.add_model("cand", prices=(1.0, 3.0))
        gw.add_model("judge", Reply.ok('{"score": 0.9}'), prices=(2.0, 6.0))
        oc = Oc(tmp_path, LITELLM_ENDPOINT=gw.url, LITELLM_MASTER_KEY=gw.api_key or "", ROUTING_JUDGE_MODEL="judge")
        for name, upstream in (("base", "openai/gpt-4o"), ("cand", "anthropic/claude-3-haiku"),
                               ("judge", "gemini/gemini-1.5-pro")):
            oc.run("model", "add", "--name", name, "--upstream", upstream)
        oc.run("cluster-tenant", "create", "acme", "--grant-all-global")
        oc.run("skill-posture", "set", "team/acme/summarise", "--pinned-model", "base")
        cases = tmp_path / "cases.jsonl"
        cases.write_text("".join(json.dumps({"skillName": "summarise", "skillScope": "team", "skillTeam": "acme",
                                             "input": {"messages": [{"role": "user", "content": f"ticket {i}"}]},
                                             "expected": "one line", "qualityBar": 0.8}) + "\n" for i in range(10)))
        oc.run("routing", "eval-case", "import", str(cases))
        deployed = tmp_path / "acme.yaml"
        oc.run("gateway", "export", "--cluster-tenant", "acme", "--write", str(deployed))
        run = oc.json("routing", "measurement", "run", "--skill", "team/acme/summarise", "--candidate-model", "cand",
                      "--seed", "1", "--quality-margin", "0.3")  # 10 cases show non-inferiority only at 0.28+
    approved = oc.run("routing", "proposal", "approve", run["proposalId"])
    assert ("hint: ClusterTenant acme's gateway config changes; re-export it with: "
            "oc gateway export --cluster-tenant acme --write FILE") in approved.stderr
    d = oc.run("gateway", "diff", str(deployed), "--cluster-tenant", "acme", expect=1)
    assert d.stdout == "~ skill:team/acme/summarise: base → cand\n"


def test_env_var_is_refused_in_remote_mode(run_oc) -> None:
    r = run_oc("--url", "http://127.0.0.1:9", "credential", "add", "--provider", "openai",
               "--secret-ref", "openai-prod", "--env-var", "OPENAI_KEY")
    assert r.code == 2 and r.out == ""
    assert r.err.startswith("error: credential add --env-var: not supported by the control plane"), r.err
