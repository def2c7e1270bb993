"""Remote mode through the real CLI: errors and exit codes, unsupported verbs, sign-in, tokens.

Every test runs ``python -m oc_cli`` as a subprocess against a control plane on loopback
(``tests.support.cp_server``), with a private ``$HOME`` and config file, so what is checked is
what a user or a CI script sees: one ``error: … [CODE]`` line on stderr, nothing on stdout, the
exit code of the error's class (SPEC §7), and no token value anywhere in the output (SPEC §8).

``FileKeyring`` below is a keyring backend for the subprocesses (selected with
``PYTHON_KEYRING_BACKEND``): it keeps passwords in a JSON file so a test can look inside the
"system keyring" of another process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import socket
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from tests.support.cp_server import API, ControlPlaneServer

REPO = Path(__file__).resolve().parents[2]
SUBPROCESS_TIMEOUT_S = 60
KEYRING_FILE_ENV = "OC_TEST_KEYRING_FILE"
FILE_KEYRING = f"tests.cli.{Path(__file__).stem}.FileKeyring"  # importable: the subprocess runs in REPO
NULL_KEYRING = "keyring.backends.null.Keyring"
FAIL_KEYRING = "keyring.backends.fail.Keyring"


class FileKeyring(KeyringBackend):
    """A keyring backend whose entries live in the JSON file named by ``OC_TEST_KEYRING_FILE``."""

    priority = 1  # type: ignore[assignment]

    def _path(self) -> Path:
        return Path(os.environ[KEYRING_FILE_ENV])

    def _load(self) -> dict[str, str]:
        try:
            return json.loads(self._path().read_text())
        except FileNotFoundError:
            return {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}|{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        entries = self._load()
        entries[f"{service}|{username}"] = password
        self._path().write_text(json.dumps(entries))

    def delete_password(self, service: str, username: str) -> None:
        entries = self._load()
        if entries.pop(f"{service}|{username}", None) is None:
            raise PasswordDeleteError(username)
        self._path().write_text(json.dumps(entries))


# -- running oc ---------------------------------------------------------------------------------


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


class Oc:
    """``oc`` in a private home. ``url``/``token`` become OPENCRANE_URL/OPENCRANE_TOKEN when set."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.url: str | None = None
        self.token: str | None = None
        self.keyring = NULL_KEYRING
        self.outputs: list[str] = []  # everything any command printed, for the token scan

    @property
    def credentials(self) -> Path:
        return self.home / ".config" / "opencrane" / "credentials.json"

    def env(self, **extra: str) -> dict[str, str]:
        dropped = ("OC_", "OPENCRANE_", "LITELLM_", "LANGFUSE_", "XDG_")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(dropped) and k not in ("ROUTING_JUDGE_MODEL", "CI", "NO_COLOR")}
        env.update(HOME=str(self.home), OC_CONFIG=str(self.home / "oc-config.toml"),
                   XDG_CONFIG_HOME=str(self.home / ".config"), XDG_DATA_HOME=str(self.home / ".local" / "share"),
                   PYTHON_KEYRING_BACKEND=self.keyring, **{KEYRING_FILE_ENV: str(self.home / "keyring.json")})
        if self.url is not None:
            env["OPENCRANE_URL"] = self.url
        if self.token is not None:
            env["OPENCRANE_TOKEN"] = self.token
        env.update(extra)
        return env

    def __call__(self, *args: str, input: str | None = None, **env: str) -> Run:
        proc = subprocess.run([sys.executable, "-m", "oc_cli", *args], cwd=REPO, env=self.env(**env), input=input,
                              capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S)
        self.outputs.append(proc.stdout + proc.stderr)
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "oc_cli", *args], cwd=REPO, env=self.env(), text=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def keyring_entries(self) -> dict[str, str]:
        path = self.home / "keyring.json"
        return json.loads(path.read_text()) if path.exists() else {}


@pytest.fixture
def oc(tmp_path: Path) -> Oc:
    home = tmp_path / "home"
    home.mkdir()
    return Oc(home)


