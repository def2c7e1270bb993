"""RemoteControlPlane against the loopback control plane: requests, answers, errors, retries."""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from oc_cli.domain.skillkey import SkillKey
from oc_cli.errors import (
    EXIT_AUTH,
    EXIT_CONFLICT,
    EXIT_FAILURE,
    EXIT_FORBIDDEN,
    EXIT_NOT_FOUND,
    EXIT_UNCONFIGURED,
    EXIT_USAGE,
    AuthRequiredError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    NotSupportedError,
    OcError,
    UnconfiguredError,
    UpstreamError,
    ValidationError,
)
from oc_cli.remote.backend import DEFAULT_AUTO_CONFIG, RemoteControlPlane
from oc_cli.remote.client import ApiClient
from tests.support.cp_server import REDACTED, MeasurementOutcome

REPO = Path(__file__).resolve().parents[2]
AUTO = {"objective": "balanced", "sessionPin": False, "explorationRate": 0.1}


def sent(server, start: int = 0) -> list[tuple]:
    """(method, path, query, body) of every request since ``start``."""
    return [(r.method, r.path, r.query, r.body) for r in server.requests[start:]]


def model_body(**fields) -> dict:
    return {"publicModelName": "openai/gpt-4o", "upstreamModel": "openai/gpt-4o", **fields}


# -- requests and answers, method by method -------------------------------------------------------


def test_models_crud_requests_and_wire_shapes(cp_server, remote):
    cred = remote.create_credential({"provider": "openai", "secretRef": "k", "scope": "clusterTenant",
                                     "clusterTenant": "acme"})
    created = remote.create_model(model_body(scope="clusterTenant", clusterTenant="acme", apiBase=None,
                                             providerCredentialId=cred["id"], inputCostPerMtok=None))
    assert sent(cp_server)[-1] == ("POST", "/api/v1/models", {}, model_body(
        scope="clusterTenant", clusterTenant="acme", providerCredentialId=cred["id"]))
    assert created["litellmModelId"] == "placeholder:clustertenant-acme-openai-gpt-4o"

    mark = len(cp_server.requests)
    assert remote.list_models(cluster_tenant="acme") == [created]
    assert remote.list_models(cluster_tenant="") == [created]
    assert remote.get_model(created["id"]) == created
    assert sent(cp_server, mark) == [("GET", "/api/v1/models", {"clusterTenant": "acme"}, None),
                                     ("GET", "/api/v1/models", {}, None),
                                     ("GET", f"/api/v1/models/{created['id']}", {}, None)]

    mark = len(cp_server.requests)
    assert remote.delete_model(created["id"]) == {"id": created["id"], "status": "deleted"}
    assert [r[:2] for r in sent(cp_server, mark)] == [("GET", f"/api/v1/models/{created['id']}"),
                                                      ("DELETE", f"/api/v1/models/{created['id']}")]


def test_get_model_by_public_name(cp_server, remote):
    gpt = remote.create_model(model_body())
    cheap = remote.create_model(model_body(publicModelName="cheap", upstreamModel="u"))
    mark = len(cp_server.requests)
    assert remote.get_model("openai/gpt-4o") == gpt
    assert sent(cp_server, mark) == [("GET", "/api/v1/models", {}, None)]  # a slash never names an id
    assert remote.get_model("cheap") == cheap
    remote.create_model(model_body(publicModelName="cheap", upstreamModel="u", scope="clusterTenant",
                                   clusterTenant="acme"))
    with pytest.raises(ValidationError) as ambiguous:
        remote.get_model("cheap")
    assert ambiguous.value.code == "AMBIGUOUS" and cheap["id"] in ambiguous.value.why
    with pytest.raises(NotFoundError) as missing:
        remote.get_model("nothing")
    assert (missing.value.code, missing.value.why) == ("MODEL_DEFINITION_NOT_FOUND", "Model definition not found")


