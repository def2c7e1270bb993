"""The precedence chain (SPEC §4.4, opencrane-api §17.1) and the allowlist block on top of it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oc_cli.domain.resolution import RUNGS, Default, Posture, resolve

AUTO = {"objective": "balanced", "sessionPin": False, "explorationRate": 0.1}
CT_AUTO = {"objective": "cheapest-passing-bar", "sessionPin": True, "explorationRate": 0}


def rung(result: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [r for r in result["rungs"] if r["rung"] == name]
    return found


def outcomes(result: dict[str, Any]) -> list[str]:
    return [r["outcome"] for r in result["rungs"]]


# -- each rung wins in turn ------------------------------------------------------------------------


def test_request_model_wins_over_everything():
    r = resolve(posture=Posture("pinned", "pinned-m"), tenant_default=Default("ct-m"),
                global_default=Default("gl-m"), request_model="req-m", tenant="acme")
    assert (r["model"], r["source"], r["auto"], r["blocked"]) == ("req-m", "request", False, False)
    assert outcomes(r) == ["won", "not-reached", "not-reached", "not-reached", "not-reached"]
    assert rung(r, "skill-pinned")["value"] == "pinned-m"


def test_pinned_wins_over_the_defaults():
    r = resolve(posture=Posture("pinned", "pinned-m", None), tenant_default=Default("ct-m", CT_AUTO),
                global_default=Default("gl-m"), tenant="acme")
    assert (r["model"], r["source"], r["auto"], r["autoConfig"]) == ("pinned-m", "skill-pinned", False, None)
    assert outcomes(r) == ["skipped", "won", "not-reached", "not-reached", "not-reached"]


def test_auto_takes_the_cluster_tenant_defaults_model_and_keeps_its_own_config():
    r = resolve(posture=Posture("auto", None, AUTO), tenant_default=Default("ct-m", CT_AUTO),
                global_default=Default("gl-m"), tenant="acme")
    assert (r["model"], r["source"], r["auto"]) == ("ct-m", "skill-auto", True)
    assert r["autoConfig"] == AUTO  # the picked default's own autoConfig is ignored
    assert outcomes(r) == ["skipped", "skipped", "won", "supplied", "skipped"]
    assert "ClusterTenant default" in rung(r, "skill-auto")["reason"]


def test_auto_falls_back_to_the_global_defaults_model():
    r = resolve(posture=Posture("auto", None, AUTO), tenant_default=None, global_default=Default("gl-m"),
                tenant="acme")
    assert (r["model"], r["source"], r["auto"], r["autoConfig"]) == ("gl-m", "skill-auto", True, AUTO)
    assert outcomes(r) == ["skipped", "skipped", "won", "skipped", "supplied"]
    assert "Global default" in rung(r, "skill-auto")["reason"]


def test_auto_with_no_usable_default_resolves_to_no_model():
    r = resolve(posture=Posture("auto", None, AUTO), tenant_default=Default(None, CT_AUTO),
                global_default=Default("  ", CT_AUTO), tenant="acme")
    assert (r["model"], r["source"], r["auto"], r["blocked"]) == (None, "skill-auto", True, False)
    assert "no scope default names a model" in r["reason"]


def test_cluster_tenant_default_wins_without_a_posture():
    r = resolve(posture=None, tenant_default=Default("ct-m"), global_default=Default("gl-m"), tenant="acme")
    assert (r["model"], r["source"], r["auto"], r["autoConfig"]) == ("ct-m", "scope-default-cluster-tenant",
                                                                    False, None)
    assert outcomes(r) == ["skipped", "skipped", "skipped", "won", "not-reached"]


def test_a_default_with_an_auto_config_makes_the_answer_auto():
    r = resolve(posture=None, tenant_default=Default("ct-m", CT_AUTO), global_default=None, tenant="acme")
    assert (r["model"], r["auto"], r["autoConfig"]) == ("ct-m", True, CT_AUTO)


def test_global_default_wins_last():
    r = resolve(posture=None, tenant_default=None, global_default=Default("gl-m"), tenant="acme")
    assert (r["model"], r["source"]) == ("gl-m", "scope-default-global")
    assert outcomes(r) == ["skipped", "skipped", "skipped", "skipped", "won"]


def test_nothing_resolves_to_unresolved():
    r = resolve(posture=None, tenant_default=None, global_default=None)
    assert r == {**r, "model": None, "source": "unresolved", "auto": False, "autoConfig": None,
                 "blocked": False, "blockedModel": None, "reason": "no rung names a model"}
    assert all(o == "skipped" for o in outcomes(r))


# -- the reference's fall-through rules ------------------------------------------------------------


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_pinned_without_a_model_falls_through(empty):
    r = resolve(posture=Posture("pinned", empty), tenant_default=None, global_default=Default("gl-m"))
    assert (r["model"], r["source"]) == ("gl-m", "scope-default-global")
    assert rung(r, "skill-pinned")["reason"] == "the skill is pinned but names no model"


@pytest.mark.parametrize("empty_ct", [Default(None), Default(""), Default("  "), Default(None, CT_AUTO)])
def test_an_empty_cluster_tenant_row_never_shadows_the_global_default(empty_ct):
    r = resolve(posture=None, tenant_default=empty_ct, global_default=Default("gl-m"), tenant="acme")
    assert (r["model"], r["source"]) == ("gl-m", "scope-default-global")
    assert "names no model" in rung(r, "scope-default-cluster-tenant")["reason"]
    auto = resolve(posture=Posture("auto"), tenant_default=empty_ct, global_default=Default("gl-m"), tenant="acme")
    assert auto["model"] == "gl-m"


def test_an_auto_config_only_global_row_never_wins():
    r = resolve(posture=None, tenant_default=None, global_default=Default(None, CT_AUTO))
    assert (r["model"], r["source"], r["auto"]) == (None, "unresolved", False)


def test_without_a_tenant_the_cluster_tenant_default_does_not_apply():
    r = resolve(posture=None, tenant_default=Default("ct-m"), global_default=Default("gl-m"), tenant=None)
    assert (r["model"], r["source"]) == ("gl-m", "scope-default-global")
    assert rung(r, "scope-default-cluster-tenant") == {
        "rung": "scope-default-cluster-tenant", "value": None, "outcome": "skipped",
        "reason": "no ClusterTenant applies"}
    auto = resolve(posture=Posture("auto"), tenant_default=Default("ct-m"), global_default=Default("gl-m"))
    assert auto["model"] == "gl-m"


def test_models_are_trimmed():
    assert resolve(posture=Posture("pinned", " p "), tenant_default=None, global_default=None)["model"] == "p"
    assert resolve(posture=None, tenant_default=None, global_default=Default(" g "))["model"] == "g"
    assert resolve(posture=Posture("auto"), tenant_default=None, global_default=Default(" g "))["model"] == "g"


def test_rungs_are_always_the_five_in_order():
    r = resolve(posture=None, tenant_default=None, global_default=None)
    assert [x["rung"] for x in r["rungs"]] == list(RUNGS) == [
        "request", "skill-pinned", "skill-auto", "scope-default-cluster-tenant", "scope-default-global"]
    for x in r["rungs"]:
        assert set(x) == {"rung", "value", "outcome", "reason"} and x["reason"]


# -- the allowlist block ---------------------------------------------------------------------------


def allowed(*models: str):
    return set(models).__contains__


@pytest.mark.parametrize(
    ("kwargs", "blocked_rung"),
    [
        ({"request_model": "bad"}, "request"),
        ({"posture": Posture("pinned", "bad")}, "skill-pinned"),
        ({"posture": Posture("auto"), "tenant_default": Default("bad")}, "skill-auto"),
        ({"tenant_default": Default("bad")}, "scope-default-cluster-tenant"),
        ({"global_default": Default("bad")}, "scope-default-global"),
    ],
)
def test_a_disallowed_winner_is_blocked_not_replaced(kwargs, blocked_rung):
    base = {"posture": None, "tenant_default": None, "global_default": Default("ok")}
    r = resolve(**{**base, **kwargs}, tenant="acme", allows=allowed("ok"))
    assert r["blocked"] is True
    assert r["model"] is None  # never a silent fallback to "ok"
    assert r["blockedModel"] == "bad"
    assert r["source"] == blocked_rung
    assert "bad" in r["reason"] and "acme" in r["reason"] and blocked_rung in r["reason"]
    assert rung(r, blocked_rung)["outcome"] == "blocked"


def test_an_auto_skills_supplying_default_is_marked_blocked_too():
    r = resolve(posture=Posture("auto"), tenant_default=None, global_default=Default("bad"),
                tenant="acme", allows=allowed())
    assert outcomes(r) == ["skipped", "skipped", "blocked", "skipped", "blocked"]


def test_an_allowed_winner_is_not_blocked():
    r = resolve(posture=Posture("pinned", "ok"), tenant_default=None, global_default=None,
                tenant="acme", allows=allowed("ok"))
    assert (r["model"], r["blocked"], r["blockedModel"]) == ("ok", False, None)


def test_no_tenant_means_no_allowlist():
    r = resolve(posture=Posture("pinned", "anything"), tenant_default=None, global_default=None,
                tenant=None, allows=allowed())
    assert (r["model"], r["blocked"]) == ("anything", False)


def test_an_unresolved_answer_is_never_blocked():
    r = resolve(posture=None, tenant_default=None, global_default=None, tenant="acme", allows=allowed())
    assert (r["model"], r["blocked"]) == (None, False)


# -- properties ------------------------------------------------------------------------------------

MODELS = ["m1", "m2", "m3", "m4"]
maybe_model = st.one_of(st.none(), st.just(""), st.just("  "), st.sampled_from(MODELS),
                        st.sampled_from(MODELS).map(lambda m: f" {m} "))
configs = st.one_of(st.none(), st.just(AUTO), st.just(CT_AUTO))
postures = st.one_of(
    st.none(),
    st.builds(Posture, st.sampled_from(["pinned", "auto", None]), maybe_model, configs),
)
defaults = st.one_of(st.none(), st.builds(Default, maybe_model, configs))
tenants = st.one_of(st.none(), st.just("acme"))
allowlists = st.one_of(st.none(), st.frozensets(st.sampled_from(MODELS)))


def usable(value: str | None) -> bool:
    return bool(value and value.strip())


def run(posture, ct, gl, request, tenant, allow):
    return resolve(posture=posture, tenant_default=ct, global_default=gl, request_model=request, tenant=tenant,
                   allows=None if allow is None else allow.__contains__)


def effective(result: dict[str, Any]) -> str | None:
    """The model the chain chose, whether or not the allowlist then blocked it."""
    return result["blockedModel"] if result["blocked"] else result["model"]


@given(postures, defaults, defaults, st.sampled_from(MODELS), tenants, allowlists)
def test_a_request_model_always_wins(posture, ct, gl, request, tenant, allow):
    r = run(posture, ct, gl, request, tenant, allow)
    assert r["source"] == "request"
    assert effective(r) == request


@given(st.sampled_from(MODELS), configs, defaults, defaults, tenants, allowlists)
def test_a_pinned_posture_beats_any_default(pinned, cfg, ct, gl, tenant, allow):
    r = run(Posture("pinned", pinned, cfg), ct, gl, None, tenant, allow)
    assert r["source"] == "skill-pinned"
    assert effective(r) == pinned
    assert r["auto"] is False


@given(st.one_of(st.none(), st.builds(Posture, st.just(None), maybe_model, configs),
                 st.builds(Posture, st.just("pinned"), st.sampled_from([None, "", "  "]), configs)),
       defaults, defaults, tenants, allowlists)
def test_without_a_posture_the_cluster_tenant_default_beats_the_global_one(posture, ct, gl, tenant, allow):
    r = run(posture, ct, gl, None, tenant, allow)
    if tenant and ct is not None and usable(ct.model):
        assert (r["source"], effective(r)) == ("scope-default-cluster-tenant", ct.model.strip())
    elif gl is not None and usable(gl.model):
        # an empty ClusterTenant row (or none, or no tenant) never shadows the global default
        assert (r["source"], effective(r)) == ("scope-default-global", gl.model.strip())
    else:
        assert (r["source"], r["model"], r["blocked"]) == ("unresolved", None, False)


@given(configs, defaults, defaults, tenants, allowlists)
def test_auto_takes_the_model_of_the_default_that_would_win(cfg, ct, gl, tenant, allow):
    r = run(Posture("auto", None, cfg), ct, gl, None, tenant, allow)
    assert (r["source"], r["auto"], r["autoConfig"]) == ("skill-auto", True, cfg)
    if tenant and ct is not None and usable(ct.model):
        assert effective(r) == ct.model.strip()
    elif gl is not None and usable(gl.model):
        assert effective(r) == gl.model.strip()
    else:
        assert effective(r) is None


@given(postures, defaults, defaults, st.one_of(st.none(), st.sampled_from(MODELS)), tenants, allowlists)
def test_blocked_never_returns_a_model_and_a_tenant_only_gets_allowed_models(posture, ct, gl, request, tenant,
                                                                             allow):
    r = run(posture, ct, gl, request, tenant, allow)
    if r["blocked"]:
        assert r["model"] is None
        assert r["blockedModel"] is not None
        assert tenant is not None and allow is not None and r["blockedModel"] not in allow
        assert "blocked" in outcomes(r)
    else:
        assert r["blockedModel"] is None
        assert "blocked" not in outcomes(r)
        if tenant is not None and allow is not None and r["model"] is not None:
            assert r["model"] in allow


@given(postures, defaults, defaults, st.one_of(st.none(), st.sampled_from(MODELS)), tenants, allowlists)
def test_the_explanation_is_consistent_with_the_answer(posture, ct, gl, request, tenant, allow):
    r = run(posture, ct, gl, request, tenant, allow)
    assert [x["rung"] for x in r["rungs"]] == list(RUNGS)
    deciding = [x for x in r["rungs"] if x["outcome"] in ("won", "blocked") and x["rung"] == r["source"]]
    if r["source"] == "unresolved":
        assert not deciding and r["model"] is None
    else:
        assert len(deciding) == 1
        assert sum(x["outcome"] == "won" for x in r["rungs"]) == (0 if r["blocked"] else 1)
    if effective(r) is not None:
        assert effective(r) in MODELS
