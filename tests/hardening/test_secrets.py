"""No raw key on disk or in output (SPEC §4.6, §8, §9).

One session walks every path a secret takes through ``oc``, each command a real subprocess:

* credentials added by reference (a Secret name, an environment variable name), and raw keys
  refused wherever one could be slipped in (``--secret-ref``, ``--api-key``, ``--key``,
  ``--litellm-credential-name``, ``credential update``);
* ``auth login --token-stdin`` with a known token against the loopback control plane, then
  commands that use it and the commands that describe it (``auth status``, ``auth token``);
* a measurement whose gateway key comes from ``LITELLM_MASTER_KEY``, and one whose key comes from
  ``config set-context --gateway-key-stdin`` (a file-backed test keyring), against gateways that
  refuse any other key, so the key provably travelled;
* ``oc doctor`` with both keys configured; ``config view`` and ``get-contexts``.

Then every file the session left under its home (database, WAL, shared memory, config file,
anything else: logs, caches), except the keyring itself, and everything printed on stdout and
stderr is searched for the token, the keys, and anything shaped like ``sk-…``. The keyring must
hold the token and the context's key (the place they are meant to be). Separately, a config
file a person filled with secrets by hand is shown redacted by ``config view``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import UNSET_VARS, OcResult, subprocess_env
from tests.support.cp_server import ControlPlaneServer
from tests.support.fake_gateway import FakeGateway, Reply
from tests.support import fake_keys

TOKEN = "ocp_1f0a9d8c7b6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a"
ENV_GATEWAY_KEY = "sk-litellm-master-Zr4T9qLx2Vb7Nc1Mw8Ks"
CONTEXT_GATEWAY_KEY = "sk-litellm-context-Hf0Gp5Ya3Jd6Mw8Ks1Nc"
RAW_KEY = fake_keys.openai(22)
SECRETS = (TOKEN, ENV_GATEWAY_KEY, CONTEXT_GATEWAY_KEY, RAW_KEY)
KEY_SHAPED = re.compile(rb"sk-[A-Za-z0-9_-]{6,}|ocp_[0-9a-f]{16,}")
FILE_KEYRING = "tests.cli.test_remote_cli.FileKeyring"  # keeps entries in $OC_TEST_KEYRING_FILE


class Session:
    """``oc`` processes sharing one home, database, config file and keyring file; keeps every output."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.keyring = home / "keyring.json"
        self.outputs: list[str] = []
        self.env = subprocess_env({name: None for name in UNSET_VARS})
        self.env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local"),
                        XDG_CACHE_HOME=str(home / ".cache"), XDG_STATE_HOME=str(home / ".state"),
                        OC_DB=str(home / "oc.db"), OC_CONFIG=str(home / "config.toml"), CI="1",
                        PYTHON_KEYRING_BACKEND=FILE_KEYRING, OC_TEST_KEYRING_FILE=str(self.keyring))

    def __call__(self, *args: str, stdin: str | None = None, expect: int | None = 0, **env: str) -> OcResult:
        done = subprocess.run([sys.executable, "-m", "oc_cli", *args], env={**self.env, **env}, input=stdin or "",
                              capture_output=True, text=True, timeout=120)
        self.outputs.append(done.stdout + done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        if expect is not None:
            assert done.returncode == expect, f"oc {' '.join(args)}: exit {done.returncode}\n{done.stderr}"
        return OcResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def gateways() -> Iterator[tuple[FakeGateway, FakeGateway]]:
    """One gateway accepting only the environment's key, one only the context's key."""
    with FakeGateway(api_key=ENV_GATEWAY_KEY) as by_env, FakeGateway(api_key=CONTEXT_GATEWAY_KEY) as by_context:
        for gw in (by_env, by_context):
            gw.add_model("base", prices=(10.0, 30.0))
            gw.add_model("cand", prices=(1.0, 3.0))
            gw.add_model("judge", Reply.ok('{"score": 0.9}'), prices=(2.0, 6.0))
        yield by_env, by_context


def files_under(root: Path, *, skip: Path) -> list[Path]:
    return [p for p in sorted(root.rglob("*")) if p.is_file() and p != skip]


def test_no_secret_reaches_disk_or_output(tmp_path: Path, gateways: tuple[FakeGateway, FakeGateway]):
    by_env, by_context = gateways
    oc = Session(tmp_path)

    # -- credentials: references accepted, raw keys refused wherever they are offered -----------
    cred = json.loads(oc("credential", "add", "--provider", "openai", "--secret-ref", "openai-prod", "-o", "json").out)
    oc("credential", "add", "--provider", "anthropic", "--secret-ref", "ANTHROPIC_API_KEY")
    for args in (("credential", "add", "--provider", "mistral", "--secret-ref", RAW_KEY),
                 ("credential", "add", "--provider", "mistral", "--secret-ref", "mistral-prod", "--api-key", RAW_KEY),
                 ("credential", "add", "--provider", "mistral", "--secret-ref", "mistral-prod", "--key", RAW_KEY),
                 ("credential", "add", "--provider", "mistral", "--secret-ref", "mistral-prod",
                  "--litellm-credential-name", RAW_KEY),
                 ("credential", "update", cred["id"], "--secret-ref", RAW_KEY)):
        refused = oc(*args, expect=5)
        assert "[RAW_KEY_REJECTED]" in refused.err
    assert [c["secretRef"] for c in json.loads(oc("credential", "list", "-o", "json").out)] == \
        ["openai-prod", "ANTHROPIC_API_KEY"]

    # -- a measurement with the gateway key from the environment ----------------------------------
    for name, upstream in (("base", "openai/gpt-4o"), ("cand", "anthropic/claude-3-haiku"),
                           ("judge", "gemini/gemini-1.5-pro")):
        oc("model", "add", "--name", name, "--upstream", upstream)
    oc("model-default", "set", "--model", "base")
    oc("routing", "eval-case", "import", "-", stdin="".join(
        json.dumps({"skillName": "summarise", "skillScope": "org", "input": f"Summarise ticket {i}: printer jam."})
        + "\n" for i in range(3)))
    seams = {"LITELLM_ENDPOINT": by_env.url, "LITELLM_MASTER_KEY": ENV_GATEWAY_KEY, "ROUTING_JUDGE_MODEL": "judge"}
    run = json.loads(oc("routing", "measurement", "run", "--skill", "summarise", "--candidate-model", "cand",
                        "--min-cases", "3", "-o", "json", **seams).out)
    assert run["measurement"]["casesCompleted"] == 3  # the gateway accepts only that key
    oc("routing", "measurement", "show", run["measurement"]["id"], "--samples", **seams)
    oc("doctor", expect=None, **seams)

    # -- the gateway key from a context, held by the keyring --------------------------------------
    oc("config", "set-context", "gw", "--gateway-url", by_context.url, "--judge-model", "judge", "--gateway-key-stdin",
       stdin=CONTEXT_GATEWAY_KEY + "\n")
    by_context_run = json.loads(oc("--context", "gw", "routing", "measurement", "run", "--skill", "summarise",
                                   "--candidate-model", "cand", "--min-cases", "3", "-o", "json").out)
    assert by_context_run["measurement"]["casesCompleted"] == 3
    assert by_context.calls("cand") == 3
    oc("--context", "gw", "doctor", expect=None)

    # -- a control-plane token from stdin, used and described, never shown ------------------------
    with ControlPlaneServer(api_token=TOKEN) as server:
        oc("--url", server.url, "auth", "login", "--token-stdin", stdin=TOKEN + "\n")
        assert json.loads(oc("--url", server.url, "model", "list", "-o", "json").out) == []
        status = json.loads(oc("--url", server.url, "auth", "status", "-o", "json").out)
        assert (status["authenticated"], status["tokenSource"]) == (True, "keyring")
        assert status["tokenFingerprint"].startswith("sha256:")
        oc("--url", server.url, "auth", "status")
        oc("--url", server.url, "auth", "token")
        oc("--url", server.url, "auth", "token", "-o", "json")
        oc("--url", server.url, "auth", "status", "-o", "json", OPENCRANE_TOKEN=TOKEN)
        oc("config", "set-context", "remote", "--url", server.url)
        oc("--context", "remote", "model", "list")
        assert all(TOKEN not in str(r.headers) for r in server.requests)  # the server's own log is redacted
    oc("config", "view")
    oc("config", "view", "-o", "json")
    oc("config", "get-contexts", "-o", "json")

    # -- where the secrets are, and where they are not ---------------------------------------------
    keyring = json.loads(oc.keyring.read_text())
    assert TOKEN in keyring.values() and CONTEXT_GATEWAY_KEY in keyring.values()
    assert not (tmp_path / ".config" / "opencrane" / "credentials.json").exists()  # the keyring was usable
    scanned = files_under(tmp_path, skip=oc.keyring)
    assert {p.name for p in scanned} >= {"oc.db", "config.toml"}
    for path in scanned:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret[:8]}… found in {path}"
        shaped = KEY_SHAPED.search(data)
        assert shaped is None, f"key-shaped {shaped.group()[:12]!r}… in {path}"
    for printed in oc.outputs:
        for secret in SECRETS:
            assert secret not in printed, f"{secret[:8]}… printed: {printed[:300]}"
        assert KEY_SHAPED.search(printed.encode()) is None, printed[:300]


