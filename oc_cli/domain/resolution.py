"""The precedence chain that decides a skill's effective model (opencrane-api §17.1, SPEC §4.4).

    explicit request model → skill pinned → skill auto → ClusterTenant default → Global default

Rules kept from the reference: a pinned posture without a model falls through; ``auto`` takes
its model from the scope default (the ClusterTenant default if it has a model, else the Global
one) and keeps the skill's own autoConfig; a default row without a model never wins (an empty
ClusterTenant row does not shadow the Global default).

Beyond the reference: when a tenant applies, the answer never names a model outside its
allowlist. If the winning rung names a disallowed model the answer is *blocked* — model None,
the rung, the blocked model and why — rather than silently falling back to another rung.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

RUNGS = (
    "request",
    "skill-pinned",
    "skill-auto",
    "scope-default-cluster-tenant",
    "scope-default-global",
)


@dataclass(frozen=True)
class Posture:
    mode: str | None = None  # "pinned" | "auto" | None
    pinned_model: str | None = None
    auto_config: dict[str, Any] | None = None


@dataclass(frozen=True)
class Default:
    model: str | None = None
    auto_config: dict[str, Any] | None = None

    @property
    def usable(self) -> bool:
        return bool(self.model and self.model.strip())


def _rung(name: str, value: Any, outcome: str, reason: str) -> dict[str, Any]:
    return {"rung": name, "value": value, "outcome": outcome, "reason": reason}


def resolve(
    *,
    posture: Posture | None,
    tenant_default: Default | None,
    global_default: Default | None,
    request_model: str | None = None,
    tenant: str | None = None,
    allows: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """Walk the chain. ``allows`` is the tenant's allowlist check (None: no tenant applies).

    Returns ``{model, source, auto, autoConfig, blocked, blockedModel, reason, rungs}`` where
    ``rungs`` lists all five rungs with ``outcome`` in won | skipped | not-reached | blocked.
    """
    posture = posture or Posture()
    ct = tenant_default if tenant_default is not None else None
    gl = global_default if global_default is not None else None
    picked_name: str | None = None
    picked: Default | None = None
    if tenant and ct is not None and ct.usable:
        picked_name, picked = "scope-default-cluster-tenant", ct
    elif gl is not None and gl.usable:
        picked_name, picked = "scope-default-global", gl

    rungs: list[dict[str, Any]] = []
    winner: str | None = None
    model: str | None = None
    auto = False
    auto_config: dict[str, Any] | None = None
    why = ""

    # 1. explicit request model
    if request_model:
        winner, model, why = "request", request_model, "the request names a model explicitly"
        rungs.append(_rung("request", request_model, "won", why))
    else:
        rungs.append(_rung("request", None, "skipped", "no explicit request model"))

    # 2. skill pinned
    if winner:
        rungs.append(_rung("skill-pinned", posture.pinned_model if posture.mode == "pinned" else None,
                           "not-reached", "a higher rung won"))
    elif posture.mode == "pinned" and posture.pinned_model and posture.pinned_model.strip():
        winner, model, why = "skill-pinned", posture.pinned_model.strip(), "the skill is pinned to this model"
        rungs.append(_rung("skill-pinned", model, "won", why))
    elif posture.mode == "pinned":
        rungs.append(_rung("skill-pinned", None, "skipped", "the skill is pinned but names no model"))
    else:
        rungs.append(_rung("skill-pinned", None, "skipped",
                           "the skill is on auto" if posture.mode == "auto" else "the skill has no posture"))

    # 3. skill auto: the model comes from the scope default
    if winner:
        rungs.append(_rung("skill-auto", None, "not-reached", "a higher rung won"))
    elif posture.mode == "auto":
        winner, auto, auto_config = "skill-auto", True, posture.auto_config
        if picked is not None:
            model = picked.model.strip() if picked.model else None
            which = "ClusterTenant" if picked_name == "scope-default-cluster-tenant" else "Global"
            why = f"the skill is on auto, which takes the {which} default's model"
        else:
            why = "the skill is on auto, but no scope default names a model"
        rungs.append(_rung("skill-auto", model, "won", why))
    else:
        rungs.append(_rung("skill-auto", None, "skipped", "the skill is not on auto"))

    # 4./5. scope defaults
    for name, row, label in (
        ("scope-default-cluster-tenant", ct, "ClusterTenant"),
        ("scope-default-global", gl, "Global"),
    ):
        value = row.model if row is not None else None
        if name == "scope-default-cluster-tenant" and not tenant:
            rungs.append(_rung(name, None, "skipped", "no ClusterTenant applies"))
            continue
        if winner and winner != "skill-auto":
            rungs.append(_rung(name, value, "not-reached", "a higher rung won"))
            continue
        if winner == "skill-auto":
            if picked_name == name:
                note = "supplies the auto skill's model"
            elif row is None:
                note = f"no {label} default"
            elif not row.usable:
                note = f"the {label} default names no model"
            else:
                note = "not used: the ClusterTenant default comes first"
            rungs.append(_rung(name, value, "supplied" if picked_name == name else "skipped", note))
            continue
        if row is None:
            rungs.append(_rung(name, None, "skipped", f"no {label} default"))
        elif not row.usable:
            rungs.append(_rung(name, None, "skipped", f"the {label} default names no model (an autoConfig-only row never wins)"))
        else:
            winner, model = name, row.model.strip()
            auto, auto_config = row.auto_config is not None, row.auto_config
            why = f"the {label} default"
            rungs.append(_rung(name, model, "won", why))

    result: dict[str, Any] = {
        "model": model,
        "source": winner or "unresolved",
        "auto": auto,
        "autoConfig": auto_config,
        "blocked": False,
        "blockedModel": None,
        "reason": why or "no rung names a model",
        "rungs": rungs,
    }
    if model and tenant and allows is not None and not allows(model):
        for r in rungs:
            if r["outcome"] in ("won", "supplied") and r["value"] == model:
                r["outcome"] = "blocked"
                r["reason"] += f"; blocked: not on the allowlist of ClusterTenant '{tenant}'"
        result.update(
            model=None,
            blocked=True,
            blockedModel=model,
            reason=f"model '{model}' won at rung '{winner}' but is not on the allowlist of ClusterTenant '{tenant}'",
        )
    return result