@pytest.fixture
def servers() -> Iterator[Callable[..., ControlPlaneServer]]:
    started: list[ControlPlaneServer] = []

    def start(**settings: Any) -> ControlPlaneServer:
        server = ControlPlaneServer(**settings)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def dev(servers: Callable[..., ControlPlaneServer], oc: Oc) -> ControlPlaneServer:
    """A dev-mode control plane, selected through OPENCRANE_URL with any token."""
    server = servers()
    oc.url, oc.token = server.url, "dev-token"
    return server


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def assert_one_error_line(run: Run, exit_code: int, code: str, *fragments: str) -> None:
    """Exactly one ``error: … [CODE]`` line on stderr, nothing on stdout, no traceback."""
    assert run.code == exit_code, f"exit {run.code}, expected {exit_code}: {run.stderr}"
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {run.stderr!r}"
    assert lines[0].startswith("error: ") and f"[{code}]" in lines[0], lines[0]
    assert "Traceback" not in run.stderr
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


def command_available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# -- server errors → one line and the class's exit code -----------------------------------------


def _seed_model(server: ControlPlaneServer, oc: Oc) -> None:
    assert oc("model", "add", "--name", "dup", "--upstream", "openai/gpt-4o-mini").code == 0


def _seed_decided_proposal(server: ControlPlaneServer, oc: Oc) -> str:
    return server.add_proposal("summarise", "org", proposed_model="cheap", status="rejected")["id"]


@dataclass(frozen=True)
class ErrorCase:
    args: tuple[str, ...]
    exit_code: int
    code: str
    fragments: tuple[str, ...] = ()
    server: dict[str, Any] = field(default_factory=dict)  # ControlPlaneServer settings
    token: str = "dev-token"
    setup: Callable[[ControlPlaneServer, Oc], Any] | None = None  # may return a value for "{}" in args
    fault: tuple[str, str, int] | None = None  # fail_next(prefix, kind, count)
    attempts: int = 1  # requests the command sends: GETs are retried only on 502/503/504


ERROR_CASES = {
    "400 validation": ErrorCase(
        ("routing", "eval-case", "add", "--skill-name", "summarise", "--skill-scope", "org", "--input", "x",
         "--quality-bar", "1.5"), 2, "VALIDATION_ERROR", ("qualityBar must be a number between 0 and 1.",)),
    "403 forbidden scope": ErrorCase(
        ("model", "add", "--name", "m", "--upstream", "openai/gpt-4o"), 5, "FORBIDDEN_SCOPE",
        ("Not authorized for this resource scope.",), server={"api_token": "env-token"}, token="env-token"),
    "403 invalid token": ErrorCase(
        ("model", "list"), 7, "INVALID_TOKEN", ("rejected the token",),
        server={"api_token": "env-token"}, token="not-the-token"),
    "404 model": ErrorCase(("model", "show", "cmissing0000000000000000"), 3, "MODEL_DEFINITION_NOT_FOUND",
                           ("Model definition not found",), attempts=2),  # by id, then by name in the list
    "404 eval case": ErrorCase(("routing", "eval-case", "show", "cmissing"), 3, "NOT_FOUND",
                               ("Eval case not found",)),
    "409 duplicate model": ErrorCase(("model", "add", "--name", "dup", "--upstream", "openai/gpt-4o-mini"),
                                     4, "CONFLICT", ("already exists",), setup=_seed_model),
    "409 proposal already decided": ErrorCase(("routing", "proposal", "approve", "{}"), 4,
                                              "PROPOSAL_ALREADY_DECIDED", ("is already rejected",),
                                              setup=_seed_decided_proposal),
    "500 internal error": ErrorCase(("model", "list"), 1, "INTERNAL_ERROR", ("An unexpected error occurred",),
                                    fault=("/api/v1/models", "error", 1)),
    "429 plain text": ErrorCase(("model", "list"), 1, "RATE_LIMITED", ("HTTP 429", "Too many requests"),
                                fault=("/api/v1/models", "rate_limit", 1)),
    "502 html": ErrorCase(("model", "list"), 1, "HTTP_502", ("HTTP 502", "502 Bad Gateway"),
                          fault=("/api/v1/models", "bad_gateway", 3), attempts=3),
}


