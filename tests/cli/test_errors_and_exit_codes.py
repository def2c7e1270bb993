"""Errors, exit codes and clean output (SPEC §7, §9), through the real ``oc`` in subprocesses.

- Every exit code of ``oc_cli.errors`` is produced by some command.
- An error is exactly one line on stderr: ``error: <what> [— <why>] [CODE] [(hint: …)]``.
- A refused write leaves the database file byte-identical.
- ``-o json`` prints JSON and nothing else on stdout; piped or NO_COLOR output has no ANSI escapes.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import re
import socket
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from oc_cli.domain.skillkey import parse
from oc_cli.errors import EXIT_CODES
from tests.conftest import OcEnv, OcResult, subprocess_env
from tests.support import fake_keys

RAW_KEY = fake_keys.openai(21, kind="proj")
ERROR_LINE = re.compile(r"^error: \S.*? \[[A-Z][A-Z_]*\]( \(hint: .+\))?$")
ANSI = "\x1b"


@dataclass
class World:
    """What the seeded database holds: ids the commands below refer to."""

    cred: str
    acme_cred: str
    fast: str
    cheap: str


@pytest.fixture
def world(local_cp) -> World:
    """Global credential and two global models, tenants acme (owning a model) and beta, a global
    default naming my-fast-model, and a pinned team skill of acme. Closed before any ``oc`` runs."""
    op = local_cp()
    op.create_cluster_tenant("acme")
    op.create_cluster_tenant("beta")
    cred = op.create_credential({"provider": "openai", "secretRef": "openai-prod"})["id"]
    acme_cred = op.create_credential({"provider": "openai", "secretRef": "acme-openai", "clusterTenant": "acme"})["id"]
    fast = op.create_model({"publicModelName": "my-fast-model", "upstreamModel": "openai/gpt-4o",
                            "providerCredentialId": cred})["id"]
    cheap = op.create_model({"publicModelName": "my-cheap-model", "upstreamModel": "openai/gpt-4o-mini",
                             "providerCredentialId": cred})["id"]
    op.create_model({"publicModelName": "acme-model", "upstreamModel": "openai/ft", "clusterTenant": "acme",
                     "providerCredentialId": acme_cred})
    op.grant_models("acme", ["my-cheap-model"])
    op.set_default(cluster_tenant=None, default_model="my-fast-model", auto_config=None, fields={"defaultModel"})
    op.set_posture(parse("team/acme/summarise"), mode="pinned", pinned_model="acme-model")
    op.close()
    return World(cred=cred, acme_cred=acme_cred, fast=fast, cheap=cheap)


def db_digest(env: OcEnv) -> str:
    """sha256 over the database file and its WAL, if one is left behind."""
    h = hashlib.sha256()
    for suffix in ("", "-wal"):
        path = Path(str(env.db) + suffix)
        h.update(suffix.encode())
        h.update(path.read_bytes() if path.exists() else b"<absent>")
    return h.hexdigest()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_one_error_line(result: OcResult, code: str | None = None) -> str:
    lines = result.err_lines
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {result.err!r}"
    assert ERROR_LINE.match(lines[0]), lines[0]
    assert result.err.endswith("\n") and result.err.count("\n") == 1
    if code is not None:
        assert f"[{code}]" in lines[0], lines[0]
    assert "Traceback" not in result.err
    return lines[0]


# -- refused writes: exit code, one line, and not one byte changed ----------------------------------


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    exit: int
    code: str
    env: tuple[tuple[str, str], ...] = ()

    def argv(self, w: World) -> list[str]:
        """The arguments with ``{cred}``, ``{acme_cred}``, ``{fast}`` and ``{cheap}`` filled in."""
        ids = {"{cred}": w.cred, "{acme_cred}": w.acme_cred, "{fast}": w.fast, "{cheap}": w.cheap}
        return [ids.get(a, a) for a in self.args]


def case(exit: int, code: str, *args: str, env: dict[str, str] | None = None) -> Case:
    return Case(tuple(args), exit, code, tuple((env or {}).items()))


REFUSED_WRITES = [
    # 2: usage (Typer's own errors) and validation
    case(2, "USAGE", "model", "add", "--name", "x", "--upstream", "openai/x", "--bogus"),
    case(2, "USAGE", "model", "add", "--name", "x"),
    case(2, "USAGE", "model", "add", "--name", "x", "--upstream", "openai/x", "-o", "yaml"),
    case(2, "USAGE", "model", "add", "--name", "x", "--upstream", "openai/x", "--input-cost-per-mtok", "cheap"),
    case(2, "USAGE", "model", "frobnicate"),
    case(2, "USAGE", "frobnicate", "--name", "x"),
    case(2, "VALIDATION_ERROR", "model", "add", "--name", "bad name", "--upstream", "openai/x"),
    case(2, "VALIDATION_ERROR", "model", "add", "--name", "x", "--upstream", "openai/x", "--api-base", "nope"),
    case(2, "VALIDATION_ERROR", "model", "update", "{fast}"),
    case(2, "VALIDATION_ERROR", "credential", "add", "--provider", "openai", "--secret-ref", "Not A Name"),
    case(2, "VALIDATION_ERROR", "skill-posture", "set", "summarise"),
    case(2, "VALIDATION_ERROR", "skill-posture", "set", "team//summarise", "--auto"),
    case(2, "VALIDATION_ERROR", "skill-posture", "set", "summarise", "--auto", "--auto-config", "{not json"),
    case(2, "VALIDATION_ERROR", "skill-posture", "set", "summarise", "--auto", "--auto-config",
         '{"objective":"cheapest-passing-bar","sessionPin":true,"explorationRate":2}'),
    case(2, "VALIDATION_ERROR", "skill-posture", "set", "summarise", "--auto", "--auto-config",
         '{"objective":"balanced","sessionPin":true,"explorationRate":0,"turbo":true}'),
    case(2, "VALIDATION_ERROR", "skill-posture", "set", "summarise", "--auto", "--pinned-model", "my-fast-model"),
    case(2, "VALIDATION_ERROR", "model-default", "set"),
    case(2, "VALIDATION_ERROR", "cluster-tenant", "create", "Not_A_Tenant"),
    case(2, "VALIDATION_ERROR", "--as-tenant", "ACME", "model", "add", "--name", "x", "--upstream", "openai/x"),
    # 3: not found
    case(3, "MODEL_DEFINITION_NOT_FOUND", "model", "update", "ghost", "--upstream", "openai/y"),
    case(3, "MODEL_DEFINITION_NOT_FOUND", "model", "remove", "ghost"),
    case(3, "PROVIDER_CREDENTIAL_NOT_FOUND", "credential", "remove", "ghost"),
    case(3, "PROVIDER_CREDENTIAL_NOT_FOUND", "credential", "update", "ghost", "--secret-ref", "x"),
    case(3, "MODEL_NOT_FOUND", "model-default", "set", "--model", "ghost"),
    case(3, "MODEL_NOT_FOUND", "skill-posture", "set", "summarise", "--pinned-model", "ghost"),
    case(3, "CLUSTER_TENANT_NOT_FOUND", "skill-posture", "set", "team/ghost/summarise", "--auto"),
    case(3, "CLUSTER_TENANT_NOT_FOUND", "cluster-tenant", "grant", "ghost", "--model", "my-fast-model"),
    case(3, "MODEL_ROUTING_DEFAULT_NOT_FOUND", "model-default", "remove", "acme"),
    case(3, "NOT_FOUND", "--context", "nowhere", "model", "add", "--name", "x", "--upstream", "openai/x"),
    # 4: conflict
    case(4, "CONFLICT", "model", "add", "--name", "my-fast-model", "--upstream", "openai/x"),
    case(4, "CONFLICT", "model", "update", "{cheap}", "--name", "my-fast-model"),
    case(4, "CONFLICT", "credential", "add", "--provider", "openai", "--secret-ref", "other"),
    case(4, "CONFLICT", "cluster-tenant", "create", "acme"),
    case(4, "MODEL_IN_USE", "model", "remove", "my-fast-model"),
    case(4, "CLUSTER_TENANT_IN_USE", "cluster-tenant", "remove", "acme"),
    # 5: forbidden — allowlist, tenant scope, raw keys, credential scope
    case(5, "MODEL_NOT_ALLOWED", "model-default", "set", "--cluster-tenant", "acme", "--model", "my-fast-model"),
    case(5, "MODEL_NOT_ALLOWED", "skill-posture", "set", "team/acme/summarise", "--pinned-model", "my-fast-model"),
    case(5, "MODEL_NOT_ALLOWED", "skill-posture", "set", "team/beta/summarise", "--pinned-model", "acme-model"),
    case(5, "MODEL_NOT_ALLOWED", "model-default", "set", "--model", "acme-model"),
    case(5, "FORBIDDEN_SCOPE", "--as-tenant", "acme", "model", "update", "{fast}", "--upstream", "openai/evil"),
    case(5, "FORBIDDEN_SCOPE", "--as-tenant", "acme", "model", "add", "--name", "g", "--upstream", "openai/g",
         "--scope", "global"),
    case(5, "FORBIDDEN_SCOPE", "model-default", "remove", "global", env={"OC_AS_TENANT": "acme"}),
    case(5, "FORBIDDEN_SCOPE", "cluster-tenant", "create", "gamma", env={"OC_AS_TENANT": "acme"}),
    case(5, "FORBIDDEN_SCOPE", "--as-tenant", "acme", "skill-posture", "set", "summarise", "--auto"),
    case(5, "RAW_KEY_REJECTED", "credential", "add", "--provider", "anthropic", "--secret-ref", RAW_KEY),
    case(5, "RAW_KEY_REJECTED", "credential", "add", "--provider", "anthropic", "--secret-ref", "x",
         "--api-key", RAW_KEY),
    case(5, "RAW_KEY_REJECTED", "credential", "update", "{cred}", "--secret-ref", RAW_KEY),
    case(5, "RAW_KEY_REJECTED", "credential", "update", "{cred}", "--key", RAW_KEY),
    case(5, "CREDENTIAL_SCOPE_MISMATCH", "model", "add", "--name", "x", "--upstream", "openai/x",
         "--cluster-tenant", "beta", "--credential", "{acme_cred}"),
    case(5, "CREDENTIAL_SCOPE_MISMATCH", "model", "update", "my-cheap-model", "--credential", "{acme_cred}"),
    # 6: unconfigured, only when asked for
    case(6, "UNCONFIGURED", "routing", "measurement", "run", "--skill-name", "summarise", "--candidate-model",
         "my-cheap-model", "--require-configured"),
    # 7: remote mode without a token
    case(7, "AUTH_REQUIRED", "--url", "http://127.0.0.1:9", "model", "add", "--name", "x", "--upstream", "o/x"),
    case(7, "AUTH_REQUIRED", "model", "remove", "my-fast-model", env={"OPENCRANE_URL": "http://127.0.0.1:9"}),
    # 2: a verb the control plane lacks, refused before any request
    case(2, "NOT_SUPPORTED", "--url", "http://127.0.0.1:9", "cluster-tenant", "grant", "acme", "--model", "m",
         env={"OPENCRANE_TOKEN": "test-token"}),
]


@pytest.mark.parametrize("c", REFUSED_WRITES, ids=lambda c: f"{c.exit}-{c.code}-{'_'.join(c.args[:3])}")
def test_a_refused_write_exits_with_its_code_says_one_line_and_changes_nothing(world, oc_env, run_oc, c):
    before = db_digest(oc_env)
    result = run_oc(*c.argv(world), env=dict(c.env))
    assert result.code == c.exit, result.err
    line = assert_one_error_line(result, c.code)
    assert result.out == "", "an error prints nothing on stdout"
    assert RAW_KEY not in line
    assert db_digest(oc_env) == before


def test_every_documented_exit_code_is_exercised():
    exercised = {c.exit for c in REFUSED_WRITES} | {0, 1}  # 0 everywhere, 1 below
    assert exercised == set(EXIT_CODES)


def test_upstream_failure_exits_1(world, oc_env, run_oc):
    before = db_digest(oc_env)
    result = run_oc("--url", f"http://127.0.0.1:{closed_port()}", "model", "list",
                    env={"OPENCRANE_TOKEN": "test-token"})
    assert result.code == 1
    line = assert_one_error_line(result)
    assert "test-token" not in line
    assert db_digest(oc_env) == before


def test_a_broken_audit_chain_exits_1(world, oc_env, run_oc):
    assert run_oc("audit", "verify").code == 0
    with sqlite3.connect(oc_env.db) as c:
        c.execute("UPDATE audit_log SET message = 'nothing to see' WHERE seq = 2")
    result = run_oc("audit", "verify")
    assert result.code == 1
    assert "[AUDIT_CHAIN_BROKEN]" in result.err
    assert "2" in result.out  # the problem table names the entry


def test_the_error_line_format_with_why_and_hint(world, run_oc):
    result = run_oc("model-default", "set", "--cluster-tenant", "acme", "--model", "my-fast-model")
    line = assert_one_error_line(result, "MODEL_NOT_ALLOWED")
    assert re.match(r"^error: --model: model 'my-fast-model' is not allowed for ClusterTenant 'acme' — .+ "
                    r"\[MODEL_NOT_ALLOWED\] \(hint: grant it with: oc cluster-tenant grant acme "
                    r"--model my-fast-model\)$", line)


def test_usage_errors_name_the_problem_and_point_to_help(run_oc):
    for args, needle in ((["model", "list", "--bogus"], "--bogus"),
                         (["model", "add", "--name", "x"], "--upstream"),
                         (["model", "list", "-o", "yaml"], "yaml")):
        result = run_oc(*args)
        assert result.code == 2
        line = assert_one_error_line(result, "USAGE")
        assert needle in line and "--help" in line


@pytest.mark.parametrize("args", [["model", "show", "ghost"], ["credential", "show", "ghost"],
                                  ["skill-posture", "show", "never-set"], ["cluster-tenant", "show", "ghost"],
                                  ["model-default", "show", "beta"], ["cluster-tenant", "models", "ghost"]])
def test_reads_of_missing_things_exit_3(world, run_oc, args):
    result = run_oc(*args)
    assert result.code == 3
    assert_one_error_line(result)
    assert result.out == ""


def test_a_tenant_does_not_see_another_tenants_things(world, run_oc):
    result = run_oc("--as-tenant", "beta", "model", "show", "acme-model")
    assert result.code == 3
    result = run_oc("--as-tenant", "beta", "model", "list", "-o", "json")
    assert result.code == 0
    assert "acme-model" not in {m["publicModelName"] for m in result.json()}


@pytest.mark.parametrize("args", [[], ["model"], ["cluster-tenant"]])
def test_a_bare_group_prints_its_help_not_a_garbled_error(run_oc, args):
    result = run_oc(*args)
    both = result.out + result.err
    assert re.search(r"^\s*Usage: oc", both, re.M), both
    for line in both.splitlines():
        if line.startswith("error:"):
            assert ERROR_LINE.match(line) and len(line) < 300, f"garbled error line: {line!r}"


# -- JSON on stdout, nothing else -----------------------------------------------------------------------


def test_json_output_is_only_json(world, run_oc):
    commands = [
        (0, ["init", "-o", "json"]),
        (0, ["credential", "list", "-o", "json"]),
        (0, ["credential", "add", "--provider", "anthropic", "--secret-ref", "anthropic-prod", "-o", "json"]),
        (0, ["model", "list", "-o", "json"]),
        (0, ["model", "show", "my-fast-model", "-o", "json"]),
        (0, ["model", "add", "--name", "new-model", "--upstream", "openai/new", "-o", "json"]),
        (0, ["skill-posture", "set", "brand-new-skill", "--auto", "-o", "json"]),  # notes go to stderr
        (0, ["skill-posture", "list", "-o", "json"]),
        (0, ["model-default", "list", "-o", "json"]),
        (0, ["cluster-tenant", "models", "acme", "-o", "json"]),
        (0, ["cluster-tenant", "grant", "acme", "--model", "my-cheap-model", "-o", "json"]),  # "already granted"
        (0, ["resolve", "summarise", "-o", "json"]),  # unregistered skill: a note on stderr
        (5, ["resolve", "team/beta/summarise", "--explain", "-o", "json"]),  # blocked: JSON, then the error
        (0, ["audit", "list", "--limit", "3", "-o", "json"]),
        (0, ["audit", "verify", "-o", "json"]),
        (0, ["model", "remove", "new-model", "-o", "json"]),
    ]
    for code, args in commands:
        result = run_oc(*args)
        assert result.code == code, (args, result.err)
        try:
            data = result.json()
        except json.JSONDecodeError as exc:
            pytest.fail(f"oc {' '.join(args)}: stdout is not pure JSON ({exc}): {result.out!r}")
        assert data is not None
        assert ANSI not in result.out
    notes = run_oc("skill-posture", "set", "another-skill", "--auto", "-o", "json")
    assert "registered skill another-skill" in notes.err and "registered" not in notes.out


def test_json_field_names_are_camel_case(world, run_oc):
    for args in (["model", "list", "-o", "json"], ["credential", "list", "-o", "json"],
                 ["model-default", "list", "-o", "json"], ["skill-posture", "list", "-o", "json"]):
        for row in run_oc(*args).json():
            for key in row:
                assert re.fullmatch(r"[a-z][A-Za-z0-9]*", key), (args, key)


# -- no ANSI escapes when piped or with NO_COLOR -------------------------------------------------------------

DISPLAY_COMMANDS = [
    ["model", "list"],  # a table
    ["model", "show", "my-fast-model"],  # one object
    ["resolve", "team/beta/summarise", "--explain"],  # blocked: data, a rung table and an error
    ["audit", "verify"],  # a success message
    ["model", "show", "ghost"],  # an error
    ["model", "--help"],
]


def run_oc_tty(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``oc`` with stdout and stderr on a pseudo-terminal; returns (exit code, everything printed)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "oc_cli", *args], stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, env=subprocess_env({"TERM": "xterm-256color", "COLUMNS": "160", **env}))
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def test_piped_output_has_no_ansi_escapes(world, run_oc):
    for args in DISPLAY_COMMANDS:
        result = run_oc(*args)
        assert result.out.strip() or result.err.strip(), args
        assert ANSI not in result.out, (args, result.out)
        assert ANSI not in result.err, (args, result.err)


@pytest.mark.parametrize("how", ["NO_COLOR", "--no-color"])
def test_no_color_on_a_terminal_has_no_ansi_escapes(world, how):
    offenders = {}
    for args in DISPLAY_COMMANDS:
        argv = ["--no-color", *args] if how == "--no-color" else args
        _, text = run_oc_tty(argv, {"NO_COLOR": "1"} if how == "NO_COLOR" else {})
        assert text.strip(), args
        if ANSI in text:
            offenders[" ".join(args)] = text[text.index(ANSI):][:40]
    assert offenders == {}, f"ANSI escapes with {how} on a terminal"


def test_a_terminal_does_get_colour_without_no_color(world):
    # the check above would pass vacuously if colour never appeared at all
    code, text = run_oc_tty(["model", "show", "ghost"], {})
    assert code == 3 and ANSI in text
