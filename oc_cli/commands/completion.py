"""oc completion bash|zsh|fish: print the shell completion script.

The shell is an explicit argument, never guessed from ``$SHELL`` or the parent process, so the
command behaves the same in CI, containers and non-interactive shells, and a script for one shell
can be generated from another (``oc completion fish > oc.fish`` from bash).

The scripts come from Typer's completion classes: each defines a shell function that calls ``oc``
back with ``_OC_COMPLETE=complete_<shell>`` and the words typed so far; ``oc`` then answers with
the candidates instead of running a command. Typer registers those classes only for apps built
with ``add_completion=True``; ``oc`` is not (it must not grow ``--install-completion`` options),
so the entry point calls ``register_shells()`` whenever ``_OC_COMPLETE`` is set.
"""

from __future__ import annotations

import enum
import sys

import typer

PROG_NAME = "oc"
PROG_NAMES = ("oc", "opencrane")  # the package installs both commands; both complete
COMPLETE_VAR = "_OC_COMPLETE"


class Shell(str, enum.Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


app = typer.Typer(add_completion=False, rich_markup_mode=None)


def register_shells() -> None:
    """Make Typer's bash, zsh and fish completion classes answer ``_OC_COMPLETE`` requests."""
    from typer._completion_classes import completion_init

    completion_init()


def script(shell: Shell | str) -> str:
    """The completion script for ``shell``, ending with exactly one newline."""
    from typer._click.shell_completion import ShellComplete
    from typer._completion_classes import BashComplete, FishComplete, ZshComplete

    from oc_cli.app import app as root_app

    classes: dict[Shell, type[ShellComplete]] = {Shell.bash: BashComplete, Shell.zsh: ZshComplete,
                                                  Shell.fish: FishComplete}
    comp = classes[Shell(shell)](typer.main.get_command(root_app), {}, PROG_NAME, COMPLETE_VAR)
    # The base class's source() formats the template; BashComplete's override would also spawn
    # a bash process to check its version, which fails noisily where bash is not installed
    # (a container generating a script for another machine).
    return _for_every_name(Shell(shell), ShellComplete.source(comp).strip()) + "\n"


def _for_every_name(shell: Shell, text: str) -> str:
    """Typer's script completes ``oc`` only: register it for ``opencrane`` as well, each calling
    back the command that is being completed."""
    names = " ".join(PROG_NAMES)
    if shell is Shell.bash:  # the function calls back $1, the command being completed
        head, _, last = text.rpartition("\n")
        return f"{head}\n{last.removesuffix(PROG_NAME)}{names}"
    if shell is Shell.zsh:
        text = text.replace(f"#compdef {PROG_NAME}\n", f"#compdef {names}\n", 1)
        text = text.replace(f"_OC_COMPLETE=complete_zsh {PROG_NAME})", "_OC_COMPLETE=complete_zsh ${words[1]})")
        return text.replace(f"compdef _oc_completion {PROG_NAME}", f"compdef _oc_completion {names}")
    # fish: one line per command, each calling itself back
    return "\n".join(text.replace(f"--command {PROG_NAME} ", f"--command {name} ")
                      .replace(f"(commandline -cp) {PROG_NAME})", f"(commandline -cp) {name})")
                      .replace(f'(commandline -cp) {PROG_NAME}"', f'(commandline -cp) {name}"')
                      for name in PROG_NAMES)


@app.command("completion")
def completion(
    shell: Shell = typer.Argument(..., metavar="SHELL", case_sensitive=False,
                                  help="The shell to print the script for."),
) -> None:
    """Print the completion script for SHELL on stdout.

    \b
    bash (add to ~/.bashrc):
        eval "$(oc completion bash)"
    zsh (add to ~/.zshrc, after compinit):
        eval "$(oc completion zsh)"
    fish (once):
        oc completion fish > ~/.config/fish/completions/oc.fish

    Pre-generated copies ship in completions/ (oc.bash, _oc, oc.fish) for packagers.
    """
    sys.stdout.write(script(shell))
