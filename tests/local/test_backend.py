"""The local control plane against a real SQLite file: CRUD, scopes, allowlists, secrets, audit, schema.

Each test starts from an empty database in its own directory (the ``oc_env`` fixture). ``op`` is a
platform operator; ``as_tenant("acme")`` is acme's admin, as with ``--as-tenant acme``.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

import oc_cli.local.base as local_base
from oc_cli.domain.skillkey import parse
from oc_cli.errors import (
    EXIT_CONFLICT,
    EXIT_FORBIDDEN,
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    OcError,
    ValidationError,
)
from oc_cli.local.backend import LocalControlPlane
from oc_cli.local.migrations import MIGRATIONS, migrate
from oc_cli.local.store import Store
from tests.support import fake_keys

LATEST_SCHEMA = MIGRATIONS[-1][0]
SECRET = fake_keys.openai(24, kind="proj")


@pytest.fixture
def op(local_cp) -> LocalControlPlane:
    return local_cp()


@pytest.fixture
def as_tenant(local_cp) -> Callable[[str], LocalControlPlane]:
    return lambda tenant: local_cp(tenant=tenant)


@pytest.fixture
def world(op) -> dict[str, Any]:
    """Two tenants, a global credential and three global models, and one model owned by each tenant."""
    op.create_cluster_tenant("acme")
    op.create_cluster_tenant("beta")
    cred = op.create_credential({"provider": "openai", "secretRef": "openai-prod"})
    acme_cred = op.create_credential({"provider": "openai", "secretRef": "acme-openai", "clusterTenant": "acme"})
    beta_cred = op.create_credential({"provider": "openai", "secretRef": "beta-openai", "clusterTenant": "beta"})
    models = {
        name: op.create_model({"publicModelName": name, "upstreamModel": f"openai/{name}",
                               "providerCredentialId": cred["id"]})
        for name in ("gpt-mini", "gpt-big", "gpt-huge")
    }
    models["acme-tuned"] = op.create_model({"publicModelName": "acme-tuned", "upstreamModel": "openai/ft-acme",
                                            "clusterTenant": "acme", "providerCredentialId": acme_cred["id"]})
    models["beta-tuned"] = op.create_model({"publicModelName": "beta-tuned", "upstreamModel": "openai/ft-beta",
                                            "clusterTenant": "beta", "providerCredentialId": beta_cred["id"]})
    return {"cred": cred, "acme_cred": acme_cred, "beta_cred": beta_cred, "models": models}


def audit_count(cp: LocalControlPlane) -> int:
    return cp.conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]


def audit_entries(cp: LocalControlPlane) -> list[dict[str, Any]]:
    """Every entry, oldest first (operator view)."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = cp.list_audit(limit=1000, cursor=cursor)
        out.extend(page["data"])
        if not page["pagination"]["hasMore"]:
            return list(reversed(out))
        cursor = page["pagination"]["nextCursor"]


