"""A ClusterTenant's allowlist (SPEC §4.3): the models it owns ∪ the global models granted to it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oc_cli.domain.allowlist import Allowlist, compute, not_allowed
from oc_cli.errors import EXIT_FORBIDDEN, ForbiddenError


def model(mid: str, name: str, tenant: str | None = None, created: str = "2026-01-01T00:00:00.000Z") -> dict[str, Any]:
    return {"id": mid, "publicModelName": name, "scope": "clusterTenant" if tenant else "global",
            "clusterTenant": tenant, "createdAt": created}


REGISTRY = [
    model("g1", "gpt-mini", created="2026-01-01T00:00:01.000Z"),
    model("g2", "gpt-big", created="2026-01-01T00:00:02.000Z"),
    model("g3", "claude", created="2026-01-01T00:00:03.000Z"),
    model("a1", "acme-tuned", "acme", created="2026-01-01T00:00:04.000Z"),
    model("b1", "beta-tuned", "beta", created="2026-01-01T00:00:05.000Z"),
]


def test_a_new_tenant_may_use_nothing():
    al = compute("acme", [m for m in REGISTRY if m["clusterTenant"] != "acme"], [])
    assert al.models == [] and not al.allows("gpt-mini")


def test_owned_models_are_always_allowed():
    al = compute("acme", REGISTRY, [])
    assert al.models == ["acme-tuned"]
    assert al.owned == ("acme-tuned",) and al.granted == ()
    assert al.sources == {"acme-tuned": "owned"}


def test_granted_global_models_are_allowed():
    al = compute("acme", REGISTRY, ["g3", "g1"])
    assert al.models == ["acme-tuned", "gpt-mini", "claude"]  # owned first, then registration order
    assert al.granted == ("gpt-mini", "claude")
    assert al.sources["claude"] == "granted"
    assert not al.allows("gpt-big")


def test_another_tenants_models_are_never_allowed_even_if_granted_by_id():
    al = compute("acme", REGISTRY, ["b1"], grant_all_global=True)
    assert not al.allows("beta-tuned")


def test_grant_all_global_allows_every_global_model():
    al = compute("acme", REGISTRY, [], grant_all_global=True)
    assert al.models == ["acme-tuned", "gpt-mini", "gpt-big", "claude"]
    assert al.grant_all_global is True
    assert {al.sources[m] for m in ("gpt-mini", "gpt-big", "claude")} == {"all-global"}


def test_grant_all_global_also_covers_models_registered_later():
    later = REGISTRY + [model("g9", "new-global", created="2027-01-01T00:00:00.000Z")]
    assert compute("acme", later, [], grant_all_global=True).allows("new-global")
    assert not compute("acme", later, ["g1"]).allows("new-global")


def test_unknown_grant_ids_are_ignored():
    assert compute("acme", REGISTRY, ["gone", "g2"]).models == ["acme-tuned", "gpt-big"]


def test_an_owned_model_shadows_a_global_model_of_the_same_name():
    reg = REGISTRY + [model("a2", "gpt-mini", "acme", created="2026-06-01T00:00:00.000Z")]
    al = compute("acme", reg, ["g1"])
    assert al.models.count("gpt-mini") == 1
    assert al.sources["gpt-mini"] == "owned"
    assert "gpt-mini" not in al.granted


def test_order_is_by_creation_time_then_id_not_input_order():
    shuffled = list(reversed(REGISTRY))
    assert compute("acme", shuffled, ["g1", "g2", "g3"]).models == ["acme-tuned", "gpt-mini", "gpt-big", "claude"]
    same_time = [model("z", "zeta"), model("a", "alpha")]
    assert compute("t", same_time, ["a", "z"]).models == ["alpha", "zeta"]


def test_allows_is_exact():
    al = compute("acme", REGISTRY, ["g1"])
    assert al.allows("gpt-mini")
    for near in ("GPT-MINI", "gpt-mini ", "gpt", ""):
        assert not al.allows(near)


def test_empty_allowlist_value():
    al = Allowlist("acme")
    assert al.models == [] and not al.allows("x")


def test_not_allowed_names_the_model_the_tenant_and_how_to_grant():
    err = not_allowed("gpt-big", "acme", what="--model")
    assert isinstance(err, ForbiddenError)
    assert err.exit_code == EXIT_FORBIDDEN == 5
    assert err.code == "MODEL_NOT_ALLOWED"
    line = err.line()
    assert line.startswith("error: --model: model 'gpt-big' is not allowed for ClusterTenant 'acme'")
    assert "oc cluster-tenant grant acme --model gpt-big" in line
    assert "\n" not in line


def test_not_allowed_for_a_model_no_one_can_grant_says_how_to_register_it():
    err = not_allowed("beta-tuned", "acme", registered_global=False)
    assert "grant" not in (err.hint or "")
    assert "--cluster-tenant acme" in (err.hint or "")


# -- properties ------------------------------------------------------------------------------------

names = st.sampled_from(["n1", "n2", "n3", "n4", "n5"])
tenant_of = st.sampled_from([None, "acme", "beta"])
registries = st.lists(st.tuples(names, tenant_of), max_size=12).map(
    lambda rows: [model(f"id{i}", n, t, created=f"2026-01-01T00:00:{i:02d}.000Z") for i, (n, t) in enumerate(rows)])


@given(registries, st.data(), st.booleans())
def test_allowlist_is_exactly_owned_union_granted(registry, data, grant_all):
    global_ids = [m["id"] for m in registry if m["scope"] == "global"]
    grants = data.draw(st.lists(st.sampled_from(global_ids), unique=True) if global_ids else st.just([]))
    al = compute("acme", registry, grants, grant_all_global=grant_all)
    owned = {m["publicModelName"] for m in registry if m["clusterTenant"] == "acme"}
    granted = {m["publicModelName"] for m in registry
               if m["scope"] == "global" and (grant_all or m["id"] in grants)}
    assert set(al.models) == owned | granted
    assert len(al.models) == len(set(al.models))
    assert set(al.owned) == owned
    assert set(al.granted) == granted - owned
    assert al.models[: len(al.owned)] == list(al.owned)
    other = {m["publicModelName"] for m in registry if m["clusterTenant"] == "beta"}
    for name in other - owned - granted:
        assert not al.allows(name)


@pytest.mark.parametrize("tenant", ["acme", "beta"])
def test_tenants_are_independent(tenant):
    al = compute(tenant, REGISTRY, ["g1"])
    own = "acme-tuned" if tenant == "acme" else "beta-tuned"
    foreign = "beta-tuned" if tenant == "acme" else "acme-tuned"
    assert al.allows(own) and not al.allows(foreign)
