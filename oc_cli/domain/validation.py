"""Validation rules shared by both backends: AutoRoutingConfig, secrets, scopes, names.

Everything here is pure: values in, a normalised value or an ``OcError`` out.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from typing import Any, Callable, Iterable

from oc_cli.errors import ForbiddenError, ValidationError

SCOPES = ("global", "clusterTenant")
OBJECTIVES = ("cheapest-passing-bar", "best-quality-within-budget", "balanced")

AUTO_CONFIG_KEYS = (
    "objective",
    "sessionPin",
    "explorationRate",
    "costQualitySlider",
    "qualityFloor",
    "maxBudgetUsd",
    "allowedModels",
    "latencyCeilingMs",
    "fallbacks",
)

DEFAULT_AUTO_CONFIG: dict[str, Any] = {
    "objective": "cheapest-passing-bar",
    "sessionPin": True,
    "explorationRate": 0,
}

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")
_TENANT = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
_PROVIDER = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")

# Shapes of well-known raw credentials. A secretRef is a *name*; none of these is a name.
_RAW_KEY_PATTERNS = (
    re.compile(r"^sk-"),  # OpenAI, Anthropic (sk-ant-), DeepSeek, LiteLLM virtual keys
    re.compile(r"^(AKIA|ASIA)[0-9A-Z]{12,}"),  # AWS access key ids
    re.compile(r"^AIza[0-9A-Za-z_-]{20,}"),  # Google API keys
    re.compile(r"^(ghp|gho|ghu|ghs|ghr|github_pat)_"),  # GitHub tokens
    re.compile(r"^xox[abprs]-"),  # Slack
    re.compile(r"^ocp_[0-9a-f]{16,}"),  # OpenCrane access tokens
    re.compile(r"^(hf|gsk|pk|rk|xai)[-_][A-Za-z0-9]{16,}"),  # HF, Groq, Stripe-like, xAI
    re.compile(r"^(Bearer|Basic)\s", re.I),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"^eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\."),  # JWTs
)


def shannon_entropy(text: str) -> float:
    if not text:
        return 0.0
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def looks_like_raw_key(value: str) -> bool:
    """True when ``value`` has the shape of a credential rather than the name of one."""
    v = value.strip()
    if any(p.search(v) for p in _RAW_KEY_PATTERNS):
        return True
    # Long, high-entropy runs with mixed character classes are random keys, not names: a name is
    # made of short words joined by '-', '_' or '.', a key of one long random run.
    if len(v) >= 24:
        if re.fullmatch(r"[0-9a-fA-F]{32,}", v):
            return True
        longest = max(re.split(r"[-_.:/]", v), key=len)
        classes = sum(bool(re.search(p, longest)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]"))
        if len(longest) >= 24 and classes >= 2 and shannon_entropy(longest) >= 3.5:
            return True
        # A base64 key is one random run too, but its '/' and '+' would cut it into short pieces
        # above (an AWS secret access key: 40 characters of [A-Za-z0-9/+]). No secret name has
        # upper case, lower case, digits and '/' or '+' at once.
        if (len(v) >= 32 and re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", v) and re.search(r"[+/]", v)
                and all(re.search(p, v) for p in (r"[a-z]", r"[A-Z]", r"[0-9]")) and shannon_entropy(v) >= 4.0):
            return True
    return False


def raw_key_error(flag: str) -> ForbiddenError:
    return ForbiddenError(
        f"{flag}: the value looks like a raw API key",
        "oc stores only the name of a Kubernetes Secret or environment variable that holds the key; "
        "nothing was written",
        code="RAW_KEY_REJECTED",
        hint="store the key in a Secret (e.g. kubectl create secret generic openai-prod "
        "--from-literal=apiKey=...) and pass --secret-ref openai-prod",
    )


def secret_ref(value: Any, flag: str = "--secret-ref") -> str:
    """A secretRef: a Kubernetes Secret name (DNS-1123 subdomain) or an environment variable name."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{flag} is required", "give the name of the Secret that holds the key")
    v = value.strip()
    if looks_like_raw_key(v):
        raise raw_key_error(flag)
    if not (_DNS_SUBDOMAIN.fullmatch(v) or _ENV_NAME.fullmatch(v)):
        # The value is not repeated: what is not a valid name may well be a key of a shape
        # looks_like_raw_key does not know, and an error line ends up in terminals and CI logs.
        raise ValidationError(
            f"{flag}: invalid secret reference ({len(v)} characters, not shown)",
            "expected a Kubernetes Secret name (lowercase letters, digits, '-' and '.') "
            "or an environment variable name",
        )
    return v