def test_config_view_redacts_secrets_a_person_put_in_the_file(tmp_path: Path):
    oc = Session(tmp_path)
    (tmp_path / "config.toml").write_text(
        'current-context = "prod"\n'
        "[contexts.prod]\n"
        'url = "https://cp.example.com"\n'
        f'token = "{TOKEN}"\n'
        f'gateway = {{ url = "http://127.0.0.1:4000", key = "{ENV_GATEWAY_KEY}" }}\n'
        f'[contexts.prod.extra]\npassword = "hunter2-{RAW_KEY}"\napiSecret = "{CONTEXT_GATEWAY_KEY}"\n',
        encoding="utf-8")
    table = oc("config", "view")
    as_json = json.loads(oc("config", "view", "-o", "json").out)
    contexts = oc("config", "get-contexts", "-o", "json")
    for printed in (table.out + table.err, json.dumps(as_json), contexts.out + contexts.err):
        for secret in SECRETS:
            assert secret not in printed
    prod = as_json["contexts"]["prod"]
    assert prod["token"] == "REDACTED" and prod["gateway"]["key"] == "REDACTED"
    assert prod["extra"] == {"password": "REDACTED", "apiSecret": "REDACTED"}
    assert prod["url"] == "https://cp.example.com" and prod["gateway"]["url"] == "http://127.0.0.1:4000"