def test_update_model_fetches_merges_and_puts_the_full_body(cp_server, remote):
    cred = remote.create_credential({"provider": "openai", "secretRef": "k"})
    row = remote.create_model(model_body(scope="clusterTenant", clusterTenant="acme", isDefault=True,
                                         apiBase="http://gw", providerCredentialId=cred["id"]))
    mark = len(cp_server.requests)
    updated = remote.update_model(row["id"], {"upstreamModel": "openai/gpt-4o-2025"})
    put = sent(cp_server, mark)[-1]
    assert put == ("PUT", f"/api/v1/models/{row['id']}", {}, {
        "publicModelName": "openai/gpt-4o", "upstreamModel": "openai/gpt-4o-2025", "scope": "clusterTenant",
        "clusterTenant": "acme", "apiBase": "http://gw", "isDefault": True, "providerCredentialId": cred["id"]})
    assert {k: updated[k] for k in ("scope", "clusterTenant", "isDefault", "apiBase", "upstreamModel")} == {
        "scope": "clusterTenant", "clusterTenant": "acme", "isDefault": True, "apiBase": "http://gw",
        "upstreamModel": "openai/gpt-4o-2025"}
    cleared = remote.update_model("openai/gpt-4o", {"apiBase": None})
    assert (cleared["apiBase"], cleared["isDefault"]) == (None, True)


def test_local_only_model_prices_are_refused_before_any_request(cp_server, remote):
    with pytest.raises(NotSupportedError) as err:
        remote.create_model(model_body(inputCostPerMtok=0.15))
    assert "inputCostPerMtok" in err.value.what and cp_server.requests == []


def test_credentials_requests_and_update_merge(cp_server, remote):
    cred = remote.create_credential({"provider": "openai", "secretRef": "k1", "scope": "clusterTenant",
                                     "clusterTenant": "acme", "litellmCredentialName": "byok-openai"})
    assert cp_server.requests[-1].body == {"provider": "openai", "secretRef": "k1", "scope": "clusterTenant",
                                           "clusterTenant": "acme", "litellmCredentialName": "byok-openai"}
    assert remote.list_credentials(cluster_tenant="acme") == [cred]
    assert cp_server.requests[-1].query == {"clusterTenant": "acme"}
    assert remote.get_credential(cred["id"]) == cred
    updated = remote.update_credential(cred["id"], {"secretRef": "k2"})
    assert cp_server.requests[-1].body == {"provider": "openai", "secretRef": "k2", "scope": "clusterTenant",
                                           "clusterTenant": "acme", "litellmCredentialName": "byok-openai"}
    assert (updated["secretRef"], updated["clusterTenant"]) == ("k2", "acme")
    with pytest.raises(ValidationError) as raw:
        remote.update_credential(cred["id"], {"apiKey": "sk-live"})
    assert raw.value.code == "RAW_KEY_REJECTED"
    assert remote.delete_credential(cred["id"]) == {"id": cred["id"], "status": "deleted"}


def test_posture_requests(cp_server, remote):
    cp_server.add_skill("summarise", "org")
    key = SkillKey("summarise")
    assert [p["name"] for p in remote.list_postures()] == ["summarise"]
    assert remote.get_posture(key)["modelMode"] is None
    assert cp_server.requests[-1].query == {"name": "summarise", "scope": "org", "team": ""}

    pinned = remote.set_posture(key, mode="pinned", pinned_model="cheap")
    assert cp_server.requests[-1].body == {"modelMode": "pinned", "pinnedModel": "cheap"}
    assert pinned["pinnedModel"] == "cheap"
    auto = remote.set_posture(key, mode="auto")
    assert cp_server.requests[-1].body == {"modelMode": "auto", "autoConfig": DEFAULT_AUTO_CONFIG}
    assert auto["autoConfig"] == {"objective": "cheapest-passing-bar", "sessionPin": True, "explorationRate": 0}
    remote.set_posture(key, mode="auto", auto_config=AUTO)
    assert cp_server.requests[-1].body["autoConfig"] == AUTO
    cleared = remote.set_posture(key, mode=None)
    request = cp_server.requests[-1]
    assert (request.method, request.path, request.body) == ("PUT", "/api/v1/skills/posture/skill", {"modelMode": None})
    assert (cleared["modelMode"], cleared["autoConfig"]) == (None, None)