def _optional_text(value: Any, flag: str) -> str | None:
    """A string flag that may be absent or '' (both None), never a key; stripped."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{flag} must be a string")
    v = value.strip()
    if v and looks_like_raw_key(v):
        raise raw_key_error(flag)
    return v or None


def env_var(value: Any, flag: str = "--env-var") -> str | None:
    """An environment variable name, or None ('' clears)."""
    v = _optional_text(value, flag)
    if v is not None and not _ENV_NAME.fullmatch(v):
        raise ValidationError(f"{flag}: invalid environment variable name ({len(v)} characters, not shown)",
                              "expected letters, digits and '_', not starting with a digit (e.g. OPENAI_API_KEY)")
    return v


def optional_name(value: Any, flag: str) -> str | None:
    v = _optional_text(value, flag)
    return None if v is None else name(v, flag)


def printable(value: str, limit: int = 60) -> str:
    shown = value if len(value) <= limit else value[: limit - 3] + "..."
    return repr(shown)


def name(value: Any, flag: str, *, what: str = "name") -> str:
    """A model name, upstream model, provider, ...: printable, no spaces, bounded."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{flag} is required", f"give a non-empty {what}")
    v = value.strip()
    if not _NAME.fullmatch(v):
        raise ValidationError(
            f"{flag}: invalid {what} {printable(v)}",
            "expected 1-200 characters from letters, digits and . _ : / @ + - (no spaces or control characters)",
        )
    return v


def provider(value: Any, flag: str = "--provider") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{flag} is required", "give the provider, e.g. openai or anthropic")
    v = value.strip()
    if not _PROVIDER.fullmatch(v):
        raise ValidationError(
            f"{flag}: invalid provider {printable(v)}",
            "expected lowercase letters, digits, '-', '_' or '.', e.g. openai, anthropic, bedrock",
        )
    return v


def tenant_name(value: Any, flag: str = "--cluster-tenant") -> str:
    """A ClusterTenant name: a Kubernetes object name (DNS-1123 label-ish, lowercase)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{flag} is required", "give the ClusterTenant name")
    v = value.strip()
    if not _TENANT.fullmatch(v):
        raise ValidationError(
            f"{flag}: invalid ClusterTenant name {printable(v)}",
            "expected 1-63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit",
        )
    return v


def scope(value: Any, flag: str = "--scope") -> str:
    if value not in SCOPES:
        raise ValidationError(f"{flag}: invalid scope {value!r}", "expected 'global' or 'clusterTenant'")
    return value


def url(value: Any, flag: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    v = str(value).strip()
    if not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", v):
        raise ValidationError(f"{flag}: invalid URL {printable(v)}", "expected http://host[:port][/path] or https://…")
    return v


def price(value: Any, flag: str) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{flag}: expected a number (USD per million tokens), got {value!r}") from None
    if not math.isfinite(v) or v < 0:
        raise ValidationError(f"{flag}: expected a finite number ≥ 0 (USD per million tokens), got {value!r}")
    return v


def quality_bar(value: Any, flag: str = "--quality-bar") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{flag} must be a number between 0 and 1, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or not 0 <= v <= 1:
        raise ValidationError(f"{flag} must be a number between 0 and 1, got {value!r}")
    return v


def parse_json_flag(text: str | None, flag: str, *, plain_text_ok: bool = False) -> Any:
    """Parse a JSON-valued flag. With ``plain_text_ok`` a non-JSON value is taken as a string."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        if plain_text_ok:
            return text
        raise ValidationError(f"{flag} is not valid JSON", str(exc).split("\n")[0]) from None