@pytest.mark.parametrize("case", ERROR_CASES.values(), ids=ERROR_CASES.keys())
def test_server_errors_become_one_line_and_the_class_exit_code(case: ErrorCase, servers, oc: Oc) -> None:
    server = servers(**case.server)
    oc.url, oc.token = server.url, case.token
    seeded = case.setup(server, oc) if case.setup else None
    if case.fault:
        prefix, kind, count = case.fault
        server.fail_next(prefix, kind, count=count)
    before = len(server.requests)
    run = oc(*(seeded if a == "{}" else a for a in case.args))
    assert_one_error_line(run, case.exit_code, case.code, *case.fragments)
    assert len(server.requests) - before == case.attempts, "the answer must come from the server"


def test_missing_authorization_401_exits_7(oc: Oc) -> None:
    """The auth middleware's 401 (opencrane-api §1.3) has no ``code``; it is an auth problem."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            body = b'{"error":"Missing Authorization header"}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        oc.url, oc.token = f"http://127.0.0.1:{httpd.server_address[1]}", "some-token"
        run = oc("model", "list")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert_one_error_line(run, 7, "AUTH_REQUIRED", "Missing Authorization header", "oc auth login")


def test_no_token_at_all_exits_7_before_any_request(dev: ControlPlaneServer, oc: Oc) -> None:
    oc.token = None
    run = oc("model", "list")
    assert_one_error_line(run, 7, "AUTH_REQUIRED", f"not authenticated to {dev.url}", "oc auth login")
    assert dev.requests == []


@pytest.mark.skipif(not command_available("oc_cli.commands.routing.metrics"),
                    reason="the `oc routing metrics` command module is not present")
def test_metrics_503_unconfigured_exits_6(dev: ControlPlaneServer, oc: Oc) -> None:
    run = oc("routing", "metrics", "-o", "json")
    assert_one_error_line(run, 6, "UNCONFIGURED", "no Langfuse metrics backend", "LANGFUSE_HOST")
    assert [(r.method, r.path) for r in dev.requests] == [("GET", f"{API}/model-routing/metrics")]


def test_gets_retry_a_502_once_and_succeed(dev: ControlPlaneServer, oc: Oc) -> None:
    dev.fail_next("/api/v1/models", "bad_gateway", count=1)
    run = oc("model", "list", "-o", "json")
    assert run.code == 0 and run.json() == []
    assert [(r.method, r.path) for r in dev.requests] == [("GET", f"{API}/models")] * 2


def test_writes_are_never_retried(dev: ControlPlaneServer, oc: Oc) -> None:
    dev.fail_next("/api/v1/models", "unavailable", count=1)
    run = oc("model", "add", "--name", "m", "--upstream", "openai/gpt-4o", "-o", "json")
    assert_one_error_line(run, 1, "HTTP_503", "503 Service Temporarily Unavailable")
    assert [(r.method, r.path) for r in dev.requests] == [("POST", f"{API}/models")]


def test_unreachable_server_is_one_line_naming_the_url(oc: Oc) -> None:
    url = closed_port_url()
    oc.url, oc.token = url, "dev-token"
    started = time.monotonic()
    run = oc("model", "list")
    assert_one_error_line(run, 1, "UNREACHABLE", f"cannot reach the control plane at {url}", "connection refused")
    assert time.monotonic() - started < 15


# -- verbs the API lacks ------------------------------------------------------------------------

UNSUPPORTED = {
    "cluster-tenant create": ("cluster-tenant", "create", "acme"),
    "cluster-tenant grant": ("cluster-tenant", "grant", "acme", "--model", "m"),
    "cluster-tenant revoke": ("cluster-tenant", "revoke", "acme", "--model", "m"),
    "cluster-tenant models": ("cluster-tenant", "models", "acme"),
    "resolve": ("resolve", "summarise"),
    "audit verify": ("audit", "verify"),
    "usage import": ("usage", "import", "{spend}"),
    "usage list": ("usage", "list"),
    "model prices": ("model", "add", "--name", "m", "--upstream", "openai/gpt-4o", "--input-cost-per-mtok", "1"),
    "measurement resume": ("routing", "measurement", "run", "--resume", "cabc"),
    "measurement require calibrated judge": ("routing", "measurement", "run", "--skill", "s", "--candidate-model",
                                             "m", "--require-calibrated-judge"),
    "judge sample": ("routing", "judge", "sample", "cabc"),
    "judge label": ("routing", "judge", "label", "{spend}"),
    "judge label interactive": ("routing", "judge", "label", "cabc", "--interactive"),
    "judge calibration": ("routing", "judge", "calibration"),
}


@pytest.mark.parametrize("args", UNSUPPORTED.values(), ids=UNSUPPORTED.keys())
def test_verbs_the_api_lacks_fail_with_exit_2_and_send_nothing(args: tuple[str, ...], dev: ControlPlaneServer,
                                                                oc: Oc) -> None:
    if args[0] == "usage" and not command_available("oc_cli.commands.usage"):
        pytest.skip("the `oc usage` command module is not present")
    spend = oc.home / "spend.json"  # a readable file, so only the verb itself can be refused
    spend.write_text("[]\n")
    run = oc(*(str(spend) if a == "{spend}" else a for a in args))
    assert_one_error_line(run, 2, "NOT_SUPPORTED", "not supported by the control plane")
    assert dev.requests == [], "an unsupported verb must not do something else instead"


def test_eval_case_import_is_all_or_nothing_remotely(dev: ControlPlaneServer, oc: Oc) -> None:
    rows = [{"skillName": "summarise", "skillScope": "org", "input": "first"},
            {"skillName": "summarise", "skillScope": "org", "input": "second", "qualityBar": 1.5}]
    run = oc("routing", "eval-case", "import", "-", input="".join(json.dumps(r) + "\n" for r in rows))
    assert_one_error_line(run, 2, "VALIDATION_ERROR", "qualityBar must be a number between 0 and 1.",
                          "nothing was imported")
    calls = [(r.method, r.path) for r in dev.requests]
    assert calls[:2] == [("POST", f"{API}/model-routing/eval-cases")] * 2
    assert [m for m, _ in calls[2:]] == ["DELETE"]
    listed = oc("routing", "eval-case", "list", "-o", "json")
    assert listed.code == 0 and listed.json() == []


@pytest.mark.parametrize("args", [("model", "list", "-o", "yaml"), ("model", "show", "x", "-o", "yaml"),
                                  ("audit", "list", "--output", "JSON")])
def test_output_format_is_validated_in_remote_mode(args: tuple[str, ...], dev: ControlPlaneServer, oc: Oc) -> None:
    run = oc(*args)
    assert_one_error_line(run, 2, "USAGE", "expected one of table, wide, json")
    assert dev.requests == []


# -- selecting remote mode ----------------------------------------------------------------------


def test_url_precedence_flag_then_env_then_context(dev: ControlPlaneServer, oc: Oc) -> None:
    other = closed_port_url()
    oc.url = None
    assert oc("config", "set-context", "prod", "--url", other, "--use").code == 0

    def where(*flags: str, **env: str) -> tuple[str, str]:
        status = oc(*flags, "auth", "status", "-o", "json", **env).json()
        return status["url"], status["urlSource"]

    assert where() == (other, "context prod")
    assert where(OPENCRANE_URL=dev.url) == (dev.url, "OPENCRANE_URL")
    assert where("--url", dev.url, OPENCRANE_URL=other) == (dev.url, "--url")
    # The context's url really selects remote mode for ordinary commands.
    assert oc("config", "set-context", "prod", "--url", dev.url).code == 0
    assert oc("model", "list", "-o", "json").json() == []
    assert [(r.method, r.path) for r in dev.requests] == [("GET", f"{API}/models")]


# -- oc auth ------------------------------------------------------------------------------------


class LoginProcess:
    """``oc auth login`` running in the background, its stderr read line by line by a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._codes: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if line.startswith("User code: "):
                self._codes.put(line.split(":", 1)[1].strip())

    def user_code(self, timeout: float = 30) -> str:
        try:
            return self._codes.get(timeout=timeout)
        except queue.Empty:
            self.proc.kill()
            raise AssertionError(f"no user code printed: {''.join(self.lines)!r}") from None

    def finish(self, timeout: float = 30) -> Run:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        assert self.proc.stdout is not None
        return Run(code, self.proc.stdout.read(), "".join(self.lines))