def test_set_default_keeps_the_field_not_named(cp_server, remote):
    first = remote.set_default(cluster_tenant=None, default_model="m1", auto_config=AUTO,
                               fields={"defaultModel", "autoConfig"})
    mark = len(cp_server.requests)
    kept = remote.set_default(cluster_tenant=None, default_model="m2", auto_config=None, fields={"defaultModel"})
    assert sent(cp_server, mark) == [
        ("GET", "/api/v1/model-routing/defaults", {}, None),
        ("PUT", "/api/v1/model-routing/defaults", {}, {"scope": "global", "defaultModel": "m2", "autoConfig": AUTO})]
    assert (kept["id"], kept["defaultModel"], kept["autoConfig"]) == (first["id"], "m2", AUTO)

    tenant = remote.set_default(cluster_tenant="acme", default_model="t1", auto_config=None, fields={"defaultModel"})
    mark = len(cp_server.requests)
    remote.set_default(cluster_tenant="acme", default_model=None, auto_config=AUTO, fields={"autoConfig"})
    assert sent(cp_server, mark) == [
        ("GET", "/api/v1/model-routing/defaults", {"clusterTenant": "acme"}, None),
        ("PUT", "/api/v1/model-routing/defaults", {},
         {"scope": "clusterTenant", "clusterTenant": "acme", "defaultModel": "t1", "autoConfig": AUTO})]
    assert remote.get_default(tenant["id"])["defaultModel"] == "t1"
    assert [d["id"] for d in remote.list_defaults(cluster_tenant="acme")] == [tenant["id"]]
    assert remote.delete_default(tenant["id"]) == {"id": tenant["id"], "status": "deleted"}
    with pytest.raises(ValidationError) as nothing:
        remote.set_default(cluster_tenant="acme", default_model=None, auto_config=None, fields={"defaultModel"})
    assert nothing.value.why == "at least one of defaultModel or autoConfig is required."


def test_eval_case_requests_filters_and_update_merge(cp_server, remote):
    org = remote.create_eval_case({"skillName": "s", "skillScope": "org", "input": "hi", "expected": None})
    team = remote.create_eval_case({"skillName": "s", "skillScope": "team", "skillTeam": "acme", "input": "x",
                                    "expected": "y", "qualityBar": 0.6})
    assert cp_server.requests[0].body == {"skillName": "s", "skillScope": "org", "input": "hi"}
    assert [c["id"] for c in remote.list_eval_cases(skill_team="")] == [org["id"]]
    assert cp_server.requests[-1].raw_query == "skillTeam="
    assert [c["id"] for c in remote.list_eval_cases(skill_name="s")] == [team["id"], org["id"]]
    assert cp_server.requests[-1].query == {"skillName": "s"}
    assert remote.get_eval_case(team["id"]) == team

    updated = remote.update_eval_case(team["id"], {"input": "z"})
    assert cp_server.requests[-1].body == {"skillName": "s", "skillScope": "team", "skillTeam": "acme",
                                           "input": "z", "expected": "y", "qualityBar": 0.6}
    assert (updated["input"], updated["skillTeam"], updated["expected"]) == ("z", "acme", "y")
    assert remote.delete_eval_case(org["id"]) == {"id": org["id"], "status": "deleted"}


def test_import_eval_cases_posts_each_row(cp_server, remote):
    rows = [{"skillName": "s", "skillScope": "org", "input": f"case {i}"} for i in range(3)]
    result = remote.import_eval_cases(rows)
    assert result["imported"] == 3 and len(result["ids"]) == 3
    assert sorted(c["input"] for c in remote.list_eval_cases()) == ["case 0", "case 1", "case 2"]


def test_import_eval_cases_is_undone_when_a_row_is_refused(cp_server, remote):
    rows = [{"skillName": "s", "skillScope": "org", "input": "ok"},
            {"skillName": "s", "skillScope": "org", "input": "ok too"},
            {"skillName": "s", "skillScope": "org"}]
    with pytest.raises(ValidationError) as err:
        remote.import_eval_cases(rows)
    assert "row 3 of 3" in err.value.what and err.value.code == "VALIDATION_ERROR"
    assert err.value.why == "input is required.; nothing was imported"
    assert remote.list_eval_cases() == []
    assert [r.method for r in cp_server.requests if r.method == "DELETE"] == ["DELETE", "DELETE"]


