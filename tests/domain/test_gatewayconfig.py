"""The pure mapping from registry rows and resolutions to a LiteLLM proxy config (SPEC §10)."""

from __future__ import annotations

import pytest

from oc_cli.domain import gatewayconfig as gc
from oc_cli.errors import ValidationError


def model(name: str, upstream: str = "openai/x", *, cred: str | None = None, api_base: str | None = None,
          prices: tuple[float, float] | None = None) -> dict:
    return {"publicModelName": name, "upstreamModel": upstream, "providerCredentialId": cred, "apiBase": api_base,
            "inputCostPerMtok": prices[0] if prices else None, "outputCostPerMtok": prices[1] if prices else None}


def resolved(skill: str, model_: str | None, *, blocked: bool = False, auto_config: dict | None = None) -> dict:
    return {"skill": skill, "model": None if blocked else model_, "blocked": blocked, "blockedModel":
            model_ if blocked else None, "reason": "why", "autoConfig": auto_config}


def build(models, resolutions=(), chains=(), credentials=None):
    return gc.build(models=models, credentials=credentials or {}, resolutions=resolutions,
                    default_chains=chains, scope_label="ClusterTenant 'acme'")


@pytest.mark.parametrize("ref, var", [
    ("OPENAI_API_KEY", "OPENAI_API_KEY"),
    ("openai-key", "OPENAI_KEY"),
    ("team.acme-openai", "TEAM_ACME_OPENAI"),
    ("_private", "_PRIVATE"),
    ("MixedCase_1", "MIXEDCASE_1"),
    ("1password-openai", None),
    ("9", None),
    ("", None),
])
def test_secret_variable_rule(ref: str, var: str | None) -> None:
    assert gc.env_var_for(ref) == var


def test_model_entry_maps_name_upstream_base_key_variable_and_per_token_prices() -> None:
    config, warnings = build(
        [model("strong", "openai/gpt-4o", cred="c1", api_base="http://h/v1", prices=(10, 30)),
         model("bare", "anthropic/claude")],
        credentials={"c1": {"id": "c1", "secretRef": "openai-key"}})
    assert warnings == []
    assert config["model_list"] == [
        {"model_name": "bare", "litellm_params": {"model": "anthropic/claude"}},
        {"model_name": "strong",
         "litellm_params": {"model": "openai/gpt-4o", "api_base": "http://h/v1", "api_key": "os.environ/OPENAI_KEY"},
         "model_info": {"input_cost_per_token": 10 / 1e6, "output_cost_per_token": 30 / 1e6}},
    ]


def test_credential_without_a_usable_variable_is_a_clear_error() -> None:
    with pytest.raises(ValidationError) as err:
        build([model("m", cred="c1")], credentials={"c1": {"id": "c1", "secretRef": "1password-openai"}})
    assert err.value.code == "SECRET_VAR_INVALID"
    assert "c1" in err.value.what and "oc credential update c1 --env-var" in err.value.hint
    assert "1password" not in err.value.line()  # the reference itself is not echoed


def test_blocked_and_unresolved_skills_are_left_out_and_named_never_remapped() -> None:
    config, warnings = build(
        [model("a"), model("b")],
        [resolved("org/ok", "a"), resolved("team/acme/blocked", "big", blocked=True), resolved("org/none", None),
         resolved("org/ghost", "unregistered")])
    assert config["router_settings"]["model_group_alias"] == {"skill:org/ok": "a"}
    assert any("team/acme/blocked left out: resolution is blocked" in w for w in warnings)
    assert any("org/none left out" in w for w in warnings)
    assert any("org/ghost left out" in w and "'unregistered'" in w for w in warnings)


def test_fallbacks_keyed_on_default_models_and_copied_onto_their_aliases() -> None:
    config, warnings = build(
        [model("strong"), model("cheap"), model("mid")],
        [resolved("org/pinned", "strong"), resolved("org/auto", "strong", auto_config={"fallbacks": ["mid"]}),
         resolved("org/plain", "cheap")],
        chains=[("ClusterTenant default of 'acme'", "strong", ["cheap", "not-granted", "strong"]),
                ("Global default", "strong", ["mid"])])
    assert config["router_settings"]["fallbacks"] == [
        {"skill:org/auto": ["mid"]},      # an auto posture's own chain, on its alias
        {"skill:org/pinned": ["cheap"]},  # the model's chain, repeated on the alias
        {"strong": ["cheap"]},            # the most specific default wins the model's chain
    ]
    assert [w for w in warnings if "not-granted" in w] == [
        "fallback 'not-granted' of the ClusterTenant default of 'acme' ('strong') left out: "
        "it is not a model of ClusterTenant 'acme'"]


def test_a_default_outside_the_scope_gives_no_chain() -> None:
    config, warnings = build([model("cheap")], chains=[("Global default", "strong", ["cheap"])])
    assert config["router_settings"]["fallbacks"] == []
    assert any("its model 'strong' is not a model of" in w for w in warnings)


