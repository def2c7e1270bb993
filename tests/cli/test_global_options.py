"""Global options work after the subcommand too, as with kubectl (``oc model list --db x.db``)."""

from __future__ import annotations

import json

import pytest
import typer

from oc_cli.app import app, hoist_global_options


@pytest.fixture(scope="module")
def root():
    return typer.main.get_command(app)


@pytest.mark.parametrize("argv,expected", [
    (["model", "list", "--db", "x.db"], ["--db", "x.db", "model", "list"]),
    (["model", "list", "--db=x.db", "-o", "json"], ["--db=x.db", "model", "list", "-o", "json"]),
    (["model", "list", "--no-color"], ["--no-color", "model", "list"]),
    (["auth", "login", "--url", "https://cp", "--token-stdin"], ["--url", "https://cp", "auth", "login", "--token-stdin"]),
    (["--context", "prod", "model", "show", "m", "--as-tenant", "acme"],
     ["--context", "prod", "--as-tenant", "acme", "model", "show", "m"]),
    # between a group and its subcommand
    (["model", "--db", "x.db", "list"], ["--db", "x.db", "model", "list"]),
    # a command's own option of the same name wins: config set-context has --url and --db
    (["config", "set-context", "c", "--url", "https://cp", "--db", "y.db"],
     ["config", "set-context", "c", "--url", "https://cp", "--db", "y.db"]),
    # a value of the command's own option that looks like a global option is left alone
    (["model", "add", "--name", "--db", "--upstream", "u"], ["model", "add", "--name", "--db", "--upstream", "u"]),
    # `--` ends the options
    (["model", "show", "--", "--db"], ["model", "show", "--", "--db"]),
    # a root option's value that names a group is not the subcommand
    (["--db", "model", "model", "list", "--no-color"], ["--db", "model", "--no-color", "model", "list"]),
    (["model", "list"], ["model", "list"]),
    (["--version"], ["--version"]),
])
def test_hoisting(root, argv, expected) -> None:
    assert hoist_global_options(root, argv) == expected


def test_db_and_no_color_after_the_subcommand(run_oc, tmp_path) -> None:
    db = tmp_path / "after.db"
    added = run_oc("model", "add", "--name", "m1", "--upstream", "openai/gpt-4o-mini", "--db", str(db), "-o", "json")
    assert added.code == 0, added.err
    listed = run_oc("model", "list", "--db", str(db), "--no-color", "-o", "json")
    assert listed.code == 0, listed.err
    assert [m["publicModelName"] for m in json.loads(listed.out)] == ["m1"]
    # the default database was not touched
    assert json.loads(run_oc("model", "list", "-o", "json").out) == []
    assert run_oc("model", "list", "--no-color").code == 0


def test_an_unknown_option_hint_names_the_global_help(run_oc) -> None:
    result = run_oc("model", "list", "--colour")
    assert result.code == 2
    assert "see 'oc model list --help'" in result.err and "'oc --help'" in result.err