def test_measurement_run_list_show(cp_server, remote):
    params = {"skillName": "summarise", "skillScope": "team", "skillTeam": "acme", "candidateModel": "cheap",
              "currentModel": None, "concurrency": 8}
    progress: list[tuple[int, int, str]] = []
    noop = remote.run_measurement(params, progress=lambda *p: progress.append(p))
    assert noop == {"status": "unconfigured",
                    "note": "Shadow-measurement seams are not configured; nothing was recorded."}
    assert sent(cp_server)[-1] == ("POST", "/api/v1/model-routing/measurements/run", {}, {
        "skillName": "summarise", "skillScope": "team", "skillTeam": "acme", "candidateModel": "cheap"})
    assert [p[:2] for p in progress] == [(0, 1), (1, 1)]

    cp_server.add_skill("summarise", "team", "acme")
    remote.create_eval_case({"skillName": "summarise", "skillScope": "team", "skillTeam": "acme", "input": "x"})
    cp_server.set_measurement_outcome(MeasurementOutcome(ci_low_pct=5))
    measured = remote.run_measurement({**params, "currentModel": "big"})
    assert cp_server.requests[-1].body["currentModel"] == "big"
    assert measured["status"] == "measured" and measured["proposalId"]
    m = measured["measurement"]
    # The run's top-level proposalId is carried into the row; reads join it from the proposals.
    assert (m["proposalId"], m["proposalStatus"]) == (measured["proposalId"], "pending")
    assert remote.list_measurements(skill_name="summarise", skill_team="acme") == [m]
    assert [(r.path, r.query) for r in cp_server.requests[-2:]] == [
        ("/api/v1/model-routing/measurements", {"skillName": "summarise", "skillTeam": "acme"}),
        ("/api/v1/model-routing/proposals", {})]
    assert remote.list_measurements(skill_team="") == []
    assert remote.get_measurement(m["id"]) == m
    with pytest.raises(NotSupportedError):
        remote.get_measurement(m["id"], samples=True)

    org = {"skillName": "s", "skillScope": "org", "candidateModel": "c"}
    remote.run_measurement(org)
    assert cp_server.requests[-1].body == {**org, "skillTeam": ""}
    count = len(cp_server.requests)
    with pytest.raises(NotSupportedError):
        remote.run_measurement({"resume": "cm1run", "concurrency": 8})
    assert len(cp_server.requests) == count


def test_proposals_and_recommendations(cp_server, remote):
    cp_server.add_skill("a", "team", "acme")
    p = cp_server.add_proposal("a", "team", "acme", proposed_model="cheap", from_model="big")
    cp_server.add_measurement("a", "team", "acme", candidate_model="cheap")
    assert [x["id"] for x in remote.list_proposals(status="pending")] == [p["id"]]
    assert cp_server.requests[-1].query == {"status": "pending"}
    assert remote.get_proposal(p["id"])["proposedModel"] == "cheap"

    recs = remote.list_recommendations(cluster_tenant="acme", skill_scope="team", only_open=True)
    assert cp_server.requests[-1].query == {"clusterTenant": "acme", "skillScope": "team", "onlyOpen": "true"}
    assert [r["proposalId"] for r in recs] == [p["id"]]
    remote.list_recommendations()
    assert cp_server.requests[-1].query == {}

    assert remote.approve_proposal(p["id"]) == {"id": p["id"], "status": "applied", "appliedModel": "cheap"}
    assert sent(cp_server)[-1] == ("POST", f"/api/v1/model-routing/proposals/{p['id']}/approve", {}, None)
    with pytest.raises(ConflictError) as err:
        remote.reject_proposal(p["id"])
    assert (err.value.code, err.value.why, err.value.exit_code) == (
        "PROPOSAL_ALREADY_DECIDED", f"proposal {p['id']} is already applied", EXIT_CONFLICT)
    q = cp_server.add_proposal("a", "team", "acme", proposed_model="other")
    assert remote.reject_proposal(q["id"]) == {"id": q["id"], "status": "rejected", "appliedModel": None}