def test_output_order_does_not_depend_on_input_order() -> None:
    ms = [model("b"), model("a"), model("c")]
    rs = [resolved("org/z", "a"), resolved("org/y", "b")]
    one = gc.render(build(ms, rs)[0], "yaml")
    two = gc.render(build(list(reversed(ms)), list(reversed(rs)))[0], "yaml")
    assert one == two


def test_merge_replaces_owned_keys_and_keeps_everything_else_in_order() -> None:
    base = {"general_settings": {"master_key": "os.environ/MASTER"}, "model_list": [{"model_name": "old"}],
            "router_settings": {"routing_strategy": "simple-shuffle", "fallbacks": [{"old": ["x"]}]},
            "litellm_settings": {"drop_params": True}}
    generated, _ = build([model("a")], [resolved("org/s", "a")])
    merged = gc.merge(base, generated)
    assert list(merged) == ["general_settings", "model_list", "router_settings", "litellm_settings"]
    assert merged["general_settings"] == base["general_settings"]
    assert merged["litellm_settings"] == base["litellm_settings"]
    assert merged["router_settings"] == {"routing_strategy": "simple-shuffle", "fallbacks": [],
                                         "model_group_alias": {"skill:org/s": "a"}}
    assert merged["model_list"] == generated["model_list"]
    assert list(gc.merge({"general_settings": {}}, generated)) == ["model_list", "general_settings", "router_settings"]


def test_diff_names_models_added_removed_changed_skills_repointed_and_chains() -> None:
    old, _ = build([model("a"), model("gone"), model("c", api_base="http://one")],
                   [resolved("org/s", "a"), resolved("org/dropped", "a")], chains=[("Global default", "a", ["c"])])
    new, _ = build([model("a"), model("new"), model("c", api_base="http://two")],
                   [resolved("org/s", "c"), resolved("org/added", "a")], chains=[("Global default", "a", ["new"])])
    d = gc.diff(old, new)
    assert d["changed"] is True
    assert d["models"] == {"added": ["new"], "removed": ["gone"],
                           "changed": [{"model": "c", "fields": ["litellm_params.api_base"]}]}
    assert d["skills"]["repointed"] == [{"alias": "skill:org/s", "from": "a", "to": "c"}]
    assert d["skills"]["added"] == [{"alias": "skill:org/added", "model": "a"}]
    assert d["skills"]["removed"] == [{"alias": "skill:org/dropped", "model": "a"}]
    assert d["fallbacks"]["changed"] == [{"model": "a", "from": ["c"], "to": ["new"]}]
    assert "~ skill:org/s: a → c" in gc.diff_lines(d)
    assert gc.diff(new, new)["changed"] is False and gc.diff_lines(gc.diff(new, new)) == []


def test_diff_counts_other_keys_only_when_a_base_was_merged() -> None:
    cfg, _ = build([model("a")])
    deployed = {**cfg, "general_settings": {"master_key": "x"}}
    assert gc.diff(deployed, cfg)["changed"] is False
    assert gc.diff(deployed, cfg, settings=True)["settings"] == ["general_settings"]


def test_yaml_round_trip_and_header_has_no_timestamp() -> None:
    cfg, _ = build([model("a", prices=(1, 3))], [resolved("team/acme/summarise", "a")])
    head = gc.header("ClusterTenant 'acme'", (7, "ab" * 32))
    text = gc.render(cfg, "yaml", head)
    assert text.startswith(head) and "audit-chain head 7 " in text
    assert gc.parse(text, "x") == cfg
    assert not gc.has_comments(text)


def test_a_chain_shared_by_a_model_and_its_alias_is_written_out_twice() -> None:
    cfg, _ = build([model("primary"), model("backup")], [resolved("team/acme/ops", "primary")],
                   chains=[("Global default", "primary", ["backup"])])
    shared = cfg["router_settings"]["fallbacks"]
    shared[1]["skill:team/acme/ops"] = shared[0]["primary"]  # even when the very same list object
    text = gc.render(cfg, "yaml")
    assert "&" not in text and "*" not in text
    assert "  - primary:\n    - backup\n  - skill:team/acme/ops:\n    - backup\n" in text


@pytest.mark.parametrize("text, has", [
    ("a: 1\n", False),
    ("# mine\na: 1\n", True),
    ("a: 1  # why\n", True),
    ("a: 'x # not a comment'\n", False),
    ("url: http://h/#frag\n", False),
    (f"{gc.HEADER_MARK} generated\na: 1\n", False),
])
def test_comment_detection(text: str, has: bool) -> None:
    assert gc.has_comments(text) is has


@pytest.mark.parametrize("text", ["- a\n- b\n", "a: [1\n", "just text"])
def test_parse_rejects_what_is_not_a_config(text: str) -> None:
    with pytest.raises(ValidationError) as err:
        gc.parse(text, "FILE")
    assert err.value.code == "INVALID_CONFIG"
