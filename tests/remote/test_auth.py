"""Token storage (env → keyring → 0600 file) and the device flow against the loopback server."""

from __future__ import annotations

import json
import stat
import threading
import time
from pathlib import Path
from typing import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import PasswordDeleteError

from oc_cli.errors import EXIT_AUTH, AuthRequiredError, UpstreamError
from oc_cli.remote.auth import (
    KEYRING_SERVICE,
    credentials_path,
    delete_token,
    device_login,
    load_token,
    store_token,
)
from oc_cli.remote.backend import RemoteControlPlane

URL = "https://cp.example.test"


class MemoryKeyring(KeyringBackend):
    """A keyring backend that keeps passwords in a dict."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.entries[(service, username)]
        except KeyError:
            raise PasswordDeleteError(username) from None


class LockedKeyring(MemoryKeyring):
    """A backend that exists but refuses to store (e.g. a locked collection)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("locked")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh $HOME, no OPENCRANE_TOKEN, and no keyring unless a test installs one."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("OPENCRANE_TOKEN", raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


def write_credentials(data: object) -> Path:
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


# -- lookup precedence --------------------------------------------------------------------------


def test_precedence_env_then_keyring_then_file(monkeypatch):
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    write_credentials({"token": "from-file", "baseUrl": URL})
    assert load_token(URL) == ("from-file", "file")
    memory.set_password(KEYRING_SERVICE, URL, "from-keyring")
    assert load_token(URL + "/") == ("from-keyring", "keyring")
    monkeypatch.setenv("OPENCRANE_TOKEN", "   ")
    assert load_token(URL) == ("from-keyring", "keyring")  # blank env is ignored
    monkeypatch.setenv("OPENCRANE_TOKEN", "  from-env \n")
    assert load_token(URL) == ("from-env", "env")


def test_credentials_file_is_only_used_for_its_own_server():
    write_credentials({"token": "t", "baseUrl": "https://other.example.test/"})
    assert load_token(URL) == (None, None)
    write_credentials({"token": "t", "baseUrl": URL + "/api/v1"})
    assert load_token(URL) == ("t", "file")
    write_credentials({"token": "t"})  # the reference CLI's file without baseUrl
    assert load_token(URL) == ("t", "file")


@pytest.mark.parametrize("content", ["{not json", "[]", json.dumps({"token": ""}), json.dumps({"token": 5})])
def test_unusable_credentials_file_counts_as_absent(content):
    write_credentials(content)
    assert load_token(URL) == (None, None)


# -- storing --------------------------------------------------------------------------------------


def test_without_a_keyring_the_token_goes_to_a_0600_file(tmp_path):
    message = store_token("ocp_secret", URL + "/api/v1/")
    path = credentials_path()
    assert path == tmp_path / ".config" / "opencrane" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == {"token": "ocp_secret", "baseUrl": URL}
    assert str(path) in message and "plain text" in message and "ocp_secret" not in message
    assert load_token(URL) == ("ocp_secret", "file")

    store_token("ocp_second", URL)
    assert json.loads(path.read_text())["token"] == "ocp_second"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["credentials.json"]  # no temp files left


def test_a_usable_keyring_gets_the_token_and_no_file_is_written():
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    message = store_token("ocp_secret", URL + "/")
    assert memory.entries == {(KEYRING_SERVICE, URL): "ocp_secret"}
    assert "keyring" in message and "ocp_secret" not in message
    assert not credentials_path().exists()
    assert load_token(URL) == ("ocp_secret", "keyring")


def test_a_keyring_that_refuses_falls_back_to_the_file():
    keyring.set_keyring(LockedKeyring())
    message = store_token("ocp_secret", URL)
    assert "KeyringLocked" in message
    assert load_token(URL) == ("ocp_secret", "file")


def test_delete_token_clears_both_places_and_never_raises_for_absence():
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    memory.set_password(KEYRING_SERVICE, URL, "k")
    write_credentials({"token": "f", "baseUrl": URL})
    assert delete_token(URL) == ["keyring", "file"]
    assert load_token(URL) == (None, None)
    assert delete_token(URL) == []
    keyring.set_keyring(fail.Keyring())
    assert delete_token(URL) == []


