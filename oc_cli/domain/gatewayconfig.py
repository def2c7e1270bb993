"""The LiteLLM proxy config that carries local mode's decisions to traffic (SPEC §10).

Pure: the local backend reads the registry and resolves every skill with the same code
``oc resolve`` uses, then hands plain rows here. This module maps them to the config, merges it
into a base config, compares two configs, and renders/parses the text. Nothing here reads the
database or touches a file.

What ``oc`` owns in a proxy config (``OWNED``): ``model_list``, ``router_settings.model_group_alias``
and ``router_settings.fallbacks``. Everything else in a ``--base`` file is kept as it was.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Mapping

from oc_cli.errors import ValidationError

ALIAS_PREFIX = "skill:"
OWNED = ("model_list", "router_settings.model_group_alias", "router_settings.fallbacks")
HEADER_MARK = "# oc-gateway:"
FORMATS = ("yaml", "json")

_ENV_VAR = re.compile(r"[A-Z_][A-Z0-9_]*")


# ----- the secret-variable rule ------------------------------------------------------------------

def env_var_for(secret_ref: str) -> str | None:
    """The environment variable the proxy reads a credential's key from, or None when there is none.

    A ``secretRef`` that already is an upper-case variable name (``OPENAI_API_KEY``) is used as is;
    any other reference (a Kubernetes Secret name such as ``openai-key`` or ``team.acme-openai``) is
    upper-cased with every character other than a letter, digit or ``_`` turned into ``_``
    (``OPENAI_KEY``, ``TEAM_ACME_OPENAI``). A result that does not start with a letter or ``_`` (or
    is empty) is not a usable name.
    """
    ref = (secret_ref or "").strip()
    if _ENV_VAR.fullmatch(ref):
        return ref
    var = re.sub(r"[^A-Z0-9_]", "_", ref.upper())
    return var if _ENV_VAR.fullmatch(var) else None


# ----- the mapping -------------------------------------------------------------------------------

def _per_token(per_mtok: Any) -> float | None:
    return None if per_mtok is None else float(per_mtok) / 1e6


def model_entry(model: Mapping[str, Any], api_key_var: str | None) -> dict[str, Any]:
    """One ``model_list`` entry from a registry row (wire shape)."""
    params: dict[str, Any] = {"model": model["upstreamModel"]}
    if model.get("apiBase"):
        params["api_base"] = model["apiBase"]
    if api_key_var:
        params["api_key"] = f"os.environ/{api_key_var}"
    entry: dict[str, Any] = {"model_name": model["publicModelName"], "litellm_params": params}
    info: dict[str, Any] = {}
    for field, key in (("inputCostPerMtok", "input_cost_per_token"), ("outputCostPerMtok", "output_cost_per_token")):
        value = _per_token(model.get(field))
        if value is not None:
            info[key] = value
    if info:
        entry["model_info"] = info
    return entry


def build(
    *,
    models: Iterable[Mapping[str, Any]],
    credentials: Mapping[str, Mapping[str, Any]],
    resolutions: Iterable[Mapping[str, Any]],
    default_chains: Iterable[tuple[str, str | None, list[str] | None]],
    scope_label: str,
) -> tuple[dict[str, Any], list[str]]:
    """The config and the warnings to print.

    * ``models``: the registry rows visible to the scope, one per public name.
    * ``credentials``: credential id -> row (wire shape), for ``api_key``.
    * ``resolutions``: ``oc resolve`` answers (``skill``, ``model``, ``blocked``, ``reason``,
      ``autoConfig``, ``modelRegistered``), one per skill of the scope.
    * ``default_chains``: ``(label, model, fallbacks)`` of each routing default, most specific first
      (the ClusterTenant default, then the Global one); the first chain for a model wins.
    * ``scope_label``: how warnings name the scope (``ClusterTenant 'acme'``, ``the global scope``).
    """
    warnings: list[str] = []
    entries: list[dict[str, Any]] = []
    for m in sorted(models, key=lambda r: r["publicModelName"]):
        var = None
        cred_id = m.get("providerCredentialId")
        cred = credentials.get(cred_id) if cred_id else None
        if cred is not None:
            var = cred.get("envVar") or env_var_for(cred["secretRef"])
            if var is None:
                raise ValidationError(
                    f"credential {cred['id']} (model '{m['publicModelName']}'): no usable environment variable name",
                    f"its secretRef ({len(cred['secretRef'])} characters) does not give a name that starts with a "
                    "letter or '_' (the proxy reads the key from os.environ/<VAR>)",
                    code="SECRET_VAR_INVALID",
                    hint=f"name the variable: oc credential update {cred['id']} --env-var PROVIDER_API_KEY",
                )
        elif cred_id:
            warnings.append(f"model '{m['publicModelName']}': its credential {cred_id} is not visible here; "
                            "exported without api_key")
        entries.append(model_entry(m, var))
    names = {e["model_name"] for e in entries}

    def usable_chain(owner: str, primary: str, fallbacks: Iterable[str]) -> list[str]:
        chain: list[str] = []
        for f in fallbacks:
            if f == primary or f in chain:
                continue
            if f not in names:
                warnings.append(f"fallback '{f}' of {owner} left out: it is not a model of {scope_label}")
                continue
            chain.append(f)
        return chain

    model_chains: dict[str, list[str]] = {}
    for label, model, fallbacks in default_chains:
        if not model or not fallbacks or model in model_chains:
            continue
        if model not in names:
            warnings.append(f"fallbacks of the {label} left out: its model '{model}' is not a model of {scope_label}")
            continue
        chain = usable_chain(f"the {label} ('{model}')", model, fallbacks)
        if chain:
            model_chains[model] = chain

    aliases: dict[str, str] = {}
    alias_chains: dict[str, list[str]] = {}
    for r in resolutions:
        skill, model = r["skill"], r.get("model")
        alias = ALIAS_PREFIX + skill
        if r.get("blocked"):
            warnings.append(f"skill {skill} left out: resolution is blocked ({r.get('reason')})")
            continue
        if not model:
            warnings.append(f"skill {skill} left out: it resolves to no model ({r.get('reason')})")
            continue
        if model not in names:
            warnings.append(f"skill {skill} left out: it resolves to '{model}', which is not a model of {scope_label}")
            continue
        aliases[alias] = model
        own = (r.get("autoConfig") or {}).get("fallbacks")
        chain = usable_chain(f"skill {skill}", model, own) if own else model_chains.get(model, [])
        if chain:
            alias_chains[alias] = chain

    chains = {**model_chains, **alias_chains}
    config: dict[str, Any] = {
        "model_list": entries,
        "router_settings": {
            "model_group_alias": dict(sorted(aliases.items())),
            "fallbacks": [{k: list(chains[k])} for k in sorted(chains)],
        },
    }
    return config, warnings


# ----- merge with a base config ------------------------------------------------------------------

def merge(base: Mapping[str, Any] | None, generated: Mapping[str, Any]) -> dict[str, Any]:
    """``generated``'s owned keys written into ``base``; every other key of ``base`` kept, in its order
    (``model_list`` stays where the base has it, else it comes first)."""
    base = base or {}
    out: dict[str, Any] = {} if "model_list" in base else {"model_list": None}  # a new model_list goes first
    out.update(base)
    out["model_list"] = generated["model_list"]
    router = out.get("router_settings")
    router = dict(router) if isinstance(router, Mapping) else {}
    for key in ("model_group_alias", "fallbacks"):
        router[key] = generated["router_settings"][key]
    out["router_settings"] = router
    return out


# ----- what changes -------------------------------------------------------------------------------

def _chains(config: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    router = config.get("router_settings") or {}
    for item in (router.get("fallbacks") or []) if isinstance(router, Mapping) else []:
        if isinstance(item, Mapping):
            for k, v in item.items():
                out[str(k)] = list(v) if isinstance(v, list) else [v]
    return out


def _aliases(config: Mapping[str, Any]) -> dict[str, Any]:
    router = config.get("router_settings") or {}
    aliases = router.get("model_group_alias") if isinstance(router, Mapping) else None
    return {str(k): v for k, v in aliases.items()} if isinstance(aliases, Mapping) else {}


def _models(config: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for e in config.get("model_list") or []:
        if isinstance(e, Mapping) and "model_name" in e:
            out[str(e["model_name"])] = e
    return out


def _changed_fields(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        for k in sorted(set(old) | set(new), key=str):
            if k == "model_name":
                continue
            out += _changed_fields(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [] if old == new else [prefix.rstrip(".")]


def diff(deployed: Mapping[str, Any], exported: Mapping[str, Any], *, settings: bool = False) -> dict[str, Any]:
    """What writing ``exported`` over ``deployed`` changes, in the parts ``oc`` owns (and, with
    ``settings``, in every other key too: the caller merged a ``--base``)."""
    old_m, new_m = _models(deployed), _models(exported)
    models = {
        "added": sorted(set(new_m) - set(old_m)),
        "removed": sorted(set(old_m) - set(new_m)),
        "changed": [{"model": n, "fields": _changed_fields(old_m[n], new_m[n])}
                    for n in sorted(set(old_m) & set(new_m)) if old_m[n] != new_m[n]],
    }
    old_a, new_a = _aliases(deployed), _aliases(exported)
    skills = {
        "added": [{"alias": a, "model": new_a[a]} for a in sorted(set(new_a) - set(old_a))],
        "removed": [{"alias": a, "model": old_a[a]} for a in sorted(set(old_a) - set(new_a))],
        "repointed": [{"alias": a, "from": old_a[a], "to": new_a[a]}
                      for a in sorted(set(old_a) & set(new_a)) if old_a[a] != new_a[a]],
    }
    old_f, new_f = _chains(deployed), _chains(exported)
    fallbacks = {
        "added": [{"model": k, "to": new_f[k]} for k in sorted(set(new_f) - set(old_f))],
        "removed": [{"model": k, "from": old_f[k]} for k in sorted(set(old_f) - set(new_f))],
        "changed": [{"model": k, "from": old_f[k], "to": new_f[k]}
                    for k in sorted(set(old_f) & set(new_f)) if old_f[k] != new_f[k]],
    }
    other: list[str] = []
    if settings:
        def rest(config: Mapping[str, Any]) -> dict[str, Any]:
            out = {k: v for k, v in config.items() if k not in ("model_list", "router_settings")}
            router = config.get("router_settings")
            if isinstance(router, Mapping):
                out.update({f"router_settings.{k}": v for k, v in router.items()
                            if k not in ("model_group_alias", "fallbacks")})
            return out

        old_r, new_r = rest(deployed), rest(exported)
        other = sorted(k for k in set(old_r) | set(new_r) if old_r.get(k) != new_r.get(k))
    changed = bool(other) or any(v for part in (models, skills, fallbacks) for v in part.values())
    return {"changed": changed, "models": models, "skills": skills, "fallbacks": fallbacks, "settings": other}


def diff_lines(d: Mapping[str, Any]) -> list[str]:
    """The diff for people, one change a line: ``+`` added, ``-`` removed, ``~`` changed."""
    def chain(c: list[str]) -> str:
        return "[" + ", ".join(c) + "]"

    lines = [f"+ model {n}" for n in d["models"]["added"]]
    lines += [f"- model {n}" for n in d["models"]["removed"]]
    lines += [f"~ model {c['model']} ({', '.join(c['fields'])})" for c in d["models"]["changed"]]
    lines += [f"+ {s['alias']} → {s['model']}" for s in d["skills"]["added"]]
    lines += [f"- {s['alias']} (was {s['model']})" for s in d["skills"]["removed"]]
    lines += [f"~ {s['alias']}: {s['from']} → {s['to']}" for s in d["skills"]["repointed"]]
    lines += [f"+ fallbacks {f['model']}: {chain(f['to'])}" for f in d["fallbacks"]["added"]]
    lines += [f"- fallbacks {f['model']} (was {chain(f['from'])})" for f in d["fallbacks"]["removed"]]
    lines += [f"~ fallbacks {f['model']}: {chain(f['from'])} → {chain(f['to'])}" for f in d["fallbacks"]["changed"]]
    lines += [f"~ {k}" for k in d["settings"]]
    return lines


# ----- text ---------------------------------------------------------------------------------------

def header(scope_label: str, audit_head: tuple[int, str] | None) -> str:
    """The comment block at the top of a YAML export: deterministic, no timestamp."""
    head = f"{audit_head[0]} {audit_head[1]}" if audit_head else "0 (empty audit log)"
    return "\n".join([
        f"{HEADER_MARK} generated by `oc gateway export` for {scope_label}",
        f"{HEADER_MARK} audit-chain head {head}",
        f"{HEADER_MARK} oc owns {', '.join(OWNED)}; everything else is kept by --base",
    ]) + "\n"


def render(config: Mapping[str, Any], fmt: str, head: str = "") -> str:
    if fmt == "json":
        return json.dumps(config, indent=2, ensure_ascii=False) + "\n"
    import yaml  # lazily: only the gateway verbs need it

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:  # a chain shared by a model and its alias: written twice,
            return True                                # never as an &anchor / *alias pair

    body = yaml.dump(dict(config), Dumper=Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True,
                     width=4096)
    return head + body


def parse(text: str, what: str) -> dict[str, Any]:
    """A config file's text (YAML or JSON) as a mapping; an empty file is an empty config."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValidationError(f"{what}: not valid YAML{where}", str(getattr(exc, "problem", None) or "parse error"),
                              code="INVALID_CONFIG") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValidationError(f"{what}: not a LiteLLM proxy config",
                              f"the top level is a {type(data).__name__}, expected a mapping", code="INVALID_CONFIG")
    return data


def has_comments(text: str) -> bool:
    """Whether ``text`` holds YAML comments other than oc's own header (which oc rewrites)."""
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith(HEADER_MARK):
            continue
        if s.startswith("#"):
            return True
        quote = None
        for i, ch in enumerate(line):
            if quote:
                if ch == quote:
                    quote = None
            elif ch in "'\"":
                quote = ch
            elif ch == "#" and i > 0 and line[i - 1] in " \t":
                return True
    return False
