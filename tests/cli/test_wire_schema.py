"""One declaration per wire object (oc_cli.schema), read by both backends, the tables and the tests.

* the declarations themselves: what a closed model rejects, what an open one tolerates, which
  columns each mode's tables get;
* the local-only list and show commands validate against their declarations (the commands both
  modes share are checked in both modes in test_scenarios_both_backends.py);
* remote mode against the loopback control plane: a posture row has its key, measurement output
  names its proposal and prints no ``None``, tables leave out what the server does not report,
  a malformed answer is an upstream error, and a lookup by an unknown name reports the verb run.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator

import pytest

from oc_cli import schema
from tests.conftest import OcResult
from tests.support.cp_server import ControlPlaneServer, MeasurementOutcome

MODEL_ROW = {"id": "cm1", "scope": "global", "clusterTenant": None, "publicModelName": "m", "litellmModelId": "p",
             "upstreamModel": "openai/m", "apiBase": None, "isDefault": False, "providerCredentialId": None,
             "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"}


# -- the declarations --------------------------------------------------------------------------


def test_a_closed_declaration_rejects_missing_mistyped_and_undeclared_fields() -> None:
    schema.check(schema.MODEL, MODEL_ROW, closed=True)
    for broken, fragment in (({k: v for k, v in MODEL_ROW.items() if k != "scope"}, "'scope': field required"),
                             ({**MODEL_ROW, "isDefault": "false"}, "'isDefault'"),
                             ({**MODEL_ROW, "id": 7}, "'id'"),
                             ({**MODEL_ROW, "surprise": 1}, "'surprise'")):
        with pytest.raises(schema.WireError, match=fragment):
            schema.check(schema.MODEL, broken, closed=True)
    # a server that adds a field does not break the client (answers are read open) …
    schema.check(schema.MODEL, {**MODEL_ROW, "surprise": 1})
    # … and local-only fields may be absent from a control-plane row
    assert "inputCostPerMtok" not in MODEL_ROW


def test_numbers_are_numbers_not_booleans_or_strings() -> None:
    entry = {"status": "measured", "proposalId": None, "measurement": None}
    schema.check(schema.RUN_ANSWER, entry, closed=True)
    page = {"data": [], "pagination": {"limit": True, "hasMore": False}}
    with pytest.raises(schema.WireError, match="pagination.limit"):
        schema.check(schema.AUDIT_PAGE, page)
    with pytest.raises(schema.WireError, match="item 0"):
        schema.check(schema.PROPOSAL, ["not an object"], many=True)
    with pytest.raises(schema.WireError, match="expected a JSON array"):
        schema.check(schema.PROPOSAL, {"id": "x"}, many=True)


def test_open_objects_accept_additive_fields_in_their_summary_and_decision() -> None:
    """Measurements gain statistics over time; a new one must not break the contract."""
    model = schema.model(schema.MEASUREMENT, closed=True)
    fields = {f.name for f in schema.MEASUREMENT.fields if f.origin == schema.API}
    row = {name: None for name in fields} | {
        "id": "m", "skillName": "s", "skillScope": "org", "skillTeam": "", "sampledCalls": 1, "overheadPct": 0,
        "runAt": "t", "groupId": "g", "decision": {"propose": False, "reasons": [], "checks": {}, "casesNeeded": 4}}
    model.model_validate(row)
    with pytest.raises(Exception):
        model.model_validate({**row, "decision": {"propose": "no", "reasons": [], "checks": {}}})


def test_posture_key_is_derived_in_one_place() -> None:
    row = {"name": "summarise", "scope": "team", "team": "acme"}
    assert schema.POSTURE.derive(dict(row))["key"] == "team/acme/summarise"
    assert schema.POSTURE.derive({"name": "summarise", "scope": "org", "team": ""})["key"] == "summarise"


def test_table_columns_are_what_each_mode_reports() -> None:
    local = schema.MEASUREMENT.columns("local")
    remote = schema.MEASUREMENT.columns("remote")
    assert local == ["id", "skill", "currentModel", "candidateModel", "status", "sampledCalls", "pinnedSavingsPct",
                     "pinnedCiLowPct", "pinnedCiHighPct", "candidatePassRate", "proposalId", "runAt"]
    assert remote == ["id", "skill", "candidateModel", "sampledCalls", "projectedSavingsPct", "ciLowPct",
                      "ciHighPct", "atBarCheapFraction", "proposalId", "runAt"]
    assert "pinnedSavingsPct" not in schema.PROPOSAL.columns("remote")
    assert "actor" not in schema.AUDIT_ENTRY.columns("remote")
    assert schema.POSTURE.columns("remote")[0] == "key"


# -- local-only list and show commands ------------------------------------------------------------


def _json(result: OcResult) -> Any:
    assert result.code == 0, result.err
    return result.json()


def test_local_only_commands_validate_against_their_declarations(oc_main, local_cp, tmp_path) -> None:
    cp = local_cp()
    cp.create_model({"publicModelName": "cheap", "upstreamModel": "openai/gpt-4o-mini"})
    cp.create_cluster_tenant("acme", description="the acme team")
    cp.grant_models("acme", ["cheap"])
    cp.close()
    usage = "\n".join(json.dumps({"request_id": f"r{i}", "model": "cheap", "spend": 0.001, "prompt_tokens": 10,
                                  "completion_tokens": 5, "startTime": "2026-01-01T00:00:00Z",
                                  "endTime": "2026-01-01T00:00:01Z", "status": "success"}) for i in range(2))
    (tmp_path / "spend.jsonl").write_text(usage)
    assert oc_main("usage", "import", str(tmp_path / "spend.jsonl")).code == 0
    assert oc_main("skill-posture", "set", "team/acme/summarise", "--pinned-model", "cheap").code == 0
    cases = "".join(json.dumps({"skillName": "summarise", "skillScope": "org", "input": f"t{i}"}) + "\n"
                    for i in range(2))
    checks: list[tuple[tuple[str, ...], schema.Obj, bool]] = [
        (("cluster-tenant", "list"), schema.TENANT, True),
        (("cluster-tenant", "show", "acme"), schema.TENANT, False),
        (("cluster-tenant", "models", "acme"), schema.TENANT_MODELS, False),
        (("usage", "list"), schema.USAGE_ROW, True),
        (("resolve", "team/acme/summarise"), schema.RESOLUTION, False),
        (("resolve", "team/acme/summarise", "--explain"), schema.RESOLUTION, False),
        (("resolve", "--all"), schema.RESOLUTION, True),
        (("audit", "list"), schema.AUDIT_PAGE, False),
        (("routing", "eval-case", "import", "-"), schema.IMPORTED, False),
    ]
    for args, obj, many in checks:
        value = _json(oc_main(*args, "-o", "json", input=cases if "import" in args else None))
        assert value, args
        schema.check(obj, value, many=many, closed=True)


# -- remote mode against the loopback control plane -----------------------------------------------


@pytest.fixture
def remote_oc(oc_main, monkeypatch) -> Iterator[tuple[ControlPlaneServer, Callable[..., OcResult]]]:
    """``oc`` (in this process) pointed at a dev-mode control plane on loopback."""
    with ControlPlaneServer() as server:
        monkeypatch.setenv("OPENCRANE_URL", server.url)
        monkeypatch.setenv("OPENCRANE_TOKEN", "dev-token")
        yield server, oc_main


def _measured(server: ControlPlaneServer, run: Callable[..., OcResult], *, ci_low: float = 10.0) -> None:
    assert run("model", "add", "--name", "big-model", "--upstream", "anthropic/claude-sonnet-4").code == 0
    assert run("model", "add", "--name", "tiny-model", "--upstream", "openai/gpt-4o-mini").code == 0
    server.add_skill("summarise", "team", "acme", pinned_model="big-model")
    for i in range(3):
        assert run("routing", "eval-case", "add", "--skill", "team/acme/summarise", "--input", f"text {i}").code == 0
    server.set_measurement_outcome(MeasurementOutcome(ci_low_pct=ci_low))


def test_remote_posture_list_shows_the_keys(remote_oc) -> None:
    server, run = remote_oc
    server.add_skill("summarise", "org")
    server.add_skill("review", "team", "acme", model_mode="pinned", pinned_model="big-model")
    table = run("skill-posture", "list")
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert lines[0].split()[0] == "KEY"
    assert [line.split()[0] for line in lines[1:]] == ["summarise", "team/acme/review"]
    rows = _json(run("skill-posture", "list", "-o", "json"))
    assert [r["key"] for r in rows] == ["summarise", "team/acme/review"]
    assert list(rows[0]) == [f.name for f in schema.POSTURE.fields]  # the declared order, as in local mode
    assert _json(run("skill-posture", "show", "team/acme/review", "-o", "json"))["key"] == "team/acme/review"


def test_remote_measurement_run_and_show_name_the_proposal_and_print_no_none(remote_oc) -> None:
    server, run = remote_oc
    _measured(server, run)
    ran = run("routing", "measurement", "run", "--skill", "team/acme/summarise", "--candidate-model", "tiny-model")
    assert ran.code == 0, ran.err
    proposal = _json(run("routing", "proposal", "list", "-o", "json"))[0]["id"]
    assert "None" not in ran.out + ran.err
    assert f"proposal {proposal} is waiting for approval: oc routing proposal approve {proposal}" in ran.out
    assert schema.NOT_REPORTED in ran.out
    assert "30.0% reference estimate (95% CI 10.0% to 45.0%" in ran.out
    measurement = _json(run("routing", "measurement", "list", "-o", "json"))[0]
    shown = run("routing", "measurement", "show", measurement["id"])
    assert shown.code == 0, shown.err
    assert "None" not in shown.out + shown.err
    assert f"proposal {proposal} is waiting for approval" in shown.out
    assert measurement["proposalId"] == proposal

    assert run("routing", "proposal", "approve", proposal).code == 0
    shown = run("routing", "measurement", "show", measurement["id"])
    assert f"proposal {proposal} was applied" in shown.out and "None" not in shown.out


def test_remote_run_without_a_proposal_says_why(remote_oc) -> None:
    server, run = remote_oc
    _measured(server, run, ci_low=-5.0)
    ran = run("routing", "measurement", "run", "--skill", "team/acme/summarise", "--candidate-model", "tiny-model")
    assert ran.code == 0, ran.err
    assert "None" not in ran.out
    assert "no proposal: the control plane proposes only when the interval's lower bound is above 0%" in ran.out


def test_remote_lists_leave_out_the_columns_the_server_does_not_report(remote_oc) -> None:
    server, run = remote_oc
    _measured(server, run)
    assert run("routing", "measurement", "run", "--skill", "team/acme/summarise",
               "--candidate-model", "tiny-model").code == 0
    measurements = run("routing", "measurement", "list")
    head = measurements.out.splitlines()[0].split()
    assert head == ["ID", "SKILL", "CANDIDATE_MODEL", "SAMPLED_CALLS", "PROJECTED_SAVINGS_PCT", "CI_LOW_PCT",
                    "CI_HIGH_PCT", "AT_BAR_CHEAP_FRACTION", "PROPOSAL_ID", "RUN_AT"]
    row = measurements.out.splitlines()[1].split()
    assert len(row) == len(head)  # no blank cell: every column is filled
    assert row[1] == "team/acme/summarise" and row[8].startswith("c")
    proposals = run("routing", "proposal", "list").out.splitlines()
    assert "PINNED_SAVINGS_PCT" not in proposals[0]
    assert len(proposals[1].split()) == len(proposals[0].split())
    recommendations = run("routing", "recommendation", "list").out.splitlines()
    assert recommendations[0].split() == ["SKILL", "CURRENT_MODEL", "RECOMMENDED_MODEL", "SAVING", "PROPOSAL"]
    assert recommendations[1].split()[:3] == ["team/acme/summarise", "big-model", "tiny-model"]
    proposal = _json(run("routing", "proposal", "list", "-o", "json"))[0]["id"]
    assert run("routing", "proposal", "approve", proposal).code == 0
    audit = run("audit", "list").out.splitlines()
    assert audit[0].split() == ["TIMESTAMP", "TENANT", "ACTION", "RESOURCE", "MESSAGE"]  # the server reports no actor
    assert f"RoutingProposal/{proposal}" in audit[1]


@pytest.mark.parametrize("verb", [("remove",), ("update", "--upstream", "openai/x")])
def test_remote_model_verbs_by_unknown_name_report_their_own_verb(remote_oc, verb) -> None:
    _, run = remote_oc
    result = run("model", verb[0], "nosuch", *verb[1:])
    assert result.code == 3
    assert result.err.startswith(f"error: model {verb[0]} nosuch"), result.err
    assert "model show" not in result.err


def test_a_remote_row_of_the_wrong_shape_is_an_upstream_error(remote_oc, monkeypatch) -> None:
    server, run = remote_oc
    server.add_skill("summarise", "org")
    server._skills[("summarise", "org", "")]["modelMode"] = 3  # the server breaks its own contract
    result = run("skill-posture", "list")
    assert result.code == 1 and result.out == ""
    assert "[UNEXPECTED_RESPONSE]" in result.err and "modelMode" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_a_remote_run_that_recorded_nothing_does_not_invent_the_cause(remote_oc) -> None:
    server, run = remote_oc
    server.add_skill("summarise", "org")
    result = run("routing", "measurement", "run", "--skill", "summarise", "--candidate-model", "tiny-model")
    assert result.code == 0 and result.out == ""
    assert "status: unconfigured" in result.err and "Missing: seams" not in result.err
    assert "not reported by the control plane" in result.err and "--current-model" in result.err
