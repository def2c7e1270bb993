"""Where settings come from: flags, environment, the config file's contexts, defaults.

Precedence everywhere: flag > environment > context > default. The config file lives at
``<user config dir>/opencrane/config.toml`` (``OC_CONFIG`` overrides) and holds kubectl-style
named contexts::

    current-context = "prod"

    [contexts.prod]
    url = "https://opencrane.example.com"   # remote mode when set
    tenant = "acme"                         # act as this ClusterTenant's admin (local mode)
    db = "/path/to/oc.db"                   # local database
    ca-bundle = "/etc/ssl/corp.pem"
    gateway = { url = "http://127.0.0.1:4000" }
    judge = { model = "judge-model", require-calibrated = true }

No secret is ever stored here: tokens and the gateway key live in the keyring.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oc_cli.errors import NotFoundError, ValidationError

APP = "opencrane"
CONTEXT_KEYS = ("url", "tenant", "db", "ca-bundle", "insecure", "gateway.url", "judge.model", "judge.require-calibrated")


def _platformdirs():
    import platformdirs

    return platformdirs


def config_path() -> Path:
    env = os.environ.get("OC_CONFIG")
    if env:
        return Path(env)
    return Path(_platformdirs().user_config_dir(APP)) / "config.toml"


def default_db_path() -> Path:
    return Path(_platformdirs().user_data_dir(APP)) / "oc.db"


def load_config(path: Path | None = None) -> dict[str, Any]:
    path = path or config_path()
    if not os.path.exists(path):
        return {}  # the common case in CI: no config file, and no TOML parser to import
    import tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise ValidationError(f"cannot read the config file {path}", str(exc)) from None
    if not isinstance(data.get("contexts", {}), dict):
        raise ValidationError(f"config file {path}: 'contexts' must be a table")
    return data


def save_config(data: dict[str, Any], path: Path | None = None) -> Path:
    import tomli_w

    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        tomli_w.dump(data, fh)
    os.replace(tmp, path)
    return path


def context_get(ctx: dict[str, Any], dotted: str) -> Any:
    cur: Any = ctx
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


@dataclass
class Options:
    """Global options as given on the command line (None = not given)."""

    db: str | None = None
    context: str | None = None
    url: str | None = None
    as_tenant: str | None = None
    no_color: bool = False
    ca_bundle: str | None = None
    insecure: bool = False
    request_timeout: float | None = None


@dataclass
class Settings:
    """The resolved settings of one call."""

    context_name: str | None
    context: dict[str, Any]
    mode: str  # local | remote
    url: str | None
    url_source: str | None
    db_path: Path
    db_source: str
    tenant: str | None
    tenant_source: str | None
    ca_bundle: str | None
    insecure: bool
    config_file: Path
    request_timeout: float = 30.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        import getpass

        try:
            user = getpass.getuser()
        except Exception:  # no login name in some containers
            user = os.environ.get("USER") or "unknown"
        return f"{user}@{self.tenant}" if self.tenant else user


def resolve(opts: Options) -> Settings:
    cfg_path = config_path()
    cfg = load_config(cfg_path)
    contexts = cfg.get("contexts", {}) or {}
    name = opts.context or os.environ.get("OC_CONTEXT") or cfg.get("current-context") or None
    explicit = bool(opts.context or os.environ.get("OC_CONTEXT"))
    ctx: dict[str, Any] = {}
    if name:
        if name in contexts:
            ctx = contexts[name] or {}
        elif explicit:
            flag = "--context" if opts.context else "OC_CONTEXT"
            raise NotFoundError(
                f"{flag}: context '{name}' not found",
                f"the config file {cfg_path} defines: {', '.join(sorted(contexts)) or 'no contexts'}",
                hint="create it with: oc config set-context " + name,
            )
        else:
            name = None  # a dangling current-context falls back to defaults

    url, url_src = None, None
    if opts.url is not None:
        url, url_src = opts.url, "--url"
    elif os.environ.get("OPENCRANE_URL"):
        url, url_src = os.environ["OPENCRANE_URL"], "OPENCRANE_URL"
    elif ctx.get("url"):
        url, url_src = ctx["url"], f"context {name}"
    if url is not None:
        url = url.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ValidationError(f"{url_src}: invalid control-plane URL {url!r}", "expected http://… or https://…")

    if opts.db:
        db, db_src = Path(opts.db), "--db"
    elif os.environ.get("OC_DB"):
        db, db_src = Path(os.environ["OC_DB"]), "OC_DB"
    elif ctx.get("db"):
        db, db_src = Path(str(ctx["db"])).expanduser(), f"context {name}"
    else:
        db, db_src = default_db_path(), "default"

    if opts.as_tenant is not None:
        tenant, t_src = opts.as_tenant, "--as-tenant"
    elif os.environ.get("OC_AS_TENANT"):
        tenant, t_src = os.environ["OC_AS_TENANT"], "OC_AS_TENANT"
    elif ctx.get("tenant"):
        tenant, t_src = str(ctx["tenant"]), f"context {name}"
    else:
        tenant, t_src = None, None
    if tenant is not None:
        from oc_cli.domain.validation import tenant_name

        tenant = tenant_name(tenant, t_src or "--as-tenant")

    timeout: float = 30.0
    raw_timeout, t_flag = ((opts.request_timeout, "--request-timeout") if opts.request_timeout is not None
                           else (os.environ.get("OC_REQUEST_TIMEOUT"), "OC_REQUEST_TIMEOUT"))
    if raw_timeout not in (None, ""):
        try:
            timeout = float(raw_timeout)
        except (TypeError, ValueError):
            timeout = -1.0
        if not 0 < timeout <= 3600:
            raise ValidationError(f"{t_flag}: expected seconds between 0 and 3600, got {raw_timeout!r}")
    ca = opts.ca_bundle or os.environ.get("OC_CA_BUNDLE") or ctx.get("ca-bundle")
    insecure = bool(opts.insecure or ctx.get("insecure"))
    return Settings(
        context_name=name,
        context=ctx,
        mode="remote" if url else "local",
        url=url,
        url_source=url_src,
        db_path=db,
        db_source=db_src,
        tenant=tenant,
        tenant_source=t_src,
        ca_bundle=ca,
        insecure=insecure,
        config_file=cfg_path,
        request_timeout=timeout,
    )


def gateway_settings(settings: Settings) -> dict[str, Any]:
    """The measurement seams: gateway URL, master key, judge model — and where each came from.

    Environment first (the reference's names), then the context (``gateway.url``, the
    keyring-held gateway key of that context, ``judge.model``).
    """
    out: dict[str, Any] = {}
    ctx = settings.context
    url = os.environ.get("LITELLM_ENDPOINT") or None
    out["url"], out["urlSource"] = (url, "LITELLM_ENDPOINT") if url else (
        context_get(ctx, "gateway.url"), f"context {settings.context_name}" if context_get(ctx, "gateway.url") else None)
    key = os.environ.get("LITELLM_MASTER_KEY") or None
    if key:
        out["key"], out["keySource"] = key, "LITELLM_MASTER_KEY"
    else:
        stored = gateway_key_from_keyring(settings.context_name) if settings.context_name else None
        out["key"], out["keySource"] = (stored, "keyring") if stored else (None, None)
    judge = os.environ.get("ROUTING_JUDGE_MODEL") or None
    out["judgeModel"], out["judgeSource"] = (judge, "ROUTING_JUDGE_MODEL") if judge else (
        context_get(ctx, "judge.model"), f"context {settings.context_name}" if context_get(ctx, "judge.model") else None)
    missing = []
    if not out["url"]:
        missing.append("LITELLM_ENDPOINT")
    if not out["key"]:
        missing.append("LITELLM_MASTER_KEY")
    if not out["judgeModel"]:
        missing.append("ROUTING_JUDGE_MODEL")
    out["missing"] = missing
    return out


GATEWAY_KEY_SERVICE = "opencrane-gateway"


def gateway_key_from_keyring(context_name: str) -> str | None:
    try:
        import keyring

        return keyring.get_password(GATEWAY_KEY_SERVICE, context_name)
    except Exception:  # no backend, locked keyring: treated as "not stored"
        return None


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def require_calibrated_judge(settings: Settings, flag: bool | None = None) -> tuple[bool, str | None]:
    """Whether a measurement's proposal needs a calibrated judge (SPEC §5.8), and where that came from.

    ``--require-calibrated-judge`` (``flag``), else ``OC_REQUIRE_CALIBRATED_JUDGE``, else the
    context's ``judge.require-calibrated``; off by default.
    """
    if flag:
        return True, "--require-calibrated-judge"
    env = os.environ.get("OC_REQUIRE_CALIBRATED_JUDGE")
    if env is not None:
        text = env.strip().lower()
        if text not in _TRUE + _FALSE:
            raise ValidationError(f"OC_REQUIRE_CALIBRATED_JUDGE: invalid value {env!r}", "expected true or false")
        return text in _TRUE, "OC_REQUIRE_CALIBRATED_JUDGE"
    value = context_get(settings.context, "judge.require-calibrated")
    if value is not None:
        if not isinstance(value, bool):
            raise ValidationError(f"context {settings.context_name}: judge.require-calibrated must be true or false",
                                  f"got {value!r}", hint="fix it with: oc config set-context NAME"
                                                        " --require-calibrated-judge / --no-require-calibrated-judge")
        return value, f"context {settings.context_name}"
    return False, None

