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

    _state.update(options=options, settings=None, backend=None)
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

            _state["backend"] = LocalControlPlane(s.db_path, tenant=s.tenant, actor=s.actor, settings=s)
    return _state["backend"]


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
