"""One error hierarchy for the whole program, mapped once to a line and an exit code.

Every failure a user can cause or meet is an ``OcError``. ``oc_cli.app`` catches it at the
top and prints exactly one line on stderr::

    error: <what> — <why> [CODE] (hint: <hint>)

then exits with the class's exit code. Nothing else in the program prints errors.
"""

from __future__ import annotations

from typing import Any

# Exit codes (documented in README.md and docs/ci.md).
EXIT_OK = 0
EXIT_FAILURE = 1  # unexpected or upstream failure
EXIT_USAGE = 2  # usage or validation error
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4  # already decided, duplicate, stale
EXIT_FORBIDDEN = 5  # scope, allowlist, raw key
EXIT_UNCONFIGURED = 6  # only when the caller asked for it (--require-configured)
EXIT_AUTH = 7  # authentication required


class OcError(Exception):
    """Base class. ``what`` is the subject, ``why`` the reason, ``code`` a stable identifier."""

    exit_code = EXIT_FAILURE
    default_code = "ERROR"

    def __init__(
        self,
        what: str,
        why: str | None = None,
        *,
        code: str | None = None,
        hint: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(what if why is None else f"{what} — {why}")
        self.what = what
        self.why = why
        self.code = code or self.default_code
        self.hint = hint
        self.details = details or {}

    def line(self) -> str:
        text = self.what if not self.why else f"{self.what} — {self.why}"
        text = " ".join(text.split())  # one line, always
        out = f"error: {text} [{self.code}]"
        if self.hint:
            out += f" (hint: {' '.join(self.hint.split())})"
        return out

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.what if not self.why else f"{self.what} — {self.why}",
                                "code": self.code}
        if self.hint:
            body["hint"] = self.hint
        body.update(self.details)
        return body


class ValidationError(OcError):
    exit_code = EXIT_USAGE
    default_code = "VALIDATION_ERROR"


class UsageError(ValidationError):
    default_code = "USAGE"


class NotFoundError(OcError):
    exit_code = EXIT_NOT_FOUND
    default_code = "NOT_FOUND"


class ConflictError(OcError):
    exit_code = EXIT_CONFLICT
    default_code = "CONFLICT"


class ForbiddenError(OcError):
    exit_code = EXIT_FORBIDDEN
    default_code = "FORBIDDEN_SCOPE"


class UnconfiguredError(OcError):
    exit_code = EXIT_UNCONFIGURED
    default_code = "UNCONFIGURED"


class AuthRequiredError(OcError):
    exit_code = EXIT_AUTH
    default_code = "AUTH_REQUIRED"


class UpstreamError(OcError):
    exit_code = EXIT_FAILURE
    default_code = "UPSTREAM_ERROR"


class NotSupportedError(OcError):
    """A verb the selected backend does not offer (e.g. ``cluster-tenant grant`` in remote mode)."""

    exit_code = EXIT_USAGE
    default_code = "NOT_SUPPORTED"


EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FAILURE: "unexpected or upstream failure (network, server 5xx, gateway)",
    EXIT_USAGE: "usage or validation error (bad flag, bad value, unsupported verb)",
    EXIT_NOT_FOUND: "not found",
    EXIT_CONFLICT: "conflict (duplicate, already decided, stale proposal, in use)",
    EXIT_FORBIDDEN: "forbidden (tenant scope, allowlist, raw key refused)",
    EXIT_UNCONFIGURED: "unconfigured (only with --require-configured)",
    EXIT_AUTH: "authentication required",
}
