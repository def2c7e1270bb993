"""oc auth: sign in to a remote control plane. Tokens are stored, never shown."""

from __future__ import annotations

import hashlib
import sys

import typer

from oc_cli import output, runtime
from oc_cli.commands._common import OutputOpt
from oc_cli.errors import AuthRequiredError, ValidationError

app = typer.Typer(help="Sign in to a remote control plane (device flow or a token from stdin).",
                  no_args_is_help=True)

_SOURCES = {"env": "the OPENCRANE_TOKEN environment variable", "keyring": "the system keyring",
            "file": "the credentials file"}


def _url() -> str:
    s = runtime.settings()
    if not s.url:
        raise ValidationError("no control-plane URL", "auth applies to remote mode",
                              hint="pass --url https://…, set OPENCRANE_URL, or use a context with a url")
    return s.url


def _fingerprint(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:12]


@app.command("login")
def login(
    no_browser: bool = typer.Option(False, "--no-browser", help="Print the URL and code; do not open a browser."),
    token_stdin: bool = typer.Option(False, "--token-stdin", help="Read an access token from standard input (for CI)."),
) -> None:
    """Sign in with the device flow (or store a token read from stdin)."""
    from oc_cli.remote.auth import device_login, store_token

    url = _url()
    if token_stdin:
        token = sys.stdin.readline().strip()
        if not token:
            raise ValidationError("--token-stdin: no token on standard input")
        if any(ch.isspace() for ch in token) or len(token) > 4096:
            raise ValidationError("--token-stdin: that is not a token", "expected one line without spaces")
        unverified = _verify(url, token)  # a rejected token raises here and is not stored
    else:
        token = device_login(url, open_browser=not no_browser and sys.stdout.isatty(), say=output.message)
        unverified = None  # the server itself just issued it
    where = store_token(token, url)
    if not where.startswith("Token saved"):
        output.warn(where)
        where = ""
    if unverified:
        output.warn(f"could not verify the token: {unverified}")
        output.message(f"Token stored for {url} but not verified; the next command against it will tell. {where}".rstrip())
    else:
        output.success(f"Authenticated to {url}. {where}".rstrip())


def _client(url: str, token: str | None):
    from oc_cli.remote.client import ApiClient

    s = runtime.settings()
    verify: bool | str = False if s.insecure else (s.ca_bundle or True)
    return ApiClient(url, token, timeout=min(s.request_timeout or 10.0, 10.0), verify=verify, retries=0)


def _verify(url: str, token: str) -> str | None:
    """Check a token read from stdin with one authenticated read (opencrane-api §1.4: /auth/* is
    public, so /auth/me cannot tell). None when the server accepted it; the reason when it could
    not be asked. A rejected token raises (exit 7) and is never stored."""
    from oc_cli.errors import ForbiddenError, UpstreamError

    client = _client(url, token)
    try:
        client.request("GET", "/models", what="verify the token")
    except (AuthRequiredError, ForbiddenError) as exc:
        raise AuthRequiredError(f"the control plane at {url} rejected the token", exc.why or exc.what,
                                code="INVALID_TOKEN",
                                hint="check the token (nothing was stored), or run `oc auth login` without "
                                     "--token-stdin") from None
    except UpstreamError as exc:
        return exc.why or exc.what
    finally:
        client.close()
    return None


@app.command("status")
def status(fmt: str = OutputOpt()) -> None:
    """Say which control plane is selected and where its token lives (never the token)."""
    from oc_cli.remote.auth import credentials_path, load_token

    s = runtime.settings()
    if not s.url:
        result = {"mode": "local", "url": None, "authenticated": None,
                  "note": "local mode needs no sign-in; pass --url or set OPENCRANE_URL for remote mode"}
    else:
        token, source = load_token(s.url)
        result = {"mode": "remote", "url": s.url, "urlSource": s.url_source, "authenticated": bool(token),
                  "tokenSource": source,
                  "tokenLocation": (str(credentials_path()) if source == "file" else _SOURCES.get(source or "")),
                  "tokenFingerprint": _fingerprint(token) if token else None}
    if fmt == "json":
        output.emit(result, "json")
    else:
        output.emit_object(result)
    if result.get("mode") == "remote" and not result["authenticated"]:
        raise AuthRequiredError(f"not authenticated to {s.url}", hint="run `oc auth login`")


@app.command("logout")
def logout() -> None:
    """Forget the stored token (even when the server is unreachable)."""
    from oc_cli.remote.auth import delete_token, load_token

    url = _url()
    stored, source = load_token(url)
    if stored and source != "env":  # nothing stored: no session to end, nothing to warn about
        client = _client(url, stored)
        try:
            client.request("POST", "/auth/logout", what="logout")
        except Exception:  # the local token goes regardless of what the server says
            output.warn("server-side logout failed (the stored token is removed anyway)")
        finally:
            client.close()
    removed = delete_token(url)
    if removed:
        output.success(f"Logged out of {url}; token removed from the {' and the '.join(removed)}.")
    else:
        output.success(f"No stored token for {url}.")
    import os

    if os.environ.get("OPENCRANE_TOKEN"):
        output.warn("OPENCRANE_TOKEN is still set in the environment and will keep being used")


@app.command("token")
def token(fmt: str = OutputOpt()) -> None:
    """Describe the active token (source and fingerprint). oc never prints a token itself."""
    from oc_cli.remote.auth import load_token

    url = _url()
    tok, source = load_token(url)
    if not tok:
        raise AuthRequiredError(f"not authenticated to {url}", hint="run `oc auth login`")
    result = {"url": url, "tokenSource": source, "tokenFingerprint": _fingerprint(tok), "length": len(tok)}
    if fmt == "json":
        output.emit(result, "json")
    else:
        output.emit_object(result)
