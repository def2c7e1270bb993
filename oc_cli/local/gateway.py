"""Local backend: the LiteLLM proxy config of a scope, read from the database in one snapshot.

Every ``skill:`` alias comes from ``RoutingMixin._resolve`` — the code behind ``oc resolve`` — so
the gateway serves exactly what ``oc resolve`` answers. The mapping itself is
``oc_cli.domain.gatewayconfig.build``.
"""

from __future__ import annotations

import json

from oc_cli.domain import validation as v
from oc_cli.domain.skillkey import SkillKey
from oc_cli.errors import ForbiddenError
from oc_cli.local.base import Json, credential_row, loads
from oc_cli.local.routing import RoutingMixin


class GatewayMixin(RoutingMixin):
    def gateway_export(self, *, cluster_tenant: str | None = None) -> Json:
        """``{config, warnings, header, scope, clusterTenant, auditHead}`` for the global scope
        (global models, skills without a team) or for one ClusterTenant (its allowlist, its skills
        and the org-wide ones, resolved for it)."""
        tenant = v.tenant_name(cluster_tenant) if cluster_tenant is not None else self.tenant
        if self.tenant is not None and tenant != self.tenant:
            raise ForbiddenError(f"gateway export --cluster-tenant {tenant}: not allowed for ClusterTenant "
                                 f"'{self.tenant}'", "a tenant identity exports only its own gateway config")
        label = f"ClusterTenant '{tenant}'" if tenant else "the global scope"
        with self.store.read() as c:
            if tenant:
                self.require_tenant_exists(c, tenant)
            registry = self.all_models(c)
            if tenant:
                allowlist = self.allowlist(c, tenant, registry)
                rows: dict[str, Json] = {}
                for m in registry:  # the tenant's own model shadows a global one of the same name
                    source = allowlist.sources.get(m["publicModelName"])
                    if source is None:
                        continue
                    own = m["scope"] == "clusterTenant" and m["clusterTenant"] == tenant
                    if own if source == "owned" else m["scope"] == "global":
                        rows.setdefault(m["publicModelName"], m)
                models = list(rows.values())
                allowlists = {tenant: allowlist}
            else:
                models = [m for m in registry if m["scope"] == "global"]
                allowlists = {}
            credentials = {r["id"]: credential_row(r) for r in c.execute("SELECT * FROM credentials")}

            skills = [SkillKey(r["name"], r["scope"], r["team"]) for r in
                      c.execute("SELECT name, scope, team FROM skills ORDER BY scope, team, name")]
            mine = [k for k in skills if not k.team or k.team == tenant]
            resolutions = [self._resolve(c, k, tenant, None, allowlists) for k in mine]
            others = len(skills) - len(mine)

            chains = []
            for scope, ct, what in (("clusterTenant", tenant, f"ClusterTenant default of '{tenant}'"),
                                    ("global", None, "Global default")):
                if scope == "clusterTenant" and not tenant:
                    continue
                d = c.execute("SELECT default_model, auto_config FROM routing_defaults WHERE scope = ? AND "
                              "ifnull(cluster_tenant,'') = ?", (scope, ct or "")).fetchone()
                if d is not None and d["default_model"]:
                    chains.append((what, d["default_model"], (loads(d["auto_config"]) or {}).get("fallbacks")))
            head = c.execute("SELECT value FROM meta WHERE key = 'audit_head'").fetchone()
        audit_head = tuple(json.loads(head[0])) if head else None

        from oc_cli.domain import gatewayconfig  # only the gateway verbs need it

        config, warnings = gatewayconfig.build(models=models, credentials=credentials, resolutions=resolutions,
                                               default_chains=chains, scope_label=label)
        if others and not tenant:
            warnings.append(f"{others} team skill{'s' if others != 1 else ''} left out of the global config: "
                            "each ClusterTenant's gateway gets its own (oc gateway export --cluster-tenant T)")
        return {
            "config": config,
            "warnings": warnings,
            "header": gatewayconfig.header(label, audit_head),
            "scope": "clusterTenant" if tenant else "global",
            "clusterTenant": tenant,
            "auditHead": {"seq": audit_head[0], "hash": audit_head[1]} if audit_head else None,
        }
