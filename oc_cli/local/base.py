"""Shared machinery of the local backend: the store, the caller's identity, row mapping,
ownership checks, allowlists, and the audit append that every mutation calls in its transaction.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable

from oc_cli import schema
from oc_cli.domain import allowlist as allowlist_rules
from oc_cli.domain import audit as audit_chain
from oc_cli.domain.ids import now_iso
from oc_cli.errors import ForbiddenError, NotFoundError, ValidationError
from oc_cli.local.store import Store

Json = dict[str, Any]


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def litellm_id(stored: str | None) -> str | None:
    """A model's LiteLLM deployment id on the wire: None in local mode.

    Local mode registers nothing with LiteLLM (the proxy loads the config oc writes and names
    deployments itself), so there is no real id to report. The column keeps the reference's
    ``placeholder:<slug>`` (opencrane-api §2.3) only because it carries the reference's
    uniqueness rule; it is never shown as if it were an id.
    """
    return None if stored is None or stored.startswith("placeholder:") else stored


def model_row(r: sqlite3.Row) -> Json:
    row = schema.MODEL.from_row(r)
    row["litellmModelId"] = litellm_id(row["litellmModelId"])
    return row


def credential_row(r: sqlite3.Row) -> Json:
    return schema.CREDENTIAL.from_row(r)


def default_row(r: sqlite3.Row) -> Json:
    return schema.DEFAULT.from_row(r)


def skill_row(r: sqlite3.Row) -> Json:
    return schema.POSTURE.from_row(r)


def placeholder_id(scope: str, cluster_tenant: str | None, name: str) -> str:
    """The reference's placeholder LiteLLM id (opencrane-api §2.3)."""
    import re

    slug = f"{scope}:{cluster_tenant or ''}:{name}".lower()
    slug = re.sub(r"[^a-z0-9]+", "-", slug)
    if slug.startswith("-"):
        slug = slug[1:]
    if slug.endswith("-"):
        slug = slug[:-1]
    return f"placeholder:{slug}"


