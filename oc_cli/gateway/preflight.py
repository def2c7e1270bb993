"""The gateway preflight: one request that proves a measurement can run before it starts.

``measurement run`` (and ``--resume``) asks the gateway, once, which models it serves to the
configured key, before any case is sent and before the progress bar appears. A refused key, an
unreachable gateway or a model it does not serve is then one clear error (exit 1) and nothing is
recorded, instead of a run whose every call fails. ``oc doctor`` asks the same question through
the same function.

The answer also carries each model's upstream (LiteLLM's ``/model/info`` gives
``litellm_params.model``), which the judge-independence rule uses for a judge that is not
registered in ``oc``: the gateway, not the judge's public name, knows whose model it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oc_cli.errors import UpstreamError

#: How long the preflight waits for the gateway (one attempt, no retries).
PREFLIGHT_TIMEOUT_S = 3.0


def fetch_served(seams: dict[str, Any], *, timeout: float = PREFLIGHT_TIMEOUT_S):
    """The gateway's ``ServedModels`` for the configured key; ``UpstreamError`` when it cannot say.

    The error names the problem: an unreachable gateway, a refused key, an unreadable answer.
    """
    import asyncio

    from oc_cli.gateway.client import GatewayClient

    async def ask():
        async with GatewayClient(seams["url"], seams["key"], timeout=timeout, max_attempts=1) as gateway:
            return await gateway.served_models()

    return asyncio.run(ask())


def missing_models(served, models: Sequence[str]) -> list[str]:
    """The names in ``models`` (in order, once each) that the gateway does not serve."""
    have = set(served.names)
    out: list[str] = []
    for name in models:
        if name and name not in have and name not in out:
            out.append(name)
    return out


def require_served(served, models: Sequence[str], url: str) -> None:
    """Raise one ``UpstreamError`` naming every model of ``models`` the gateway does not serve."""
    missing = missing_models(served, models)
    if not missing:
        return
    shown = ", ".join(sorted(served.names)[:8]) + (", …" if len(served.names) > 8 else "")
    serves = f"it serves {shown}" if served.names else "it serves no model to this key"
    plural = "s" if len(missing) != 1 else ""
    raise UpstreamError(
        f"gateway {url} does not serve model{plural} {', '.join(missing)}", serves,
        code="MODEL_NOT_SERVED",
        hint="add them to the LiteLLM proxy's model_list under these public names, or measure models it serves")


def preflight(seams: dict[str, Any], models: Sequence[str], *, timeout: float = PREFLIGHT_TIMEOUT_S):
    """One GET to the gateway: the key is accepted and every name in ``models`` is served.

    Returns the gateway's ``ServedModels`` (names and upstreams); raises ``UpstreamError``
    (exit 1) otherwise. ``models`` is every model the run calls: baseline, candidate(s), judge.
    """
    served = fetch_served(seams, timeout=timeout)
    require_served(served, models, seams["url"])
    return served