def test_metrics_passthrough(cp_server, remote):
    with pytest.raises(UnconfiguredError) as err:
        remote.metrics({"query": '{"view":"traces"}'})
    assert (err.value.code, err.value.exit_code) == ("UNCONFIGURED", EXIT_UNCONFIGURED)
    assert len(cp_server.requests) == 1  # a definite 503 "unconfigured" is not retried

    cp_server.set_metrics({"data": [{"model": "cheap", "count": 2}]})
    assert remote.metrics({"query": '{"view":"traces"}'}) == {"data": [{"model": "cheap", "count": 2}]}
    assert cp_server.metrics_upstream_queries[-1] == {"query": '{"view":"traces"}'}
    remote.metrics({"query": {"view": "observations", "metrics": []}, "since": None})
    assert cp_server.requests[-1].query == {"query": '{"view":"observations","metrics":[]}'}
    remote.metrics({})
    assert cp_server.requests[-1].query == {}
    with pytest.raises(NotSupportedError):
        remote.metrics({"by": "model"})


def test_audit_envelope_and_query(cp_server, remote):
    for minute in range(3):
        cp_server.add_audit("Created", f"Tenant/t{minute}", "m", tenant="alice",
                            timestamp=f"2026-07-01T10:0{minute}:00Z")
    page = remote.list_audit(tenant="alice", limit=2)
    assert cp_server.requests[-1].query == {"tenant": "alice", "limit": "2"}
    assert page["pagination"]["hasMore"] is True and len(page["data"]) == 2
    rest = remote.list_audit(limit=2, cursor=page["pagination"]["nextCursor"])
    assert cp_server.requests[-1].query == {"limit": "2", "cursor": page["pagination"]["nextCursor"]}
    assert [e["resource"] for e in rest["data"]] == ["Tenant/t0"]


@pytest.mark.parametrize("call", [
    lambda r: r.list_cluster_tenants(),
    lambda r: r.get_cluster_tenant("acme"),
    lambda r: r.create_cluster_tenant("acme", grant_all_global=True),
    lambda r: r.delete_cluster_tenant("acme"),
    lambda r: r.grant_models("acme", ["m"]),
    lambda r: r.revoke_models("acme", ["m"]),
    lambda r: r.tenant_models("acme"),
    lambda r: r.resolve(SkillKey("s")),
    lambda r: r.resolve_all(),
    lambda r: r.verify_audit(),
    lambda r: r.import_usage("spend.jsonl"),
    lambda r: r.list_usage({}),
])
def test_verbs_the_api_lacks_are_not_supported(cp_server, remote, call):
    with pytest.raises(NotSupportedError) as err:
        call(remote)
    assert err.value.why == "not supported by the control plane" and err.value.hint
    assert err.value.exit_code == EXIT_USAGE and cp_server.requests == []


# -- errors ----------------------------------------------------------------------------------------