def test_delete_token_leaves_another_servers_file_alone():
    path = write_credentials({"token": "f", "baseUrl": "https://other.example.test"})
    assert delete_token(URL) == []
    assert path.exists()


# -- the device flow ------------------------------------------------------------------------------


def test_device_flow_end_to_end(make_cp_server):
    server = make_cp_server(api_token="operator-token", poll_interval=0.02, grant_lifetime=10)
    said: list[str] = []

    def approve_in_browser() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            polled = any(r.path.endswith("/auth/device/token") for r in list(server.requests))
            code = next((line.split(": ", 1)[1] for line in said if line.startswith("User code: ")), None)
            if polled and code:
                server.activate(code)
                return
            time.sleep(0.01)

    browser = threading.Thread(target=approve_in_browser)
    browser.start()
    token = device_login(server.url + "/", open_browser=False, say=said.append)
    browser.join()

    assert token in server.minted_tokens and token.startswith("ocp_")
    code = next(line.split(": ", 1)[1] for line in said if line.startswith("User code: "))
    assert f"{server.url}/api/v1/auth/device/activate?userCode={code}" in "\n".join(said)
    assert all(token not in line for line in said)
    polls = [r for r in server.requests if r.path == "/api/v1/auth/device/token"]
    assert len(polls) >= 2 and all("authorization" not in r.headers for r in server.requests)
    with RemoteControlPlane(server.url, token) as remote:  # the minted token is accepted
        assert remote.list_models() == []


def test_device_flow_opens_the_browser_when_asked(make_cp_server, monkeypatch):
    server = make_cp_server(poll_interval=0.01, grant_lifetime=0.2)
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    with pytest.raises(AuthRequiredError):
        device_login(server.url, open_browser=True, say=lambda line: None)
    assert len(opened) == 1 and opened[0].startswith(server.url + "/api/v1/auth/device/activate?userCode=")


def test_device_flow_expires_with_a_short_lifetime(make_cp_server):
    server = make_cp_server(poll_interval=0.05, grant_lifetime=0.3)
    started = time.monotonic()
    with pytest.raises(AuthRequiredError) as err:
        device_login(server.url, open_browser=False, say=lambda line: None)
    assert time.monotonic() - started < 3
    assert err.value.exit_code == EXIT_AUTH and err.value.code == "EXPIRED"
    assert err.value.why.startswith("the code expired") and err.value.hint == "run `oc auth login` again"


def test_device_flow_410_from_the_server(make_cp_server):
    server = make_cp_server(poll_interval=0.05, grant_lifetime=0.15)
    with pytest.raises(AuthRequiredError) as err:
        # A clock that never moves: only the server's 410 can end the wait.
        device_login(server.url, open_browser=False, say=lambda line: None, monotonic=lambda: 0.0)
    assert err.value.why == "the code expired or was already used"
    assert err.value.hint == "run `oc auth login` again"


def test_device_flow_honours_interval_and_expiry_without_waiting(make_cp_server):
    server = make_cp_server()  # the reference's interval 5 s and lifetime 300 s
    pauses: list[float] = []
    clock = iter(range(0, 10_000, 100))
    with pytest.raises(AuthRequiredError) as err:
        device_login(server.url, open_browser=False, say=lambda line: None, sleep=pauses.append,
                     monotonic=lambda: float(next(clock)))
    assert pauses == [5.0, 5.0, 5.0]  # polled at t=100, 200, then gave up at 300
    assert err.value.code == "EXPIRED"
    assert len([r for r in server.requests if r.path.endswith("/device/token")]) == 3


def test_device_flow_start_failure_is_mapped(make_cp_server):
    server = make_cp_server()
    server.fail_next("/api/v1/auth/device", "error")
    with pytest.raises(UpstreamError) as err:
        device_login(server.url, open_browser=False, say=lambda line: None, sleep=lambda s: None)
    assert (err.value.code, err.value.what) == ("INTERNAL_ERROR", "device login")
    assert len(server.requests) == 1  # the POST is not retried
