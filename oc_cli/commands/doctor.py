"""oc doctor: check that this machine is ready to use ``oc``, one line per check.

Each check says ok, warn or fail, what it saw, and how to fix what it did not like. Failures
are what stops ``oc`` from working (an unreadable database, an unreachable gateway or control
plane, a missing token); warnings are what makes it work less than expected (measurements that
would be a no-op, a judge of the same family as the models it grades, tokens outside the keyring).
The exit code is 1 when any check fails, so CI can run ``oc doctor -o json`` as a gate.

Local mode checks the database, the gateway and the judge; remote mode checks the control plane
and the token instead (measurements then run on the server, with its own gateway).

Doctor observes and never repairs: it opens the database without creating or migrating it
(``oc init`` does that), and httpx is imported only when a network check runs.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections import defaultdict
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import typer

from oc_cli import output, runtime
from oc_cli.commands._common import OutputOpt
from oc_cli.errors import OcError
from oc_cli.settings import Settings

Status = Literal["ok", "warn", "fail"]

CONTROL_PLANE_TIMEOUT_S = 5.0
_SHOWN_PROBLEMS = 5  # integrity problems quoted in the detail

app = typer.Typer(add_completion=False, rich_markup_mode=None)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    hint: str | None = None


@dataclass
class Registry:
    """What the local registry holds, for comparing with the gateway and the judge."""

    upstreams: dict[str, set[str]]  # public model name -> its upstream models (one per scope)
    pinned: set[str]  # the models that skills are pinned to


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _from_error(name: str, exc: OcError) -> Check:
    detail = exc.what if not exc.why else f"{exc.what} — {exc.why}"
    return Check(name, "fail", _one_line(detail), exc.hint)


# -- config and context ------------------------------------------------------------------------


def check_config() -> Check:
    from oc_cli.settings import config_path, load_config

    path = config_path()
    if not path.exists():
        return Check("config", "ok", f"{path} does not exist: built-in defaults apply")
    try:
        data = load_config(path)
    except OcError as exc:
        return _from_error("config", exc)
    contexts = sorted(data.get("contexts", {}) or {})
    listed = f": {', '.join(contexts)}" if contexts else ""
    return Check("config", "ok", f"{path} ({len(contexts)} context{'s' if len(contexts) != 1 else ''}{listed})")


def check_context(s: Settings) -> Check:
    if s.mode == "remote":
        mode = f"remote mode, control plane {s.url} (from {s.url_source})"
    else:
        mode = f"local mode, database from {s.db_source}"
    if s.tenant:
        mode += f", acting as ClusterTenant {s.tenant} (from {s.tenant_source})"
    if s.context_name is None:
        return Check("context", "ok", f"none selected: {mode}")
    if runtime.options().context:
        chosen = "--context"
    elif os.environ.get("OC_CONTEXT"):
        chosen = "OC_CONTEXT"
    else:
        chosen = "current-context"
    return Check("context", "ok", f"{s.context_name} (from {chosen}): {mode}")


# -- the local database ------------------------------------------------------------------------


def _size(path: Path) -> str:
    size = float(path.stat().st_size)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def check_database(s: Settings) -> tuple[list[Check], Registry | None]:
    """Database, schema, integrity and journal checks, and the registry when it can be trusted."""
    path = s.db_path
    if not path.exists():
        return [Check("database", "warn", f"{path} (from {s.db_source}) does not exist yet",
                      "run `oc init` to create it (any command that needs it also creates it)")], None
    # mode=rw opens an existing file without ever creating one.
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        return [Check("database", "fail", f"cannot open {path}: {exc}",
                      "check the file's permissions and that its directory is writable")], None
    with closing(conn):
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            return [Check("database", "fail", f"{path} is not a usable SQLite database: {exc}",
                          "restore it from a backup, or move it aside and run `oc init` to start afresh")], None
        checks = [Check("database", "ok", f"{path} (from {s.db_source}), {_size(path)}")]
        schema = _check_schema(conn)
        integrity = _check_integrity(conn)
        checks += [schema, integrity, _check_journal(conn)]
        # An older schema still has the registry tables; a newer or damaged one is not read.
        registry = None
        if schema.status != "fail" and integrity.status == "ok":
            registry = _read_registry(conn)
    return checks, registry


def _check_schema(conn: sqlite3.Connection) -> Check:
    from oc_cli.local.migrations import MIGRATIONS

    latest = MIGRATIONS[-1][0]
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        return Check("schema", "fail", f"cannot read the schema version: {exc}")
    if version == latest:
        return Check("schema", "ok", f"version {version} (the latest)")
    if version < latest:
        return Check("schema", "warn", f"version {version}; this oc migrates it to {latest} on the next command",
                     "run `oc init` to migrate it now")
    return Check("schema", "fail", f"version {version} is newer than this oc understands ({latest})",
                 "upgrade oc; an older oc must not write to this database")


def _check_integrity(conn: sqlite3.Connection) -> Check:
    try:
        rows = [r[0] for r in conn.execute(f"PRAGMA integrity_check({_SHOWN_PROBLEMS})")]
    except sqlite3.Error as exc:
        rows = [str(exc)]
    if rows == ["ok"]:
        return Check("integrity", "ok", "PRAGMA integrity_check: ok")
    return Check("integrity", "fail", "PRAGMA integrity_check: " + "; ".join(_one_line(r) for r in rows),
                 "restore the database from a backup; `sqlite3 oc.db .recover` may salvage rows")


def _check_journal(conn: sqlite3.Connection) -> Check:
    try:
        mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    except sqlite3.Error as exc:
        return Check("journal", "fail", f"cannot read the journal mode: {exc}")
    if mode == "wal":
        return Check("journal", "ok", "WAL (concurrent oc processes queue instead of failing)")
    return Check("journal", "warn", f"{mode}, not WAL: concurrent oc processes may fail with 'database is locked'",
                 "run `oc init`: opening the database switches it to WAL")


def _read_registry(conn: sqlite3.Connection) -> Registry | None:
    upstreams: dict[str, set[str]] = defaultdict(set)
    try:
        for name, upstream in conn.execute("SELECT public_model_name, upstream_model FROM models"):
            upstreams[name].add(upstream)
        pinned = {r[0] for r in conn.execute(
            "SELECT DISTINCT pinned_model FROM skills WHERE model_mode = 'pinned' AND pinned_model IS NOT NULL")}
    except sqlite3.Error:  # already reported by the integrity check
        return None
    return Registry(upstreams=dict(upstreams), pinned=pinned)


# -- keyring -----------------------------------------------------------------------------------


def check_keyring() -> Check:
    where = ("`oc auth login` tokens go to the 0600 file ~/.config/opencrane/credentials.json and "
             "`oc config set-context --gateway-key-stdin` cannot store a gateway key")
    hint = "install and unlock a keyring backend (Secret Service, macOS Keychain), or set PYTHON_KEYRING_BACKEND"
    try:
        import keyring
        from keyring.backends import chainer, fail, null

        backend = keyring.get_keyring()
    except Exception as exc:  # a broken backend (D-Bus errors and the like) is "no keyring"
        reason = f"{type(exc).__name__}: {_one_line(str(exc))}"
        return Check("keyring", "warn", f"no usable keyring ({reason}): {where}", hint)
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    empty_chain = isinstance(backend, chainer.ChainerBackend) and not backend.backends
    if isinstance(backend, (fail.Keyring, null.Keyring)) or empty_chain:
        return Check("keyring", "warn", f"{name} stores nothing: {where}", hint)
    return Check("keyring", "ok", f"{name}")


# -- gateway and judge (local mode) ------------------------------------------------------------


def check_gateway(seams: dict):
    """Reachability of the LiteLLM gateway, and what it serves (``ServedModels``; None when unknown).

    The same request as the preflight of ``measurement run`` (``oc_cli.gateway.preflight``).
    """
    missing = [name for name in ("LITELLM_ENDPOINT", "LITELLM_MASTER_KEY") if name in seams["missing"]]
    if missing:
        return Check(
            "gateway", "warn",
            f"{' and '.join(missing)} not set (nor in the context): measurements are a no-op that records nothing",
            "export LITELLM_ENDPOINT=http://HOST:4000 and LITELLM_MASTER_KEY, or run "
            "`oc config set-context NAME --gateway-url URL --gateway-key-stdin`"), None
    from oc_cli.gateway.preflight import fetch_served

    started = time.monotonic()
    try:
        served = fetch_served(seams)
    except OcError as exc:
        check = _from_error("gateway", exc)
        hint = exc.hint or "start the LiteLLM proxy, or fix LITELLM_ENDPOINT / the context's gateway.url"
        return Check("gateway", "fail", f"{check.detail} (from {seams['urlSource']})", hint), None
    ms = (time.monotonic() - started) * 1000
    n = len(served.names)
    return Check("gateway", "ok", f"{seams['url']} (from {seams['urlSource']}) serves {n} "
                 f"model{'s' if n != 1 else ''} ({ms:.0f} ms)"), served


def check_gateway_models(served, registry: Registry) -> Check:
    registered = sorted(registry.upstreams)
    if not registered:
        return Check("gateway-models", "ok", "no models registered yet")
    serving = set(served.names)
    unserved = [name for name in registered if name not in serving]
    if not unserved:
        return Check("gateway-models", "ok", f"the gateway serves all {len(registered)} registered models")
    return Check(
        "gateway-models", "warn",
        f"registered but not served by the gateway: {', '.join(unserved)} "
        f"({len(registered) - len(unserved)} of {len(registered)} served)",
        "add them to the LiteLLM proxy's model_list under their public names, or remove them with `oc model remove`")


def check_judge(seams: dict, registry: Registry | None, served) -> Check:
    judge = seams["judgeModel"]
    if not judge:
        return Check("judge", "warn", "ROUTING_JUDGE_MODEL not set (nor the context's judge.model): "
                     "measurements are a no-op that records nothing",
                     "export ROUTING_JUDGE_MODEL=<a model of another provider than the ones you measure>")
    from oc_cli.domain.judge import judge_upstreams, model_family

    detail = f"{judge} (from {seams['judgeSource']})"
    problems: list[str] = []
    hints: list[str] = []
    if served is not None and judge not in served.names:
        problems.append("the gateway does not serve it")
        hints.append("add the judge to the LiteLLM proxy's model_list")
    upstreams = judge_upstreams(judge, registry.upstreams.get(judge, ()) if registry else (),
                                served.upstreams if served is not None else None)
    if upstreams != [judge]:
        detail += f", runs {', '.join(sorted(upstreams))}"
    if registry is not None:
        # As `measurement run` does: the judge's family comes from its registered upstream, else
        # from the gateway's answer, and only then from its name.
        judge_families = {model_family(u) for u in upstreams}
        siblings = sorted(m for m in registry.pinned
                          if judge_families & {model_family(u) for u in registry.upstreams.get(m, ())})
        if siblings:
            families = ", ".join(sorted(judge_families))
            problems.append(f"same family ({families}) as models skills are pinned to: {', '.join(siblings)}; "
                            "measuring those skills would refuse this judge")
            hints.append("pick a judge from another provider, or accept the bias with --allow-same-family-judge")
    if problems:
        return Check("judge", "warn", f"{detail}: {'; '.join(problems)}", "; ".join(hints))
    return Check("judge", "ok", detail)


# -- remote mode -------------------------------------------------------------------------------


def check_control_plane(s: Settings) -> Check:
    import ssl

    import httpx

    from oc_cli.remote import server_root

    try:
        root = server_root(s.url or "")
    except OcError as exc:
        return _from_error("control-plane", exc)
    verify: bool | ssl.SSLContext = not s.insecure
    if s.ca_bundle and not s.insecure:
        try:  # httpx 0.28 deprecates a CA path in ``verify``: build the context here
            verify = ssl.create_default_context(cafile=s.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            return Check("control-plane", "fail", f"cannot load the CA bundle {s.ca_bundle}: {exc}",
                         "point --ca-bundle (or the context's ca-bundle) at a PEM file")
    started = time.monotonic()
    try:
        response = httpx.get(f"{root}/healthz", timeout=CONTROL_PLANE_TIMEOUT_S, verify=verify)
    except httpx.TimeoutException:
        return Check("control-plane", "fail", f"{root}/healthz did not answer within {CONTROL_PLANE_TIMEOUT_S:.0f}s",
                     "check the URL and that the control plane is running")
    except httpx.HTTPError as exc:
        tls = isinstance(exc, httpx.ConnectError) and "CERTIFICATE" in str(exc).upper()
        hint = ("pass --ca-bundle PATH (or the context's ca-bundle) for a private CA" if tls
                else "check the URL and that the control plane is running")
        return Check("control-plane", "fail", f"cannot reach {root}: {_one_line(str(exc)) or type(exc).__name__}", hint)
    ms = (time.monotonic() - started) * 1000
    if response.is_success:
        return Check("control-plane", "ok", f"{root}/healthz answered HTTP {response.status_code} ({ms:.0f} ms)")
    return Check("control-plane", "fail", f"{root}/healthz answered HTTP {response.status_code}",
                 "the server is up but unhealthy: check its logs")


_TOKEN_SOURCES = {"env": "OPENCRANE_TOKEN", "keyring": "the keyring", "file": "the credentials file"}


def check_token(s: Settings) -> Check:
    try:
        from oc_cli.remote.auth import load_token
    except ImportError as exc:
        return Check("token", "warn", f"cannot look for a token: {exc}")
    try:
        token, source = load_token(s.url or "")
    except OcError as exc:
        return _from_error("token", exc)
    if not token:
        return Check("token", "fail", f"no token for {s.url} in OPENCRANE_TOKEN, the keyring or the credentials file",
                     "run `oc auth login` (in CI, set OPENCRANE_TOKEN)")
    return Check("token", "ok", f"found in {_TOKEN_SOURCES.get(str(source), str(source))}")


# -- the command -------------------------------------------------------------------------------


def run_checks() -> list[Check]:
    """Every check that applies to the current mode, in the order they are printed."""
    config = check_config()
    checks = [config]
    try:
        s = runtime.settings()
    except OcError as exc:
        if config.status != "fail":  # an unreadable config file is already reported
            checks.append(_from_error("context", exc))
        return checks + [check_keyring()]
    checks.append(check_context(s))
    if s.mode == "remote":
        return checks + [check_keyring(), check_control_plane(s), check_token(s)]
    db_checks, registry = check_database(s)
    checks += db_checks
    checks.append(check_keyring())
    from oc_cli.settings import gateway_settings

    seams = gateway_settings(s)
    gateway, served = check_gateway(seams)
    checks.append(gateway)
    if served is not None and registry is not None:
        checks.append(check_gateway_models(served, registry))
    checks.append(check_judge(seams, registry, served))
    return checks


_COLOURS = {"ok": "32", "warn": "33", "fail": "31"}


def _render(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    colour = output.color_enabled(sys.stdout)
    lines = []
    for c in checks:
        status = f"{c.status:<4}"
        if colour:
            status = f"\x1b[{_COLOURS[c.status]}m{status}\x1b[0m"
        hint = f"  (hint: {c.hint})" if c.hint else ""
        lines.append(f"{status}  {c.name.ljust(width)}  {c.detail}{hint}")
    return "\n".join(lines) + "\n"


@app.command("doctor")
def doctor(fmt: str = OutputOpt()) -> None:
    """Check the database, config, keyring, gateway and judge.

    In remote mode the control plane's /healthz and the token are checked instead of the
    database, gateway and judge. One line per check: ok, warn or fail, what was seen, and a
    hint. Exits 1 when any check fails; warnings (for example an unconfigured gateway, which
    makes measurements a no-op) do not change the exit code.
    """
    checks = run_checks()
    failed = sum(c.status == "fail" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    if fmt == "json":
        output.emit({"checks": [asdict(c) for c in checks], "ok": failed == 0}, "json")
    else:
        sys.stdout.write(_render(checks))
        output.message(f"{len(checks) - failed - warned} ok, {warned} warning{'s' if warned != 1 else ''}, "
                       f"{failed} failure{'s' if failed != 1 else ''}")
    if failed:
        raise typer.Exit(1)
