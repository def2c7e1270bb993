"""HTTP for remote mode: one httpx client, the retry rule, and the mapping of answers to ``OcError``.

The control plane is the validator and the source of truth, so this layer adds nothing to its
answers; it only makes failures legible:

* the ``{error, code}`` envelope (opencrane-api §1.2) becomes the ``OcError`` subclass of its
  status, keeping the server's message and code and naming the operation that failed;
* bodies that are not the envelope (express-rate-limit's plain-text 429, an ingress's HTML 502,
  Express's HTML 404 for an unknown route) become one line with the status and a short excerpt;
* transport failures (refused, DNS, TLS verification, timeout) become ``UpstreamError`` naming
  the URL, never a traceback.

Retries: only GETs, only on connection failures and 502/503/504, a few times with a small
backoff. Writes are never retried because the server may have applied them before failing.
"""

from __future__ import annotations

import re
import ssl
import time
from typing import Any, Callable

import httpx

from oc_cli import __version__
from oc_cli.errors import (
    AuthRequiredError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    OcError,
    UnconfiguredError,
    UpstreamError,
    ValidationError,
)
from oc_cli.remote import API_PREFIX, server_root

RETRY_STATUSES = frozenset({502, 503, 504})
MAX_RETRY_AFTER_S = 2.0  # honour Retry-After, but a CLI call must not stall for minutes
EXCERPT_CHARS = 160
LOGIN_HINT = "run `oc auth login` (or set OPENCRANE_TOKEN)"
FORBIDDEN_SCOPE_HINT = (
    "the control plane treats token callers as anonymous (opencrane-api §1.4), so outside dev mode "
    "only a platform operator's browser session may make this change"
)

_STATUS_CLASSES: dict[int, type[OcError]] = {
    400: ValidationError,
    401: AuthRequiredError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
}


class ApiClient:
    """Requests against ``<root>/api/v1`` with the caller's bearer token.

    ``verify`` is True (system CAs), False (``--insecure``) or a CA bundle path
    (``--ca-bundle``). ``transport`` lets tests swap the network (``httpx.MockTransport``).
    """

    def __init__(self, base_url: str, token: str | None, *, timeout: float = 30.0,
                 verify: bool | str = True, transport: httpx.BaseTransport | None = None,
                 retries: int = 2, backoff: float = 0.25,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.root = server_root(base_url)
        self.api = self.root + API_PREFIX
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = max(0.0, backoff)
        self._sleep = sleep
        headers = {"Accept": "application/json", "User-Agent": f"oc/{__version__}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout),
                                  verify=_ssl_verify(verify), transport=transport,
                                  follow_redirects=True)

    def close(self) -> None:
        self._http.close()

    def send(self, method: str, path: str, *, what: str, params: dict[str, Any] | None = None,
             json_body: Any = None, timeout: float | None = None) -> httpx.Response:
        """One logical request; returns the final response whatever its status.

        ``path`` is relative to ``/api/v1``; ``None`` values in ``params`` are left out.
        """
        url = self.api + path
        query = {k: v for k, v in (params or {}).items() if v is not None}
        retries_left = self.retries if method == "GET" else 0
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    method, url, params=query, json=json_body,
                    timeout=httpx.Timeout(timeout) if timeout is not None else httpx.USE_CLIENT_DEFAULT)
            except httpx.TransportError as exc:
                if attempt < retries_left and _retryable(exc):
                    self._pause(attempt, None)
                    attempt += 1
                    continue
                raise transport_error(exc, self.root, what, timeout or self.timeout) from exc
            if (attempt < retries_left and response.status_code in RETRY_STATUSES
                    and not _is_unconfigured(response)):
                self._pause(attempt, response.headers.get("Retry-After"))
                attempt += 1
                continue
            return response

    def request(self, method: str, path: str, *, what: str, params: dict[str, Any] | None = None,
                json_body: Any = None, timeout: float | None = None) -> Any:
        """``send`` and return the parsed JSON of a 2xx answer; raise the mapped error otherwise."""
        response = self.send(method, path, what=what, params=params, json_body=json_body, timeout=timeout)
        if not response.is_success:
            raise error_from_response(response, what)
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise UpstreamError(
                what, f"the control plane answered HTTP {response.status_code} with a non-JSON body: "
                      f"{_excerpt(response.text) or '(blank)'}", code="BAD_RESPONSE") from None

    def _pause(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff * (2 ** attempt)
        if retry_after:
            try:
                delay = max(delay, min(float(retry_after), MAX_RETRY_AFTER_S))
            except ValueError:
                pass  # an HTTP-date Retry-After: keep the backoff
        if delay > 0:
            self._sleep(delay)


def _ssl_verify(verify: bool | str) -> bool | ssl.SSLContext:
    """httpx 0.28 deprecates CA paths in ``verify``; build the context ourselves."""
    if isinstance(verify, bool):
        return verify
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise ValidationError(f"--ca-bundle {verify}", f"cannot load the CA bundle: {exc}") from None


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _tls_failure(exc: BaseException) -> ssl.SSLError | None:
    return next((e for e in _chain(exc) if isinstance(e, ssl.SSLError)), None)


def _retryable(exc: httpx.TransportError) -> bool:
    """Connection-level failures where no request reached the application (TLS errors excluded)."""
    if _tls_failure(exc) is not None:
        return False
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError,
                            httpx.ReadError))


