"""Remote mode: the OpenCrane control plane's REST API (opencrane-api.md) behind the ControlPlane protocol.

``client`` speaks HTTP (httpx) and maps answers to ``OcError``; ``backend`` maps each protocol
method to its endpoint; ``auth`` stores tokens and runs the device flow. httpx is imported only
by ``client`` (and lazily by ``auth.device_login``), so local mode never pays for it.

``server_root`` lives here because the client and the token store both key on it and neither
should import the other at module level.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from oc_cli.errors import ValidationError

API_PREFIX = "/api/v1"


def server_root(url: str) -> str:
    """The server root that tokens are stored under: no trailing ``/`` and no ``/api/v1``.

    The reference CLI strips trailing slashes and appends ``/api/v1`` (opencrane-api §1.1);
    accepting a URL that already ends in ``/api/v1`` spares users a confusing double prefix.
    """
    text = (url or "").strip().rstrip("/")
    if text.endswith(API_PREFIX):
        text = text[: -len(API_PREFIX)].rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError(
            f"invalid control-plane URL {url!r}",
            "expected http://HOST[:PORT] or https://HOST[:PORT]",
            hint="set it with --url, OPENCRANE_URL or a context's url",
        )
    return text