def test_server_errors_map_to_oc_errors_with_message_and_code(cp_server, remote):
    cases = [
        (lambda: remote.create_model({"publicModelName": "m"}), ValidationError, EXIT_USAGE, "VALIDATION_ERROR",
         "publicModelName and upstreamModel are required.", "model add"),
        (lambda: remote.get_credential("cnope"), NotFoundError, EXIT_NOT_FOUND, "PROVIDER_CREDENTIAL_NOT_FOUND",
         "Provider credential not found", "credential show cnope"),
        (lambda: remote.get_posture(SkillKey("ghost")), NotFoundError, EXIT_NOT_FOUND, "SKILL_NOT_FOUND",
         "Skill not found", "skill-posture show ghost"),
        (lambda: remote.get_eval_case("cnope"), NotFoundError, EXIT_NOT_FOUND, "NOT_FOUND",
         "Eval case not found", "routing eval-case show cnope"),
    ]
    for call, cls, exit_code, code, why, what in cases:
        with pytest.raises(cls) as err:
            call()
        assert (err.value.exit_code, err.value.code, err.value.why, err.value.what) == (exit_code, code, why, what)
        assert err.value.line() == f"error: {what} — {why} [{code}]"

    remote.create_model(model_body(scope="clusterTenant", clusterTenant="acme"))
    with pytest.raises(ConflictError) as dup:
        remote.create_model(model_body(scope="clusterTenant", clusterTenant="acme"))
    assert (dup.value.code, dup.value.why) == ("CONFLICT", "A resource with these unique values already exists.")

    cp_server.fail_next("/api/v1/models", "error", method="POST")
    with pytest.raises(UpstreamError) as internal:
        remote.create_model(model_body(publicModelName="x"))
    assert (internal.value.code, internal.value.exit_code) == ("INTERNAL_ERROR", EXIT_FAILURE)
    assert internal.value.why == "An unexpected error occurred"


def test_unhandled_server_exception_detail_is_kept(cp_server, remote):
    with pytest.raises(UpstreamError) as err:
        remote.create_model(model_body(isDefault="yes"))
    assert err.value.code == "INTERNAL_ERROR" and "isDefault" in err.value.why


def test_auth_failures_in_token_mode(make_cp_server):
    server = make_cp_server(api_token="s3cret")
    with RemoteControlPlane(server.url, None, backoff=0) as anonymous:
        with pytest.raises(AuthRequiredError) as missing:
            anonymous.list_models()
    assert (missing.value.exit_code, missing.value.code, missing.value.why) == (
        EXIT_AUTH, "AUTH_REQUIRED", "Missing Authorization header")
    assert "oc auth login" in missing.value.hint

    with RemoteControlPlane(server.url, "wrong", backoff=0) as wrong:
        with pytest.raises(AuthRequiredError) as invalid:
            wrong.list_models()
    assert (invalid.value.exit_code, invalid.value.code) == (EXIT_AUTH, "INVALID_TOKEN")
    assert "Invalid token" in invalid.value.why

    with RemoteControlPlane(server.url, "s3cret", backoff=0) as bearer:
        assert bearer.list_models() == []
        assert server.requests[-1].headers["authorization"] == f"Bearer {REDACTED}"
        assert server.requests[-1].headers["user-agent"].startswith("oc/")
        with pytest.raises(ForbiddenError) as scope:
            bearer.create_model(model_body())
    assert (scope.value.exit_code, scope.value.code, scope.value.why) == (
        EXIT_FORBIDDEN, "FORBIDDEN_SCOPE", "Not authorized for this resource scope.")
    assert scope.value.hint


def test_non_json_bodies_become_one_line(cp_server):
    with RemoteControlPlane(cp_server.url, "t", retries=0) as remote:
        cp_server.fail_next("/api/v1/models", "rate_limit")
        with pytest.raises(UpstreamError) as limited:
            remote.list_models()
        cp_server.fail_next("/api/v1/models", "bad_gateway")
        with pytest.raises(UpstreamError) as gateway:
            remote.list_models()
    assert limited.value.code == "RATE_LIMITED"
    assert limited.value.why == "HTTP 429 Too Many Requests: Too many requests, please try again later."
    assert gateway.value.code == "HTTP_502"
    assert gateway.value.why == "HTTP 502 Bad Gateway: 502 Bad Gateway nginx"
    assert "\n" not in gateway.value.line() and "<" not in gateway.value.line()


def test_unknown_route_html_404(cp_server):
    client = ApiClient(cp_server.url, None)
    try:
        with pytest.raises(NotFoundError) as err:
            client.request("PUT", "/model-routing/defaults/cabc", what="model-default update", json_body={})
    finally:
        client.close()
    assert err.value.code == "HTTP_404"
    assert err.value.why == "HTTP 404 Not Found: Cannot PUT /api/v1/model-routing/defaults/cabc"
    assert "endpoint" in err.value.hint


