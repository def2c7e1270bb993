"""Local backend: provider credentials, the model registry, ClusterTenants and their grants."""

from __future__ import annotations

import sqlite3
from typing import Iterable

from oc_cli.domain import validation as v
from oc_cli.domain.ids import new_id, now_iso
from oc_cli.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from oc_cli.local.base import Json, LocalBase, credential_row, model_row, placeholder_id

_RAW_KEY_FIELDS = ("apiKey", "keyValue", "key")


class RegistryMixin(LocalBase):
    # ===== credentials ===========================================================================
    def list_credentials(self, *, cluster_tenant: str | None = None) -> list[Json]:
        sql, args = "SELECT * FROM credentials", []
        if cluster_tenant:
            sql += " WHERE cluster_tenant = ?"
            args.append(cluster_tenant)
        rows = [credential_row(r) for r in self.conn.execute(sql + " ORDER BY created_at, id", args)]
        return [r for r in rows if self.visible(r["scope"], r["clusterTenant"])]

    def _credential(self, c: sqlite3.Connection, ref: str) -> sqlite3.Row:
        r = c.execute("SELECT * FROM credentials WHERE id = ?", (ref,)).fetchone()
        if r is None or not self.visible(r["scope"], r["cluster_tenant"]):
            raise NotFoundError(f"provider credential '{ref}' not found", code="PROVIDER_CREDENTIAL_NOT_FOUND",
                                hint="list them with: oc credential list")
        return r

    def get_credential(self, ref: str) -> Json:
        return credential_row(self._credential(self.conn, ref))

    def _credential_fields(self, body: Json) -> tuple[str, str, str | None, str | None]:
        for f in _RAW_KEY_FIELDS:
            if body.get(f) is not None:
                raise ForbiddenError(
                    f"raw key field '{f}' is not accepted",
                    "pass --secret-ref (the name of the Secret that holds the key); nothing was written",
                    code="RAW_KEY_REJECTED",
                )
        provider = v.provider(body.get("provider"))
        secret = v.secret_ref(body.get("secretRef"))
        lcn = v.optional_name(body.get("litellmCredentialName"), "--litellm-credential-name")
        return provider, secret, lcn, v.env_var(body.get("envVar"))

    def create_credential(self, body: Json) -> Json:
        provider, secret, lcn, env_var = self._credential_fields(body)
        scope, ct = self.scope_for(body.get("scope"), body.get("clusterTenant"))
        self.require_owner(scope, ct, "credential add")
        now = now_iso()
        cid = new_id()
        with self.store.write() as c:
            if ct:
                self.require_tenant_exists(c, ct)
            dup = c.execute(
                "SELECT id FROM credentials WHERE scope = ? AND ifnull(cluster_tenant,'') = ? AND provider = ?",
                (scope, ct or "", provider)).fetchone()
            if dup:
                raise ConflictError(
                    f"a {scope} credential for provider '{provider}'"
                    + (f" of ClusterTenant '{ct}'" if ct else "") + " already exists",
                    f"it is {dup[0]}", code="CONFLICT",
                    hint=f"change it with: oc credential update {dup[0]} --secret-ref …")
            c.execute(
                "INSERT INTO credentials (id, scope, cluster_tenant, provider, secret_ref, litellm_credential_name,"
                " env_var, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (cid, scope, ct, provider, secret, lcn, env_var, now, now))
            row = credential_row(self._credential(c, cid))
            self.audit(c, "CredentialCreated", f"ProviderCredential/{cid}",
                       f"Provider credential {cid} ({provider}, secretRef {secret}) created", tenant=ct, after=row)
        return row

    def update_credential(self, ref: str, patch: Json) -> Json:
        for f in _RAW_KEY_FIELDS:
            if patch.get(f) is not None:
                raise ForbiddenError(f"raw key field '{f}' is not accepted", "pass --secret-ref instead",
                                     code="RAW_KEY_REJECTED")
        if not any(k in patch for k in ("secretRef", "litellmCredentialName", "provider", "envVar")):
            raise ValidationError("credential update: nothing to change",
                                  "give --secret-ref, --litellm-credential-name and/or --env-var")
        secret = v.secret_ref(patch["secretRef"]) if "secretRef" in patch else None
        lcn = v.optional_name(patch.get("litellmCredentialName"), "--litellm-credential-name")
        provider = v.provider(patch["provider"]) if "provider" in patch else None
        env_var = v.env_var(patch.get("envVar"))
        with self.store.write() as c:
            cur = self._credential(c, ref)
            self.require_owner(cur["scope"], cur["cluster_tenant"], f"credential update {ref}")
            before = credential_row(cur)
            if provider and provider != cur["provider"]:
                dup = c.execute("SELECT id FROM credentials WHERE scope = ? AND ifnull(cluster_tenant,'') = ?"
                                " AND provider = ? AND id != ?",
                                (cur["scope"], cur["cluster_tenant"] or "", provider, ref)).fetchone()
                if dup:
                    raise ConflictError(f"a {cur['scope']} credential for provider '{provider}' already exists",
                                        f"it is {dup[0]}", code="CONFLICT")
            c.execute(
                "UPDATE credentials SET secret_ref = ?, litellm_credential_name = ?, provider = ?, env_var = ?,"
                " updated_at = ? WHERE id = ?",
                (secret or cur["secret_ref"],
                 lcn if "litellmCredentialName" in patch else cur["litellm_credential_name"],
                 provider or cur["provider"], env_var if "envVar" in patch else cur["env_var"], now_iso(), ref))
            after = credential_row(self._credential(c, ref))
            self.audit(c, "CredentialUpdated", f"ProviderCredential/{ref}", f"Provider credential {ref} updated",
                       tenant=cur["cluster_tenant"], before=before, after=after)
        return after

    def delete_credential(self, ref: str) -> Json:
        with self.store.write() as c:
            cur = self._credential(c, ref)
            self.require_owner(cur["scope"], cur["cluster_tenant"], f"credential remove {ref}")
            users = [r[0] for r in c.execute(
                "SELECT public_model_name FROM models WHERE provider_credential_id = ?", (ref,))]
            c.execute("DELETE FROM credentials WHERE id = ?", (ref,))
            msg = f"Provider credential {ref} removed"
            if users:
                msg += f"; models left without a credential: {', '.join(users)}"
                self.note(f"models now without a credential: {', '.join(users)}")
            self.audit(c, "CredentialDeleted", f"ProviderCredential/{ref}", msg,
                       tenant=cur["cluster_tenant"], before=credential_row(cur))
        return {"id": ref, "status": "deleted"}

    # ===== models ================================================================================
    def list_models(self, *, cluster_tenant: str | None = None) -> list[Json]:
        sql, args = "SELECT * FROM models", []
        if cluster_tenant:
            sql += " WHERE cluster_tenant = ?"
            args.append(cluster_tenant)
        rows = [model_row(r) for r in self.conn.execute(sql + " ORDER BY created_at, id", args)]
        return [r for r in rows if self.visible(r["scope"], r["clusterTenant"])]

    def _model(self, c: sqlite3.Connection, ref: str) -> sqlite3.Row:
        r = c.execute("SELECT * FROM models WHERE id = ?", (ref,)).fetchone()
        if r is not None and self.visible(r["scope"], r["cluster_tenant"]):
            return r
        rows = [x for x in c.execute("SELECT * FROM models WHERE public_model_name = ? ORDER BY created_at", (ref,))
                if self.visible(x["scope"], x["cluster_tenant"])]
        if self.tenant is not None and len(rows) > 1:
            rows = [x for x in rows if x["cluster_tenant"] == self.tenant] or rows
        if len(rows) == 1:
            return rows[0]
        if len(rows) > 1:
            ids = ", ".join(f"{x['id']} ({x['scope']}{'/' + x['cluster_tenant'] if x['cluster_tenant'] else ''})"
                            for x in rows)
            raise ValidationError(f"model name '{ref}' is ambiguous", f"it matches {ids}", hint="use the id")
        raise NotFoundError(f"model '{ref}' not found", code="MODEL_DEFINITION_NOT_FOUND",
                            hint="list them with: oc model list")

    def get_model(self, ref: str) -> Json:
        return model_row(self._model(self.conn, ref))

    def _check_credential(self, c: sqlite3.Connection, cred_id: str | None, ct: str | None) -> None:
        if not cred_id:
            return
        cred = c.execute("SELECT * FROM credentials WHERE id = ?", (cred_id,)).fetchone()
        if cred is None or not self.visible(cred["scope"], cred["cluster_tenant"]):
            raise ValidationError(f"--credential: provider credential '{cred_id}' not found",
                                  "providerCredentialId does not reference an existing credential",
                                  hint="list them with: oc credential list")
        if cred["scope"] == "clusterTenant" and cred["cluster_tenant"] != ct:
            raise ForbiddenError(
                f"--credential: credential '{cred_id}' is owned by ClusterTenant '{cred['cluster_tenant']}'",
                "it cannot back a " + (f"model of ClusterTenant '{ct}'" if ct else "global model"),
                code="CREDENTIAL_SCOPE_MISMATCH")

    def create_model(self, body: Json) -> Json:
        name = v.name(body.get("publicModelName"), "--name", what="model name")
        upstream = v.name(body.get("upstreamModel"), "--upstream", what="upstream model")
        api_base = v.url(body.get("apiBase"), "--api-base")
        in_price = v.price(body.get("inputCostPerMtok"), "--input-cost-per-mtok")
        out_price = v.price(body.get("outputCostPerMtok"), "--output-cost-per-mtok")
        is_default = body.get("isDefault", False)
        if not isinstance(is_default, bool):
            raise ValidationError("isDefault must be a boolean")
        cred = body.get("providerCredentialId") or None
        scope, ct = self.scope_for(body.get("scope"), body.get("clusterTenant"))
        self.require_owner(scope, ct, "model add")
        mid, now = new_id(), now_iso()
        with self.store.write() as c:
            if ct:
                self.require_tenant_exists(c, ct)
            self._check_credential(c, cred, ct)
            dup = c.execute("SELECT id FROM models WHERE scope = ? AND ifnull(cluster_tenant,'') = ? "
                            "AND public_model_name = ?", (scope, ct or "", name)).fetchone()
            if dup:
                where = f"ClusterTenant '{ct}'" if ct else "the global registry"
                raise ConflictError(f"model '{name}' already exists in {where}", f"it is {dup[0]}",
                                    hint=f"change it with: oc model update {dup[0]} …")
            c.execute(
                "INSERT INTO models (id, scope, cluster_tenant, public_model_name, litellm_model_id, upstream_model,"
                " api_base, is_default, provider_credential_id, input_cost_per_mtok, output_cost_per_mtok,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (mid, scope, ct, name, placeholder_id(scope, ct, name), upstream, api_base, int(is_default), cred,
                 in_price, out_price, now, now))
            row = model_row(self._model(c, mid))
            self.audit(c, "ModelCreated", f"ModelDefinition/{mid}",
                       f"Model {name} -> {upstream} registered" + (f" for ClusterTenant {ct}" if ct else " (global)"),
                       tenant=ct, after=row)
        return row

    def update_model(self, ref: str, patch: Json) -> Json:
        if not patch:
            raise ValidationError("model update: nothing to change",
                                  "give at least one of --name, --upstream, --api-base, --credential, --default, prices")
        if "scope" in patch or "clusterTenant" in patch:
            raise ValidationError("model update cannot change the scope or ClusterTenant",
                                  "remove the model and add it in the other scope")
        with self.store.write() as c:
            cur = self._model(c, ref)
            self.require_owner(cur["scope"], cur["cluster_tenant"], f"model update {ref}")
            before = model_row(cur)
            new = dict(before)
            if "publicModelName" in patch:
                new["publicModelName"] = v.name(patch["publicModelName"], "--name", what="model name")
            if "upstreamModel" in patch:
                new["upstreamModel"] = v.name(patch["upstreamModel"], "--upstream", what="upstream model")
            if "apiBase" in patch:
                new["apiBase"] = v.url(patch["apiBase"], "--api-base")
            if "isDefault" in patch:
                if not isinstance(patch["isDefault"], bool):
                    raise ValidationError("isDefault must be a boolean")
                new["isDefault"] = patch["isDefault"]
            if "providerCredentialId" in patch:
                new["providerCredentialId"] = patch["providerCredentialId"] or None
                self._check_credential(c, new["providerCredentialId"], cur["cluster_tenant"])
            for key, flag in (("inputCostPerMtok", "--input-cost-per-mtok"), ("outputCostPerMtok", "--output-cost-per-mtok")):
                if key in patch:
                    new[key] = v.price(patch[key], flag)
            litellm_id = cur["litellm_model_id"]
            if new["publicModelName"] != before["publicModelName"]:
                dup = c.execute("SELECT id FROM models WHERE scope = ? AND ifnull(cluster_tenant,'') = ? "
                                "AND public_model_name = ? AND id != ?",
                                (cur["scope"], cur["cluster_tenant"] or "", new["publicModelName"], cur["id"])).fetchone()
                if dup:
                    raise ConflictError(f"model '{new['publicModelName']}' already exists in this scope", f"it is {dup[0]}")
                if litellm_id.startswith("placeholder:"):
                    litellm_id = placeholder_id(cur["scope"], cur["cluster_tenant"], new["publicModelName"])
            c.execute(
                "UPDATE models SET public_model_name=?, litellm_model_id=?, upstream_model=?, api_base=?, is_default=?,"
                " provider_credential_id=?, input_cost_per_mtok=?, output_cost_per_mtok=?, updated_at=? WHERE id=?",
                (new["publicModelName"], litellm_id, new["upstreamModel"], new["apiBase"], int(new["isDefault"]),
                 new["providerCredentialId"], new["inputCostPerMtok"], new["outputCostPerMtok"], now_iso(), cur["id"]))
            after = model_row(self._model(c, cur["id"]))
            changed = [k for k in after if k not in ("updatedAt",) and after[k] != before[k]]
            self.audit(c, "ModelUpdated", f"ModelDefinition/{cur['id']}",
                       f"Model {before['publicModelName']} updated: {', '.join(changed) or 'no change'}",
                       tenant=cur["cluster_tenant"], before=before, after=after)
        return after

    def model_references(self, c: sqlite3.Connection, row: sqlite3.Row) -> list[str]:
        """Where a model is used by name: postures, defaults, autoConfig lists."""
        name = row["public_model_name"]
        refs: list[str] = []
        owner = row["cluster_tenant"]
        # tenants that own a model of the same name resolve that name to their own model
        shadowing = {r[0] for r in c.execute(
            "SELECT cluster_tenant FROM models WHERE public_model_name = ? AND scope = 'clusterTenant' AND id != ?",
            (name, row["id"]))}

        def applies(team: str | None) -> bool:
            if owner is not None:
                return team == owner
            return not team or team not in shadowing

        for s in c.execute("SELECT name, scope, team, model_mode, pinned_model, auto_config FROM skills"):
            from oc_cli.domain.skillkey import SkillKey

            key = str(SkillKey(s["name"], s["scope"], s["team"]))
            if not applies(s["team"] or None):
                continue
            if s["model_mode"] == "pinned" and s["pinned_model"] == name:
                refs.append(f"skill {key} is pinned to it")
            elif s["auto_config"] and name in (s["auto_config"] or ""):
                import json

                cfg = json.loads(s["auto_config"])
                if name in (cfg.get("allowedModels") or []) + (cfg.get("fallbacks") or []):
                    refs.append(f"skill {key}'s autoConfig lists it")
        for d in c.execute("SELECT scope, cluster_tenant, default_model FROM routing_defaults WHERE default_model = ?",
                           (name,)):
            if applies(d["cluster_tenant"]):
                refs.append("the global default" if d["scope"] == "global"
                            else f"the default of ClusterTenant {d['cluster_tenant']}")
        return refs

    def delete_model(self, ref: str, *, force: bool = False) -> Json:
        with self.store.write() as c:
            cur = self._model(c, ref)
            self.require_owner(cur["scope"], cur["cluster_tenant"], f"model remove {ref}")
            refs = self.model_references(c, cur)
            if refs and not force:
                raise ConflictError(
                    f"model '{cur['public_model_name']}' is in use",
                    "; ".join(refs[:5]) + (f"; and {len(refs) - 5} more" if len(refs) > 5 else ""),
                    code="MODEL_IN_USE",
                    hint="change those first, or pass --force to remove it anyway")
            c.execute("DELETE FROM models WHERE id = ?", (cur["id"],))
            msg = f"Model {cur['public_model_name']} ({cur['id']}) removed"
            if refs:
                msg += f" while in use ({'; '.join(refs)})"
                self.note(f"still referenced: {'; '.join(refs)} — resolution will report these as unregistered")
            self.audit(c, "ModelDeleted", f"ModelDefinition/{cur['id']}", msg,
                       tenant=cur["cluster_tenant"], before=model_row(cur))
        return {"id": cur["id"], "status": "deleted"}

    # ===== ClusterTenants ========================================================================
    def _tenant_view(self, c: sqlite3.Connection, r: sqlite3.Row, models: list[Json] | None = None) -> Json:
        al = self.allowlist(c, r["name"], models)
        owned = c.execute("SELECT count(*) FROM models WHERE cluster_tenant = ?", (r["name"],)).fetchone()[0]
        return {
            "id": r["name"],
            "name": r["name"],
            "description": r["description"],
            "grantAllGlobal": bool(r["grant_all_global"]),
            "ownedModels": owned,
            "allowedModels": al.models,
            "createdAt": r["created_at"],
            "updatedAt": r["updated_at"],
        }

    def _tenant(self, c: sqlite3.Connection, name: str) -> sqlite3.Row:
        r = c.execute("SELECT * FROM cluster_tenants WHERE name = ?", (name,)).fetchone()
        if r is None or (self.tenant is not None and name != self.tenant):
            raise NotFoundError(f"ClusterTenant '{name}' not found", code="CLUSTER_TENANT_NOT_FOUND",
                                hint="list them with: oc cluster-tenant list")
        return r

    def list_cluster_tenants(self) -> list[Json]:
        with self.store.read() as c:
            rows = c.execute("SELECT * FROM cluster_tenants ORDER BY name").fetchall()
            models = self.all_models(c)
            return [self._tenant_view(c, r, models) for r in rows if self.tenant is None or r["name"] == self.tenant]

    def get_cluster_tenant(self, name: str) -> Json:
        with self.store.read() as c:
            return self._tenant_view(c, self._tenant(c, name))

    def create_cluster_tenant(self, name: str, *, grant_all_global: bool = False,
                              description: str | None = None) -> Json:
        name = v.tenant_name(name, "NAME")
        self.require_operator("cluster-tenant create")
        if description is not None and (len(description) > 500 or any(ord(ch) < 32 for ch in description)):
            raise ValidationError("--description must be at most 500 printable characters")
        now = now_iso()
        with self.store.write() as c:
            if c.execute("SELECT 1 FROM cluster_tenants WHERE name = ?", (name,)).fetchone():
                raise ConflictError(f"ClusterTenant '{name}' already exists")
            c.execute("INSERT INTO cluster_tenants (name, description, grant_all_global, created_at, updated_at)"
                      " VALUES (?,?,?,?,?)", (name, description, int(grant_all_global), now, now))
            row = self._tenant_view(c, self._tenant(c, name))
            self.audit(c, "ClusterTenantCreated", f"ClusterTenant/{name}",
                       f"ClusterTenant {name} created" + (" (every global model allowed)" if grant_all_global else ""),
                       tenant=name, after=row)
        return row

    def delete_cluster_tenant(self, name: str, *, force: bool = False) -> Json:
        self.require_operator("cluster-tenant remove")
        with self.store.write() as c:
            cur = self._tenant(c, name)
            owned = {
                "models": [r[0] for r in c.execute("SELECT public_model_name FROM models WHERE cluster_tenant = ?", (name,))],
                "credentials": [r[0] for r in c.execute("SELECT id FROM credentials WHERE cluster_tenant = ?", (name,))],
                "defaults": [r[0] for r in c.execute("SELECT id FROM routing_defaults WHERE cluster_tenant = ?", (name,))],
            }
            if any(owned.values()) and not force:
                parts = [f"{len(vals)} {k}" for k, vals in owned.items() if vals]
                raise ConflictError(f"ClusterTenant '{name}' still owns {', '.join(parts)}",
                                    "remove them first", code="CLUSTER_TENANT_IN_USE",
                                    hint="or pass --force to remove the tenant with everything it owns")
            before = self._tenant_view(c, cur)
            c.execute("DELETE FROM routing_defaults WHERE cluster_tenant = ?", (name,))
            c.execute("DELETE FROM models WHERE cluster_tenant = ?", (name,))
            c.execute("DELETE FROM credentials WHERE cluster_tenant = ?", (name,))
            c.execute("DELETE FROM cluster_tenants WHERE name = ?", (name,))
            self.audit(c, "ClusterTenantDeleted", f"ClusterTenant/{name}",
                       f"ClusterTenant {name} removed" + (f" with {owned}" if any(owned.values()) else ""),
                       tenant=name, before=before)
        return {"id": name, "status": "deleted"}

    def _global_model(self, c: sqlite3.Connection, ref: str) -> sqlite3.Row:
        r = c.execute("SELECT * FROM models WHERE scope = 'global' AND (id = ? OR public_model_name = ?)",
                      (ref, ref)).fetchone()
        if r is None:
            other = c.execute("SELECT cluster_tenant FROM models WHERE public_model_name = ? OR id = ?",
                              (ref, ref)).fetchone()
            if other:
                raise ValidationError(f"--model: '{ref}' is owned by ClusterTenant '{other[0]}'",
                                      "only global models are granted; a tenant's own models are always allowed")
            raise NotFoundError(f"--model: global model '{ref}' not found", code="MODEL_NOT_FOUND",
                                hint="list them with: oc model list")
        return r

    def grant_models(self, name: str, models: Iterable[str]) -> Json:
        self.require_operator("cluster-tenant grant")
        models = list(models)
        if not models:
            raise ValidationError("--model is required", "name at least one global model to grant")
        with self.store.write() as c:
            self._tenant(c, name)
            rows = [self._global_model(c, m) for m in models]
            added = []
            for r in rows:
                cur = c.execute("INSERT OR IGNORE INTO tenant_grants (cluster_tenant, model_id, created_at) "
                                "VALUES (?,?,?)", (name, r["id"], now_iso()))
                if cur.rowcount:
                    added.append(r["public_model_name"])
            if added:
                self.audit(c, "ModelsGranted", f"ClusterTenant/{name}",
                           f"Granted {', '.join(added)} to ClusterTenant {name}", tenant=name,
                           after={"granted": added})
            else:
                self.note("nothing changed: already granted")
            return self._tenant_models(c, name)

    def revoke_models(self, name: str, models: Iterable[str]) -> Json:
        self.require_operator("cluster-tenant revoke")
        models = list(models)
        if not models:
            raise ValidationError("--model is required", "name at least one granted model to revoke")
        with self.store.write() as c:
            t = self._tenant(c, name)
            rows = [self._global_model(c, m) for m in models]
            removed = []
            for r in rows:
                cur = c.execute("DELETE FROM tenant_grants WHERE cluster_tenant = ? AND model_id = ?", (name, r["id"]))
                if cur.rowcount:
                    removed.append(r["public_model_name"])
            if t["grant_all_global"] and rows:
                self.note(f"ClusterTenant '{name}' was created with --grant-all-global: every global model stays allowed")
            if removed:
                self.audit(c, "ModelsRevoked", f"ClusterTenant/{name}",
                           f"Revoked {', '.join(removed)} from ClusterTenant {name}", tenant=name,
                           before={"granted": removed})
            else:
                self.note("nothing changed: not granted")
            out = self._tenant_models(c, name)
            out["blockedSkills"] = self.blocked_skills(c, name, removed)
            return out

    def _tenant_models(self, c: sqlite3.Connection, name: str) -> Json:
        """The allowlist and the default the tenant's auto skills fall to.

        The default is the one resolution uses (domain/resolution.py): the tenant's own default
        when it names a model, else the global one, else a model marked isDefault. It is shown
        even when it is off the allowlist (``defaultAllowed`` false): resolution does not fall
        back to another default then, it blocks.
        """
        al = self.allowlist(c, name)
        default, source, note = None, None, None
        ct = c.execute("SELECT * FROM routing_defaults WHERE scope='clusterTenant' AND cluster_tenant = ?",
                       (name,)).fetchone()
        gl = c.execute("SELECT * FROM routing_defaults WHERE scope='global'").fetchone()
        for label, row in (("cluster-tenant-default", ct), ("global-default", gl)):
            if row is not None and row["default_model"] and row["default_model"].strip():
                default, source = row["default_model"].strip(), label
                break
        if default is None:
            for m in self.all_models(c):
                if m["isDefault"] and al.allows(m["publicModelName"]) and self.visible_to(m, name):
                    default, source = m["publicModelName"], "is-default-model"
                    break
        allowed = al.allows(default) if default else None
        if default and not allowed:
            note = (f"the {source.replace('-', ' ')} '{default}' is not on the allowlist: skills that fall to it "
                    f"resolve to blocked")
        out = {
            "clusterTenant": name,
            "models": al.models,
            "defaultModel": default,
            "defaultSource": source,
            "defaultAllowed": allowed,
            "sources": dict(al.sources),
            "grantAllGlobal": al.grant_all_global,
        }
        if note:
            out["note"] = note
        return out

    @staticmethod
    def visible_to(model: Json, tenant: str) -> bool:
        return model["scope"] == "global" or model["clusterTenant"] == tenant

    def tenant_models(self, name: str) -> Json:
        with self.store.read() as c:
            self._tenant(c, name)
            return self._tenant_models(c, name)
