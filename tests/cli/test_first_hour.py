"""What a new user trips over in the first hour (issue 13, item 10): each a test that catches it."""

from __future__ import annotations

import json

import pytest


def test_a_new_database_made_by_a_mistyped_db_path_is_announced(run_oc, tmp_path) -> None:
    typo = tmp_path / "proudction.db"
    first = run_oc("--db", str(typo), "model", "list")
    assert first.code == 0
    assert f"note: {typo} did not exist: created a new, empty database there (--db)" in first.err
    again = run_oc("--db", str(typo), "model", "list")
    assert "did not exist" not in again.err  # only the call that created it says so
    made = run_oc("--db", str(tmp_path / "fresh.db"), "init")  # init says it itself, once
    assert made.code == 0 and "did not exist" not in made.err and "database created" in made.err


@pytest.mark.parametrize("how", ["flag", "env"])
def test_acting_as_a_tenant_that_does_not_exist_is_not_found(run_oc, how) -> None:
    assert run_oc("cluster-tenant", "create", "acme").code == 0
    args, env = (["--as-tenant", "nosuch"], None) if how == "flag" else ([], {"OC_AS_TENANT": "nosuch"})
    result = run_oc(*args, "model", "list", env=env)
    assert result.code == 3 and result.out == ""
    assert "ClusterTenant 'nosuch' not found" in result.err and "[CLUSTER_TENANT_NOT_FOUND]" in result.err
    assert run_oc("--as-tenant", "acme", "model", "list", "-o", "json").code == 0


@pytest.mark.parametrize("args,suggestion", [(["modle", "list"], "'model'"),
                                             (["routing", "mesurement", "list"], "'measurement'"),
                                             (["cluster-tenat", "list"], "'cluster-tenant'")])
def test_a_mistyped_group_gets_did_you_mean(oc_main, args, suggestion) -> None:
    result = oc_main(*args)
    assert result.code == 2
    assert f"Did you mean {suggestion}?" in result.err and result.err.count("\n") == 1


def test_eval_case_import_reports_every_bad_line_up_to_twenty_and_imports_nothing(run_oc, tmp_path) -> None:
    good = {"skillName": "summarise", "input": {"messages": [{"role": "user", "content": "hi"}]}, "qualityBar": 0.8}
    lines = [json.dumps(good), "{not json", json.dumps({**good, "qualityBar": 7}), "[1, 2]",
             json.dumps({**good, "colour": "red"}), json.dumps({"skillName": "summarise"})]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = run_oc("routing", "eval-case", "import", str(path))
    assert result.code == 2 and result.out == ""
    line = result.err.strip()
    assert "\n" not in line and line.startswith("error: eval-case import: 5 bad lines, nothing imported — ")
    for n in (2, 3, 4, 5, 6):  # the unreadable ones and the refused ones, together
        assert f"line {n}: " in line
    assert "line 1: " not in line
    assert run_oc("routing", "eval-case", "list", "-o", "json").out.strip() == "[]"

    path.write_text("\n".join(["{bad"] * 25 + [json.dumps(good)]) + "\n")
    many = run_oc("routing", "eval-case", "import", str(path)).err
    assert "25 bad lines" in many and "line 20: " in many and "line 21: " not in many and "; and 5 more" in many


def test_counts_of_one_are_singular(run_oc, tmp_path) -> None:
    from oc_cli.domain.words import plural

    assert (plural(1, "usage row"), plural(2, "usage row"), plural(0, "duplicate"), plural(1200, "case")) == \
        ("1 usage row", "2 usage rows", "0 duplicates", "1,200 cases")
    log = tmp_path / "one.jsonl"
    log.write_text(json.dumps({"request_id": "r-1", "model": "m", "spend": 0.001,
                               "startTime": "2026-01-01T00:00:00Z", "endTime": "2026-01-01T00:00:01Z"}) + "\n")
    first = run_oc("usage", "import", str(log))
    assert first.code == 0 and f"imported 1 usage row from {log} (0 duplicates skipped)" in first.err
    again = run_oc("usage", "import", str(log))
    assert f"imported 0 usage rows from {log} (1 duplicate skipped)" in again.err
    messages = [e["message"] for e in json.loads(run_oc("audit", "list", "-o", "json").out)["data"]]
    assert f"imported 1 usage row from {log} (0 duplicates, 0 bad, 0 of other tenants)" in messages
    assert f"imported 0 usage rows from {log} (1 duplicate, 0 bad, 0 of other tenants)" in messages


def test_audit_json_has_tenant_on_every_entry(run_oc) -> None:
    assert run_oc("cluster-tenant", "create", "acme").code == 0  # an entry with a tenant
    assert run_oc("model", "add", "--name", "m", "--upstream", "openai/x").code == 0  # and one without
    entries = json.loads(run_oc("audit", "list", "-o", "json").out)["data"]
    assert {e["tenant"] for e in entries} == {"acme", None}
    assert len({tuple(e) for e in entries}) == 1  # one shape, same keys in the same order


def test_resolve_json_names_each_registered_flag_once(run_oc) -> None:
    assert run_oc("model", "add", "--name", "real", "--upstream", "openai/x").code == 0
    assert run_oc("model-default", "set", "--model", "real").code == 0
    answer = json.loads(run_oc("resolve", "summarise", "-o", "json").out)
    assert "registered" not in answer
    assert (answer["skillRegistered"], answer["modelRegistered"], answer["model"]) == (False, True, "real")