def snapshot(cp: LocalControlPlane) -> dict[str, list[str]]:
    """Every row of every table: to prove a refused write changed nothing."""
    tables = [r[0] for r in cp.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    # compared as sorted reprs: some tables are WITHOUT ROWID, and columns mix NULLs with text
    return {t: sorted(repr(tuple(r)) for r in cp.conn.execute(f"SELECT * FROM {t}")) for t in tables}


def refused(cp: LocalControlPlane, error: type[OcError], code: str | None, fn: Callable[[], Any]) -> OcError:
    """Run a write that must fail; check the error, and that the database did not change."""
    before = snapshot(cp)
    with pytest.raises(error) as info:
        fn()
    if code is not None:
        assert info.value.code == code, info.value.line()
    assert snapshot(cp) == before
    return info.value


# ===== credentials =================================================================================


def test_credential_crud(op):
    made = op.create_credential({"provider": "openai", "secretRef": "openai-prod"})
    assert made == {**made, "scope": "global", "clusterTenant": None, "provider": "openai",
                    "secretRef": "openai-prod", "litellmCredentialName": None}
    assert set(made) == {"id", "scope", "clusterTenant", "provider", "secretRef", "litellmCredentialName", "envVar",
                         "createdAt", "updatedAt"}
    assert op.get_credential(made["id"]) == made
    assert op.list_credentials() == [made]
    changed = op.update_credential(made["id"], {"secretRef": "openai-prod-v2", "litellmCredentialName": "oa"})
    assert (changed["secretRef"], changed["litellmCredentialName"], changed["provider"]) == \
        ("openai-prod-v2", "oa", "openai")
    assert changed["createdAt"] == made["createdAt"]
    assert op.delete_credential(made["id"]) == {"id": made["id"], "status": "deleted"}
    with pytest.raises(NotFoundError) as info:
        op.get_credential(made["id"])
    assert info.value.code == "PROVIDER_CREDENTIAL_NOT_FOUND"
    assert op.list_credentials() == []


def test_one_credential_per_provider_and_scope(world, op):
    err = refused(op, ConflictError, "CONFLICT",
                  lambda: op.create_credential({"provider": "openai", "secretRef": "other"}))
    assert world["cred"]["id"] in err.line()
    # the same provider in another scope is a different credential
    op.create_credential({"provider": "anthropic", "secretRef": "anthropic-prod"})


def test_credential_update_needs_something_to_change(world, op):
    refused(op, ValidationError, None, lambda: op.update_credential(world["cred"]["id"], {}))


def test_removing_a_credential_leaves_its_models_without_one(world, op):
    op.delete_credential(world["cred"]["id"])
    assert op.get_model("gpt-mini")["providerCredentialId"] is None
    assert any("gpt-mini" in n for n in op.notices)


def test_credentials_for_a_missing_tenant_are_refused(op):
    refused(op, NotFoundError, "CLUSTER_TENANT_NOT_FOUND",
            lambda: op.create_credential({"provider": "openai", "secretRef": "x", "clusterTenant": "ghost"}))


# ===== raw keys ======================================================================================


@pytest.mark.parametrize("body", [
    {"provider": "openai", "secretRef": SECRET},
    {"provider": "openai", "secretRef": "openai-prod", "apiKey": SECRET},
    {"provider": "openai", "secretRef": "openai-prod", "key": SECRET},
    {"provider": "openai", "secretRef": "openai-prod", "keyValue": SECRET},
    {"provider": "openai", "secretRef": "openai-prod", "litellmCredentialName": SECRET},
])
def test_raw_keys_are_refused_and_never_stored(op, oc_env, body):
    err = refused(op, ForbiddenError, "RAW_KEY_REJECTED", lambda: op.create_credential(body))
    assert err.exit_code == EXIT_FORBIDDEN
    assert SECRET not in err.line()
    op.close()
    for path in oc_env.db.parent.glob(oc_env.db.name + "*"):
        assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("patch", [{"secretRef": SECRET}, {"apiKey": SECRET}, {"key": SECRET},
                                   {"litellmCredentialName": SECRET}])
def test_raw_keys_are_refused_on_update(world, op, patch):
    refused(op, ForbiddenError, "RAW_KEY_REJECTED", lambda: op.update_credential(world["cred"]["id"], patch))
    assert op.get_credential(world["cred"]["id"])["secretRef"] == "openai-prod"


# ===== models ========================================================================================


def test_model_crud(world, op):
    cred = world["cred"]["id"]
    made = op.create_model({"publicModelName": "my-cheap-model", "upstreamModel": "openai/gpt-4o-mini",
                            "providerCredentialId": cred, "apiBase": "https://api.openai.com/v1",
                            "inputCostPerMtok": 0.15, "outputCostPerMtok": 0.6})
    assert made == {**made, "scope": "global", "clusterTenant": None, "publicModelName": "my-cheap-model",
                    "upstreamModel": "openai/gpt-4o-mini", "providerCredentialId": cred, "isDefault": False,
                    "litellmModelId": None, "inputCostPerMtok": 0.15,
                    "outputCostPerMtok": 0.6, "apiBase": "https://api.openai.com/v1"}
    assert op.get_model(made["id"]) == made
    assert op.get_model("my-cheap-model") == made  # by name when unambiguous
    assert made in op.list_models()
    changed = op.update_model(made["id"], {"upstreamModel": "openai/gpt-4.1-mini"})
    assert changed["upstreamModel"] == "openai/gpt-4.1-mini"
    assert {k: v for k, v in changed.items() if k not in ("upstreamModel", "updatedAt")} == \
        {k: v for k, v in made.items() if k not in ("upstreamModel", "updatedAt")}
    renamed = op.update_model(made["id"], {"publicModelName": "my-cheaper-model", "isDefault": True})
    assert renamed["litellmModelId"] is None and renamed["isDefault"] is True
    assert op.delete_model(made["id"]) == {"id": made["id"], "status": "deleted"}
    with pytest.raises(NotFoundError) as info:
        op.get_model(made["id"])
    assert info.value.code == "MODEL_DEFINITION_NOT_FOUND"


def test_local_models_report_no_litellm_id_but_keep_the_reference_uniqueness(world, op):
    # local mode registers nothing with LiteLLM: no id to report, not a placeholder that looks like one
    assert all(m["litellmModelId"] is None for m in op.list_models())
    # the stored placeholder still carries the reference's rule: one name per scope and tenant
    stored = op.conn.execute("SELECT litellm_model_id FROM models WHERE public_model_name = 'acme-tuned'").fetchone()[0]
    assert stored == "placeholder:clustertenant-acme-acme-tuned"


def test_duplicate_model_names_conflict_within_a_scope_only(world, op):
    refused(op, ConflictError, None,
            lambda: op.create_model({"publicModelName": "gpt-mini", "upstreamModel": "openai/x"}))
    refused(op, ConflictError, None, lambda: op.update_model("gpt-big", {"publicModelName": "gpt-mini"}))
    # acme may own a model of the same name as a global one; the name alone is then ambiguous
    op.create_model({"publicModelName": "gpt-mini", "upstreamModel": "openai/x", "clusterTenant": "acme"})
    refused(op, ValidationError, None, lambda: op.get_model("gpt-mini"))


@pytest.mark.parametrize(("patch", "error"), [
    ({}, ValidationError),
    ({"scope": "clusterTenant"}, ValidationError),
    ({"clusterTenant": "acme"}, ValidationError),
    ({"upstreamModel": "has space"}, ValidationError),
    ({"apiBase": "not a url"}, ValidationError),
    ({"inputCostPerMtok": -1}, ValidationError),
    ({"isDefault": "yes"}, ValidationError),
    ({"providerCredentialId": "nope"}, ValidationError),
])
def test_bad_model_updates_change_nothing(world, op, patch, error):
    refused(op, error, None, lambda: op.update_model("gpt-mini", patch))


@pytest.mark.parametrize("body", [
    {"publicModelName": "", "upstreamModel": "openai/x"},
    {"publicModelName": "x y", "upstreamModel": "openai/x"},
    {"publicModelName": "x"},
    {"publicModelName": "x", "upstreamModel": "openai/x", "scope": "tenant"},
    {"publicModelName": "x", "upstreamModel": "openai/x", "scope": "clusterTenant"},
    {"publicModelName": "x", "upstreamModel": "openai/x", "scope": "global", "clusterTenant": "acme"},
    {"publicModelName": "x", "upstreamModel": "openai/x", "providerCredentialId": "missing"},
])
def test_bad_model_bodies_change_nothing(world, op, body):
    err = refused(op, ValidationError, None, lambda: op.create_model(body))
    assert err.exit_code == EXIT_USAGE


def test_a_model_in_use_is_not_removed_without_force(world, op):
    op.set_default(cluster_tenant=None, default_model="gpt-mini", auto_config=None, fields={"defaultModel"})
    op.set_posture(parse("summarise"), mode="pinned", pinned_model="gpt-mini")
    err = refused(op, ConflictError, "MODEL_IN_USE", lambda: op.delete_model("gpt-mini"))
    assert err.exit_code == EXIT_CONFLICT
    assert "global default" in err.line() and "summarise" in err.line()
    op.delete_model("gpt-mini", force=True)
    assert "gpt-mini" not in [m["publicModelName"] for m in op.list_models()]


def test_a_model_named_in_an_auto_config_is_in_use(world, op):
    op.grant_models("acme", ["gpt-mini"])
    cfg = {"objective": "balanced", "sessionPin": True, "explorationRate": 0, "fallbacks": ["gpt-mini"]}
    op.set_posture(parse("team/acme/summarise"), mode="auto", auto_config=cfg)
    refused(op, ConflictError, "MODEL_IN_USE", lambda: op.delete_model("gpt-mini"))


# ===== ClusterTenants =================================================================================


def test_cluster_tenant_crud(op):
    made = op.create_cluster_tenant("acme", description="ACME Corp")
    assert made == {**made, "id": "acme", "name": "acme", "description": "ACME Corp", "grantAllGlobal": False,
                    "ownedModels": 0, "allowedModels": []}
    assert op.get_cluster_tenant("acme") == made
    assert op.list_cluster_tenants() == [made]
    refused(op, ConflictError, None, lambda: op.create_cluster_tenant("acme"))
    refused(op, ValidationError, None, lambda: op.create_cluster_tenant("ACME"))
    assert op.delete_cluster_tenant("acme") == {"id": "acme", "status": "deleted"}
    with pytest.raises(NotFoundError):
        op.get_cluster_tenant("acme")


def test_a_tenant_that_owns_things_is_removed_only_with_force(world, op):
    err = refused(op, ConflictError, "CLUSTER_TENANT_IN_USE", lambda: op.delete_cluster_tenant("acme"))
    assert "1 models" in err.line() and "1 credentials" in err.line()
    op.delete_cluster_tenant("acme", force=True)
    assert [m for m in op.list_models() if m["clusterTenant"] == "acme"] == []
    assert [c for c in op.list_credentials() if c["clusterTenant"] == "acme"] == []


# ===== allowlists =====================================================================================


def test_allowlist_is_owned_union_granted(world, op):
    assert op.tenant_models("acme")["models"] == ["acme-tuned"]
    out = op.grant_models("acme", ["gpt-big", world["models"]["gpt-mini"]["id"]])  # by name or by id
    assert out["models"][0] == "acme-tuned"  # owned first
    assert sorted(out["models"]) == ["acme-tuned", "gpt-big", "gpt-mini"]
    assert out["sources"] == {"acme-tuned": "owned", "gpt-mini": "granted", "gpt-big": "granted"}
    assert op.get_cluster_tenant("acme")["allowedModels"] == out["models"]
    assert op.tenant_models("beta")["models"] == ["beta-tuned"]  # grants are per tenant
    out = op.revoke_models("acme", ["gpt-mini"])
    assert out["models"] == ["acme-tuned", "gpt-big"]


def test_revoke_names_the_skills_it_blocks_as_resolution_sees_them(world, op):
    op.grant_models("acme", ["gpt-mini", "gpt-big"])
    op.set_default(cluster_tenant="acme", default_model="gpt-mini", auto_config=None, fields={"defaultModel"})
    op.set_posture(parse("team/acme/auto"), mode="auto")
    op.set_posture(parse("team/acme/pinned"), mode="pinned", pinned_model="gpt-mini")
    op.set_posture(parse("team/acme/other"), mode="pinned", pinned_model="gpt-big")  # not affected
    op.set_posture(parse("team/beta/auto"), mode="auto")  # another tenant's skill
    op.set_posture(parse("org/shared"), mode="auto")  # no team: resolves for acme too
    out = op.revoke_models("acme", ["gpt-mini"])
    assert out["blockedSkills"] == [
        {"skill": "shared", "source": "skill-auto", "blockedModel": "gpt-mini"},
        {"skill": "team/acme/auto", "source": "skill-auto", "blockedModel": "gpt-mini"},
        {"skill": "team/acme/pinned", "source": "skill-pinned", "blockedModel": "gpt-mini"},
    ]
    # the same answer as resolution itself gives, skill by skill
    for b in out["blockedSkills"]:
        r = op.resolve(parse(b["skill"]), cluster_tenant="acme")
        assert (r["blocked"], r["blockedModel"], r["source"]) == (True, "gpt-mini", b["source"])
    assert op.resolve(parse("team/acme/other"))["model"] == "gpt-big"
    # revoking what is not granted blocks nothing new
    assert op.revoke_models("acme", ["gpt-mini"])["blockedSkills"] == []


def test_tenant_models_shows_the_tenants_own_default_even_off_the_allowlist(world, op):
    op.set_default(cluster_tenant=None, default_model="gpt-big", auto_config=None, fields={"defaultModel"})
    op.grant_models("acme", ["gpt-mini", "gpt-big"])
    op.set_default(cluster_tenant="acme", default_model="gpt-mini", auto_config=None, fields={"defaultModel"})
    out = op.tenant_models("acme")
    assert (out["defaultModel"], out["defaultSource"], out["defaultAllowed"]) == \
        ("gpt-mini", "cluster-tenant-default", True)
    op.revoke_models("acme", ["gpt-mini"])
    out = op.tenant_models("acme")
    # the same model `model-default show acme` names, not the global default resolution never falls to
    assert op.get_default("acme")["defaultModel"] == out["defaultModel"] == "gpt-mini"
    assert (out["defaultSource"], out["defaultAllowed"]) == ("cluster-tenant-default", False)
    assert "not on the allowlist" in out["note"]
    assert op.tenant_models("beta")["defaultModel"] == "gpt-big"  # no own default: the global one


def test_granting_twice_changes_nothing(world, op):
    op.grant_models("acme", ["gpt-big"])
    n = audit_count(op)
    assert op.grant_models("acme", ["gpt-big"])["models"] == ["acme-tuned", "gpt-big"]
    assert audit_count(op) == n
    assert "already granted" in " ".join(op.notices)


def test_grant_all_global_allows_every_global_model_including_later_ones(world, op):
    t = op.create_cluster_tenant("gamma", grant_all_global=True)
    assert sorted(t["allowedModels"]) == ["gpt-big", "gpt-huge", "gpt-mini"]
    op.create_model({"publicModelName": "brand-new", "upstreamModel": "openai/new"})
    assert "brand-new" in op.tenant_models("gamma")["models"]
    assert "beta-tuned" not in op.tenant_models("gamma")["models"]
    op.revoke_models("gamma", ["gpt-mini"])  # says so, but the rule still allows it
    assert "gpt-mini" in op.tenant_models("gamma")["models"]
    assert any("--grant-all-global" in n for n in op.notices)


def test_only_global_models_can_be_granted(world, op):
    refused(op, ValidationError, None, lambda: op.grant_models("acme", ["beta-tuned"]))
    refused(op, NotFoundError, "MODEL_NOT_FOUND", lambda: op.grant_models("acme", ["ghost"]))
    refused(op, ValidationError, None, lambda: op.grant_models("acme", []))
    refused(op, NotFoundError, "CLUSTER_TENANT_NOT_FOUND", lambda: op.grant_models("ghost", ["gpt-mini"]))
    # all or nothing: one bad name grants none of the others
    refused(op, NotFoundError, None, lambda: op.grant_models("acme", ["gpt-mini", "ghost"]))


def test_removing_a_global_model_drops_its_grants(world, op):
    op.grant_models("acme", ["gpt-huge"])
    op.delete_model("gpt-huge")
    assert op.tenant_models("acme")["models"] == ["acme-tuned"]


def test_tenant_models_reports_the_effective_default(world, op):
    op.set_default(cluster_tenant=None, default_model="gpt-mini", auto_config=None, fields={"defaultModel"})
    out = op.tenant_models("acme")
    # named, but marked: acme's auto skills resolve to blocked on it (resolution does not fall back)
    assert (out["defaultModel"], out["defaultAllowed"]) == ("gpt-mini", False)
    assert "not on the allowlist" in out["note"]
    op.grant_models("acme", ["gpt-mini"])
    assert (op.tenant_models("acme")["defaultModel"], op.tenant_models("acme")["defaultSource"]) == \
        ("gpt-mini", "global-default")
    op.set_default(cluster_tenant="acme", default_model="acme-tuned", auto_config=None, fields={"defaultModel"})
    assert (op.tenant_models("acme")["defaultModel"], op.tenant_models("acme")["defaultSource"]) == \
        ("acme-tuned", "cluster-tenant-default")


# ===== postures and defaults refuse models outside the allowlist =======================================


def test_a_tenant_default_must_name_an_allowed_model(world, op):
    err = refused(op, ForbiddenError, "MODEL_NOT_ALLOWED", lambda: op.set_default(
        cluster_tenant="acme", default_model="gpt-big", auto_config=None, fields={"defaultModel"}))
    assert "'gpt-big'" in err.line() and "'acme'" in err.line()
    assert "oc cluster-tenant grant acme --model gpt-big" in err.line()
    op.grant_models("acme", ["gpt-big"])
    assert op.set_default(cluster_tenant="acme", default_model="gpt-big", auto_config=None,
                          fields={"defaultModel"})["defaultModel"] == "gpt-big"


def test_a_team_posture_must_name_an_allowed_model(world, op):
    key = parse("team/acme/summarise")
    refused(op, ForbiddenError, "MODEL_NOT_ALLOWED",
            lambda: op.set_posture(key, mode="pinned", pinned_model="gpt-big"))
    err = refused(op, ForbiddenError, "MODEL_NOT_ALLOWED",
                  lambda: op.set_posture(key, mode="pinned", pinned_model="beta-tuned"))
    assert "--cluster-tenant acme" in err.line()  # beta's model cannot be granted, only registered
    assert op.set_posture(key, mode="pinned", pinned_model="acme-tuned")["pinnedModel"] == "acme-tuned"


@pytest.mark.parametrize("field", ["allowedModels", "fallbacks"])
def test_an_auto_config_must_name_allowed_models(world, op, field):
    cfg = {"objective": "balanced", "sessionPin": True, "explorationRate": 0, field: ["acme-tuned", "gpt-big"]}
    refused(op, ForbiddenError, "MODEL_NOT_ALLOWED",
            lambda: op.set_posture(parse("team/acme/summarise"), mode="auto", auto_config=cfg))
    refused(op, ForbiddenError, "MODEL_NOT_ALLOWED", lambda: op.set_default(
        cluster_tenant="acme", default_model=None, auto_config=cfg, fields={"autoConfig"}))


def test_global_settings_name_global_models_only(world, op):
    refused(op, ForbiddenError, "MODEL_NOT_ALLOWED", lambda: op.set_default(
        cluster_tenant=None, default_model="acme-tuned", auto_config=None, fields={"defaultModel"}))
    refused(op, ForbiddenError, "MODEL_NOT_ALLOWED",
            lambda: op.set_posture(parse("summarise"), mode="pinned", pinned_model="acme-tuned"))


def test_unregistered_models_are_not_found(world, op):
    for fn in (lambda: op.set_default(cluster_tenant=None, default_model="ghost", auto_config=None,
                                      fields={"defaultModel"}),
               lambda: op.set_default(cluster_tenant="acme", default_model="ghost", auto_config=None,
                                      fields={"defaultModel"}),
               lambda: op.set_posture(parse("summarise"), mode="pinned", pinned_model="ghost"),
               lambda: op.set_posture(parse("team/acme/summarise"), mode="pinned", pinned_model="ghost")):
        err = refused(op, NotFoundError, "MODEL_NOT_FOUND", fn)
        assert err.exit_code == EXIT_NOT_FOUND


def test_a_global_pin_warns_about_tenants_it_blocks(world, op):
    op.set_posture(parse("summarise"), mode="pinned", pinned_model="gpt-big")
    assert any("acme" in n and "beta" in n and "gpt-big" in n for n in op.notices)


# ===== postures ======================================================================================


def test_posture_lifecycle(world, op):
    key = parse("summarise")
    pinned = op.set_posture(key, mode="pinned", pinned_model="gpt-mini")
    assert pinned == {**pinned, "key": "summarise", "name": "summarise", "scope": "org", "team": "",
                      "modelMode": "pinned", "pinnedModel": "gpt-mini", "autoConfig": None}
    assert "registered skill summarise" in op.notices
    auto = op.set_posture(key, mode="auto")
    assert (auto["modelMode"], auto["pinnedModel"]) == ("auto", None)
    assert auto["autoConfig"] == {"objective": "cheapest-passing-bar", "sessionPin": True, "explorationRate": 0}
    cfg = {"objective": "balanced", "sessionPin": False, "explorationRate": 0.2, "costQualitySlider": 7}
    assert op.set_posture(key, mode="auto", auto_config=cfg)["autoConfig"] == cfg
    cleared = op.set_posture(key, mode=None)
    assert (cleared["modelMode"], cleared["pinnedModel"], cleared["autoConfig"]) == (None, None, None)
    assert op.get_posture(key) == cleared
    assert [p["key"] for p in op.list_postures()] == ["summarise"]
    assert cleared["createdAt"] == pinned["createdAt"]


def test_every_listed_key_is_accepted_back(world, op):
    for text in ("summarise", "platform/summarise", "team/acme/summarise", "org/acme/triage"):
        op.set_posture(parse(text), mode="auto")
    for row in op.list_postures():
        assert op.get_posture(parse(row["key"]))["key"] == row["key"]


def test_bad_postures_change_nothing(world, op):
    key = parse("summarise")
    op.set_posture(key, mode="pinned", pinned_model="gpt-mini")
    refused(op, ValidationError, None, lambda: op.set_posture(key, mode="sometimes"))
    refused(op, ValidationError, None, lambda: op.set_posture(key, mode="pinned", pinned_model=""))
    refused(op, ValidationError, None, lambda: op.set_posture(key, mode="auto", auto_config={"objective": "x"}))
    refused(op, NotFoundError, None, lambda: op.set_posture(parse("team/ghost/x"), mode="auto"))
    with pytest.raises(NotFoundError) as info:
        op.get_posture(parse("never-set"))
    assert info.value.code == "SKILL_NOT_FOUND"


# ===== defaults ======================================================================================


def test_default_lifecycle(world, op):
    made = op.set_default(cluster_tenant=None, default_model="gpt-mini", auto_config=None, fields={"defaultModel"})
    assert made == {**made, "scope": "global", "clusterTenant": None, "defaultModel": "gpt-mini", "autoConfig": None}
    cfg = {"objective": "balanced", "sessionPin": True, "explorationRate": 0}
    # fields not given keep their value
    both = op.set_default(cluster_tenant=None, default_model=None, auto_config=cfg, fields={"autoConfig"})
    assert (both["id"], both["defaultModel"], both["autoConfig"]) == (made["id"], "gpt-mini", cfg)
    moved = op.set_default(cluster_tenant=None, default_model="gpt-big", auto_config=None, fields={"defaultModel"})
    assert (moved["defaultModel"], moved["autoConfig"]) == ("gpt-big", cfg)
    assert op.get_default("global") == moved == op.get_default(made["id"])
    op.grant_models("acme", ["gpt-mini"])
    ct = op.set_default(cluster_tenant="acme", default_model="gpt-mini", auto_config=None, fields={"defaultModel"})
    assert (ct["scope"], ct["clusterTenant"]) == ("clusterTenant", "acme")
    assert op.get_default("acme") == ct
    assert sorted(d["id"] for d in op.list_defaults()) == sorted([made["id"], ct["id"]])
    assert [d["id"] for d in op.list_defaults(cluster_tenant="acme")] == [ct["id"]]
    assert op.delete_default("acme") == {"id": ct["id"], "status": "deleted"}
    with pytest.raises(NotFoundError) as info:
        op.get_default("acme")
    assert info.value.code == "MODEL_ROUTING_DEFAULT_NOT_FOUND"


def test_a_default_with_neither_model_nor_config_is_refused(world, op):
    refused(op, ValidationError, None, lambda: op.set_default(
        cluster_tenant=None, default_model=None, auto_config=None, fields={"defaultModel"}))
    refused(op, ValidationError, None, lambda: op.set_default(
        cluster_tenant=None, default_model=None, auto_config=None, fields=set()))
    refused(op, NotFoundError, None, lambda: op.set_default(
        cluster_tenant="ghost", default_model="gpt-mini", auto_config=None, fields={"defaultModel"}))


# ===== resolution over the stored rows =================================================================


def test_resolution_reads_postures_defaults_and_the_allowlist(world, op):
    key = parse("team/acme/summarise")
    op.set_default(cluster_tenant=None, default_model="gpt-big", auto_config=None, fields={"defaultModel"})
    r = op.resolve(key)
    assert (r["clusterTenant"], r["skillRegistered"], r["blocked"], r["blockedModel"]) == \
        ("acme", False, True, "gpt-big")
    op.grant_models("acme", ["gpt-big"])
    assert (op.resolve(key)["model"], op.resolve(key)["source"]) == ("gpt-big", "scope-default-global")
    op.set_default(cluster_tenant="acme", default_model="acme-tuned", auto_config=None, fields={"defaultModel"})
    assert op.resolve(key)["source"] == "scope-default-cluster-tenant"
    op.set_posture(key, mode="auto")
    assert (op.resolve(key)["model"], op.resolve(key)["source"]) == ("acme-tuned", "skill-auto")
    op.set_posture(key, mode="pinned", pinned_model="gpt-big")
    assert (op.resolve(key)["model"], op.resolve(key)["source"]) == ("gpt-big", "skill-pinned")
    r = op.resolve(key, request_model="anything-else")
    assert (r["model"], r["blocked"]) == (None, True)  # the allowlist applies to a request model too
    r = op.resolve(parse("summarise"))
    assert (r["model"], r["clusterTenant"]) == ("gpt-big", None)
    with pytest.raises(ValidationError):
        op.resolve(key, cluster_tenant="beta")  # a team skill belongs to its team


# ===== tenant identity: scopes and ownership ===========================================================


def test_a_tenant_sees_global_and_its_own_rows_only(world, op, as_tenant):
    op.grant_models("acme", ["gpt-mini"])
    op.grant_models("beta", ["gpt-mini"])
    op.set_default(cluster_tenant=None, default_model="gpt-mini", auto_config=None, fields={"defaultModel"})
    op.set_default(cluster_tenant="beta", default_model="gpt-mini", auto_config=None, fields={"defaultModel"})
    op.set_posture(parse("team/beta/secret-skill"), mode="auto")
    op.set_posture(parse("org-skill"), mode="auto")
    acme = as_tenant("acme")
    assert {m["publicModelName"] for m in acme.list_models()} == {"gpt-mini", "gpt-big", "gpt-huge", "acme-tuned"}
    assert {c["clusterTenant"] for c in acme.list_credentials()} == {None, "acme"}
    assert [d["scope"] for d in acme.list_defaults()] == ["global"]
    assert [p["key"] for p in acme.list_postures()] == ["org-skill"]
    assert [t["name"] for t in acme.list_cluster_tenants()] == ["acme"]
    assert acme.list_models(cluster_tenant="beta") == []
    for fn in (lambda: acme.get_model(world["models"]["beta-tuned"]["id"]),
               lambda: acme.get_model("beta-tuned"),
               lambda: acme.get_credential(world["beta_cred"]["id"]),
               lambda: acme.get_default("beta"),
               lambda: acme.get_posture(parse("team/beta/secret-skill")),
               lambda: acme.get_cluster_tenant("beta"),
               lambda: acme.tenant_models("beta")):
        with pytest.raises(NotFoundError):
            fn()


def test_a_tenant_changes_only_what_it_owns(world, op, as_tenant):
    op.set_default(cluster_tenant=None, default_model="gpt-mini", auto_config=None, fields={"defaultModel"})
    acme = as_tenant("acme")
    gl = world["models"]["gpt-mini"]["id"]
    for fn in (lambda: acme.update_model(gl, {"upstreamModel": "openai/evil"}),
               lambda: acme.delete_model(gl),
               lambda: acme.update_credential(world["cred"]["id"], {"secretRef": "evil"}),
               lambda: acme.delete_credential(world["cred"]["id"]),
               lambda: acme.create_model({"publicModelName": "g", "upstreamModel": "o/g", "scope": "global"}),
               lambda: acme.create_model({"publicModelName": "b", "upstreamModel": "o/b", "clusterTenant": "beta"}),
               lambda: acme.create_credential({"provider": "anthropic", "secretRef": "x", "scope": "global"}),
               lambda: acme.delete_default("global"),
               lambda: acme.set_default(cluster_tenant="beta", default_model="beta-tuned", auto_config=None,
                                        fields={"defaultModel"}),
               lambda: acme.set_posture(parse("summarise"), mode="auto"),
               lambda: acme.set_posture(parse("team/beta/summarise"), mode="auto"),
               lambda: acme.create_cluster_tenant("gamma"),
               lambda: acme.delete_cluster_tenant("acme"),
               lambda: acme.grant_models("acme", ["gpt-big"]),
               lambda: acme.revoke_models("acme", ["gpt-big"])):
        err = refused(acme, ForbiddenError, "FORBIDDEN_SCOPE", fn)
        assert err.exit_code == EXIT_FORBIDDEN and "'acme'" in err.line()


def test_a_tenant_manages_its_own_things(world, as_tenant):
    acme = as_tenant("acme")
    own = acme.create_model({"publicModelName": "acme-mini", "upstreamModel": "openai/gpt-4o-mini",
                             "providerCredentialId": world["acme_cred"]["id"]})
    assert (own["scope"], own["clusterTenant"]) == ("clusterTenant", "acme")  # scope inferred from identity
    assert acme.update_model("acme-mini", {"upstreamModel": "openai/gpt-4.1-mini"})["upstreamModel"] == \
        "openai/gpt-4.1-mini"
    cred = acme.create_credential({"provider": "anthropic", "secretRef": "acme-anthropic"})
    assert cred["clusterTenant"] == "acme"
    assert acme.set_default(cluster_tenant=None, default_model="acme-mini", auto_config=None,
                            fields={"defaultModel"})["clusterTenant"] == "acme"
    assert acme.set_posture(parse("team/acme/summarise"), mode="pinned",
                            pinned_model="acme-mini")["pinnedModel"] == "acme-mini"
    assert acme.resolve(parse("team/acme/summarise"))["model"] == "acme-mini"
    acme.set_posture(parse("team/acme/summarise"), mode=None)
    acme.delete_default("acme")
    acme.delete_model(own["id"])
    entries = audit_entries(acme)
    assert entries and all(e["tenant"] == "acme" for e in entries)
    assert {e["actor"] for e in entries if e["action"] == "ModelCreated" and "acme-mini" in e["message"]} == \
        {"tester@acme"}


def test_a_tenant_cannot_resolve_for_another_tenant(world, op, as_tenant):
    op.set_posture(parse("team/beta/summarise"), mode="auto")
    acme = as_tenant("acme")
    with pytest.raises((ForbiddenError, NotFoundError)):
        acme.resolve(parse("team/beta/summarise"))
    with pytest.raises(ForbiddenError):
        acme.resolve(parse("summarise"), cluster_tenant="beta")
    assert all(r["clusterTenant"] == "acme" for r in acme.resolve_all())


def test_a_tenants_audit_view_is_its_own(world, op, as_tenant):
    op.grant_models("beta", ["gpt-mini"])
    acme = as_tenant("acme")
    entries = audit_entries(acme)
    assert entries and {e["tenant"] for e in entries} == {"acme"}
    assert acme.list_audit(tenant="beta")["data"] == []


# ===== CREDENTIAL_SCOPE_MISMATCH =======================================================================


def test_a_tenants_credential_cannot_back_another_tenants_model(world, op):
    acme_cred = world["acme_cred"]["id"]
    err = refused(op, ForbiddenError, "CREDENTIAL_SCOPE_MISMATCH", lambda: op.create_model(
        {"publicModelName": "x", "upstreamModel": "openai/x", "clusterTenant": "beta",
         "providerCredentialId": acme_cred}))
    assert err.exit_code == EXIT_FORBIDDEN
    assert "'acme'" in err.line() and "'beta'" in err.line()
    refused(op, ForbiddenError, "CREDENTIAL_SCOPE_MISMATCH", lambda: op.create_model(
        {"publicModelName": "x", "upstreamModel": "openai/x", "providerCredentialId": acme_cred}))
    refused(op, ForbiddenError, "CREDENTIAL_SCOPE_MISMATCH",
            lambda: op.update_model("beta-tuned", {"providerCredentialId": acme_cred}))
    refused(op, ForbiddenError, "CREDENTIAL_SCOPE_MISMATCH",
            lambda: op.update_model("gpt-mini", {"providerCredentialId": acme_cred}))


def test_a_global_credential_backs_any_model(world, op):
    made = op.create_model({"publicModelName": "x", "upstreamModel": "openai/x", "clusterTenant": "beta",
                            "providerCredentialId": world["cred"]["id"]})
    assert made["providerCredentialId"] == world["cred"]["id"]


def test_a_tenant_cannot_even_see_another_tenants_credential(world, as_tenant):
    acme = as_tenant("acme")
    refused(acme, ValidationError, None, lambda: acme.create_model(
        {"publicModelName": "x", "upstreamModel": "openai/x", "providerCredentialId": world["beta_cred"]["id"]}))


# ===== eval cases ======================================================================================


def test_eval_case_crud_and_scope(world, op, as_tenant):
    made = op.create_eval_case({"skillName": "summarise", "skillScope": "team", "skillTeam": "acme",
                                "input": {"messages": [{"role": "user", "content": "Summarise: x"}]},
                                "expected": "A two-sentence summary", "qualityBar": 0.8})
    assert (made["skillTeam"], made["qualityBar"], made["expected"]) == ("acme", 0.8, "A two-sentence summary")
    assert op.get_eval_case(made["id"]) == made
    changed = op.update_eval_case(made["id"], {"qualityBar": 0.9})
    assert changed["qualityBar"] == 0.9 and changed["input"] == made["input"]
    beta = as_tenant("beta")
    assert beta.list_eval_cases() == []
    refused(beta, NotFoundError, None, lambda: beta.delete_eval_case(made["id"]))
    assert as_tenant("acme").list_eval_cases() == [changed]
    op.delete_eval_case(made["id"])
    assert op.list_eval_cases() == []


# ===== the audit log ===================================================================================


def test_every_mutation_is_audited_with_before_and_after(world, op):
    start = audit_count(op)
    op.grant_models("acme", ["gpt-mini"])
    upd = op.update_model("gpt-big", {"upstreamModel": "openai/gpt-big-2"})
    op.update_credential(world["cred"]["id"], {"secretRef": "openai-prod-2"})
    op.set_posture(parse("team/acme/summarise"), mode="pinned", pinned_model="gpt-mini")
    op.set_default(cluster_tenant="acme", default_model="gpt-mini", auto_config=None, fields={"defaultModel"})
    op.revoke_models("acme", ["gpt-mini"])
    op.delete_default("acme")
    op.set_posture(parse("team/acme/summarise"), mode=None)
    op.delete_model("gpt-huge")
    op.delete_credential(world["beta_cred"]["id"])
    op.create_eval_case({"skillName": "s", "skillScope": "org", "input": "x"})
    entries = audit_entries(op)[start:]
    assert [e["action"] for e in entries] == [
        "ModelsGranted", "ModelUpdated", "CredentialUpdated", "SkillRegistered", "SkillPostureSet",
        "ModelDefaultSet", "ModelsRevoked", "ModelDefaultDeleted", "SkillPostureCleared", "ModelDeleted",
        "CredentialDeleted", "SkillRegistered", "EvalCaseCreated"]
    by_action = {e["action"]: e for e in entries}
    mu = by_action["ModelUpdated"]
    assert mu["before"]["upstreamModel"] == "openai/gpt-big" and mu["after"] == upd
    assert mu["resource"] == f"ModelDefinition/{upd['id']}"
    assert by_action["CredentialUpdated"]["before"]["secretRef"] == "openai-prod"
    assert by_action["CredentialUpdated"]["after"]["secretRef"] == "openai-prod-2"
    assert by_action["ModelDeleted"]["before"]["publicModelName"] == "gpt-huge"
    assert by_action["ModelDeleted"]["after"] is None
    assert by_action["ModelDefaultSet"]["before"] is None and by_action["ModelDefaultSet"]["tenant"] == "acme"
    assert by_action["SkillPostureCleared"]["before"]["pinnedModel"] == "gpt-mini"
    for e in entries:
        assert e["actor"] == "tester" and e["timestamp"].endswith("Z") and e["message"]
    assert op.verify_audit()["ok"]


def test_creation_is_audited(world, op):
    actions = [e["action"] for e in audit_entries(op)]
    assert actions == ["ClusterTenantCreated", "ClusterTenantCreated"] + ["CredentialCreated"] * 3 + \
        ["ModelCreated"] * 5
    first_model = next(e for e in audit_entries(op) if e["action"] == "ModelCreated")
    assert first_model["before"] is None and first_model["after"]["publicModelName"] == "gpt-mini"


def test_refused_writes_are_not_audited(world, op):
    n = audit_count(op)
    for fn in (lambda: op.create_credential({"provider": "openai", "secretRef": SECRET}),
               lambda: op.create_model({"publicModelName": "gpt-mini", "upstreamModel": "o/x"}),
               lambda: op.set_default(cluster_tenant="acme", default_model="gpt-big", auto_config=None,
                                      fields={"defaultModel"})):
        with pytest.raises(OcError):
            fn()
    assert audit_count(op) == n


def test_verify_reports_the_head(world, op):
    result = op.verify_audit()
    assert result["ok"] and result["checked"] == audit_count(op) == 10
    assert result["head"]["seq"] == 10 and len(result["head"]["hash"]) == 64


@pytest.mark.parametrize("tamper", [
    "UPDATE audit_log SET message = 'nothing happened' WHERE seq = 3",
    "UPDATE audit_log SET actor = 'mallory' WHERE seq = 1",
    "UPDATE audit_log SET after = '{\"secretRef\":\"x\"}' WHERE seq = 4",
    "UPDATE audit_log SET before = '{}' WHERE seq = 10",
    "UPDATE audit_log SET timestamp = '2000-01-01T00:00:00.000Z' WHERE seq = 10",
    "DELETE FROM audit_log WHERE seq = 5",
    "DELETE FROM audit_log WHERE seq = 1",
    "DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)",
    "DELETE FROM audit_log WHERE seq >= 8",
    "DELETE FROM audit_log",
    "DELETE FROM meta WHERE key = 'audit_head'",
])
def test_tampering_is_detected(world, op, tamper):
    assert op.verify_audit()["ok"]
    op.conn.execute(tamper)
    result = op.verify_audit()
    assert not result["ok"] and result["problems"]


def test_deleting_the_newest_entry_is_reported_as_such(world, op):
    op.conn.execute("DELETE FROM audit_log WHERE seq = 10")
    result = op.verify_audit()
    assert result["problems"] == [{"seq": 10, "problem": "the newest entries were removed (chain head mismatch)"}]


def test_the_chain_continues_across_connections(world, op, local_cp):
    other = local_cp()
    other.create_model({"publicModelName": "later", "upstreamModel": "o/later"})
    op.create_model({"publicModelName": "later-still", "upstreamModel": "o/later"})
    result = local_cp().verify_audit()
    assert result["ok"] and result["checked"] == 12


# ===== cursor pagination ===============================================================================


def test_pages_never_skip_entries_sharing_a_timestamp(op, monkeypatch):
    monkeypatch.setattr(local_base, "now_iso", lambda: "2026-01-01T00:00:00.000Z")
    op.create_cluster_tenant("acme")
    for i in range(12):
        op.create_model({"publicModelName": f"m{i}", "upstreamModel": "o/m"})
        if i % 3 == 0:
            op.create_model({"publicModelName": f"a{i}", "upstreamModel": "o/m", "clusterTenant": "acme"})
    total = audit_count(op)
    assert total == 17
    for limit in (1, 2, 3, 5, 16, 17, 100):
        seen: list[int] = []
        cursor = None
        while True:
            page = op.list_audit(limit=limit, cursor=cursor)
            assert len(page["data"]) <= limit
            seen.extend(e["seq"] for e in page["data"])
            if not page["pagination"]["hasMore"]:
                assert "nextCursor" not in page["pagination"]
                break
            cursor = page["pagination"]["nextCursor"]
        assert seen == list(range(total, 0, -1)), limit
    acme_seen: list[int] = []
    cursor = None
    while True:
        page = op.list_audit(tenant="acme", limit=2, cursor=cursor)
        acme_seen.extend(e["seq"] for e in page["data"])
        if not page["pagination"]["hasMore"]:
            break
        cursor = page["pagination"]["nextCursor"]
    expected = [r[0] for r in op.conn.execute("SELECT seq FROM audit_log WHERE tenant = 'acme' ORDER BY seq DESC")]
    assert acme_seen == expected and len(expected) == 5


def test_new_entries_do_not_shift_a_page_in_progress(world, op):
    first = op.list_audit(limit=4)
    op.create_model({"publicModelName": "inserted-meanwhile", "upstreamModel": "o/x"})
    second = op.list_audit(limit=4, cursor=first["pagination"]["nextCursor"])
    assert [e["seq"] for e in first["data"]] == [10, 9, 8, 7]
    assert [e["seq"] for e in second["data"]] == [6, 5, 4, 3]


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"limit": 1001}, {"limit": True}, {"cursor": "garbage!"}])
def test_bad_page_requests(op, kwargs):
    with pytest.raises(ValidationError):
        op.list_audit(**kwargs)


