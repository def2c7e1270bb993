"""The test control plane follows opencrane-api.md where the remote backend depends on it.

If this server drifted from the document, the backend tests would prove only that the backend
agrees with a fiction; so the contract's sharp edges are pinned here, over real HTTP.
"""

from __future__ import annotations

import base64
import re
import threading
import time

import httpx
import pytest

from tests.support.cp_server import REDACTED, ControlPlaneServer, MeasurementOutcome

CUID = re.compile(r"^c[0-9a-z]{24}$")
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
AUTO = {"objective": "cheapest-passing-bar", "sessionPin": True, "explorationRate": 0.05}


def envelope(response: httpx.Response) -> tuple[int, str, str | None]:
    body = response.json()
    return response.status_code, body["error"], body.get("code")


def add_model(api: httpx.Client, **fields) -> dict:
    body = {"publicModelName": "openai/gpt-4o", "upstreamModel": "openai/gpt-4o", **fields}
    response = api.post("/models", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def add_credential(api: httpx.Client, **fields) -> dict:
    response = api.post("/providers/credentials", json={"provider": "openai", "secretRef": "openai-key", **fields})
    assert response.status_code == 201, response.text
    return response.json()


# -- §2 models ---------------------------------------------------------------------------------


def test_model_create_shape_ids_timestamps_and_placeholder(api):
    cred = add_credential(api, scope="clusterTenant", clusterTenant="acme")
    model = add_model(api, publicModelName=" cheap-summariser ", upstreamModel="openai/gpt-5.4-nano",
                      scope="clusterTenant", clusterTenant="acme", providerCredentialId=cred["id"])
    assert set(model) == {"id", "scope", "clusterTenant", "publicModelName", "litellmModelId", "upstreamModel",
                          "apiBase", "isDefault", "providerCredentialId", "createdAt", "updatedAt"}
    assert CUID.match(model["id"]) and ISO_MS.match(model["createdAt"]) and ISO_MS.match(model["updatedAt"])
    assert model["publicModelName"] == "cheap-summariser"
    assert model["litellmModelId"] == "placeholder:clustertenant-acme-cheap-summariser"
    assert (model["apiBase"], model["isDefault"]) == (None, False)
    assert add_model(api)["litellmModelId"] == "placeholder:global-openai-gpt-4o"


@pytest.mark.parametrize("body, message", [
    ({"upstreamModel": "x", "scope": "bogus"}, "publicModelName and upstreamModel are required."),
    ({"publicModelName": " ", "upstreamModel": "x"}, "publicModelName and upstreamModel are required."),
    ({"publicModelName": "m", "upstreamModel": "x", "scope": "bogus"}, "scope must be 'global' or 'clusterTenant'."),
    ({"publicModelName": "m", "upstreamModel": "x", "scope": "clusterTenant", "clusterTenant": " "},
     "clusterTenant is required when scope is 'clusterTenant'."),
    ({"publicModelName": "m", "upstreamModel": "x", "providerCredentialId": "cnope"},
     "providerCredentialId does not reference an existing credential."),
])
def test_model_validation_order_and_messages(api, body, message):
    assert envelope(api.post("/models", json=body)) == (400, message, "VALIDATION_ERROR")


def test_model_credential_scope_mismatch_but_global_credentials_back_anything(api):
    acme = add_credential(api, scope="clusterTenant", clusterTenant="acme")
    glob = add_credential(api, provider="anthropic", secretRef="anthropic-key")
    mismatch = api.post("/models", json={"publicModelName": "m", "upstreamModel": "u", "scope": "clusterTenant",
                                         "clusterTenant": "other", "providerCredentialId": acme["id"]})
    assert envelope(mismatch) == (400, "providerCredentialId is owned by a different ClusterTenant.",
                                  "CREDENTIAL_SCOPE_MISMATCH")
    as_global = api.post("/models", json={"publicModelName": "m", "upstreamModel": "u", "providerCredentialId": acme["id"]})
    assert as_global.json()["code"] == "CREDENTIAL_SCOPE_MISMATCH"
    add_model(api, scope="clusterTenant", clusterTenant="other", providerCredentialId=glob["id"])


def test_model_duplicates_conflict_and_bad_types_are_500(api):
    add_model(api, scope="clusterTenant", clusterTenant="acme")
    dup = api.post("/models", json={"publicModelName": "openai/gpt-4o", "upstreamModel": "y",
                                    "scope": "clusterTenant", "clusterTenant": "acme"})
    assert envelope(dup) == (409, "A resource with these unique values already exists.", "CONFLICT")
    add_model(api)
    # Global rows are not bounded by the unique index, but their placeholder ids collide.
    assert api.post("/models", json={"publicModelName": "openai/gpt-4o", "upstreamModel": "z"}).status_code == 409
    bad = api.post("/models", json={"publicModelName": "n", "upstreamModel": "u", "isDefault": "yes"})
    assert bad.status_code == 500 and bad.json()["code"] == "INTERNAL_ERROR"


def test_model_list_order_filter_and_show(api):
    a = add_model(api, publicModelName="a")
    b = add_model(api, publicModelName="b", scope="clusterTenant", clusterTenant="acme")
    c = add_model(api, publicModelName="c")
    assert [m["id"] for m in api.get("/models").json()] == [a["id"], b["id"], c["id"]]
    assert [m["id"] for m in api.get("/models", params={"clusterTenant": "acme"}).json()] == [b["id"]]
    assert len(api.get("/models", params={"clusterTenant": ""}).json()) == 3
    assert api.get(f"/models/{b['id']}").json() == b
    assert envelope(api.get("/models/cmissing")) == (404, "Model definition not found", "MODEL_DEFINITION_NOT_FOUND")


def test_model_put_404_before_validation_then_full_replacement(api):
    assert envelope(api.put("/models/cmissing", json={}))[0] == 404
    model = add_model(api, scope="clusterTenant", clusterTenant="acme", isDefault=True, apiBase="http://x")
    assert envelope(api.put(f"/models/{model['id']}", json={}))[0] == 400
    updated = api.put(f"/models/{model['id']}", json={"publicModelName": "openai/gpt-4o", "upstreamModel": "new"})
    assert updated.status_code == 200
    row = updated.json()
    assert (row["scope"], row["clusterTenant"], row["isDefault"], row["apiBase"]) == ("global", None, False, None)
    assert row["litellmModelId"] == model["litellmModelId"]  # immutable


def test_model_delete_answer_and_credential_delete_nulls_reference(api):
    cred = add_credential(api)
    model = add_model(api, providerCredentialId=cred["id"])
    assert api.delete(f"/providers/credentials/{cred['id']}").json() == {"id": cred["id"], "status": "deleted"}
    assert api.get(f"/models/{model['id']}").json()["providerCredentialId"] is None
    response = api.delete(f"/models/{model['id']}")
    assert (response.status_code, response.json()) == (200, {"id": model["id"], "status": "deleted"})
    assert api.delete(f"/models/{model['id']}").status_code == 404


# -- §3 credentials ----------------------------------------------------------------------------


def test_credential_raw_key_checked_first_then_required_then_tenant_then_scope(api):
    raw = api.post("/providers/credentials", json={"keyValue": None, "scope": "bogus"})
    assert envelope(raw) == (400, "Raw key field 'keyValue' is not accepted; pass 'secretRef' instead "
                                  "(the key lives in a k8s Secret).", "RAW_KEY_REJECTED")
    assert envelope(api.post("/providers/credentials", json={"provider": "openai"}))[1] == \
        "provider and secretRef are required."
    tenantless = api.post("/providers/credentials", json={"provider": "p", "secretRef": "s", "scope": "clusterTenant"})
    assert envelope(tenantless)[1] == "clusterTenant is required when scope is 'clusterTenant'."
    bogus = api.post("/providers/credentials", json={"provider": "p", "secretRef": "s", "scope": "bogus"})
    assert envelope(bogus)[1] == "scope must be 'global' or 'clusterTenant'."


def test_credential_uniqueness_only_bounds_tenant_rows(api):
    add_credential(api)
    add_credential(api)  # NULL clusterTenant rows are not bounded
    add_credential(api, scope="clusterTenant", clusterTenant="acme")
    again = api.post("/providers/credentials", json={"provider": "openai", "secretRef": "other",
                                                     "scope": "clusterTenant", "clusterTenant": "acme"})
    assert envelope(again)[::2] == (409, "CONFLICT")
    assert envelope(api.get("/providers/credentials/cnope")) == (404, "Provider credential not found",
                                                                 "PROVIDER_CREDENTIAL_NOT_FOUND")
    assert envelope(api.put("/providers/credentials/cnope", json={}))[0] == 404


# -- §4 posture --------------------------------------------------------------------------------


def test_posture_list_order_and_show(cp_server, api):
    cp_server.add_skill("b", "team", "acme")
    cp_server.add_skill("a", "team", "acme")
    cp_server.add_skill("z", "org")
    listed = api.get("/skills/posture").json()
    assert [(s["scope"], s["team"], s["name"]) for s in listed] == [("org", "", "z"), ("team", "acme", "a"),
                                                                    ("team", "acme", "b")]
    assert set(listed[0]) == {"name", "scope", "team", "path", "modelMode", "pinnedModel", "autoConfig",
                              "createdAt", "updatedAt"}
    assert api.get("/skills/posture/skill", params={"name": "z", "scope": "org"}).json()["name"] == "z"
    assert envelope(api.get("/skills/posture/skill", params={"name": "z"})) == (
        400, "name and scope query params are required.", "VALIDATION_ERROR")
    assert envelope(api.get("/skills/posture/skill", params={"name": "z", "scope": "team"})) == (
        404, "Skill not found", "SKILL_NOT_FOUND")


@pytest.mark.parametrize("body, message", [
    ({}, "modelMode must be 'pinned', 'auto', or null."),
    ({"modelMode": "off"}, "modelMode must be 'pinned', 'auto', or null."),
    ({"modelMode": "pinned", "pinnedModel": "  "}, "pinnedModel is required when modelMode is 'pinned'."),
    ({"modelMode": "auto"}, "autoConfig must be an object."),
    ({"modelMode": "auto", "autoConfig": []}, "autoConfig must be an object."),
    ({"modelMode": "auto", "autoConfig": {"objective": "fast"}},
     "autoConfig.objective must be one of: cheapest-passing-bar, best-quality-within-budget, balanced."),
    ({"modelMode": "auto", "autoConfig": {"objective": "balanced", "sessionPin": 1}},
     "autoConfig.sessionPin must be a boolean."),
    ({"modelMode": "auto", "autoConfig": {"objective": "balanced", "sessionPin": False, "explorationRate": True}},
     "autoConfig.explorationRate must be a number between 0 and 1."),
    ({"modelMode": "auto", "autoConfig": {"objective": "balanced", "sessionPin": False, "explorationRate": 1.5}},
     "autoConfig.explorationRate must be a number between 0 and 1."),
])
def test_posture_body_validation_precedes_the_404(api, body, message):
    response = api.put("/skills/posture/skill", params={"name": "ghost", "scope": "org"}, json=body)
    assert envelope(response) == (400, message, "VALIDATION_ERROR")


def test_posture_writes(cp_server, api):
    cp_server.add_skill("summarise", "team", "acme")
    where = {"name": "summarise", "scope": "team", "team": "acme"}
    pinned = api.put("/skills/posture/skill", params=where,
                     json={"modelMode": "pinned", "pinnedModel": " m1 ", "autoConfig": "ignored"}).json()
    assert (pinned["modelMode"], pinned["pinnedModel"], pinned["autoConfig"]) == ("pinned", "m1", None)
    auto = api.put("/skills/posture/skill", params=where,
                   json={"modelMode": "auto", "autoConfig": {**AUTO, "extra": 1}}).json()
    assert (auto["modelMode"], auto["pinnedModel"], auto["autoConfig"]) == ("auto", None, {**AUTO, "extra": 1})
    cleared = api.put("/skills/posture/skill", params=where, json={"modelMode": None}).json()
    assert (cleared["modelMode"], cleared["pinnedModel"], cleared["autoConfig"]) == (None, None, None)
    missing = api.put("/skills/posture/skill", params={**where, "team": ""}, json={"modelMode": None})
    assert envelope(missing)[::2] == (404, "SKILL_NOT_FOUND")


# -- §6 defaults -------------------------------------------------------------------------------


def test_default_upsert_is_200_and_overwrites_both_fields(api):
    first = api.put("/model-routing/defaults", json={"defaultModel": " m1 ", "autoConfig": AUTO})
    assert first.status_code == 200 and first.json()["defaultModel"] == "m1"
    second = api.put("/model-routing/defaults", json={"scope": "global", "defaultModel": "m2"})
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"] and second.json()["autoConfig"] is None
    tenant = api.put("/model-routing/defaults", json={"scope": "clusterTenant", "clusterTenant": " acme ",
                                                      "autoConfig": AUTO}).json()
    assert (tenant["clusterTenant"], tenant["defaultModel"]) == ("acme", None)
    assert [d["id"] for d in api.get("/model-routing/defaults", params={"clusterTenant": "acme"}).json()] == [tenant["id"]]
    assert envelope(api.get("/model-routing/defaults/cnope")) == (404, "Model routing default not found",
                                                                  "MODEL_ROUTING_DEFAULT_NOT_FOUND")
    assert api.delete(f"/model-routing/defaults/{tenant['id']}").json() == {"id": tenant["id"], "status": "deleted"}


@pytest.mark.parametrize("body, message", [
    ({"scope": "tenant", "defaultModel": "m"}, "scope must be 'global' or 'clusterTenant'."),
    ({"scope": "clusterTenant", "defaultModel": "m"}, "clusterTenant is required when scope is 'clusterTenant'."),
    ({"defaultModel": "  ", "autoConfig": None}, "at least one of defaultModel or autoConfig is required."),
    ({"autoConfig": {}},  # an empty object counts as given, then fails §5
     "autoConfig.objective must be one of: cheapest-passing-bar, best-quality-within-budget, balanced."),
    ({"autoConfig": {"objective": "balanced", "sessionPin": True, "explorationRate": -0.1}},
     "autoConfig.explorationRate must be a number between 0 and 1."),
])
def test_default_validation(api, body, message):
    assert envelope(api.put("/model-routing/defaults", json=body)) == (400, message, "VALIDATION_ERROR")


def test_unknown_route_is_expresss_html_404(api):
    response = api.put("/model-routing/defaults/cabc", json={"defaultModel": "m"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<pre>Cannot PUT /api/v1/model-routing/defaults/cabc</pre>" in response.text


# -- §7 eval cases -----------------------------------------------------------------------------


def test_eval_case_create_list_order_and_team_filter(api):
    org = api.post("/model-routing/eval-cases", json={"skillName": " s ", "skillScope": "org", "input": "hi"})
    assert org.status_code == 201
    assert (org.json()["skillName"], org.json()["skillTeam"], org.json()["qualityBar"], org.json()["expected"]) == \
        ("s", "", 0.8, None)
    team = api.post("/model-routing/eval-cases", json={"skillName": "s", "skillScope": "team", "skillTeam": "acme",
                                                      "input": {"messages": []}, "qualityBar": 1}).json()
    assert [c["id"] for c in api.get("/model-routing/eval-cases").json()] == [team["id"], org.json()["id"]]
    assert [c["id"] for c in api.get("/model-routing/eval-cases", params={"skillTeam": ""}).json()] == [org.json()["id"]]
    assert len(api.get("/model-routing/eval-cases", params={"skillName": ""}).json()) == 2


@pytest.mark.parametrize("body, message", [
    ({"skillScope": "org", "input": "x"}, "skillName is required."),
    ({"skillName": "s", "input": "x"}, "skillScope is required."),
    ({"skillName": "s", "skillScope": "org", "input": None}, "input is required."),
    ({"skillName": "s", "skillScope": "org", "input": "x", "qualityBar": 2}, "qualityBar must be a number between 0 and 1."),
    ({"skillName": "s", "skillScope": "org", "input": "x", "qualityBar": "0.5"}, "qualityBar must be a number between 0 and 1."),
])
def test_eval_case_validation_even_before_existence_on_put(api, body, message):
    assert envelope(api.post("/model-routing/eval-cases", json=body)) == (400, message, "VALIDATION_ERROR")
    assert envelope(api.put("/model-routing/eval-cases/cmissing", json=body)) == (400, message, "VALIDATION_ERROR")


def test_eval_case_put_replaces_but_keeps_quality_bar(api):
    case = api.post("/model-routing/eval-cases", json={"skillName": "s", "skillScope": "team", "skillTeam": "acme",
                                                      "input": "x", "expected": "y", "qualityBar": 0.6}).json()
    updated = api.put(f"/model-routing/eval-cases/{case['id']}", json={"skillName": "s", "skillScope": "team",
                                                                      "input": "z"}).json()
    assert (updated["skillTeam"], updated["expected"], updated["qualityBar"], updated["input"]) == ("", None, 0.6, "z")
    ok = {"skillName": "s", "skillScope": "org", "input": "x"}
    assert envelope(api.put("/model-routing/eval-cases/cmissing", json=ok)) == (404, "Eval case not found", "NOT_FOUND")


# -- §8 measurements, §9 proposals, §10 recommendations -----------------------------------------


RUN = {"skillName": "summarise", "skillScope": "team", "skillTeam": " acme ", "candidateModel": " cheap "}
UNCONFIGURED = {"status": "unconfigured", "note": "Shadow-measurement seams are not configured; nothing was recorded."}


def test_measurement_run_is_a_noop_until_seams_cases_and_baseline_exist(cp_server, api):
    assert api.post("/model-routing/measurements/run", json=RUN).json() == UNCONFIGURED
    cp_server.set_measurement_outcome(MeasurementOutcome())
    assert api.post("/model-routing/measurements/run", json=RUN).json() == UNCONFIGURED  # no cases
    api.post("/model-routing/eval-cases", json={"skillName": "summarise", "skillScope": "team",
                                               "skillTeam": "acme", "input": "x"})
    assert api.post("/model-routing/measurements/run", json=RUN).json() == UNCONFIGURED  # no baseline
    assert api.get("/model-routing/measurements").json() == []


def test_measurement_run_records_and_proposes_only_when_ci_low_is_positive(cp_server, api):
    cp_server.add_skill("summarise", "team", "acme", pinned_model="big", content_hash="h1")
    add_model(api, publicModelName="cheap", upstreamModel="openai/cheap-1")
    api.post("/model-routing/eval-cases", json={"skillName": "summarise", "skillScope": "team",
                                               "skillTeam": "acme", "input": "x"})
    cp_server.set_measurement_outcome(MeasurementOutcome(projected_savings_pct=40, ci_low_pct=12, ci_high_pct=60))
    response = api.post("/model-routing/measurements/run", json=RUN)
    assert response.status_code == 202
    body = response.json()
    m = body["measurement"]
    assert (body["status"], m["skillTeam"], m["candidateModel"], m["sampledCalls"], m["overheadPct"]) == \
        ("measured", "acme", "cheap", 1, 0)
    assert (m["candidateUpstreamModel"], m["skillContentHash"]) == ("openai/cheap-1", "h1")
    proposal = api.get(f"/model-routing/proposals/{body['proposalId']}").json()
    assert (proposal["fromModel"], proposal["proposedModel"], proposal["measurementId"], proposal["status"]) == \
        ("big", "cheap", m["id"], "pending")
    cp_server.set_measurement_outcome(MeasurementOutcome(ci_low_pct=0))
    second = api.post("/model-routing/measurements/run", json={**RUN, "currentModel": "other"}).json()
    assert second["proposalId"] is None
    assert [x["id"] for x in api.get("/model-routing/measurements").json()] == [second["measurement"]["id"], m["id"]]
    cp_server.set_measurement_outcome(MeasurementOutcome(error='LiteLLM chat-completion failed (502) for model "cheap"'))
    failed = api.post("/model-routing/measurements/run", json=RUN)
    assert failed.status_code == 500 and "LiteLLM" in failed.json()["detail"]
    assert len(api.get("/model-routing/measurements").json()) == 2


@pytest.mark.parametrize("missing, message", [("skillName", "skillName is required."),
                                              ("skillScope", "skillScope is required."),
                                              ("candidateModel", "candidateModel is required.")])
def test_measurement_run_validation(api, missing, message):
    body = {k: v for k, v in RUN.items() if k != missing}
    assert envelope(api.post("/model-routing/measurements/run", json=body)) == (400, message, "VALIDATION_ERROR")
    assert envelope(api.get("/model-routing/measurements/cnope")) == (404, "Measurement not found", "NOT_FOUND")


def test_proposal_decisions(cp_server, api):
    cp_server.add_skill("summarise", "team", "acme", model_mode="auto", auto_config=AUTO)
    p = cp_server.add_proposal("summarise", "team", "acme", proposed_model="cheap", from_model="big")
    approved = api.post(f"/model-routing/proposals/{p['id']}/approve")
    assert (approved.status_code, approved.json()) == (200, {"id": p["id"], "status": "applied", "appliedModel": "cheap"})
    skill = api.get("/skills/posture/skill", params={"name": "summarise", "scope": "team", "team": "acme"}).json()
    assert (skill["modelMode"], skill["pinnedModel"], skill["autoConfig"]) == ("pinned", "cheap", AUTO)
    again = api.post(f"/model-routing/proposals/{p['id']}/reject")
    assert envelope(again) == (409, f"proposal {p['id']} is already applied", "PROPOSAL_ALREADY_DECIDED")
    row = api.get(f"/model-routing/proposals/{p['id']}").json()
    assert (row["decidedBy"], bool(ISO_MS.match(row["decidedAt"]))) == ("system", True)

    orphan = cp_server.add_proposal("gone", "org", proposed_model="cheap")
    assert envelope(api.post(f"/model-routing/proposals/{orphan['id']}/approve")) == (
        404, "Target skill not found", "SKILL_NOT_FOUND")
    assert api.post(f"/model-routing/proposals/{orphan['id']}/reject").json() == {
        "id": orphan["id"], "status": "rejected", "appliedModel": None}
    assert envelope(api.post("/model-routing/proposals/cnope/approve")) == (404, "Proposal not found", "NOT_FOUND")

    actions = [e["action"] for e in api.get("/audit").json()["data"]]
    assert actions == ["RoutingProposalRejected", "RoutingProposalApplied"]


def test_proposal_list_order_and_status_filter(cp_server, api):
    old = cp_server.add_proposal("a", "org", proposed_model="m", created_at="2026-01-01T00:00:00Z")
    new = cp_server.add_proposal("b", "org", proposed_model="m", status="rejected", created_at="2026-02-01T00:00:00Z")
    assert [p["id"] for p in api.get("/model-routing/proposals").json()] == [new["id"], old["id"]]
    assert [p["id"] for p in api.get("/model-routing/proposals", params={"status": "rejected"}).json()] == [new["id"]]
    assert len(api.get("/model-routing/proposals", params={"status": "Rejected"}).json()) == 2  # ignored


def test_recommendations_latest_measurement_ranked_with_open_proposal(cp_server, api):
    cp_server.add_skill("a", "team", "acme", model_mode="pinned", pinned_model="big")
    cp_server.add_measurement("a", "team", "acme", candidate_model="old", projected_savings_pct=90,
                              run_at="2026-01-01T00:00:00Z")
    latest = cp_server.add_measurement("a", "team", "acme", candidate_model="mid", projected_savings_pct=20,
                                       run_at="2026-02-01T00:00:00Z")
    other = cp_server.add_measurement("b", "org", candidate_model="cheap", projected_savings_pct=50)
    proposal = cp_server.add_proposal("b", "org", proposed_model="cheapest", from_model="base")
    recs = api.get("/model-routing/recommendations").json()
    assert [(r["skillName"], r["measurementId"]) for r in recs] == [("b", other["id"]), ("a", latest["id"])]
    assert (recs[0]["recommendedModel"], recs[0]["currentModel"], recs[0]["proposalId"]) == \
        ("cheapest", "base", proposal["id"])
    assert (recs[1]["modelMode"], recs[1]["currentModel"], recs[1]["hasOpenProposal"]) == ("pinned", "big", False)
    assert [r["skillName"] for r in api.get("/model-routing/recommendations", params={"onlyOpen": "true"}).json()] == ["b"]
    assert [r["skillName"] for r in api.get("/model-routing/recommendations", params={"clusterTenant": "acme"}).json()] == ["a"]


# -- §11 metrics, §12 audit --------------------------------------------------------------------


def test_metrics_unconfigured_passthrough_and_upstream_errors(cp_server, api):
    response = api.get("/model-routing/metrics")
    assert (response.status_code, response.json()) == (503, {"status": "unconfigured"})
    cp_server.set_metrics({"data": [{"count": 3}]})
    assert api.get("/model-routing/metrics", params={"query": '{"view":"traces"}'}).json() == {"data": [{"count": 3}]}
    assert cp_server.metrics_upstream_queries == [{"query": '{"view":"traces"}'}]
    cp_server.set_metrics(None, upstream_status=500)
    assert api.get("/model-routing/metrics").json() == {"status": "upstream_error", "error": "Metrics backend returned 500."}
    cp_server.set_metrics(None, upstream_status=None)
    assert api.get("/model-routing/metrics").status_code == 502


def test_audit_pages_with_timestamp_cursor(cp_server, api):
    for minute in range(5):
        cp_server.add_audit("Created", f"Tenant/t{minute}", "m", tenant="alice" if minute % 2 else None,
                            timestamp=f"2026-07-01T10:0{minute}:00.000Z")
    first = api.get("/audit", params={"limit": 2}).json()
    assert [e["resource"] for e in first["data"]] == ["Tenant/t4", "Tenant/t3"]
    assert "tenant" not in first["data"][0] and first["data"][1]["tenant"] == "alice"
    cursor = first["pagination"]["nextCursor"]
    assert base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode() == "2026-07-01T10:03:00.000Z"
    assert "=" not in cursor and first["pagination"] == {"limit": 2, "hasMore": True, "nextCursor": cursor}
    rest = api.get("/audit", params={"limit": 2, "cursor": cursor}).json()
    assert [e["resource"] for e in rest["data"]] == ["Tenant/t2", "Tenant/t1"]
    last = api.get("/audit", params={"limit": 2, "cursor": rest["pagination"]["nextCursor"]}).json()
    assert last["pagination"] == {"limit": 2, "hasMore": False}
    assert len(api.get("/audit", params={"cursor": "%%%"}).json()["data"]) == 5
    assert [e["resource"] for e in api.get("/audit", params={"tenant": "alice"}).json()["data"]] == ["Tenant/t3", "Tenant/t1"]


@pytest.mark.parametrize("raw, limit", [("0", 100), ("-3", 100), ("abc", 100), ("2.9", 2), ("5000", 1000)])
def test_audit_limit_parsing(api, raw, limit):
    assert api.get("/audit", params={"limit": raw}).json()["pagination"]["limit"] == limit


# -- §1 auth, errors, body parsing -------------------------------------------------------------


def test_token_mode_auth_middleware(make_cp_server):
    server = make_cp_server(api_token="s3cret")
    with httpx.Client(base_url=server.api_url) as client:
        missing = client.get("/models")
        assert (missing.status_code, missing.json()) == (401, {"error": "Missing Authorization header"})
        wrong = client.get("/models", headers={"Authorization": "Bearer nope"})
        assert (wrong.status_code, wrong.json()) == (403, {"error": "Invalid token"})
        assert client.get("/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/auth/me").json() == {"mode": "token", "authenticated": False, "user": None}


def test_token_mode_guard_precedes_validation_and_404(make_cp_server):
    headers = {"Authorization": "Bearer s3cret"}
    forbidden = (403, "Not authorized for this resource scope.", "FORBIDDEN_SCOPE")
    server = make_cp_server(api_token="s3cret")
    with httpx.Client(base_url=server.api_url, headers=headers) as client:
        assert envelope(client.post("/models", json={})) == forbidden
        assert envelope(client.put("/models/cmissing", json={})) == forbidden
        assert envelope(client.post("/model-routing/measurements/run", json={})) == forbidden
        assert client.get("/model-routing/recommendations").json() == []
    operator = make_cp_server(api_token="s3cret", operator_bearer=True)
    with httpx.Client(base_url=operator.api_url, headers=headers) as client:
        assert envelope(client.post("/models", json={}))[0] == 400


def test_malformed_strict_and_oversized_json_are_500(api):
    for content in (b"{not json", b'"a string"', b"{" + b" " * 120_000 + b"}"):
        response = api.post("/models", content=content, headers={"content-type": "application/json"})
        assert (response.status_code, response.json()["code"]) == (500, "INTERNAL_ERROR")


def test_device_flow_and_auth_endpoints(make_cp_server):
    server = make_cp_server(api_token="s3cret")
    with httpx.Client(base_url=server.api_url) as client:
        grant = client.post("/auth/device").json()
        assert re.fullmatch(r"[0-9a-f]{64}", grant["deviceCode"])
        assert re.fullmatch(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}", grant["userCode"])
        assert grant["verificationUri"] == f"/api/v1/auth/device/activate?userCode={grant['userCode']}"
        assert (grant["expiresIn"], grant["interval"]) == (300, 5)
        poll = {"deviceCode": grant["deviceCode"]}
        pending = client.get("/auth/device/token", params=poll)
        assert (pending.status_code, pending.json()) == (202, {"status": "pending"})
        token = server.activate(grant["userCode"])
        assert re.fullmatch(r"ocp_[0-9a-f]{48}", token)
        assert client.get("/auth/device/token", params=poll).json() == {"status": "authorized", "token": token}
        collected = client.get("/auth/device/token", params=poll)
        assert collected.status_code == 410 and collected.json()["status"] == "expired"
        assert client.get("/models", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        activate = client.get(grant["verificationUri"].removeprefix("/api/v1"))
        assert activate.status_code == 503
        assert client.post("/auth/logout").json() == {"endSessionUrl": None}


def test_device_grant_expires(make_cp_server):
    server = make_cp_server(grant_lifetime=0.2)
    with httpx.Client(base_url=server.api_url) as client:
        grant = client.post("/auth/device").json()
        time.sleep(0.3)
        assert client.get("/auth/device/token", params={"deviceCode": grant["deviceCode"]}).status_code == 410
        with pytest.raises(LookupError):
            server.activate(grant["userCode"])
        assert client.get("/auth/me").json()["mode"] == "development"


# -- test hooks ----------------------------------------------------------------------------------


def test_faults_are_injected_per_prefix_and_count(cp_server, api):
    cp_server.fail_next("/api/v1/models", "rate_limit")
    cp_server.fail_next("/api/v1/models", "bad_gateway", method="GET")
    limited = api.get("/models")
    assert (limited.status_code, limited.text) == (429, "Too many requests, please try again later.")
    gateway = api.get("/models")
    assert gateway.status_code == 502 and "502 Bad Gateway" in gateway.text
    assert api.get("/models").status_code == 200
    cp_server.fail_next("/api/v1/audit", "error", count=2)
    assert [api.get("/audit").status_code for _ in range(3)] == [500, 500, 200]
    cp_server.fail_next("/api/v1/audit", "drop")
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/audit")


def test_hang_fault_delays_the_answer(cp_server, api):
    cp_server.fail_next("/api/v1/models", "hang", seconds=0.3)
    started = time.monotonic()
    assert api.get("/models").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_stop_does_not_wait_for_a_hanging_request(make_cp_server):
    server = make_cp_server()
    server.fail_next("/api/v1/models", "hang", seconds=30)
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(httpx.get(server.api_url + "/models", timeout=5).status_code)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    deadline = time.monotonic() + 2
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    caller.join(timeout=3)
    assert time.monotonic() - started < 2
    assert not caller.is_alive() and len(outcome) == 1  # answered early or cut off, never left hanging


def test_requests_are_recorded_with_the_token_redacted(cp_server):
    with httpx.Client(base_url=cp_server.api_url, headers={"Authorization": "Bearer top-secret"}) as client:
        client.post("/models", params={"x": "1"}, json={"publicModelName": "m", "upstreamModel": "u"})
        client.post("/model-routing/proposals/cnope/approve")
    first, second = cp_server.requests
    assert (first.method, first.path, first.query, first.body) == (
        "POST", "/api/v1/models", {"x": "1"}, {"publicModelName": "m", "upstreamModel": "u"})
    assert first.headers["authorization"] == f"Bearer {REDACTED}"
    assert "top-secret" not in repr(cp_server.requests)
    assert second.body is None


def test_server_binds_loopback_on_an_ephemeral_port():
    with ControlPlaneServer() as a, ControlPlaneServer() as b:
        assert a.url.startswith("http://127.0.0.1:") and a.url != b.url
