"""The user guide's commands, exactly as printed there, through the real ``oc`` in a subprocess.

SPEC §3: "Every command in the seed guide must work exactly as printed there." Where the guide has
a placeholder (``<id>``, ``<skill-key>``) the test fills in a real value taken from ``oc``'s own output.
The guide's commands run as subprocesses (``run_oc``); set-up steps and extra checks that the guide
does not print run in-process (``oc_main``), which is much faster.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from oc_cli.errors import EXIT_FORBIDDEN

RUNGS = ["request", "skill-pinned", "skill-auto", "scope-default-cluster-tenant", "scope-default-global"]


def ok(run_oc, *args: Any, **kw: Any):
    result = run_oc(*args, **kw)
    assert result.code == 0, f"oc {' '.join(map(str, args))} exited {result.code}: {result.err}"
    assert "error:" not in result.err
    return result


def fields(table_out: str) -> dict[str, str]:
    """The ``key  value`` lines that ``show`` prints for one object when stdout is not a terminal."""
    out: dict[str, str] = {}
    for line in table_out.splitlines():
        key, _, value = line.partition(" ")
        out[key] = value.strip()
    return out


def rows(table_out: str) -> list[dict[str, str]]:
    """A plain (piped) table: a header line, then one aligned line per row."""
    lines = [line for line in table_out.splitlines() if line.strip()]
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    out = []
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
        out.append(dict(zip(names, cells)))
    return out


def add_credential(run_oc) -> str:
    result = ok(run_oc, "credential", "add", "--provider", "openai", "--secret-ref", "openai-prod")
    cred = fields(result.out)
    assert (cred["provider"], cred["secretRef"], cred["scope"]) == ("openai", "openai-prod", "global")
    assert re.fullmatch(r"c[0-9a-z]{24}", cred["id"])
    return cred["id"]


def test_credential_and_model_lifecycle_as_printed(run_oc):
    cred = add_credential(run_oc)

    added = ok(run_oc, "model", "add", "--name", "my-cheap-model", "--upstream", "openai/gpt-4o-mini",
               "--credential", cred)
    model = fields(added.out)
    assert (model["publicModelName"], model["upstreamModel"], model["providerCredentialId"]) == \
        ("my-cheap-model", "openai/gpt-4o-mini", cred)
    model_id = model["id"]

    listed = rows(ok(run_oc, "model", "list").out)
    assert [(r["ID"], r["PUBLIC_MODEL_NAME"], r["UPSTREAM_MODEL"]) for r in listed] == \
        [(model_id, "my-cheap-model", "openai/gpt-4o-mini")]

    shown = fields(ok(run_oc, "model", "show", model_id).out)
    assert shown == model

    updated = fields(ok(run_oc, "model", "update", model_id, "--upstream", "openai/gpt-4.1-mini").out)
    assert updated["upstreamModel"] == "openai/gpt-4.1-mini"
    assert {k: v for k, v in updated.items() if k not in ("upstreamModel", "updatedAt")} == \
        {k: v for k, v in model.items() if k not in ("upstreamModel", "updatedAt")}
    assert ok(run_oc, "model", "show", model_id, "-o", "json").json()["upstreamModel"] == "openai/gpt-4.1-mini"

    removed = ok(run_oc, "model", "remove", model_id)
    assert model_id in removed.err and "removed" in removed.err
    assert removed.out == ""
    assert ok(run_oc, "model", "list", "-o", "json").json() == []
    assert run_oc("model", "show", model_id).code == 3


def register_models(oc_main) -> str:
    cred = ok(oc_main, "credential", "add", "--provider", "openai", "--secret-ref", "openai-prod", "-o", "json")
    for name, upstream in (("my-fast-model", "openai/gpt-4o"), ("my-cheap-model", "openai/gpt-4o-mini")):
        ok(oc_main, "model", "add", "--name", name, "--upstream", upstream, "--credential", cred.json()["id"])
    return cred.json()["id"]


@pytest.mark.parametrize("skill_key", ["summarise", "team/acme/summarise"])
def test_skill_posture_commands_as_printed(run_oc, oc_main, skill_key):
    register_models(oc_main)
    ok(oc_main, "cluster-tenant", "create", "acme")
    ok(oc_main, "cluster-tenant", "grant", "acme", "--model", "my-fast-model")

    pinned = ok(run_oc, "skill-posture", "set", skill_key, "--pinned-model", "my-fast-model")
    assert f"registered skill {skill_key}" in pinned.err
    assert (fields(pinned.out)["modelMode"], fields(pinned.out)["pinnedModel"]) == ("pinned", "my-fast-model")

    auto = ok(run_oc, "skill-posture", "set", skill_key, "--auto")
    assert fields(auto.out)["modelMode"] == "auto"
    assert fields(auto.out)["pinnedModel"] == ""
    assert "cheapest-passing-bar" in fields(auto.out)["autoConfig"]

    listed = rows(ok(run_oc, "skill-posture", "list").out)
    assert [(r["KEY"], r["MODEL_MODE"]) for r in listed] == [(skill_key, "auto")]
    # every command accepts what `list` prints
    assert ok(oc_main, "skill-posture", "show", listed[0]["KEY"], "-o", "json").json()["key"] == skill_key


def test_model_default_commands_as_printed(run_oc, oc_main):
    register_models(oc_main)
    company = fields(ok(run_oc, "model-default", "set", "--model", "my-fast-model").out)
    assert (company["scope"], company["clusterTenant"], company["defaultModel"]) == ("global", "", "my-fast-model")

    ok(oc_main, "cluster-tenant", "create", "acme")
    ok(oc_main, "cluster-tenant", "grant", "acme", "--model", "my-cheap-model")
    customer = fields(ok(run_oc, "model-default", "set", "--cluster-tenant", "acme", "--model",
                         "my-cheap-model").out)
    assert (customer["scope"], customer["clusterTenant"], customer["defaultModel"]) == \
        ("clusterTenant", "acme", "my-cheap-model")

    listed = ok(oc_main, "model-default", "list", "-o", "json").json()
    assert [(d["scope"], d["clusterTenant"], d["defaultModel"]) for d in listed] == [
        ("global", None, "my-fast-model"), ("clusterTenant", "acme", "my-cheap-model")]
    # setting the company-wide default again updates the one row
    ok(run_oc, "model-default", "set", "--model", "my-cheap-model")
    assert [d["defaultModel"] for d in ok(oc_main, "model-default", "list", "-o", "json").json()] == \
        ["my-cheap-model", "my-cheap-model"]


def resolve_json(run_oc, *extra: str):
    return run_oc("resolve", "team/acme/summarise", *extra, "--explain", "-o", "json")


def outcome(answer: dict, rung: str) -> str:
    return next(r["outcome"] for r in answer["rungs"] if r["rung"] == rung)


def test_resolve_explain_walks_all_five_rungs(run_oc, oc_main):
    register_models(oc_main)
    ok(oc_main, "cluster-tenant", "create", "acme")
    ok(oc_main, "cluster-tenant", "grant", "acme", "--model", "my-fast-model", "--model", "my-cheap-model")

    unresolved = ok(run_oc, "resolve", "team/acme/summarise", "--explain", "-o", "json")
    answer = unresolved.json()
    assert (answer["model"], answer["source"], answer["blocked"]) == (None, "unresolved", False)
    assert [r["rung"] for r in answer["rungs"]] == RUNGS
    assert "not registered" in unresolved.err  # the skill has no posture yet

    # 5. the company-wide default
    ok(run_oc, "model-default", "set", "--model", "my-fast-model")
    answer = ok(run_oc, "resolve", "team/acme/summarise", "--explain", "-o", "json").json()
    assert (answer["model"], answer["source"]) == ("my-fast-model", "scope-default-global")
    assert outcome(answer, "scope-default-global") == "won"
    assert outcome(answer, "scope-default-cluster-tenant") == "skipped"

    # 4. the customer's default beats it
    ok(run_oc, "model-default", "set", "--cluster-tenant", "acme", "--model", "my-cheap-model")
    answer = ok(run_oc, "resolve", "team/acme/summarise", "--explain", "-o", "json").json()
    assert (answer["model"], answer["source"], answer["clusterTenant"]) == \
        ("my-cheap-model", "scope-default-cluster-tenant", "acme")
    assert outcome(answer, "scope-default-global") == "not-reached"

    # 3. auto takes the scope default's model
    ok(run_oc, "skill-posture", "set", "team/acme/summarise", "--auto")
    answer = ok(run_oc, "resolve", "team/acme/summarise", "--explain", "-o", "json").json()
    assert (answer["model"], answer["source"], answer["auto"]) == ("my-cheap-model", "skill-auto", True)
    assert answer["autoConfig"]["objective"] == "cheapest-passing-bar"
    assert outcome(answer, "skill-auto") == "won"
    assert outcome(answer, "scope-default-cluster-tenant") == "supplied"

    # 2. a pin beats auto and every default
    ok(run_oc, "skill-posture", "set", "team/acme/summarise", "--pinned-model", "my-fast-model")
    answer = ok(run_oc, "resolve", "team/acme/summarise", "--explain", "-o", "json").json()
    assert (answer["model"], answer["source"], answer["auto"]) == ("my-fast-model", "skill-pinned", False)
    assert [outcome(answer, r) for r in RUNGS] == ["skipped", "won", "not-reached", "not-reached", "not-reached"]

    # 1. an explicit request model beats everything
    answer = ok(run_oc, "resolve", "team/acme/summarise", "--request-model", "my-cheap-model",
                "--explain", "-o", "json").json()
    assert (answer["model"], answer["source"], answer["requestModel"]) == ("my-cheap-model", "request",
                                                                          "my-cheap-model")
    assert [outcome(answer, r) for r in RUNGS] == ["won"] + ["not-reached"] * 4

    # the table form explains the same rungs, one line each
    table = ok(run_oc, "resolve", "team/acme/summarise", "--explain")
    for rung in RUNGS:
        assert rung in table.err or rung in table.out

    # blocked: the winning model is no longer granted to acme
    ok(oc_main, "cluster-tenant", "revoke", "acme", "--model", "my-fast-model")
    blocked = run_oc("resolve", "team/acme/summarise", "--explain", "-o", "json")
    assert blocked.code == EXIT_FORBIDDEN == 5
    answer = blocked.json()  # stdout still carries the answer, and nothing else
    assert (answer["blocked"], answer["model"], answer["blockedModel"], answer["source"]) == \
        (True, None, "my-fast-model", "skill-pinned")
    assert outcome(answer, "skill-pinned") == "blocked"
    assert blocked.err_lines == [blocked.err_lines[0]]
    assert blocked.err_lines[0].startswith("error: resolve team/acme/summarise: blocked")
    assert "[MODEL_NOT_ALLOWED]" in blocked.err_lines[0]
    assert "oc cluster-tenant grant acme --model my-fast-model" in blocked.err_lines[0]


def test_resolve_is_blocked_when_acme_was_never_granted_the_winner(run_oc, oc_main):
    register_models(oc_main)
    ok(oc_main, "cluster-tenant", "create", "acme")
    ok(run_oc, "model-default", "set", "--model", "my-fast-model")
    ok(run_oc, "skill-posture", "set", "team/acme/summarise", "--auto")
    blocked = resolve_json(run_oc)
    assert blocked.code == 5
    answer = blocked.json()
    assert (answer["blocked"], answer["model"], answer["blockedModel"], answer["source"]) == \
        (True, None, "my-fast-model", "skill-auto")
    assert [outcome(answer, r) for r in RUNGS] == ["skipped", "skipped", "blocked", "skipped", "blocked"]
    assert "acme" in answer["reason"] and "my-fast-model" in answer["reason"]
    # a customer default the tenant may use does not unblock it silently: the guide's second command
    # would need a granted model, and the refusal says how to grant it
    refused = run_oc("model-default", "set", "--cluster-tenant", "acme", "--model", "my-cheap-model")
    assert refused.code == 5 and "oc cluster-tenant grant acme --model my-cheap-model" in refused.err


def test_revoke_names_the_skills_it_blocks_and_models_shows_the_tenants_default(run_oc, oc_main):
    register_models(oc_main)
    ok(oc_main, "cluster-tenant", "create", "acme")
    ok(oc_main, "cluster-tenant", "grant", "acme", "--model", "my-cheap-model", "--model", "my-fast-model")
    ok(oc_main, "model-default", "set", "--cluster-tenant", "acme", "--model", "my-cheap-model")
    ok(oc_main, "skill-posture", "set", "team/acme/summarise", "--auto")
    ok(oc_main, "skill-posture", "set", "team/acme/translate", "--pinned-model", "my-cheap-model")
    ok(oc_main, "skill-posture", "set", "team/acme/classify", "--pinned-model", "my-fast-model")

    revoked = ok(run_oc, "cluster-tenant", "revoke", "acme", "--model", "my-cheap-model")
    assert "warning: 2 skills of ClusterTenant acme now resolve to blocked:" in revoked.err
    assert "team/acme/summarise  (skill-auto → my-cheap-model)" in revoked.err
    assert "team/acme/translate  (pinned to my-cheap-model)" in revoked.err
    assert "classify" not in revoked.err
    assert "to undo: oc cluster-tenant grant acme --model my-cheap-model" in revoked.err

    models = ok(run_oc, "cluster-tenant", "models", "acme")
    shown = ok(run_oc, "model-default", "show", "acme", "-o", "json").json()["defaultModel"]
    assert shown == "my-cheap-model"
    assert f"default model: {shown} (cluster-tenant-default) — not on the allowlist" in models.err
    assert "default model: none" not in models.err