# ===== migrations ======================================================================================


def applied(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as c:
        return c.execute("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").fetchall()


def test_a_new_database_gets_every_migration_once(oc_env):
    store = Store(oc_env.db)
    try:
        assert store.schema_version == LATEST_SCHEMA == len(MIGRATIONS)
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_SCHEMA
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
        assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        store.close()
    rows = applied(oc_env.db)
    assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS]


def test_migrations_are_idempotent(world, op, oc_env):
    rows = applied(oc_env.db)
    state = snapshot(op)
    for _ in range(3):
        again = Store(oc_env.db)
        assert migrate(again) == LATEST_SCHEMA
        again.close()
    assert applied(oc_env.db) == rows
    assert snapshot(op) == state


def test_concurrent_first_opens_apply_each_migration_once(oc_env):
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def open_it() -> None:
        try:
            barrier.wait()
            Store(oc_env.db).close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert [r[0] for r in applied(oc_env.db)] == [m[0] for m in MIGRATIONS]


def test_a_newer_schema_is_refused(oc_env):
    Store(oc_env.db).close()
    with sqlite3.connect(oc_env.db) as c:
        c.execute(f"PRAGMA user_version = {LATEST_SCHEMA + 1}")
    with pytest.raises(OcError) as info:
        Store(oc_env.db)
    assert info.value.code == "SCHEMA_TOO_NEW"


