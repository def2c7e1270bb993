"""Tokens for remote mode: where they are kept, and how ``oc auth login`` gets one.

Lookup order (SPEC §2): ``OPENCRANE_TOKEN`` (for CI) → the system keyring (service
``opencrane``, username = the server root URL) → the reference CLI's credentials file
``~/.config/opencrane/credentials.json`` (``{"token", "baseUrl"}``, opencrane-api §16.1).

Storing prefers the keyring. Headless Linux usually has no keyring backend, so — as ``gh`` and
``glab`` do — the token then goes to the credentials file, created 0600 in a 0700 directory and
replaced atomically, and the caller is handed a warning to print. A file token is only used for
the server named in its ``baseUrl``: one server's token is never sent to another.

The device flow is opencrane-api §15's "RFC 8628-style" variant: ``POST /auth/device``, then poll
``GET /auth/device/token?deviceCode=`` (202 pending, 200 authorized, 410 expired), honouring the
server's ``interval`` and ``expiresIn`` (the reference CLI ignores both). The token is returned,
never shown.

keyring and httpx are imported inside the functions that need them: reading a token from the
environment must stay cheap for CI scripts that call ``oc`` hundreds of times.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from oc_cli.errors import AuthRequiredError, UpstreamError, ValidationError
from oc_cli.remote import server_root

if TYPE_CHECKING:
    from oc_cli.remote.client import ApiClient

KEYRING_SERVICE = "opencrane"
TOKEN_ENV = "OPENCRANE_TOKEN"
LOGIN_AGAIN = "run `oc auth login` again"
DEFAULT_POLL_INTERVAL_S = 5.0
DEFAULT_GRANT_LIFETIME_S = 300.0

TokenSource = Literal["env", "keyring", "file"]


def credentials_path() -> Path:
    """``~/.config/opencrane/credentials.json`` (``$HOME`` honoured), the reference CLI's file."""
    return Path.home() / ".config" / "opencrane" / "credentials.json"


# -- the keyring ---------------------------------------------------------------------------------


def _usable_keyring() -> Any | None:
    """The active keyring backend, or None when it is the fail/null backend or cannot load."""
    try:
        import keyring
        from keyring.backends import chainer, fail, null

        backend = keyring.get_keyring()
    except Exception:  # a broken backend (e.g. a D-Bus error) means "no keyring", never a crash
        return None
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return None
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None
    return backend


def _keyring_name(backend: Any) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


# -- the credentials file ------------------------------------------------------------------------


