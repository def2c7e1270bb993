"""The entry point: the root command, global options, lazily loaded command groups, and the one
place where errors become a line on stderr and an exit code.

Command groups are imported only when invoked (or when their help is shown), so ``oc model list``
loads the model group and nothing else; ``oc --help`` lists groups from the static table below.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from oc_cli import __version__, runtime
from oc_cli.errors import EXIT_USAGE, OcError

# name -> (module, one-line help). Order is the order of `oc --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("oc_cli.commands.init", "Create the local database (idempotent)."),
    "credential": ("oc_cli.commands.credential", "Provider credentials: references to secrets, never keys."),
    "model": ("oc_cli.commands.model", "The model registry: public names mapped to upstream models."),
    "cluster-tenant": ("oc_cli.commands.cluster_tenant", "ClusterTenants (customers) and their model allowlists."),
    "skill-posture": ("oc_cli.commands.skill_posture", "Pin a skill to a model or put it on auto."),
    "model-default": ("oc_cli.commands.model_default", "Company-wide and per-ClusterTenant default models."),
    "resolve": ("oc_cli.commands.resolve", "Show which model a skill resolves to, and why."),
    "routing": ("oc_cli.commands.routing", "Eval cases, measurements, proposals, recommendations, metrics."),
    "gateway": ("oc_cli.commands.gateway", "The LiteLLM proxy config: models, skill aliases, fallbacks."),
    "usage": ("oc_cli.commands.usage", "Gateway usage: import LiteLLM spend logs, list calls."),
    "audit": ("oc_cli.commands.audit", "The hash-chained audit log of every change."),
    "config": ("oc_cli.commands.config", "Contexts: which database or control plane, which identity."),
    "auth": ("oc_cli.commands.auth", "Sign in to a remote control plane."),
    "completion": ("oc_cli.commands.completion", "Print a shell completion script (bash, zsh, fish)."),
    "doctor": ("oc_cli.commands.doctor", "Check the database, config, keyring, gateway and judge."),
}


class LazyGroup(TyperGroup):
    """A group whose subcommands live in modules imported on first use."""

    lazy: dict[str, tuple[str, str]] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.lazy) + [n for n in self.commands if n not in self.lazy]

    def get_command(self, ctx: Any, cmd_name: str):
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        spec = self.lazy.get(cmd_name)
        if spec is None:
            return None
        module = importlib.import_module(spec[0])
        cmd = module.command() if hasattr(module, "command") else typer.main.get_command(module.app)
        _strip_completion_options(cmd)
        cmd.name = cmd_name
        if not cmd.help:
            cmd.help = spec[1]
        self.commands[cmd_name] = cmd
        return cmd

    def resolve_command(self, ctx: Any, args: list[str]):
        """As click, but "did you mean" also knows the subcommands not loaded yet (``oc modle``)."""
        try:
            return self._click_resolve_command(ctx, args)
        except Exception as exc:
            from difflib import get_close_matches

            message = getattr(exc, "message", None)
            if message and message.startswith("No such command") and args:
                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    exc.message = f"{message.rstrip('.')}. Did you mean {', '.join(repr(m) for m in matches)}?"
            raise

    def shell_complete(self, ctx: Any, incomplete: str) -> list:
        """Complete subcommand names from the static table (no module imports), then options."""
        from typer._click.shell_completion import CompletionItem

        items = [CompletionItem(name, help=help_) for name, (_, help_) in self.lazy.items()
                 if name.startswith(incomplete)]
        if incomplete and not incomplete[0].isalnum():
            items = []
            items.extend(super(TyperGroup, self).shell_complete(ctx, incomplete))
        return items

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = [(name, help_) for name, (_, help_) in self.lazy.items()]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        # Plain help for lazy groups: rich help would import every subcommand module.
        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        self.format_options(ctx, formatter)  # also lists the commands
        self.format_epilog(ctx, formatter)


def _strip_completion_options(cmd: Any) -> None:
    """Sub-apps built by typer carry --install/--show-completion; oc has `oc completion` instead.

    Help is plain text everywhere: rich help imports rich on every --help and keeps bold
    escapes even under NO_COLOR.
    """
    cmd.params = [p for p in cmd.params if p.name not in ("install_completion", "show_completion")]
    if hasattr(cmd, "rich_markup_mode"):
        cmd.rich_markup_mode = None
    for sub in getattr(cmd, "commands", {}).values():
        _strip_completion_options(sub)


class RootGroup(LazyGroup):
    lazy = COMMANDS


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"oc {__version__}\n")
        raise typer.Exit(0)


app = typer.Typer(
    cls=RootGroup,
    name="oc",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: 0 ok, 1 failure, 2 usage/validation, 3 not found, 4 conflict, "
    "5 forbidden, 6 unconfigured, 7 authentication required.  Docs: docs/README.md",
)


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    db: str = typer.Option(None, "--db", metavar="PATH", help="Local database file [env: OC_DB]."),
    context: str = typer.Option(None, "--context", metavar="NAME", help="Use this context from the config file [env: OC_CONTEXT]."),
    url: str = typer.Option(None, "--url", metavar="URL", help="Remote control-plane URL: selects remote mode [env: OPENCRANE_URL]."),
    as_tenant: str = typer.Option(None, "--as-tenant", metavar="TENANT", help="Act as this ClusterTenant's admin (local mode) [env: OC_AS_TENANT]."),
    no_color: bool = typer.Option(False, "--no-color", help="Disable colour (also NO_COLOR=1)."),
    ca_bundle: str = typer.Option(None, "--ca-bundle", metavar="PATH", help="CA bundle for TLS to the control plane."),
    insecure: bool = typer.Option(False, "--insecure", help="Skip TLS verification (remote mode; unsafe)."),
    request_timeout: float = typer.Option(None, "--request-timeout", metavar="SECONDS", help="Timeout of each control-plane request (remote mode; default 30) [env: OC_REQUEST_TIMEOUT]."),
) -> None:
    """oc — OpenCrane model routing with evidence.

    Register models and credentials, pin skills or put them on auto, set defaults, confine every
    ClusterTenant to its allowlist, and prove a cheaper model is good enough before switching.
    Local mode (the default) keeps everything in an SQLite file; --url or a context with a url
    talks to an OpenCrane control plane instead.
    """
    runtime.configure(
        runtime.Options(db=db, context=context, url=url, as_tenant=as_tenant, no_color=no_color,
                        ca_bundle=ca_bundle, insecure=insecure, request_timeout=request_timeout)
    )


# Root options that may also follow the subcommand (kubectl style). --version, --help stay put.
GLOBAL_OPTIONS = {"--db": True, "--context": True, "--url": True, "--as-tenant": True, "--no-color": False,
                  "--ca-bundle": True, "--insecure": False, "--request-timeout": True}  # name -> takes a value


def hoist_global_options(root: Any, args: list[str]) -> list[str]:
    """``args`` with the global options that follow a subcommand moved before it.

    ``oc model list --db x.db`` becomes ``oc --db x.db model list``. The command line is walked
    the way click walks it: words that name a group's subcommand descend into it; an option that
    the command reached so far declares itself is its own (with its value) and stays, so a
    command's own ``--url`` wins; ``--`` ends the options. Only when some later word looks like a
    global option are subcommand modules loaded to learn their options.
    """
    first = next((i for i, a in enumerate(args) if not a.startswith("-")), None)
    if first is None or "--" in args[:first]:
        return args
    # skip values of root options before the first subcommand (`oc --db model model list`)
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if GLOBAL_OPTIONS.get(args[i]) else 1
    first = i
    if first >= len(args) or not any(a.split("=", 1)[0] in GLOBAL_OPTIONS for a in args[first + 1:]):
        return args
    head, moved, rest = list(args[:first]), [], []
    cmd, i = root, first
    while i < len(args):
        word = args[i]
        if word == "--":
            rest.extend(args[i:])
            break
        if not word.startswith("-") or word == "-":
            sub = cmd.get_command(None, word) if hasattr(cmd, "get_command") else None
            if sub is not None:
                cmd = sub
            rest.append(word)
            i += 1
            continue
        name = word.split("=", 1)[0]
        own = _own_option(cmd, name)
        if own is not None:  # the command's own option (and its value) stays where it is
            takes_value = not own.is_flag and not own.count and "=" not in word
            rest.extend(args[i:i + (2 if takes_value else 1)])
            i += 2 if takes_value else 1
        elif name in GLOBAL_OPTIONS:
            takes_value = GLOBAL_OPTIONS[name] and "=" not in word
            moved.extend(args[i:i + (2 if takes_value else 1)])
            i += 2 if takes_value else 1
        else:  # unknown: click reports it
            rest.append(word)
            i += 1
    return head + moved + rest


def _own_option(cmd: Any, name: str) -> Any:
    for param in getattr(cmd, "params", ()):
        if name in getattr(param, "opts", ()) or name in getattr(param, "secondary_opts", ()):
            return param
    return None


def _usage_line(exc: Any) -> str:
    msg = " ".join(str(exc.format_message()).split())
    cmd = ""
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        cmd = ctx.command_path
    hint = ""
    if cmd:
        hint = f" (hint: see '{cmd} --help'"
        if type(exc).__name__ == "NoSuchOption" and cmd != "oc":
            hint += "; global options such as --db, --url and --no-color: 'oc --help'"
        hint += ")"
    return f"error: {msg} [USAGE]{hint}"


def main(argv: list[str] | None = None) -> None:
    from oc_cli.output import error_line

    args = sys.argv[1:] if argv is None else argv
    code = 0
    try:
        if os.environ.get("_OC_COMPLETE"):
            # typer registers its bash/zsh/fish completion classes only for apps that add
            # completion options themselves; oc ships `oc completion SHELL` instead.
            from oc_cli.commands.completion import register_shells

            register_shells()
        cmd = typer.main.get_command(app)
        if not os.environ.get("_OC_COMPLETE"):
            args = hoist_global_options(cmd, list(args))
        rv = cmd.main(args=args, prog_name="oc", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
        if code == 130:  # typer turns Ctrl-C into Exit(130)
            error_line("error: interrupted [INTERRUPTED]")
    except OcError as exc:
        error_line(exc.line())
        code = exc.exit_code
    except KeyboardInterrupt:
        error_line("error: interrupted [INTERRUPTED]")
        code = 130
    except BrokenPipeError:
        _silence_stdout()
        code = 1
    except Exception as exc:  # click usage errors and the truly unexpected
        from typer._click.exceptions import ClickException

        if type(exc).__name__ == "NoArgsIsHelpError":
            # a bare group (`oc`, `oc model`): its help, as kubectl and gh print it
            ctx = getattr(exc, "ctx", None)
            sys.stdout.write((ctx.get_help() if ctx is not None else "") + "\n")
            code = 0
        elif isinstance(exc, ClickException):
            error_line(_usage_line(exc) if exc.exit_code == 2 else f"error: {exc.format_message()} [USAGE]")
            code = EXIT_USAGE if exc.exit_code == 2 else exc.exit_code
        elif isinstance(exc, typer.Abort):
            error_line("error: aborted [ABORTED]")
            code = 1
        else:
            if os.environ.get("OC_DEBUG"):
                raise
            error_line(f"error: unexpected internal error — {type(exc).__name__}: {' '.join(str(exc).split())} "
                       "[INTERNAL_ERROR] (hint: rerun with OC_DEBUG=1 for a traceback)")
            code = 1
    finally:
        runtime.close()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    sys.exit(code)


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
