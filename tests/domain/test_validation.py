"""Validation rules (SPEC §4.5, §4.6, §7): AutoRoutingConfig, secret references, names, numbers."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oc_cli.domain import validation as v
from oc_cli.errors import EXIT_FORBIDDEN, EXIT_USAGE, ForbiddenError, NotFoundError, ValidationError
from tests.support import fake_keys

# -- raw keys versus secret references -------------------------------------------------------------

RAW_KEYS = [
    "sk-proj-" + "Ab3dE" * 8,
    "sk-ant-api03-" + "x" * 30,
    "sk-1234",
    fake_keys.aws_access_key_id(),
    fake_keys.aws_session_key_id(),
    fake_keys.google(),
    "ghp_" + "a1B2" * 9,
    "github_pat_11ABCDEFG",
    "xoxb-123-456-abc",
    "ocp_" + "0123456789abcdef" * 3,
    "hf_" + "AbCdEfGhIjKlMnOpQrSt",
    "gsk_" + "AbCdEfGhIjKlMnOpQrSt",
    "Bearer abc.def",
    "basic dXNlcjpwYXNz",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIE...",
    fake_keys.jwt(),
    "0123456789abcdef0123456789abcdef",  # 32 hex digits
    "A7f9Kq2ZpL8xW3mN5vB1cR6tY4uH0jE",  # one long random run
    "prefix-A7f9Kq2ZpL8xW3mN5vB1cR6tY4uH0jE",
    "  sk-padded  ",
]

SECRET_NAMES = [
    "openai-prod",
    "openai.prod",
    "a",
    "OPENAI_API_KEY",
    "_PRIVATE",
    "anthropic-production-credentials-eu-west-1",
    "OPENAI_API_KEY_PRODUCTION_EU_WEST_1",
    "litellm-master-key",
    "team-acme-openai-key-2024",
    "x" * 63,
]


@pytest.mark.parametrize("value", RAW_KEYS)
def test_raw_keys_are_recognised(value):
    assert v.looks_like_raw_key(value)


@pytest.mark.parametrize("value", SECRET_NAMES)
def test_secret_names_are_not_mistaken_for_keys(value):
    assert not v.looks_like_raw_key(value)


@pytest.mark.parametrize("value", SECRET_NAMES)
def test_secret_ref_accepts_secret_and_env_var_names(value):
    assert v.secret_ref(value) == value


def test_secret_ref_is_trimmed():
    assert v.secret_ref("  openai-prod \n") == "openai-prod"


@pytest.mark.parametrize("value", RAW_KEYS)
def test_secret_ref_refuses_raw_keys_as_forbidden(value):
    with pytest.raises(ForbiddenError) as info:
        v.secret_ref(value)
    err = info.value
    assert err.code == "RAW_KEY_REJECTED"
    assert err.exit_code == EXIT_FORBIDDEN == 5
    assert "nothing was written" in err.line()
    assert value.strip() not in err.line()  # the key is never echoed back


@pytest.mark.parametrize("value", ["", "   ", None, 42, "Has Space", "Mixed-Case-Dash", "trailing-", "-leading",
                                   "a/b", "x" * 254, "1ENV_STARTS_WITH_DIGIT_AND-DASH"])
def test_secret_ref_refuses_what_is_neither_a_name_nor_a_key(value):
    with pytest.raises(ValidationError) as info:
        v.secret_ref(value)
    assert info.value.exit_code == EXIT_USAGE


def test_raw_key_error_names_the_flag_and_says_what_to_do():
    err = v.raw_key_error("--api-key")
    assert err.code == "RAW_KEY_REJECTED"
    assert err.line().startswith("error: --api-key: the value looks like a raw API key")
    assert "--secret-ref" in (err.hint or "")


def test_optional_name():
    assert v.optional_name(None, "--x") is None
    assert v.optional_name("  ", "--x") is None
    assert v.optional_name(" cred-1 ", "--x") == "cred-1"
    with pytest.raises(ForbiddenError):
        v.optional_name("sk-live-123", "--x")
    with pytest.raises(ValidationError):
        v.optional_name(5, "--x")
    with pytest.raises(ValidationError):
        v.optional_name("has space", "--x")


def test_shannon_entropy():
    assert v.shannon_entropy("") == 0
    assert v.shannon_entropy("aaaa") == 0
    assert v.shannon_entropy("ab") == pytest.approx(1.0)
    assert v.shannon_entropy("abcd") == pytest.approx(2.0)


# -- names, providers, tenants, scopes, URLs -------------------------------------------------------


@pytest.mark.parametrize("value", ["my-cheap-model", "openai/gpt-4o-mini", "bedrock/anthropic.claude:v2@x+y",
                                   "M", "a" * 200])
def test_name_accepts_printable_names(value):
    assert v.name(value, "--name") == value


def test_name_is_trimmed():
    assert v.name("  gpt \n", "--name") == "gpt"


@pytest.mark.parametrize("value", ["", "  ", None, 3, "has space", "tab\there", "new\nline", "-lead", "a" * 201,
                                   "ünïcode", "semi;colon"])
def test_name_refuses_junk(value):
    with pytest.raises(ValidationError) as info:
        v.name(value, "--name", what="model name")
    assert "--name" in info.value.line()


@pytest.mark.parametrize("value", ["openai", "anthropic", "bedrock", "azure_ai", "vertex-ai", "x.y"])
def test_provider_accepts(value):
    assert v.provider(value) == value


@pytest.mark.parametrize("value", ["", None, "OpenAI", "open ai", "-x", "a" * 65])
def test_provider_refuses(value):
    with pytest.raises(ValidationError):
        v.provider(value)


@pytest.mark.parametrize("value", ["acme", "a", "acme-corp", "acme.eu", "a1", "a" * 63])
def test_tenant_name_accepts_kubernetes_names(value):
    assert v.tenant_name(value) == value


@pytest.mark.parametrize("value", ["", None, "ACME", "acme-", "-acme", "ac me", "acme_corp", "a" * 64, "acme/x"])
def test_tenant_name_refuses(value):
    with pytest.raises(ValidationError):
        v.tenant_name(value)


def test_scope():
    assert v.scope("global") == "global"
    assert v.scope("clusterTenant") == "clusterTenant"
    for bad in ("Global", "cluster-tenant", "", None, "tenant"):
        with pytest.raises(ValidationError):
            v.scope(bad)


def test_url():
    assert v.url(None, "--api-base") is None
    assert v.url("  ", "--api-base") is None
    assert v.url(" https://api.example.com/v1 ", "--api-base") == "https://api.example.com/v1"
    assert v.url("http://127.0.0.1:4000", "--api-base") == "http://127.0.0.1:4000"
    for bad in ("ftp://x", "example.com", "http://", "https:// space.com", "http://a b"):
        with pytest.raises(ValidationError):
            v.url(bad, "--api-base")


# -- numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(None, None), (0, 0.0), (1.5, 1.5), ("2.5", 2.5), (1e6, 1e6)])
def test_price_accepts(value, expected):
    assert v.price(value, "--input-cost-per-mtok") == expected


@pytest.mark.parametrize("value", [-0.01, "abc", float("nan"), float("inf"), "-1", [], "inf"])
def test_price_refuses(value):
    with pytest.raises(ValidationError) as info:
        v.price(value, "--input-cost-per-mtok")
    assert "--input-cost-per-mtok" in info.value.line()


@pytest.mark.parametrize("value", [0, 0.0, 0.8, 1, 1.0])
def test_quality_bar_accepts(value):
    assert v.quality_bar(value) == float(value)


@pytest.mark.parametrize("value", [-0.01, 1.01, True, False, "0.5", None, float("nan"), float("inf")])
def test_quality_bar_refuses(value):
    with pytest.raises(ValidationError):
        v.quality_bar(value)


# -- JSON-valued flags ----------------------------------------------------------------------------


def test_parse_json_flag():
    assert v.parse_json_flag(None, "--auto-config") is None
    assert v.parse_json_flag('{"a": [1, 2]}', "--auto-config") == {"a": [1, 2]}
    assert v.parse_json_flag("null", "--auto-config") is None
    assert v.parse_json_flag('"text"', "--input") == "text"


def test_parse_json_flag_refuses_invalid_json_by_default():
    with pytest.raises(ValidationError) as info:
        v.parse_json_flag("{not json", "--auto-config")
    assert info.value.line().startswith("error: --auto-config is not valid JSON")


def test_parse_json_flag_takes_plain_text_where_allowed():
    text = "A two-sentence summary covering …"
    assert v.parse_json_flag(text, "--expected", plain_text_ok=True) == text


def test_parse_json_flag_survives_absurd_nesting():
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ValidationError):
        v.parse_json_flag(deep, "--auto-config")
    assert v.parse_json_flag(deep, "--input", plain_text_ok=True) == deep


# -- AutoRoutingConfig ----------------------------------------------------------------------------

BASE = {"objective": "cheapest-passing-bar", "sessionPin": True, "explorationRate": 0}


def cfg(**changes):
    out = dict(BASE)
    for key, value in changes.items():
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def test_documented_default_is_valid():
    assert v.DEFAULT_AUTO_CONFIG == BASE
    assert v.auto_config(dict(v.DEFAULT_AUTO_CONFIG)) == BASE


def test_every_field_at_its_limits_is_valid():
    full = cfg(objective="balanced", sessionPin=False, explorationRate=1, costQualitySlider=10, qualityFloor=1,
               maxBudgetUsd=0.0001, latencyCeilingMs=1, allowedModels=["a", "b"], fallbacks=["c"])
    assert v.auto_config(full) is full
    assert v.auto_config(cfg(costQualitySlider=0, qualityFloor=0, explorationRate=0.5)) is not None


@pytest.mark.parametrize("objective", v.OBJECTIVES)
def test_each_objective_is_valid(objective):
    assert v.auto_config(cfg(objective=objective))["objective"] == objective


@pytest.mark.parametrize("value", [None, [], [BASE], "cheapest-passing-bar", 1, True])
def test_not_an_object(value):
    with pytest.raises(ValidationError) as info:
        v.auto_config(value)
    assert "autoConfig must be an object" in info.value.line()


def test_unknown_keys_are_listed_with_the_valid_ones():
    with pytest.raises(ValidationError) as info:
        v.auto_config(cfg(optimiser="x", Objective="y"))
    line = info.value.line()
    assert "unknown keys Objective, optimiser" in line
    for key in v.AUTO_CONFIG_KEYS:
        assert key in line


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"objective": "cheapest"}, "objective"),
        ({"objective": ...}, "objective"),
        ({"objective": None}, "objective"),
        ({"sessionPin": "true"}, "sessionPin"),
        ({"sessionPin": 1}, "sessionPin"),
        ({"sessionPin": ...}, "sessionPin"),
        ({"explorationRate": ...}, "explorationRate"),
        ({"explorationRate": -0.01}, "explorationRate"),
        ({"explorationRate": 1.01}, "explorationRate"),
        ({"explorationRate": "0.5"}, "explorationRate"),
        ({"explorationRate": True}, "explorationRate"),
        ({"explorationRate": None}, "explorationRate"),
        ({"explorationRate": float("nan")}, "explorationRate"),
        ({"costQualitySlider": -1}, "costQualitySlider"),
        ({"costQualitySlider": 10.5}, "costQualitySlider"),
        ({"costQualitySlider": "5"}, "costQualitySlider"),
        ({"qualityFloor": 1.5}, "qualityFloor"),
        ({"qualityFloor": -0.1}, "qualityFloor"),
        ({"maxBudgetUsd": 0}, "maxBudgetUsd"),
        ({"maxBudgetUsd": -5}, "maxBudgetUsd"),
        ({"maxBudgetUsd": float("inf")}, "maxBudgetUsd"),
        ({"latencyCeilingMs": 0}, "latencyCeilingMs"),
        ({"latencyCeilingMs": False}, "latencyCeilingMs"),
        ({"allowedModels": "a"}, "allowedModels"),
        ({"allowedModels": [1]}, "allowedModels"),
        ({"allowedModels": [""]}, "allowedModels"),
        ({"allowedModels": ["a", "a"]}, "allowedModels"),
        ({"fallbacks": None}, "fallbacks"),
        ({"fallbacks": ["x", " "]}, "fallbacks"),
        ({"fallbacks": ["x", "x"]}, "fallbacks"),
    ],
)
def test_each_rule(changes, field):
    with pytest.raises(ValidationError) as info:
        v.auto_config(cfg(**changes))
    assert f"autoConfig.{field}" in info.value.line()
    assert info.value.exit_code == EXIT_USAGE


def test_checks_run_in_the_reference_order():
    # opencrane-api §5: object, objective, sessionPin, explorationRate
    with pytest.raises(ValidationError) as info:
        v.auto_config({"objective": "nope", "sessionPin": "no", "explorationRate": 9})
    assert "objective" in info.value.line()
    with pytest.raises(ValidationError) as info:
        v.auto_config({"objective": "balanced", "sessionPin": "no", "explorationRate": 9})
    assert "sessionPin" in info.value.line()


def test_number_errors_show_the_rejected_value_as_json():
    with pytest.raises(ValidationError) as info:
        v.auto_config(cfg(explorationRate=2))
    assert "got 2" in info.value.line()
    with pytest.raises(ValidationError) as info:
        v.auto_config(cfg(maxBudgetUsd=0))
    assert "greater than 0" in info.value.line()


def test_model_lists_are_checked_one_model_at_a_time():
    seen: list[tuple[str, str]] = []

    def check(model: str, field: str) -> None:
        seen.append((model, field))

    v.auto_config(cfg(allowedModels=["a", "b"], fallbacks=["c"]), check_model=check)
    assert seen == [("a", "autoConfig.allowedModels"), ("b", "autoConfig.allowedModels"),
                    ("c", "autoConfig.fallbacks")]


def test_model_check_failures_propagate_unchanged():
    def check(model: str, field: str) -> None:
        if model == "secret-model":
            raise ForbiddenError(f"{field}: model '{model}' is not allowed", code="MODEL_NOT_ALLOWED")
        if model == "ghost":
            raise NotFoundError(f"{field}: model '{model}' is not registered", code="MODEL_NOT_FOUND")

    with pytest.raises(ForbiddenError) as info:
        v.auto_config(cfg(fallbacks=["ok", "secret-model"]), check_model=check)
    assert info.value.code == "MODEL_NOT_ALLOWED"
    with pytest.raises(NotFoundError):
        v.auto_config(cfg(allowedModels=["ghost"]), check_model=check)


@given(st.dictionaries(st.text(max_size=20), st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                                                         st.text(max_size=10), st.lists(st.text(max_size=5))),
                       max_size=8))
def test_junk_configs_raise_only_validation_errors(value):
    try:
        out = v.auto_config(value)
    except ValidationError:
        return
    # an accepted config satisfies every promise of the type
    assert set(out) <= set(v.AUTO_CONFIG_KEYS)
    assert out["objective"] in v.OBJECTIVES
    assert isinstance(out["sessionPin"], bool)
    assert 0 <= out["explorationRate"] <= 1
    for key in ("maxBudgetUsd", "latencyCeilingMs"):
        if key in out:
            assert out[key] > 0 and math.isfinite(out[key])
    json.dumps(out, allow_nan=False)


def test_distinct_keeps_first_occurrence_order():
    assert v.distinct(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]
    assert v.distinct([]) == []