def _read_file() -> dict[str, Any] | None:
    try:
        data = json.loads(credentials_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # missing, unreadable or invalid JSON: absent, as in the reference CLI
    return data if isinstance(data, dict) else None


def _file_matches(data: dict[str, Any], root: str) -> bool:
    """A file without ``baseUrl`` is the reference CLI's default server; otherwise it must match."""
    base = data.get("baseUrl")
    if not isinstance(base, str) or not base.strip():
        return True
    try:
        return server_root(base) == root
    except ValidationError:  # an unparsable baseUrl belongs to no server
        return False


def _write_file(token: str, root: str) -> Path:
    """Atomically write ``{"token", "baseUrl"}``: a 0600 file in a 0700 directory.

    The temporary file is created with ``os.open(…, 0o600)`` so the token is never readable by
    others, not even for an instant, and ``os.replace`` swaps it in whole.
    """
    path = credentials_path()
    directory = path.parent
    if not directory.exists():
        directory.mkdir(parents=True, mode=0o700)
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
    tmp = directory / f".credentials.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"token": token, "baseUrl": root}, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


# -- public API ----------------------------------------------------------------------------------


def load_token(base_url: str) -> tuple[str | None, TokenSource | None]:
    """The token for the server at ``base_url`` and where it came from (never printed)."""
    env = os.environ.get(TOKEN_ENV, "").strip()
    if env:
        return env, "env"
    root = server_root(base_url)
    backend = _usable_keyring()
    if backend is not None:
        try:
            stored = backend.get_password(KEYRING_SERVICE, root)
        except Exception:  # a locked or broken keyring falls through to the file
            stored = None
        if stored:
            return stored, "keyring"
    data = _read_file()
    if data is not None and _file_matches(data, root):
        token = data.get("token")
        if isinstance(token, str) and token.strip():
            return token.strip(), "file"
    return None, None


def store_token(token: str, base_url: str) -> str:
    """Keep ``token`` for ``base_url``; return a sentence saying where (a warning for the file)."""
    root = server_root(base_url)
    backend = _usable_keyring()
    failure = ""
    if backend is not None:
        try:
            backend.set_password(KEYRING_SERVICE, root, token)
            return f"Token saved in the system keyring ({_keyring_name(backend)})."
        except Exception as exc:
            failure = f" (the keyring refused it: {type(exc).__name__})"
    path = _write_file(token, root)
    return (f"No usable system keyring{failure}; the token was saved in plain text to {path} "
            f"(mode 0600, readable only by you). Install and unlock a keyring backend to avoid this.")


def delete_token(base_url: str) -> list[str]:
    """Forget the token for ``base_url`` in the keyring and the file; returns where it was removed."""
    root = server_root(base_url)
    removed: list[str] = []
    backend = _usable_keyring()
    if backend is not None:
        try:
            if backend.get_password(KEYRING_SERVICE, root) is not None:
                backend.delete_password(KEYRING_SERVICE, root)
                removed.append("keyring")
        except Exception:  # absent entry or broken keyring: best effort
            pass
    data = _read_file()
    if data is not None and _file_matches(data, root):
        try:
            credentials_path().unlink()
            removed.append("file")
        except OSError:
            pass
    return removed


def _seconds(value: Any, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else default


def device_login(base_url: str, *, open_browser: bool, say: Callable[[str], None],
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic,
                 client: "ApiClient | None" = None) -> str:
    """Run the device flow against ``base_url`` and return the new token.

    ``say`` receives what the user must see (the URL and the user code); ``sleep`` and
    ``monotonic`` are injectable so the polling schedule can be tested without waiting.
    """
    from oc_cli.remote.client import ApiClient, error_from_response

    api = client or ApiClient(base_url, None)
    try:
        grant = api.request("POST", "/auth/device", what="device login")
        if not isinstance(grant, dict) or not grant.get("deviceCode") or not grant.get("userCode"):
            raise UpstreamError("device login", "the control plane's answer to POST /auth/device "
                                                "lacks deviceCode/userCode")
        uri = str(grant.get("verificationUri") or "")
        url = uri if uri.startswith(("http://", "https://")) else api.root + "/" + uri.lstrip("/")
        interval = _seconds(grant.get("interval"), DEFAULT_POLL_INTERVAL_S)
        lifetime = _seconds(grant.get("expiresIn"), DEFAULT_GRANT_LIFETIME_S)
        deadline = monotonic() + lifetime

        say(f"Open this URL in a browser to sign in:\n  {url}")
        say(f"User code: {grant['userCode']}")
        if open_browser:
            import webbrowser

            try:
                opened = webbrowser.open(url)
            except Exception:  # webbrowser raises on exotic setups; the URL is already shown
                opened = False
            if not opened:
                say("Could not open a browser; open the URL above yourself.")
        say(f"Waiting for the browser sign-in (the code expires in {lifetime:g}s)…")

        while True:
            sleep(interval)
            response = api.send("GET", "/auth/device/token", what="device login",
                                params={"deviceCode": grant["deviceCode"]})
            if response.status_code == 202:
                if monotonic() >= deadline:
                    raise AuthRequiredError("device login", "the code expired before the sign-in was "
                                                            "completed in the browser", code="EXPIRED",
                                            hint=LOGIN_AGAIN)
                continue
            if response.status_code == 410:
                raise AuthRequiredError("device login", "the code expired or was already used", code="EXPIRED",
                                        hint=LOGIN_AGAIN)
            if not response.is_success:
                raise error_from_response(response, "device login")
            try:
                body = response.json()
            except ValueError:
                body = None
            token = body.get("token") if isinstance(body, dict) else None
            if not isinstance(token, str) or not token:
                raise UpstreamError("device login", "the control plane authorized the login but sent no token")
            return token
    finally:
        if client is None:
            api.close()
