"""A ClusterTenant's allowlist: the models it owns plus the global models granted to it.

Pure: the caller passes the registry rows and the tenant's grants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from oc_cli.errors import ForbiddenError


@dataclass(frozen=True)
class Allowlist:
    tenant: str
    owned: tuple[str, ...] = ()
    granted: tuple[str, ...] = ()
    grant_all_global: bool = False
    sources: Mapping[str, str] = field(default_factory=dict)  # model name -> "owned" | "granted" | "all-global"

    @property
    def models(self) -> list[str]:
        return list(self.sources)

    def allows(self, model: str) -> bool:
        return model in self.sources


def compute(
    tenant: str,
    models: Iterable[Mapping[str, Any]],
    granted_ids: Iterable[str],
    *,
    grant_all_global: bool = False,
) -> Allowlist:
    """``models``: registry rows (wire shape). Owned models first, then granted global ones,
    each in registration order; a name appears once (an owned model shadows a global one)."""
    rows = sorted(models, key=lambda m: (m.get("createdAt") or "", m["id"]))
    granted = set(granted_ids)
    sources: dict[str, str] = {}
    owned: list[str] = []
    got: list[str] = []
    for m in rows:
        if m["scope"] == "clusterTenant" and m.get("clusterTenant") == tenant:
            if m["publicModelName"] not in sources:
                sources[m["publicModelName"]] = "owned"
                owned.append(m["publicModelName"])
    for m in rows:
        if m["scope"] != "global":
            continue
        name = m["publicModelName"]
        if name in sources:
            continue
        if grant_all_global:
            sources[name] = "all-global"
            got.append(name)
        elif m["id"] in granted:
            sources[name] = "granted"
            got.append(name)
    return Allowlist(tenant, tuple(owned), tuple(got), grant_all_global, sources)


def not_allowed(model: str, tenant: str, *, what: str | None = None, registered_global: bool = True) -> ForbiddenError:
    subject = f"{what}: " if what else ""
    hint = (
        f"grant it with: oc cluster-tenant grant {tenant} --model {model}"
        if registered_global
        else f"register it for the tenant with: oc model add --name {model} --upstream <provider/model> "
        f"--scope clusterTenant --cluster-tenant {tenant}"
    )
    return ForbiddenError(
        f"{subject}model '{model}' is not allowed for ClusterTenant '{tenant}'",
        "it is not on the tenant's allowlist (the models it owns plus the global models granted to it)",
        code="MODEL_NOT_ALLOWED",
        hint=hint,
    )