def assert_private_file(path: Path) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_device_login_end_to_end_in_token_mode(servers, oc: Oc) -> None:
    server = servers(api_token="the-env-token", poll_interval=0.2)
    oc.url = server.url
    login = LoginProcess(oc.popen("auth", "login", "--no-browser"))
    user_code = login.user_code()
    token = server.activate(user_code)
    run = login.finish()
    oc.outputs.append(run.output)
    stderr = run.stderr
    assert run.code == 0, stderr
    assert f"{server.url}{API}/auth/device/activate?userCode={user_code}" in stderr  # absolute URL
    assert f"Authenticated to {server.url}" in stderr
    assert "warning:" in stderr and "plain text" in stderr  # the null keyring: file fallback, said so

    polls = [r for r in server.requests if r.path == f"{API}/auth/device/token"]
    assert [(r.method, r.path) for r in server.requests][:1] == [("POST", f"{API}/auth/device")]
    assert polls and all(r.query.get("deviceCode") for r in polls)

    stored = json.loads(oc.credentials.read_text())
    assert stored == {"token": token, "baseUrl": server.url}
    assert_private_file(oc.credentials)

    before = len(server.requests)
    listed = oc("model", "list", "-o", "json")  # no OPENCRANE_TOKEN: the stored token is used
    assert listed.code == 0 and listed.json() == []
    assert server.requests[before].headers["authorization"] == "Bearer <redacted>"
    status = oc("auth", "status", "-o", "json").json()
    assert (status["authenticated"], status["tokenSource"], status["tokenLocation"]) == \
        (True, "file", str(oc.credentials))
    assert oc("auth", "status").code == 0
    described = oc("auth", "token", "-o", "json")
    assert described.code == 0
    assert described.json()["tokenFingerprint"] == status["tokenFingerprint"]
    assert described.json()["length"] == len(token)
    assert all(token not in out for out in oc.outputs)