class LocalBase:
    mode = "local"

    def __init__(self, db_path: Path | str, *, tenant: str | None = None, actor: str = "unknown",
                 settings: Any = None) -> None:
        self.store = Store(db_path)
        self.tenant = tenant
        self.actor = actor
        self.settings = settings
        self.notices: list[str] = []  # human notes for stderr (e.g. "registered skill …")

    def close(self) -> None:
        self.store.close()

    @property
    def conn(self) -> sqlite3.Connection:
        return self.store.conn

    # -- identity and ownership -------------------------------------------------------------------
    def visible(self, scope: str, cluster_tenant: str | None) -> bool:
        return self.tenant is None or scope == "global" or cluster_tenant == self.tenant

    def require_owner(self, scope: str, cluster_tenant: str | None, what: str) -> None:
        """Operators change anything; a tenant identity only what its tenant owns."""
        if self.tenant is None:
            return
        if scope == "clusterTenant" and cluster_tenant == self.tenant:
            return
        owner = "a global resource (operator-only)" if scope == "global" else f"owned by ClusterTenant '{cluster_tenant}'"
        raise ForbiddenError(
            f"{what}: not allowed for ClusterTenant '{self.tenant}'",
            f"it is {owner}; a tenant identity changes only what its tenant owns",
            code="FORBIDDEN_SCOPE",
        )

    def require_operator(self, what: str) -> None:
        if self.tenant is not None:
            raise ForbiddenError(
                f"{what}: operator-only",
                f"the current identity acts as ClusterTenant '{self.tenant}'",
                code="FORBIDDEN_SCOPE",
                hint="run without --as-tenant / OC_AS_TENANT, or use an operator context",
            )

    def require_identity_tenant(self, source: str = "--as-tenant") -> None:
        """The tenant this identity acts as (--as-tenant, OC_AS_TENANT, a context) must exist."""
        if self.tenant is None:
            return
        with self.store.read() as c:
            if c.execute("SELECT 1 FROM cluster_tenants WHERE name = ?", (self.tenant,)).fetchone() is None:
                raise NotFoundError(f"{source}: ClusterTenant '{self.tenant}' not found",
                                    "every command would act as a tenant that does not exist",
                                    code="CLUSTER_TENANT_NOT_FOUND",
                                    hint="an operator lists them with: oc cluster-tenant list")

    def require_tenant_exists(self, c: sqlite3.Connection, name: str, flag: str = "--cluster-tenant") -> None:
        if c.execute("SELECT 1 FROM cluster_tenants WHERE name = ?", (name,)).fetchone() is None:
            if self.tenant is not None and name != self.tenant:
                raise NotFoundError(f"{flag}: ClusterTenant '{name}' not found")
            raise NotFoundError(
                f"{flag}: ClusterTenant '{name}' not found",
                hint=f"create it with: oc cluster-tenant create {name}",
                code="CLUSTER_TENANT_NOT_FOUND",
            )

    def scope_for(self, scope: str | None, cluster_tenant: str | None, flag: str = "--scope") -> tuple[str, str | None]:
        """Normalise (scope, clusterTenant) from flags; infer what the user clearly meant."""
        from oc_cli.domain import validation as v

        if cluster_tenant is not None and str(cluster_tenant).strip() == "":
            cluster_tenant = None
        if scope is None:
            if cluster_tenant is not None:
                scope = "clusterTenant"
            elif self.tenant is not None:
                scope, cluster_tenant = "clusterTenant", self.tenant
            else:
                scope = "global"
        v.scope(scope, flag)
        if scope == "clusterTenant":
            if cluster_tenant is None:
                raise ValidationError("--cluster-tenant is required when --scope is clusterTenant")
            cluster_tenant = v.tenant_name(cluster_tenant)
        else:
            if cluster_tenant is not None:
                raise ValidationError("--cluster-tenant cannot be combined with --scope global")
        return scope, cluster_tenant

    # -- models and allowlists -------------------------------------------------------------------
    def all_models(self, c: sqlite3.Connection) -> list[Json]:
        return [model_row(r) for r in c.execute("SELECT * FROM models ORDER BY created_at, id")]

    def allowlist(self, c: sqlite3.Connection, tenant: str,
                  models: list[Json] | None = None) -> allowlist_rules.Allowlist:
        """``models``: the registry, when the caller already has it (computing many allowlists)."""
        t = c.execute("SELECT grant_all_global FROM cluster_tenants WHERE name = ?", (tenant,)).fetchone()
        grants = [r[0] for r in c.execute("SELECT model_id FROM tenant_grants WHERE cluster_tenant = ?", (tenant,))]
        return allowlist_rules.compute(tenant, self.all_models(c) if models is None else models, grants,
                                       grant_all_global=bool(t and t["grant_all_global"]))

    def global_model_names(self, c: sqlite3.Connection) -> set[str]:
        return {r[0] for r in c.execute("SELECT public_model_name FROM models WHERE scope = 'global'")}

    def check_model_usable(self, c: sqlite3.Connection, model: str, tenant: str | None, what: str) -> None:
        """``model`` must be registered and, when a tenant applies, on its allowlist."""
        if tenant:
            al = self.allowlist(c, tenant)
            if al.allows(model):
                return
            registered = c.execute(
                "SELECT scope, cluster_tenant FROM models WHERE public_model_name = ?", (model,)
            ).fetchall()
            if not registered:
                raise NotFoundError(f"{what}: model '{model}' is not registered",
                                    hint="register it with: oc model add --name ... --upstream ...",
                                    code="MODEL_NOT_FOUND")
            is_global = any(r["scope"] == "global" for r in registered)
            raise allowlist_rules.not_allowed(model, tenant, what=what, registered_global=is_global)
        if model not in self.global_model_names(c):
            tenant_owned = c.execute(
                "SELECT cluster_tenant FROM models WHERE public_model_name = ? AND scope = 'clusterTenant'", (model,)
            ).fetchall()
            if tenant_owned:
                owners = ", ".join(sorted({r[0] for r in tenant_owned}))
                raise ForbiddenError(
                    f"{what}: model '{model}' is owned by ClusterTenant {owners}",
                    "a global setting can only name a global model",
                    code="MODEL_NOT_ALLOWED",
                )
            raise NotFoundError(f"{what}: model '{model}' is not registered",
                                hint="register it with: oc model add --name ... --upstream ...",
                                code="MODEL_NOT_FOUND")

    # -- audit --------------------------------------------------------------------------------------
    def audit(self, c: sqlite3.Connection, action: str, resource: str, message: str, *,
              tenant: str | None = None, before: Any = None, after: Any = None) -> None:
        """Append one hash-chained entry inside the caller's transaction."""
        head = c.execute("SELECT value FROM meta WHERE key = 'audit_head'").fetchone()
        if head:
            last_seq, prev = json.loads(head[0])
        else:
            last_seq, prev = 0, audit_chain.GENESIS
        entry = {
            "seq": last_seq + 1,
            "timestamp": now_iso(),
            "actor": self.actor,
            "tenant": tenant,
            "action": action,
            "resource": resource,
            "message": message,
            "before": before,
            "after": after,
        }
        h = audit_chain.entry_hash(entry, prev)
        c.execute(
            "INSERT INTO audit_log (seq, timestamp, actor, tenant, action, resource, message, before, after, "
            "prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (entry["seq"], entry["timestamp"], entry["actor"], tenant, action, resource, message,
             dumps(before), dumps(after), prev, h),
        )
        c.execute("INSERT INTO meta (key, value) VALUES ('audit_head', ?) "
                  "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                  (json.dumps([entry["seq"], h]),))

    def note(self, text: str) -> None:
        self.notices.append(text)


def skill_where(skill_name: str | None, skill_scope: str | None, skill_team: str | None) -> tuple[str, list[str]]:
    """The list filters of eval cases and measurements: name and scope only when non-empty; an
    empty team is a real filter (org skills), as the control plane treats ``skillTeam=``."""
    where, args = [], []
    for column, value in (("skill_name", skill_name), ("skill_scope", skill_scope)):
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    if skill_team is not None:
        where.append("skill_team = ?")
        args.append(skill_team)
    return (" WHERE " + " AND ".join(where) if where else ""), args


def names(rows: Iterable[Json], key: str = "publicModelName") -> list[str]:
    return [r[key] for r in rows]
