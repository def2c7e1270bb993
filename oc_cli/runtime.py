"""Per-call state: the global options, the resolved settings and the selected backend.

The root callback stores the options; commands ask for ``backend()`` and get the local SQLite
control plane or the remote one, created once per call and closed by ``app.main``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oc_cli.settings import Options, Settings
from oc_cli.settings import resolve as _resolve

if TYPE_CHECKING:
    from oc_cli.controlplane import ControlPlane

_state: dict = {"options": Options(), "settings": None, "backend": None}


def configure(options: Options) -> None:
    from oc_cli.output import set_no_color

    _state.update(options=options, settings=None, backend=None, creating=False)
    set_no_color(options.no_color)


def options() -> Options:
    return _state["options"]


def settings() -> Settings:
    if _state["settings"] is None:
        _state["settings"] = _resolve(_state["options"])
    return _state["settings"]


def backend() -> "ControlPlane":
    if _state["backend"] is None:
        s = settings()
        if s.mode == "remote":
            _state["backend"] = _remote(s)
        else:
            from oc_cli.local.backend import LocalControlPlane

            b = LocalControlPlane(s.db_path, tenant=s.tenant, actor=s.actor, settings=s)
            _state["backend"] = b
            if b.store.created and s.db_source == "--db" and not _state.get("creating"):
                # a mistyped --db path would otherwise quietly answer from a new, empty database
                from oc_cli.output import message

                message(f"note: {s.db_path} did not exist: created a new, empty database there (--db)")
            if s.tenant is not None:
                b.require_identity_tenant(s.tenant_source or "--as-tenant")
    return _state["backend"]


def creating_database() -> None:
    """`oc init` says itself that it created the database."""
    _state["creating"] = True


def local_backend(feature: str) -> "ControlPlane":
    """The backend, which must be local for ``feature`` (e.g. 'cluster-tenant grant')."""
    b = backend()
    if b.mode != "local":
        from oc_cli.errors import NotSupportedError

        raise NotSupportedError(
            f"{feature}: not supported by the control plane",
            "the OpenCrane REST API has no endpoint for it",
            hint="run it in local mode (unset OPENCRANE_URL / --url, or use a context without a url)",
        )
    return b


def _remote(s: Settings) -> "ControlPlane":
    from oc_cli.errors import AuthRequiredError
    from oc_cli.remote.auth import load_token
    from oc_cli.remote.backend import RemoteControlPlane

    token, _source = load_token(s.url)
    if not token:
        raise AuthRequiredError(
            f"not authenticated to {s.url}",
            "no token in OPENCRANE_TOKEN, the keyring or the credentials file",
            hint="run `oc auth login` (or set OPENCRANE_TOKEN in CI)",
        )
    verify: bool | str = True
    if s.insecure:
        verify = False
    elif s.ca_bundle:
        verify = s.ca_bundle
    return RemoteControlPlane(s.url, token, verify=verify, timeout=s.request_timeout)


def close() -> None:
    b = _state.get("backend")
    if b is not None:
        try:
            b.close()
        finally:
            _state["backend"] = None