def test_device_login_expiry_exits_7(servers, oc: Oc) -> None:
    server = servers(grant_lifetime=0.6, poll_interval=0.2)
    oc.url = server.url
    started = time.monotonic()
    run = oc("auth", "login", "--no-browser")
    assert run.code == 7
    last = run.stderr.splitlines()[-1]
    assert last.startswith("error: device login") and "[EXPIRED]" in last and "oc auth login" in last
    assert "expired" in last
    assert time.monotonic() - started < 15
    assert not oc.credentials.exists()


def test_token_stdin_then_commands_use_it_and_logout_works_with_the_server_stopped(servers, oc: Oc) -> None:
    server = servers(api_token="ci-secret-token-1234")
    oc.url = server.url
    login = oc("auth", "login", "--token-stdin", input="ci-secret-token-1234\n")
    assert login.code == 0, login.stderr
    assert f"Authenticated to {server.url}" in login.stderr and "not verified" not in login.stderr
    assert_private_file(oc.credentials)
    assert oc("model", "list", "-o", "json").code == 0

    status = oc("auth", "status", "-o", "json").json()
    assert (status["tokenSource"], status["tokenLocation"]) == ("file", str(oc.credentials))
    assert status["tokenFingerprint"].startswith("sha256:")
    table = oc("auth", "status")
    assert str(oc.credentials) in table.stdout
    assert oc("config", "set-context", "ci", "--url", server.url).code == 0
    assert oc("config", "view").code == 0
    assert oc("config", "view", "-o", "json").code == 0

    server.stop()
    logout = oc("auth", "logout")
    assert logout.code == 0, logout.stderr
    assert "server-side logout failed" in logout.stderr and "removed from the file" in logout.stderr
    assert not oc.credentials.exists()
    after = oc("auth", "status")
    assert after.code == 7 and "not authenticated" in after.stderr
    assert all("ci-secret-token-1234" not in out for out in oc.outputs)


def test_token_stdin_refuses_empty_input(dev: ControlPlaneServer, oc: Oc) -> None:
    oc.token = None
    run = oc("auth", "login", "--token-stdin", input="\n")
    assert_one_error_line(run, 2, "VALIDATION_ERROR", "--token-stdin")
    assert not oc.credentials.exists()