def _number(cfg: dict, key: str, lo: float | None, hi: float | None, *, lo_open: bool = False) -> None:
    if key not in cfg:
        return
    v = cfg[key]
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if ok and lo is not None:
        ok = v > lo if lo_open else v >= lo
    if ok and hi is not None:
        ok = v <= hi
    if not ok:
        if lo_open and hi is None:
            want = "a number greater than 0"
        else:
            want = f"a number between {lo:g} and {hi:g}"
        raise ValidationError(f"autoConfig.{key} must be {want}, got {json.dumps(v)}")


def auto_config(
    value: Any,
    *,
    check_model: Callable[[str, str], None] | None = None,
) -> dict[str, Any]:
    """Validate an AutoRoutingConfig fully (opencrane-api §5 plus the ranges the type promises).

    ``check_model(model, field)`` raises when a model in ``allowedModels``/``fallbacks`` is not
    registered or not allowed for the skill's tenant.
    """
    if not isinstance(value, dict):
        raise ValidationError("autoConfig must be an object", f"got {type(value).__name__ if value is not None else 'null'}")
    unknown = sorted(set(value) - set(AUTO_CONFIG_KEYS))
    if unknown:
        shown = ", ".join(k if len(k) <= 40 else k[:37] + "..." for k in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ValidationError(
            f"autoConfig: unknown key{'s' if len(unknown) > 1 else ''} {shown}",
            f"valid keys: {', '.join(AUTO_CONFIG_KEYS)}",
        )
    if value.get("objective") not in OBJECTIVES:
        raise ValidationError(
            f"autoConfig.objective must be one of: {', '.join(OBJECTIVES)}",
            f"got {json.dumps(value.get('objective'))}",
        )
    if not isinstance(value.get("sessionPin"), bool):
        raise ValidationError("autoConfig.sessionPin must be a boolean", f"got {json.dumps(value.get('sessionPin'))}")
    if "explorationRate" not in value:
        raise ValidationError("autoConfig.explorationRate must be a number between 0 and 1", "it is missing")
    _number(value, "explorationRate", 0, 1)
    _number(value, "costQualitySlider", 0, 10)
    _number(value, "qualityFloor", 0, 1)
    _number(value, "maxBudgetUsd", 0, None, lo_open=True)
    _number(value, "latencyCeilingMs", 0, None, lo_open=True)
    for key in ("allowedModels", "fallbacks"):
        if key not in value:
            continue
        items = value[key]
        if not isinstance(items, list) or not all(isinstance(m, str) and m.strip() for m in items):
            raise ValidationError(f"autoConfig.{key} must be a list of model names")
        for m in items:  # the same rule as every other model name (no control characters)
            name(m, f"autoConfig.{key}", what="model name")
        if len(set(items)) != len(items):
            raise ValidationError(f"autoConfig.{key} lists a model twice")
        if check_model is not None:
            for m in items:
                check_model(m, f"autoConfig.{key}")
    return value


BAD_LINES_SHOWN = 20  # an import names this many bad lines, then counts the rest


def bad_lines(what: str, bad: list[str]) -> tuple[str, str]:
    """The (what, why) of an import refused for ``bad`` lines: every one up to a limit."""
    head = f"{what}: {len(bad)} bad line{'' if len(bad) == 1 else 's'}, nothing imported"
    why = "; ".join(bad[:BAD_LINES_SHOWN])
    if len(bad) > BAD_LINES_SHOWN:
        why += f"; and {len(bad) - BAD_LINES_SHOWN} more"
    return head, why


def distinct(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        seen.setdefault(v, None)
    return list(seen)
