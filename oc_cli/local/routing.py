"""Local backend: skill postures, routing defaults, and resolution."""

from __future__ import annotations

import sqlite3
from typing import Iterable

from oc_cli.domain import resolution
from oc_cli.domain.allowlist import Allowlist
from oc_cli.domain import validation as v
from oc_cli.domain.ids import new_id, now_iso
from oc_cli.domain.skillkey import SkillKey
from oc_cli.errors import ForbiddenError, NotFoundError, ValidationError
from oc_cli.local.base import Json, LocalBase, default_row, dumps, loads, skill_row


class RoutingMixin(LocalBase):
    # ===== skills ================================================================================
    def skill_visible(self, team: str) -> bool:
        return self.tenant is None or not team or team == self.tenant

    def _skill(self, c: sqlite3.Connection, key: SkillKey) -> sqlite3.Row | None:
        return c.execute("SELECT * FROM skills WHERE name = ? AND scope = ? AND team = ?",
                         (key.name, key.scope, key.team)).fetchone()

    def ensure_skill(self, c: sqlite3.Connection, key: SkillKey) -> sqlite3.Row:
        """Register a skill the first time something names it (saying so on stderr)."""
        row = self._skill(c, key)
        if row is not None:
            return row
        if key.team:
            self.require_tenant_exists(c, key.team, "skill team")
        now = now_iso()
        c.execute("INSERT INTO skills (name, scope, team, path, created_at, updated_at) VALUES (?,?,?,?,?,?)",
                  (key.name, key.scope, key.team, str(key), now, now))
        self.audit(c, "SkillRegistered", f"Skill/{key}", f"Skill {key} registered", tenant=key.tenant)
        self.note(f"registered skill {key}")
        return self._skill(c, key)

    def require_skill_owner(self, key: SkillKey, what: str) -> None:
        if key.team:
            self.require_owner("clusterTenant", key.team, what)
        else:
            self.require_owner("global", None, what)

    # ===== postures ==============================================================================
    def list_postures(self) -> list[Json]:
        rows = self.conn.execute("SELECT * FROM skills ORDER BY scope, team, name").fetchall()
        return [skill_row(r) for r in rows if self.skill_visible(r["team"])]

    def get_posture(self, key: SkillKey) -> Json:
        row = self._skill(self.conn, key)
        if row is None or not self.skill_visible(key.team):
            raise NotFoundError(f"skill '{key}' not found", code="SKILL_NOT_FOUND",
                                hint="list them with: oc skill-posture list")
        return skill_row(row)

    def _check_auto_config(self, c: sqlite3.Connection, cfg: Json, tenant: str | None) -> Json:
        return v.auto_config(cfg, check_model=lambda m, field: self.check_model_usable(c, m, tenant, field))

    def set_posture(self, key: SkillKey, *, mode: str | None, pinned_model: str | None = None,
                    auto_config: Json | None = None) -> Json:
        if mode not in ("pinned", "auto", None):
            raise ValidationError(f"--mode: invalid mode {mode!r}", "expected pinned, auto or null")
        self.require_skill_owner(key, f"skill-posture set {key}")
        if mode == "pinned":
            pinned_model = v.name(pinned_model, "--pinned-model", what="model name")
        with self.store.write() as c:
            if key.team:
                self.require_tenant_exists(c, key.team, "skill team")
            if mode == "pinned":
                self.check_model_usable(c, pinned_model, key.tenant, "--pinned-model")
            if mode is None and self._skill(c, key) is None:
                raise NotFoundError(f"skill '{key}' not found", "there is no posture to clear",
                                    code="SKILL_NOT_FOUND", hint="list them with: oc skill-posture list")
            cfg = None
            if mode == "auto":
                cfg = dict(v.DEFAULT_AUTO_CONFIG) if auto_config is None else auto_config
                self._check_auto_config(c, cfg, key.tenant)
            row = self.ensure_skill(c, key)
            before = skill_row(row)
            c.execute("UPDATE skills SET model_mode = ?, pinned_model = ?, auto_config = ?, updated_at = ? "
                      "WHERE name = ? AND scope = ? AND team = ?",
                      (mode, pinned_model if mode == "pinned" else None, dumps(cfg), now_iso(),
                       key.name, key.scope, key.team))
            after = skill_row(self._skill(c, key))
            if mode == "pinned":
                msg = f"Skill {key} pinned to {pinned_model}"
            elif mode == "auto":
                msg = f"Skill {key} set to auto ({cfg.get('objective')})"
            else:
                msg = f"Skill {key} posture cleared"
            self.audit(c, "SkillPostureSet" if mode else "SkillPostureCleared", f"Skill/{key}", msg,
                       tenant=key.tenant, before=before, after=after)
            if mode == "pinned" and not key.team:
                blocked = [t for (t,) in c.execute("SELECT name FROM cluster_tenants ORDER BY name")
                           if not self.allowlist(c, t).allows(pinned_model)]
                if blocked:
                    shown = ", ".join(blocked[:5]) + (f" and {len(blocked) - 5} more" if len(blocked) > 5 else "")
                    self.note(f"'{pinned_model}' is not on the allowlist of ClusterTenant {shown}: "
                              f"resolution for them is blocked until it is granted")
        return after

    # ===== defaults ==============================================================================
    def list_defaults(self, *, cluster_tenant: str | None = None) -> list[Json]:
        sql, args = "SELECT * FROM routing_defaults", []
        if cluster_tenant:
            sql += " WHERE cluster_tenant = ?"
            args.append(cluster_tenant)
        rows = [default_row(r) for r in self.conn.execute(sql + " ORDER BY created_at, id", args)]
        return [r for r in rows if self.visible(r["scope"], r["clusterTenant"])]

    def _default(self, c: sqlite3.Connection, ref: str) -> sqlite3.Row:
        if ref == "global":
            r = c.execute("SELECT * FROM routing_defaults WHERE scope = 'global'").fetchone()
        else:
            r = c.execute("SELECT * FROM routing_defaults WHERE id = ? OR (scope = 'clusterTenant' AND "
                          "cluster_tenant = ?)", (ref, ref)).fetchone()
        if r is None or not self.visible(r["scope"], r["cluster_tenant"]):
            raise NotFoundError(f"model-routing default '{ref}' not found", code="MODEL_ROUTING_DEFAULT_NOT_FOUND",
                                hint="list them with: oc model-default list")
        return r

    def get_default(self, ref: str) -> Json:
        return default_row(self._default(self.conn, ref))

    def set_default(self, *, cluster_tenant: str | None, default_model: str | None,
                    auto_config: Json | None, fields: set[str]) -> Json:
        scope, ct = self.scope_for(None, cluster_tenant)
        self.require_owner(scope, ct, "model-default set")
        if "defaultModel" in fields and default_model is not None:
            default_model = v.name(default_model, "--model", what="model name")
        if not fields:
            raise ValidationError("model-default set: nothing to set", "give --model and/or --auto-config")
        with self.store.write() as c:
            if ct:
                self.require_tenant_exists(c, ct)
            if "defaultModel" in fields and default_model is not None:
                self.check_model_usable(c, default_model, ct, "--model")
            if "autoConfig" in fields and auto_config is not None:
                self._check_auto_config(c, auto_config, ct)
            cur = c.execute("SELECT * FROM routing_defaults WHERE scope = ? AND ifnull(cluster_tenant,'') = ?",
                            (scope, ct or "")).fetchone()
            before = default_row(cur) if cur else None
            model = default_model if "defaultModel" in fields else (cur["default_model"] if cur else None)
            cfg = auto_config if "autoConfig" in fields else (loads(cur["auto_config"]) if cur else None)
            if model is None and cfg is None:
                raise ValidationError("at least one of --model or --auto-config is required",
                                      "a default with neither would never apply",
                                      hint="remove it instead: oc model-default remove " + (ct or "global"))
            now = now_iso()
            if cur:
                c.execute("UPDATE routing_defaults SET default_model = ?, auto_config = ?, updated_at = ? WHERE id = ?",
                          (model, dumps(cfg), now, cur["id"]))
                did = cur["id"]
            else:
                did = new_id()
                c.execute("INSERT INTO routing_defaults (id, scope, cluster_tenant, default_model, auto_config, "
                          "created_at, updated_at) VALUES (?,?,?,?,?,?,?)", (did, scope, ct, model, dumps(cfg), now, now))
            after = default_row(c.execute("SELECT * FROM routing_defaults WHERE id = ?", (did,)).fetchone())
            where = f"ClusterTenant {ct}" if ct else "global"
            self.audit(c, "ModelDefaultSet", f"ModelRoutingDefault/{did}",
                       f"Default model ({where}) set to {model or '(none)'}"
                       + (" with autoConfig" if cfg is not None else ""), tenant=ct, before=before, after=after)
        return after

    def delete_default(self, ref: str) -> Json:
        with self.store.write() as c:
            cur = self._default(c, ref)
            self.require_owner(cur["scope"], cur["cluster_tenant"], f"model-default remove {ref}")
            c.execute("DELETE FROM routing_defaults WHERE id = ?", (cur["id"],))
            where = f"ClusterTenant {cur['cluster_tenant']}" if cur["cluster_tenant"] else "global"
            self.audit(c, "ModelDefaultDeleted", f"ModelRoutingDefault/{cur['id']}", f"Default model ({where}) removed",
                       tenant=cur["cluster_tenant"], before=default_row(cur))
        return {"id": cur["id"], "status": "deleted"}

    # ===== resolution ============================================================================
    def _resolve(self, c: sqlite3.Connection, key: SkillKey, tenant: str | None,
                 request_model: str | None,
                 allowlists: dict[str, Allowlist] | None = None) -> Json:
        row = self._skill(c, key)
        posture = None
        if row is not None:
            posture = resolution.Posture(row["model_mode"], row["pinned_model"], loads(row["auto_config"]))

        def default(scope: str, ct: str | None) -> resolution.Default | None:
            d = c.execute("SELECT * FROM routing_defaults WHERE scope = ? AND ifnull(cluster_tenant,'') = ?",
                          (scope, ct or "")).fetchone()
            return None if d is None else resolution.Default(d["default_model"], loads(d["auto_config"]))

        al = ((allowlists or {}).get(tenant) or self.allowlist(c, tenant)) if tenant else None
        result = resolution.resolve(
            posture=posture,
            tenant_default=default("clusterTenant", tenant) if tenant else None,
            global_default=default("global", None),
            request_model=request_model,
            tenant=tenant,
            allows=al.allows if al is not None else None,
        )
        registered = None
        model = result["model"] or result["blockedModel"]
        if model:
            if tenant:
                registered = c.execute(
                    "SELECT 1 FROM models WHERE public_model_name = ? AND (scope = 'global' OR cluster_tenant = ?)",
                    (model, tenant)).fetchone() is not None
            else:
                registered = model in self.global_model_names(c)
        out: Json = {
            "skill": str(key),
            "name": key.name,
            "scope": key.scope,
            "team": key.team,
            "clusterTenant": tenant,
            "skillRegistered": row is not None,
            "requestModel": request_model,
        }
        out.update(result)
        # One "registered" flag per thing, named for it, in the API's style (`litellmRegistered`):
        # a bare `registered` next to `skillRegistered` read as the same fact said twice.
        out["modelRegistered"] = registered
        return out

    def _resolve_tenant(self, key: SkillKey, cluster_tenant: str | None) -> str | None:
        if cluster_tenant is not None:
            cluster_tenant = v.tenant_name(cluster_tenant)
        if key.team and cluster_tenant and cluster_tenant != key.team:
            raise ValidationError(
                f"--cluster-tenant {cluster_tenant} does not own skill {key}",
                f"a team skill belongs to ClusterTenant '{key.team}'")
        tenant = cluster_tenant or key.team or self.tenant
        if self.tenant is not None and tenant != self.tenant:
            raise ForbiddenError(f"resolve {key}: not allowed for ClusterTenant '{self.tenant}'",
                                 f"it resolves for ClusterTenant '{tenant}'" if tenant else "it is an operator-only view")
        return tenant

    def resolve(self, key: SkillKey, *, cluster_tenant: str | None = None,
                request_model: str | None = None) -> Json:
        tenant = self._resolve_tenant(key, cluster_tenant)
        if request_model is not None:
            request_model = v.name(request_model, "--request-model", what="model name")
        with self.store.read() as c:
            if tenant:
                self.require_tenant_exists(c, tenant)
            if not key.team or self.skill_visible(key.team):
                return self._resolve(c, key, tenant, request_model)
            raise NotFoundError(f"skill '{key}' not found", code="SKILL_NOT_FOUND")

    def blocked_skills(self, c: sqlite3.Connection, tenant: str, models: Iterable[str]) -> list[Json]:
        """The registered skills that resolve to blocked for ``tenant`` on one of ``models``
        (pinned to it, or on auto or without a posture and falling to a default that names it):
        the tenant's team skills and every skill without a team, through the resolution itself."""
        models = set(models)
        if not models:
            return []
        al = {tenant: self.allowlist(c, tenant)}
        out = []
        for r in c.execute("SELECT name, scope, team FROM skills WHERE team = '' OR team = ? "
                           "ORDER BY scope, team, name", (tenant,)).fetchall():
            res = self._resolve(c, SkillKey(r["name"], r["scope"], r["team"]), tenant, None, al)
            if res["blocked"] and res["blockedModel"] in models:
                out.append({"skill": res["skill"], "source": res["source"], "blockedModel": res["blockedModel"]})
        return out

    def resolve_all(self) -> list[Json]:
        out: list[Json] = []
        with self.store.read() as c:
            tenants = [r[0] for r in c.execute("SELECT name FROM cluster_tenants ORDER BY name")]
            if self.tenant is not None:
                tenants = [t for t in tenants if t == self.tenant]
            # every skill × tenant pair needs its tenant's allowlist: build each once, from one registry read
            models = self.all_models(c)
            allowlists = {t: self.allowlist(c, t, models) for t in tenants}
            for r in c.execute("SELECT name, scope, team FROM skills ORDER BY scope, team, name").fetchall():
                key = SkillKey(r["name"], r["scope"], r["team"])
                if key.team:
                    if self.skill_visible(key.team):
                        out.append(self._resolve(c, key, key.team, None, allowlists))
                    continue
                targets: list[str | None] = ([None] if self.tenant is None else []) + tenants
                for t in targets:
                    out.append(self._resolve(c, key, t, None, allowlists))
        return out

