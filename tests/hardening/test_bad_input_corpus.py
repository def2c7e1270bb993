"""Bad input changes nothing (SPEC §7, §9): a corpus of refused commands through the real CLI.

Every entry runs ``python -m oc_cli`` in a subprocess against a seeded database and must:

* exit with its documented code (2 usage/validation, 3 not found, 4 conflict, 5 forbidden);
* print exactly one line on stderr, ``error: … [CODE]``, with no control or invisible character
  in it (an echoed name must not move the cursor, ring the bell or flip the text direction) and
  no raw key of the input in it;
* print nothing on stdout;
* leave the database file byte-identical (its sha256, and the WAL's, after the process exited;
  the "before" digest is taken after a read command, so the WAL is checkpointed).

``tests/cli/test_errors_and_exit_codes.py`` holds the first corpus (one refusal per error code
and command group); this one adds the hostile inputs: malformed and deeply nested JSON, wrong
types, out-of-range numbers, unknown ids and models, disallowed models, control and bidi
characters, a 1 MB input, SQL-looking strings, raw-key-looking secret references, unknown flags,
bad ``-o`` values and broken config files.

Two inputs cannot travel in ``argv``: a NUL byte (``execve`` refuses it) and 1 MB (Linux caps one
argument at 128 KiB). Both go through ``eval-case import`` files instead, and ``--input`` gets the
largest value an argument can carry.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import string
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from oc_cli.domain.skillkey import parse
from oc_cli.local.backend import LocalControlPlane
from tests.conftest import OcEnv
from tests.support import fake_keys

ERROR_LINE = re.compile(r"^error: \S.*? \[[A-Z][A-Z_0-9]*\]( \(hint: .+\))?$")
GATEWAY = {"LITELLM_ENDPOINT": "http://127.0.0.1:9", "LITELLM_MASTER_KEY": "unused", "ROUTING_JUDGE_MODEL": "judge"}
MEASURE = ("routing", "measurement", "run", "--skill", "summarise", "--candidate-model", "cheap")
UNCLOSED = '{"objective":"balanced","sessionPin":true,"explorationRate":0'  # an autoConfig, unclosed


def auto(**fields: Any) -> str:
    """An otherwise valid autoConfig with ``fields`` changed."""
    return json.dumps({"objective": "balanced", "sessionPin": True, "explorationRate": 0, **fields})


def random_key(seed: int, length: int = 40) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(length))


RAW_KEYS = {
    "sk-live": fake_keys.openai(11),
    "sk-ant": fake_keys.anthropic(12),
    "AKIA": fake_keys.aws_access_key_id(13),
    "AWS secret": fake_keys.aws_secret(14),
    "JWT": fake_keys.jwt(15),
    "40 random": random_key(40),
    "github": fake_keys.github(16),
    "slack": fake_keys.slack(17),
    "bearer": "Bearer q8Zr4T9qLx2Vb7Nc1Mw8",
    "pem": "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    "google": fake_keys.google(18),
    "hex64": fake_keys.hex_digest(19),
}

#: Files an entry can name as ``{file:NAME}``; each is written once per module.
FILES: dict[str, bytes] = {
    "truncated.jsonl": b'{"skillName": "summarise", "input": "x"\n',
    "array.jsonl": b'["summarise", "x"]\n',
    "unknown-field.jsonl": ('{"skillName": "summarise", "input": "x", "apiKey": "%s"}\n' % fake_keys.openai(20)).encode(),
    "not-utf8.jsonl": b'{"skillName": "summarise", "input": "caf\xe9 \xff\xfe"}\n',
    "deeply-nested.jsonl": b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "empty.jsonl": b"\n\n",
    "one-bad-of-three.jsonl": (b'{"skillName": "summarise", "input": "a"}\n{"skillName": "summarise", "input": "b",'
                               b' "qualityBar": 1.5}\n{"skillName": "summarise", "input": "c"}\n'),
    "bar-as-text.jsonl": b'{"skillName": "summarise", "input": "x", "qualityBar": "0.8"}\n',
    "name-as-number.jsonl": b'{"skillName": 42, "input": "x"}\n',
    "nul-in-name.jsonl": b'{"skillName": "sum\\u0000marise", "input": "x"}\n',
    "one-megabyte.jsonl": json.dumps({"skillName": "summarise", "input": "x" * 1_000_000}).encode() + b"\n",
    "beta-case.jsonl": b'{"skillName": "triage", "skillScope": "team", "skillTeam": "beta", "input": "x"}\n',
    "bad.toml": b"this is [not toml\n",
    "contexts-not-a-table.toml": b'contexts = "prod"\n',
}


@dataclass(frozen=True)
class Bad:
    exit: int
    code: str
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    stdin: str | None = None


def bad(exit_code: int, code: str, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Bad:
    return Bad(exit_code, code, tuple(args), env or {}, stdin)


CORPUS: dict[str, Bad] = {
    # -- malformed JSON where JSON is required ---------------------------------------------------
    "auto-config unclosed": bad(2, "VALIDATION_ERROR", "skill-posture", "set", "summarise", "--auto", "--auto-config", UNCLOSED),
    "auto-config single quotes": bad(2, "VALIDATION_ERROR", "skill-posture", "set", "summarise", "--auto",
                                     "--auto-config", "{'objective': 'balanced'}"),
    "default auto-config unclosed": bad(2, "VALIDATION_ERROR", "model-default", "set", "--auto-config", UNCLOSED),
    "default auto-config empty": bad(2, "VALIDATION_ERROR", "model-default", "set", "--model", "fast",
                                     "--auto-config", ""),
    "auto-config an array": bad(2, "VALIDATION_ERROR", "skill-posture", "set", "summarise", "--auto",
                                "--auto-config", "[1, 2]"),
    "auto-config null": bad(2, "VALIDATION_ERROR", "skill-posture", "set", "summarise", "--auto", "--auto-config", "null"),
    "auto-config a string": bad(2, "VALIDATION_ERROR", "model-default", "set", "--auto-config", '"balanced"'),
    "auto-config nested 50k deep": bad(2, "VALIDATION_ERROR", "skill-posture", "set", "summarise", "--auto",
                                       "--auto-config", "[" * 50_000 + "]" * 50_000),
    "import truncated line": bad(2, "VALIDATION_ERROR", "routing", "eval-case", "import", "{file:truncated.jsonl}"),
    "import array line": bad(2, "VALIDATION_ERROR", "routing", "eval-case", "import", "{file:array.jsonl}"),
    "import unknown field": bad(2, "VALIDATION_ERROR", "routing", "eval-case", "import", "{file:unknown-field.jsonl}"),
    "import not UTF-8": bad(2, "VALIDATION_ERROR", "routing", "eval-case", "import", "{file:not-utf8.jsonl}"),
    "import nested 100k deep": bad(2, "VALIDATION_ERROR", "routing", "eval-case", "import",
                                   "{file:deeply-nested.jsonl}"),
    "import no cases": bad(2, "VALIDATION_ERROR", "routing", "eval-case", "import", "{file:empty.jsonl}"),
    "import one bad line of three": bad(2, "VALIDATION_ERROR", "routing", "eval-case", "import",
                                        "{file:one-bad-of-three.jsonl}"),
    "import missing file": bad(2, "VALIDATION_ERROR", "routing", "eval-case", "import", "/nonexistent/cases.jsonl"),
    "import stdin garbage": bad(2, "VALIDATION_ERROR", "routing", "eval-case", "import", "-", stdin="{]\n"),
    # -- wrong types -----------------------------------------------------------------------------
    "quality bar a word": bad(2, "USAGE", "routing", "eval-case", "add", "--skill", "summarise", "--input", "x",
                              "--quality-bar", "high"),
    "concurrency a word": bad(2, "USAGE", *MEASURE, "--concurrency", "two"),
    "limit a word": bad(2, "USAGE", "audit", "list", "--limit", "many"),
    "price negative": bad(2, "VALIDATION_ERROR", "model", "add", "--name", "x", "--upstream", "openai/x",
                          "--input-cost-per-mtok", "-1"),
    "price nan": bad(2, "VALIDATION_ERROR", "model", "add", "--name", "x", "--upstream", "openai/x",
                     "--input-cost-per-mtok", "nan"),
    "price inf": bad(2, "VALIDATION_ERROR", "model", "update", "cheap", "--output-cost-per-mtok", "inf"),
    "sessionPin a string": bad(2, "VALIDATION_ERROR", "skill-posture", "set", "summarise", "--auto", "--auto-config",
                               auto(sessionPin="yes")),
    "explorationRate a string": bad(2, "VALIDATION_ERROR", "model-default", "set", "--auto-config",
                                    auto(explorationRate="0.1")),
    "allowedModels a string": bad(2, "VALIDATION_ERROR", "skill-posture", "set", "summarise", "--auto",
                                  "--auto-config", auto(allowedModels="fast")),
    "objective a number": bad(2, "VALIDATION_ERROR", "skill-posture", "set", "summarise", "--auto", "--auto-config",
                              auto(objective=42)),
    "import quality bar as text": bad(2, "VALIDATION_ERROR", "routing", "eval-case", "import",
                                      "{file:bar-as-text.jsonl}"),
    "import skill name a number": bad(2, "VALIDATION_ERROR", "routing", "eval-case", "import",
                                      "{file:name-as-number.jsonl}"),
    # -- out-of-range numbers --------------------------------------------------------------------
    "quality bar 1.5": bad(2, "VALIDATION_ERROR", "routing", "eval-case", "add", "--skill", "summarise", "--input", "x",
                           "--quality-bar", "1.5"),
    "quality bar -0.1": bad(2, "VALIDATION_ERROR", "routing", "eval-case", "add", "--skill", "summarise",
                            "--input", "x", "--quality-bar", "-0.1"),
    "update quality bar 2": bad(2, "VALIDATION_ERROR", "routing", "eval-case", "update", "{case}", "--quality-bar", "2"),
    "explorationRate -1": bad(2, "VALIDATION_ERROR", "skill-posture", "set", "summarise", "--auto", "--auto-config",
                              auto(explorationRate=-1)),
    "costQualitySlider 11": bad(2, "VALIDATION_ERROR", "skill-posture", "set", "summarise", "--auto", "--auto-config",
                                auto(costQualitySlider=11)),
    "maxBudgetUsd 0": bad(2, "VALIDATION_ERROR", "model-default", "set", "--auto-config", auto(maxBudgetUsd=0)),
    "latencyCeilingMs -5": bad(2, "VALIDATION_ERROR", "model-default", "set", "--cluster-tenant", "acme",
                               "--auto-config", auto(latencyCeilingMs=-5)),
    "qualityFloor 1.01": bad(2, "VALIDATION_ERROR", "skill-posture", "set", "summarise", "--auto", "--auto-config",
                             auto(qualityFloor=1.01)),
    "concurrency 0": bad(2, "USAGE", *MEASURE, "--concurrency", "0"),
    "concurrency 257": bad(2, "USAGE", *MEASURE, "--concurrency", "257"),
    "min-cases 0": bad(2, "USAGE", *MEASURE, "--min-cases", "0"),
    "quality-margin 1.5": bad(2, "USAGE", *MEASURE, "--quality-margin", "1.5"),
    "resamples 10": bad(2, "USAGE", *MEASURE, "--resamples", "10"),
    "timeout 0.5": bad(2, "USAGE", *MEASURE, "--timeout", "0.5"),
    "audit limit 0": bad(2, "USAGE", "audit", "list", "--limit", "0"),
    "audit limit 1001": bad(2, "USAGE", "audit", "list", "--limit", "1001"),
    # -- unknown ids -----------------------------------------------------------------------------
    "approve unknown proposal": bad(3, "NOT_FOUND", "routing", "proposal", "approve", "cghost00000000000000000000"),
    "reject unknown proposal": bad(3, "NOT_FOUND", "routing", "proposal", "reject", "cghost00000000000000000000"),
    "show unknown measurement": bad(3, "NOT_FOUND", "routing", "measurement", "show", "cghost00000000000000000000"),
    "resume unknown measurement": bad(3, "NOT_FOUND", "routing", "measurement", "run", "--resume",
                                      "cghost00000000000000000000", env=GATEWAY),
    "update unknown eval case": bad(3, "NOT_FOUND", "routing", "eval-case", "update", "cghost00000000000000000000",
                                    "--quality-bar", "0.5"),
    "remove unknown eval case": bad(3, "NOT_FOUND", "routing", "eval-case", "remove", "cghost00000000000000000000"),
    "revoke from unknown tenant": bad(3, "CLUSTER_TENANT_NOT_FOUND", "cluster-tenant", "revoke", "ghost",
                                      "--model", "cheap"),
    "remove unknown tenant": bad(3, "CLUSTER_TENANT_NOT_FOUND", "cluster-tenant", "remove", "ghost"),
    # -- unknown models --------------------------------------------------------------------------
    "allowedModels unknown": bad(3, "MODEL_NOT_FOUND", "skill-posture", "set", "summarise", "--auto", "--auto-config",
                                 auto(allowedModels=["ghost"])),
    "fallbacks unknown": bad(3, "MODEL_NOT_FOUND", "model-default", "set", "--auto-config", auto(fallbacks=["ghost"])),
    "tenant default unknown": bad(3, "MODEL_NOT_FOUND", "model-default", "set", "--cluster-tenant", "acme",
                                  "--model", "ghost"),
    "candidate unknown": bad(3, "MODEL_NOT_FOUND", "routing", "measurement", "run", "--skill", "summarise",
                             "--candidate-model", "ghost", env=GATEWAY),
    "grant unknown model": bad(3, "MODEL_NOT_FOUND", "cluster-tenant", "grant", "acme", "--model", "ghost"),
    # -- disallowed models -----------------------------------------------------------------------
    "tenant default of another tenant": bad(5, "MODEL_NOT_ALLOWED", "model-default", "set", "--cluster-tenant",
                                            "acme", "--model", "beta-ft"),
    "allowedModels not granted": bad(5, "MODEL_NOT_ALLOWED", "skill-posture", "set", "team/acme/summarise", "--auto",
                                     "--auto-config", auto(allowedModels=["fast"])),
    "candidate not granted": bad(5, "MODEL_NOT_ALLOWED", "routing", "measurement", "run", "--skill",
                                 "team/acme/triage", "--candidate-model", "fast", "--current-model", "acme-ft",
                                 env=GATEWAY),
    "org skill pinned to a tenant model": bad(5, "MODEL_NOT_ALLOWED", "skill-posture", "set", "summarise",
                                              "--pinned-model", "acme-ft"),
    "tenant pins another tenant's model": bad(5, "MODEL_NOT_ALLOWED", "--as-tenant", "acme", "skill-posture", "set",
                                              "team/acme/summarise", "--pinned-model", "beta-ft"),
    "grant a tenant-owned model": bad(2, "VALIDATION_ERROR", "cluster-tenant", "grant", "acme", "--model", "beta-ft"),
    # -- control, invisible and look-alike characters in names ---------------------------------
    "newline in a model name": bad(2, "VALIDATION_ERROR", "model", "add", "--name", "a\nb", "--upstream", "openai/x"),
    "escape sequence in a model name": bad(2, "VALIDATION_ERROR", "model", "add", "--name", "a\x1b[2Jb",
                                           "--upstream", "openai/x"),
    "RTL override in a model name": bad(2, "VALIDATION_ERROR", "model", "add", "--name", "gpt\u202e4o",
                                        "--upstream", "openai/x"),
    "zero-width space in a model name": bad(2, "VALIDATION_ERROR", "model", "add", "--name", "zero\u200bwidth",
                                            "--upstream", "openai/x"),
    "emoji model name": bad(2, "VALIDATION_ERROR", "model", "add", "--name", "\U0001f642", "--upstream", "openai/x"),
    "Cyrillic look-alike tenant": bad(2, "VALIDATION_ERROR", "cluster-tenant", "create", "\u0430cme"),
    "newline in a skill key": bad(2, "VALIDATION_ERROR", "skill-posture", "set", "sum\nmarise", "--auto"),
    "tab in a skill name": bad(2, "VALIDATION_ERROR", "routing", "eval-case", "add", "--skill-name", "tab\tbed",
                               "--input", "x"),
    "NUL in an imported skill name": bad(2, "VALIDATION_ERROR", "routing", "eval-case", "import",
                                         "{file:nul-in-name.jsonl}"),
    "NUL in allowedModels": bad(2, "VALIDATION_ERROR", "skill-posture", "set", "summarise", "--auto",
                                "--auto-config", auto(allowedModels=["fa\u0000st"])),
    "escape sequence in allowedModels": bad(2, "VALIDATION_ERROR", "model-default", "set", "--auto-config",
                                            auto(fallbacks=["\x1b[31mred"])),
    "escape sequence in a looked-up name": bad(3, "MODEL_DEFINITION_NOT_FOUND", "model", "remove", "\x1b[31mred"),
    "bell in a proposal id": bad(3, "NOT_FOUND", "routing", "proposal", "approve", "cghost\x07"),
    "RTL override in --as-tenant": bad(2, "VALIDATION_ERROR", "--as-tenant", "ac\u202eme", "model", "add",
                                       "--name", "x", "--upstream", "openai/x"),
    "newline in OC_AS_TENANT": bad(2, "VALIDATION_ERROR", "model", "add", "--name", "x", "--upstream", "openai/x",
                                   env={"OC_AS_TENANT": "ac\nme"}),
    "no-break space in a secret ref": bad(2, "VALIDATION_ERROR", "credential", "add", "--provider", "anthropic",
                                          "--secret-ref", "anthropic\u00a0prod"),
    # -- size ----------------------------------------------------------------------------------
    "1 MB imported input": bad(2, "VALIDATION_ERROR", "routing", "eval-case", "import", "{file:one-megabyte.jsonl}"),
    "120 KB --input": bad(2, "VALIDATION_ERROR", "routing", "eval-case", "add", "--skill", "summarise",
                          "--input", "y" * 120_000),
    # -- SQL-looking strings -----------------------------------------------------------------------
    "SQL in a model name": bad(2, "VALIDATION_ERROR", "model", "add", "--name", "x'; DROP TABLE models;--",
                               "--upstream", "openai/x"),
    "SQL in a model lookup": bad(3, "MODEL_DEFINITION_NOT_FOUND", "model", "update", "x' OR '1'='1",
                                 "--upstream", "openai/y"),
    "LIKE wildcard as a model": bad(3, "MODEL_DEFINITION_NOT_FOUND", "model", "remove", "%"),
    "SQL in a secret ref": bad(2, "VALIDATION_ERROR", "credential", "add", "--provider", "openai",
                               "--secret-ref", "x';DROP TABLE c;--", "--cluster-tenant", "beta"),
    "SQL in a tenant name": bad(2, "VALIDATION_ERROR", "cluster-tenant", "create", "acme'--"),
    "SQL as an eval case id": bad(3, "NOT_FOUND", "routing", "eval-case", "remove", "1 OR 1=1"),
    "SQL as a default": bad(3, "MODEL_ROUTING_DEFAULT_NOT_FOUND", "model-default", "remove", "' OR 1=1 --"),
    "SQL in a skill team": bad(2, "VALIDATION_ERROR", "skill-posture", "set", "team/acme'; DROP TABLE skills;--/x",
                               "--auto"),
    # -- raw keys where a secret reference belongs -------------------------------------------------
    **{f"raw key: {name}": bad(5, "RAW_KEY_REJECTED", "credential", "add", "--provider", "anthropic",
                               "--secret-ref", key) for name, key in RAW_KEYS.items()},
    "raw key on update": bad(5, "RAW_KEY_REJECTED", "credential", "update", "{cred}", "--secret-ref", RAW_KEYS["AKIA"]),
    "raw key as LiteLLM credential name": bad(5, "RAW_KEY_REJECTED", "credential", "add", "--provider", "anthropic",
                                              "--secret-ref", "anthropic-prod", "--litellm-credential-name",
                                              RAW_KEYS["sk-live"]),
    "raw key by a tenant": bad(5, "RAW_KEY_REJECTED", "--as-tenant", "acme", "credential", "add", "--provider",
                               "anthropic", "--secret-ref", RAW_KEYS["sk-ant"]),
    # -- unknown flags and bad -o --------------------------------------------------------------------
    "unknown flag on run": bad(2, "USAGE", *MEASURE, "--dry-run"),
    "unknown flag on verify": bad(2, "USAGE", "audit", "verify", "--fix"),
    "misspelt --auto-config": bad(2, "USAGE", "skill-posture", "set", "summarise", "--auto", "--auto-confg", "{}"),
    "unknown short flag": bad(2, "USAGE", "credential", "add", "--provider", "anthropic", "--secret-ref", "x", "-k"),
    "-o csv on a write": bad(2, "USAGE", "credential", "add", "--provider", "anthropic", "--secret-ref", "x", "-o", "csv"),
    "-o empty on a write": bad(2, "USAGE", "routing", "eval-case", "add", "--skill", "summarise", "--input", "x",
                               "-o", ""),
    "--output=JSON on a write": bad(2, "USAGE", "skill-posture", "set", "summarise", "--auto", "--output=JSON"),
    # -- the environment and the config file -------------------------------------------------------
    "config file not TOML": bad(2, "VALIDATION_ERROR", "model", "add", "--name", "x", "--upstream", "openai/x",
                                env={"OC_CONFIG": "{file:bad.toml}"}),
    "config contexts not a table": bad(2, "VALIDATION_ERROR", "model-default", "set", "--model", "cheap",
                                       env={"OC_CONFIG": "{file:contexts-not-a-table.toml}"}),
    "OPENCRANE_URL not http": bad(2, "VALIDATION_ERROR", "model", "add", "--name", "x", "--upstream", "openai/x",
                                  env={"OPENCRANE_URL": "ftp://cp.example.com"}),
    # -- conflicts ------------------------------------------------------------------------------------
    "second credential of a tenant's provider": bad(4, "CONFLICT", "credential", "add", "--provider", "openai",
                                                    "--secret-ref", "other", "--cluster-tenant", "acme"),
    "tenant model name taken": bad(4, "CONFLICT", "model", "add", "--name", "acme-ft", "--upstream", "openai/y",
                                   "--cluster-tenant", "acme"),
    # -- a tenant writing what another owns ----------------------------------------------------------
    "tenant imports another tenant's case": bad(5, "FORBIDDEN_SCOPE", "--as-tenant", "acme", "routing", "eval-case",
                                                "import", "{file:beta-case.jsonl}"),
}


@dataclass(frozen=True)
class World:
    cred: str
    case: str


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    """Tenants acme and beta, a global and an acme credential, global models fast, cheap and judge,
    acme-ft and beta-ft owned by their tenants, cheap granted to acme, fast the global default,
    postures and eval cases of an org skill and of acme's team skills."""
    db = tmp_path_factory.mktemp("corpus-template") / "oc.db"
    op = LocalControlPlane(db, actor="tester")
    try:
        for tenant in ("acme", "beta"):
            op.create_cluster_tenant(tenant)
        cred = op.create_credential({"provider": "openai", "secretRef": "openai-prod"})["id"]
        op.create_credential({"provider": "openai", "secretRef": "acme-openai", "clusterTenant": "acme"})
        op.create_model({"publicModelName": "fast", "upstreamModel": "openai/gpt-4o", "providerCredentialId": cred})
        op.create_model({"publicModelName": "cheap", "upstreamModel": "openai/gpt-4o-mini"})
        op.create_model({"publicModelName": "judge", "upstreamModel": "gemini/gemini-1.5-pro"})
        op.create_model({"publicModelName": "acme-ft", "upstreamModel": "anthropic/ft", "clusterTenant": "acme"})
        op.create_model({"publicModelName": "beta-ft", "upstreamModel": "anthropic/ft", "clusterTenant": "beta"})
        op.grant_models("acme", ["cheap"])
        op.set_default(cluster_tenant=None, default_model="fast", auto_config=None, fields={"defaultModel"})
        op.set_posture(parse("summarise"), mode="auto")
        op.set_posture(parse("team/acme/summarise"), mode="pinned", pinned_model="acme-ft")
        case = op.create_eval_case({"skillName": "summarise", "skillScope": "org", "input": "Summarise: all good."})["id"]
        op.create_eval_case({"skillName": "triage", "skillScope": "team", "skillTeam": "acme", "input": "Triage: x."})
    finally:
        op.close()
    return db, World(cred=cred, case=case)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("corpus-files")
    for name, content in FILES.items():
        (directory / name).write_bytes(content)
    return {f"{{file:{name}}}": str(directory / name) for name in FILES}