def test_environment_token_wins_over_the_stored_one(servers, oc: Oc) -> None:
    server = servers(api_token="right-token-5678")
    oc.url = server.url
    # a token the server rejects is refused at login and not stored ...
    assert_one_error_line(oc("auth", "login", "--token-stdin", input="stale-token-0000\n"), 7, "INVALID_TOKEN")
    assert not oc.credentials.exists()
    # ... but one that went stale after login stays stored until the next call tells
    oc.credentials.parent.mkdir(parents=True, exist_ok=True)
    oc.credentials.write_text(json.dumps({"token": "stale-token-0000", "baseUrl": server.url}))
    assert_one_error_line(oc("model", "list"), 7, "INVALID_TOKEN")
    oc.token = "right-token-5678"
    assert oc("model", "list", "-o", "json").code == 0
    status = oc("auth", "status", "-o", "json").json()
    assert (status["tokenSource"], status["tokenLocation"]) == ("env", "the OPENCRANE_TOKEN environment variable")
    assert all("right-token-5678" not in out and "stale-token-0000" not in out for out in oc.outputs)


def test_fail_keyring_falls_back_to_a_0600_file_with_a_warning(dev: ControlPlaneServer, oc: Oc) -> None:
    oc.keyring, oc.token = FAIL_KEYRING, None
    run = oc("auth", "login", "--token-stdin", input="fallback-token-42\n")
    assert run.code == 0, run.stderr
    warning = next(line for line in run.stderr.splitlines() if line.startswith("warning:"))
    assert "No usable system keyring" in warning and str(oc.credentials) in warning and "0600" in warning
    assert_private_file(oc.credentials)
    assert json.loads(oc.credentials.read_text())["token"] == "fallback-token-42"
    assert "fallback-token-42" not in run.output


def test_a_usable_keyring_holds_the_token_and_logout_removes_it(dev: ControlPlaneServer, oc: Oc) -> None:
    oc.keyring, oc.token = FILE_KEYRING, None
    login = oc("auth", "login", "--token-stdin", input="keyring-token-77\n")
    assert login.code == 0, login.stderr
    assert "Token saved in the system keyring" in login.stderr and "warning" not in login.stderr
    assert oc.keyring_entries() == {f"opencrane|{dev.url}": "keyring-token-77"}
    assert not oc.credentials.exists()

    status = oc("auth", "status", "-o", "json").json()
    assert (status["tokenSource"], status["tokenLocation"]) == ("keyring", "the system keyring")
    assert oc("model", "list", "-o", "json").code == 0

    logout = oc("auth", "logout")
    assert logout.code == 0 and "removed from the keyring" in logout.stderr
    assert oc.keyring_entries() == {}
    assert all("keyring-token-77" not in out for out in oc.outputs)


def test_token_stdin_against_an_unreachable_server_stores_it_unverified(oc: Oc) -> None:
    oc.url, oc.token = closed_port_url(), None
    run = oc("auth", "login", "--token-stdin", input="offline-token-99\n")
    assert run.code == 0, run.stderr
    assert "Authenticated" not in run.stderr and "✓" not in run.stderr
    assert "could not verify the token" in run.stderr and "connection refused" in run.stderr
    assert "not verified" in run.stderr
    assert json.loads(oc.credentials.read_text())["token"] == "offline-token-99"


def test_logout_without_a_token_does_not_call_the_server_or_warn(dev: ControlPlaneServer, oc: Oc) -> None:
    oc.token = None
    before = len(dev.requests)
    run = oc("auth", "logout")
    assert run.code == 0, run.stderr
    assert "warning" not in run.stderr and "No stored token" in run.stderr
    assert len(dev.requests) == before


def test_global_options_after_the_subcommand(dev: ControlPlaneServer, oc: Oc) -> None:
    url, oc.url, oc.token = oc.url, None, None
    run = oc("auth", "login", "--url", url, "--token-stdin", input="after-token-31\n")
    assert run.code == 0, run.stderr
    assert f"Authenticated to {url}" in run.stderr
    assert json.loads(oc.credentials.read_text()) == {"token": "after-token-31", "baseUrl": url}
    assert oc("model", "list", "--url", url, "-o", "json").code == 0