def _is_unconfigured(response: httpx.Response) -> bool:
    """503 ``{"status":"unconfigured"}`` is a definite answer, not a transient outage."""
    if response.status_code != 503:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("status") == "unconfigured"


def transport_error(exc: httpx.TransportError, root: str, what: str, timeout: float) -> UpstreamError:
    """A transport failure as one line naming the control plane's URL."""
    text = " ".join(str(e) for e in _chain(exc)).lower()
    tls = _tls_failure(exc)
    if isinstance(exc, httpx.TimeoutException):
        phase = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for an answer"
        return UpstreamError(what, f"timed out after {timeout:g}s {phase} at {root}", code="TIMEOUT",
                             hint="check the URL and the network, or retry later")
    if isinstance(tls, ssl.SSLCertVerificationError) or "certificate verify failed" in text:
        reason = getattr(tls, "verify_message", None) or (str(tls) if tls else "certificate verify failed")
        return UpstreamError(what, f"TLS certificate verification failed for {root}: {reason}",
                             code="TLS_VERIFY_FAILED",
                             hint="pass --ca-bundle PATH for a private CA (or --insecure to skip "
                                  "verification, which is unsafe)")
    if tls is not None:
        return UpstreamError(what, f"TLS handshake with {root} failed: {tls}", code="TLS_ERROR")
    if "connection refused" in text or any(isinstance(e, ConnectionRefusedError) for e in _chain(exc)):
        reason = "connection refused"
    elif any(marker in text for marker in ("name or service not known", "nodename nor servname",
                                            "temporary failure in name resolution", "getaddrinfo",
                                            "no address associated")):
        reason = "the host name does not resolve"
    elif isinstance(exc, httpx.RemoteProtocolError):
        reason = "the connection closed before an answer arrived"
    else:
        reason = str(exc) or type(exc).__name__
    return UpstreamError(what, f"cannot reach the control plane at {root}: {reason}", code="UNREACHABLE",
                         hint="check the URL (--url, OPENCRANE_URL or the context) and that the server is up")


def _excerpt(text: str) -> str:
    """A readable one-line excerpt of a non-JSON body (HTML reduced to its visible text)."""
    text = re.sub(r"(?is)<(head|script|style)\b.*?</\1\s*>", " ", text)
    text = re.sub(r"(?s)<[^>]*>", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def error_from_response(response: httpx.Response, what: str) -> OcError:
    """Map a non-2xx answer to the ``OcError`` of its status, keeping the server's words."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    envelope = isinstance(body, dict) and (isinstance(body.get("error"), str) or isinstance(body.get("status"), str))
    if not envelope:
        return _plain_error(status, response, what)

    message = body.get("error") if isinstance(body.get("error"), str) else None
    status_word = body.get("status") if isinstance(body.get("status"), str) else None
    code = body.get("code") if isinstance(body.get("code"), str) else None
    why = message or f"HTTP {status} {status_word}"
    detail = body.get("detail")
    if isinstance(detail, str) and detail.strip() and detail.strip() != message:
        why = f"{why} ({detail.strip()})"

    if status == 503 and status_word == "unconfigured":
        return UnconfiguredError(what, message or "the control plane reports this feature as unconfigured",
                                 code=code or "UNCONFIGURED")
    if status == 403 and code is None and message == "Invalid token":
        # The auth middleware's rejection of the bearer token (§1.3): a login problem, not scope.
        return AuthRequiredError(what, f"the control plane rejected the token ({message})",
                                 code="INVALID_TOKEN", hint=LOGIN_HINT)
    cls = _STATUS_CLASSES.get(status, UpstreamError)
    hint = None
    if cls is AuthRequiredError:
        hint = LOGIN_HINT
    elif code == "FORBIDDEN_SCOPE":
        hint = FORBIDDEN_SCOPE_HINT
    if code is None:
        code = status_word.upper() if status_word else (cls.default_code if status in _STATUS_CLASSES else f"HTTP_{status}")
    return cls(what, why, code=code, hint=hint)


def _plain_error(status: int, response: httpx.Response, what: str) -> OcError:
    """A body that is not the envelope: rate limiter, ingress, or a route the server lacks."""
    excerpt = _excerpt(response.text)
    why = f"HTTP {status} {response.reason_phrase}" + (f": {excerpt}" if excerpt else "")
    if status == 429:
        return UpstreamError(what, why, code="RATE_LIMITED",
                             hint="the control plane allows about 1000 requests a minute per client; wait and retry")
    cls = _STATUS_CLASSES.get(status, UpstreamError)
    hint = None
    if status == 404 and excerpt.startswith("Cannot "):
        hint = "this control plane does not offer that endpoint (an older or different server version?)"
    elif cls is AuthRequiredError:
        hint = LOGIN_HINT
    return cls(what, why, code=f"HTTP_{status}", hint=hint)