def digest(db: Path) -> str:
    """sha256 over the database file and its WAL (if one is left behind)."""
    h = hashlib.sha256()
    for suffix in ("", "-wal"):
        path = Path(f"{db}{suffix}")
        h.update(suffix.encode() + (path.read_bytes() if path.exists() else b"<absent>"))
    return h.hexdigest()


def invisible(text: str) -> list[str]:
    """Characters of ``text`` that a terminal would not show as themselves (controls, bidi, zero-width)."""
    return [f"U+{ord(ch):04X}" for ch in text if ch != " " and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Zs")]


def test_the_corpus_is_large_and_covers_every_refusal_code():
    assert len(CORPUS) >= 50
    assert {c.exit for c in CORPUS.values()} == {2, 3, 4, 5}


@pytest.mark.parametrize("entry", CORPUS.values(), ids=CORPUS.keys())
def test_bad_input_is_refused_in_one_line_and_changes_nothing(entry: Bad, template, files, oc_env: OcEnv, run_oc):
    db, world = template
    shutil.copy(db, oc_env.db)
    fill = {**files, "{cred}": world.cred, "{case}": world.case}
    args = [fill.get(a, a) for a in entry.args]
    env = {k: fill.get(v, v) for k, v in entry.env.items()}
    assert run_oc("model", "list", "-o", "json").code == 0  # open, read and close: the WAL is checkpointed
    before = digest(oc_env.db)

    result = run_oc(*args, env=env, input=entry.stdin)

    assert result.code == entry.exit, f"exit {result.code}, expected {entry.exit}: {result.err}"
    assert result.out == "", "an error prints nothing on stdout"
    lines = result.err.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got {result.err!r}"
    line = lines[0]
    assert ERROR_LINE.match(line), line
    assert f"[{entry.code}]" in line, line
    assert invisible(line) == [], f"unprintable characters on stderr: {invisible(line)} in {line!r}"
    for key in RAW_KEYS.values():
        assert key not in line, "a raw key was printed"
    assert digest(oc_env.db) == before, "the database changed"