def test_data_survives_reopening(world, local_cp):
    again = local_cp()
    assert sorted(m["publicModelName"] for m in again.list_models()) == [
        "acme-tuned", "beta-tuned", "gpt-big", "gpt-huge", "gpt-mini"]
    assert again.verify_audit()["ok"]


def test_changing_a_credentials_provider_to_a_taken_one_is_a_conflict(world, op):
    other = op.create_credential({"provider": "anthropic", "secretRef": "anthropic-prod"})
    # not an sqlite3.IntegrityError escaping as an internal error (exit 1)
    refused(op, ConflictError, None, lambda: op.update_credential(other["id"], {"provider": "openai"}))


def test_clearing_the_posture_of_an_unknown_skill_is_not_found_and_registers_nothing(local_cp):
    from oc_cli.domain.skillkey import parse
    from oc_cli.errors import NotFoundError

    cp = local_cp()
    with pytest.raises(NotFoundError):
        cp.set_posture(parse("never-seen"), mode=None)
    assert cp.list_postures() == []


def test_an_unknown_auto_config_key_is_shown_shortened():
    from oc_cli.domain.validation import auto_config
    from oc_cli.errors import ValidationError

    with pytest.raises(ValidationError) as info:
        auto_config({"objective": "balanced", "sessionPin": True, "explorationRate": 0, "x" * 100_000: 1})
    assert len(info.value.line()) < 1000