def test_metrics_upstream_error_keeps_the_servers_words(cp_server, remote):
    cp_server.set_metrics(None, upstream_status=401)
    with pytest.raises(UpstreamError) as err:
        remote.metrics({})
    assert (err.value.code, err.value.why) == ("UPSTREAM_ERROR", "Metrics backend returned 401.")


def test_unreachable_server_is_an_upstream_error(closed_port_url):
    with RemoteControlPlane(closed_port_url, "t", backoff=0) as remote:
        with pytest.raises(UpstreamError) as err:
            remote.list_models()
    assert err.value.code == "UNREACHABLE" and err.value.exit_code == EXIT_FAILURE
    assert err.value.why == f"cannot reach the control plane at {closed_port_url}: connection refused"
    assert err.value.what == "model list"


def test_read_timeout_names_the_url_and_is_not_retried(cp_server):
    cp_server.fail_next("/api/v1/models", "hang", seconds=1.0, count=3)
    with RemoteControlPlane(cp_server.url, "t", timeout=0.2, backoff=0) as remote:
        with pytest.raises(UpstreamError) as err:
            remote.list_models()
    assert err.value.code == "TIMEOUT" and cp_server.url in err.value.why and "0.2s" in err.value.why
    assert len(cp_server.requests) == 1


@pytest.mark.parametrize("cause, code, fragment", [
    (OSError(-2, "Name or service not known"), "UNREACHABLE", "the host name does not resolve"),
    (ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                     "self-signed certificate"), "TLS_VERIFY_FAILED", "certificate"),
])
def test_dns_and_tls_failures_are_named(cause, code, fragment):
    attempts = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectError(str(cause), request=request) from cause

    with RemoteControlPlane("https://cp.example.test", "t", transport=httpx.MockTransport(refuse),
                            backoff=0) as remote:
        with pytest.raises(UpstreamError) as err:
            remote.list_models()
    assert err.value.code == code and fragment in err.value.why and "https://cp.example.test" in err.value.why
    assert len(attempts) == (1 if code == "TLS_VERIFY_FAILED" else 3)  # a TLS failure will not heal


def test_get_is_retried_on_503_and_dropped_connections(cp_server, remote):
    cp_server.fail_next("/api/v1/models", "unavailable", count=1)
    cp_server.fail_next("/api/v1/models", "drop", count=1)
    assert remote.list_models() == []
    assert [r.method for r in cp_server.requests] == ["GET", "GET", "GET"]

    cp_server.fail_next("/api/v1/models", "gateway_timeout", count=3)
    with pytest.raises(UpstreamError) as err:
        remote.list_models()
    assert err.value.code == "HTTP_504" and len(cp_server.requests) == 6


def test_writes_are_never_retried(cp_server, remote):
    cp_server.fail_next("/api/v1/models", "unavailable", method="POST")
    with pytest.raises(UpstreamError):
        remote.create_model(model_body())
    cp_server.fail_next("/api/v1/models", "drop", method="POST")
    with pytest.raises(UpstreamError) as dropped:
        remote.create_model(model_body())
    assert dropped.value.code == "UNREACHABLE"
    assert [r.method for r in cp_server.requests] == ["POST", "POST"]
    assert remote.list_models() == []


def test_retry_after_is_honoured_but_capped():
    answers = [httpx.Response(503, headers={"Retry-After": "120"}, text="busy"),
               httpx.Response(200, json=[])]
    pauses: list[float] = []
    client = ApiClient("http://cp.test", "t", transport=httpx.MockTransport(lambda request: answers.pop(0)),
                       sleep=pauses.append, backoff=0.1)
    try:
        assert client.request("GET", "/models", what="model list") == []
    finally:
        client.close()
    assert pauses == [2.0]


def test_base_url_normalisation_and_validation(cp_server):
    with RemoteControlPlane(cp_server.url + "/api/v1//", "t") as remote:
        assert remote.url == cp_server.url and remote.list_models() == []
    assert cp_server.requests[-1].path == "/api/v1/models"
    with pytest.raises(ValidationError):
        RemoteControlPlane("cp.example.com", "t")


def test_ca_bundle_that_cannot_be_loaded_is_a_validation_error(tmp_path):
    with pytest.raises(ValidationError) as err:
        RemoteControlPlane("https://cp.example.test", "t", verify=str(tmp_path / "missing.pem"))
    assert "--ca-bundle" in err.value.what


def test_every_error_is_an_oc_error_never_a_raw_httpx_exception(closed_port_url):
    with RemoteControlPlane(closed_port_url, "t", retries=0) as remote:
        for call in (remote.list_models, remote.list_postures, lambda: remote.create_model(model_body())):
            with pytest.raises(OcError):
                call()


def test_local_mode_imports_do_not_pull_httpx():
    code = ("import sys, oc_cli.remote, oc_cli.remote.auth, oc_cli.controlplane; "
            "print(sorted(m for m in ('httpx', 'keyring') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class _FixedAnswer:
    """A transport that answers every request with one canned 200 body."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __call__(self, request):
        import httpx

        return httpx.Response(200, content=self.body, headers={"content-type": "application/json"})


@pytest.mark.parametrize("body", [b'{"id": "x"}', b'"text"', b"null", b"[1, 2]"])
def test_a_list_answer_of_the_wrong_shape_is_an_upstream_error(body):
    import httpx

    from oc_cli.errors import UpstreamError
    from oc_cli.remote.backend import RemoteControlPlane

    cp = RemoteControlPlane("http://cp.invalid", "t", transport=httpx.MockTransport(_FixedAnswer(body)))
    with pytest.raises(UpstreamError) as info:
        cp.list_models()
    assert info.value.code == "UNEXPECTED_RESPONSE"


def test_a_show_answer_that_is_not_an_object_is_an_upstream_error():
    import httpx

    from oc_cli.errors import UpstreamError
    from oc_cli.remote.backend import RemoteControlPlane

    cp = RemoteControlPlane("http://cp.invalid", "t", transport=httpx.MockTransport(_FixedAnswer(b"[]")))
    with pytest.raises(UpstreamError):
        cp.get_credential("cm1")


def test_audit_entries_always_carry_tenant_null_when_the_server_omits_it(cp_server, remote):
    cp_server.add_audit("Created", "Tenant/a", "m", tenant=None, timestamp="2026-07-01T10:00:00.000Z")
    cp_server.add_audit("Created", "Tenant/b", "m", tenant="alice", timestamp="2026-07-01T10:01:00.000Z")
    data = remote.list_audit()["data"]
    assert [(e["resource"], e["tenant"]) for e in data] == [("Tenant/b", "alice"), ("Tenant/a", None)]


def test_several_candidates_are_measured_one_request_each_and_say_so(cp_server, remote):
    cp_server.add_skill("summarise", "org", "")
    remote.create_eval_case({"skillName": "summarise", "skillScope": "org", "input": "x"})
    cp_server.set_measurement_outcome(MeasurementOutcome(ci_low_pct=5))
    before = len(cp_server.requests)
    result = remote.run_measurement({"skillName": "summarise", "skillScope": "org", "skillTeam": "",
                                     "candidateModels": ["cheap", "cheaper"], "currentModel": "big"})
    runs = [r for r in cp_server.requests[before:] if r.path.endswith("/measurements/run")]
    assert [r.body["candidateModel"] for r in runs] == ["cheap", "cheaper"]
    assert all(r.body["currentModel"] == "big" for r in runs)
    assert result["status"] == "measured" and result["sharedBaseline"] is False and result["groupId"] is None
    assert [m["candidateModel"] for m in result["measurements"]] == ["cheap", "cheaper"]
    assert [p["role"] for p in result["frontier"]] == ["baseline", "candidate", "candidate"]
    assert any("one candidate per call" in n for n in remote.notices)
    with pytest.raises(NotSupportedError):
        remote.get_group(result["measurements"][0]["id"])
    count = len(cp_server.requests)
    with pytest.raises(NotSupportedError):
        remote.run_measurement({"skillName": "summarise", "skillScope": "org", "candidateModels": ["cheap"],
                                "reuseBaseline": True})
    assert len(cp_server.requests) == count
