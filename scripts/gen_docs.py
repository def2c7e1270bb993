"""Generate docs/reference.md, the command reference, from the command tree itself.

    .venv/bin/python scripts/gen_docs.py          # rewrite docs/reference.md
    .venv/bin/python scripts/gen_docs.py --check  # exit 1 if it is out of date

Every group and command gets its usage line, its help text and its arguments and options with
their help, exactly as ``--help`` knows them, so the reference cannot disagree with the program.
Lazy groups are walked by loading their modules. A group whose module does not exist yet is left
out with a note on stderr (the reference then describes what is installed); any other import
error is a bug and stops the generator. tests/cli/test_docs_reference.py fails when the
committed file differs from what this prints.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import typer  # noqa: E402 - after the path set-up, like the imports below
from typer.core import TyperGroup  # noqa: E402

from oc_cli.app import app  # noqa: E402

OUTPUT = ROOT / "docs" / "reference.md"
PROG = "oc"
SHORT_HELP_CHARS = 120

HEADER = f"""# Command reference

Generated from the command tree by `scripts/gen_docs.py`; do not edit by hand. After changing a
command, run `.venv/bin/python scripts/gen_docs.py` (the test suite fails while this file is out
of date).

Every command also takes `-h` / `--help`. The global options of `{PROG}` go before the command,
e.g. `{PROG} --db ./oc.db model list`. Exit codes are listed under [`{PROG}`](#{PROG}).
"""


@dataclass
class Node:
    """One command or group of the tree, with the click context its help is rendered in."""

    command: Any
    ctx: Any
    path: str  # "oc routing proposal approve"
    depth: int
    children: list[Node] = field(default_factory=list)


def _missing_module(group: Any, name: str, exc: ModuleNotFoundError) -> bool:
    """True when the module behind a lazy subcommand does not exist (as opposed to being broken)."""
    spec = getattr(group, "lazy", {}).get(name)
    if spec is None or exc.name is None:
        return False
    module = spec[0]
    return module == exc.name or module.startswith(exc.name + ".")


def build_tree(skipped: list[str]) -> Node:
    """The whole tree under ``oc``; the paths of groups whose modules are missing go to ``skipped``."""
    root_cmd = typer.main.get_command(app)
    root = Node(root_cmd, root_cmd.context_class(root_cmd, info_name=PROG), PROG, 0)
    pending = [root]
    while pending:
        node = pending.pop(0)
        if not isinstance(node.command, TyperGroup):
            continue
        for name in node.command.list_commands(node.ctx):
            try:
                sub = node.command.get_command(node.ctx, name)
            except ModuleNotFoundError as exc:
                if not _missing_module(node.command, name, exc):
                    raise
                skipped.append(f"{node.path} {name}")
                continue
            if sub is None or sub.hidden:
                continue
            sub_ctx = sub.context_class(sub, info_name=name, parent=node.ctx)
            child = Node(sub, sub_ctx, f"{node.path} {name}", node.depth + 1)
            node.children.append(child)
            pending.append(child)
    return root


def _help_blocks(text: str) -> list[str]:
    """Markdown for a click help text: paragraphs as prose, ``\\b`` paragraphs verbatim."""
    text = inspect.cleandoc(text).split("\f", 1)[0]
    blocks = []
    for para in text.split("\n\n"):
        if not para.strip():
            continue
        if para.startswith("\b\n"):
            blocks.append("```text\n" + textwrap.dedent(para[2:]).strip("\n") + "\n```")
        else:
            blocks.append(" ".join(line.strip() for line in para.splitlines()))
    return blocks


def _anchor(path: str) -> str:
    return path.replace(" ", "-")


def _param_lines(node: Node, kind: str) -> list[str]:
    lines = []
    for param in node.command.get_params(node.ctx):
        if param.param_type_name != kind or param.name == "help":
            continue
        record = param.get_help_record(node.ctx)
        if record is None:  # hidden
            continue
        names, help_text = record
        lines.append(f"- `{names}`" + (f": {' '.join(help_text.split())}" if help_text.strip() else ""))
    return lines


def render_node(node: Node) -> str:
    cmd, ctx = node.command, node.ctx
    heading = "#" * min(6, node.depth + 2)
    parts = [f"{heading} {node.path}", ""]
    parts += ["```text", f"{ctx.command_path} {' '.join(cmd.collect_usage_pieces(ctx))}".rstrip(), "```", ""]
    for block in _help_blocks(cmd.help or ""):
        parts += [block, ""]
    for title, kind in (("Arguments", "argument"), ("Options", "option")):
        lines = _param_lines(node, kind)
        if lines:
            parts += [f"**{title}**", ""] + lines + [""]
    if node.children:
        parts += ["**Commands**", ""]
        for child in node.children:
            short = child.command.get_short_help_str(limit=SHORT_HELP_CHARS)
            parts.append(f"- [`{child.path}`](#{_anchor(child.path)})" + (f": {short}" if short else ""))
        parts.append("")
    if cmd.epilog:
        for block in _help_blocks(cmd.epilog):
            parts += [block, ""]
    return "\n".join(parts)


def render(skipped: list[str] | None = None) -> str:
    """The whole reference; groups left out because their module is missing go to ``skipped``."""
    skipped = [] if skipped is None else skipped
    root = build_tree(skipped)
    sections, pending = [HEADER], [root]
    while pending:  # depth-first, in the order of each group's command list
        node = pending.pop(0)
        sections.append(render_node(node))
        pending[:0] = node.children
    return "\n".join(sections).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report whether the file is up to date, write nothing")
    args = parser.parse_args(argv)
    skipped: list[str] = []
    text = render(skipped)
    for path in skipped:
        print(f"note: `{path}` left out: its module does not exist yet", file=sys.stderr)
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else None
    if current == text:
        return 0
    rel = OUTPUT.relative_to(ROOT)
    if args.check:
        print(f"{rel} is out of date: run .venv/bin/python scripts/gen_docs.py", file=sys.stderr)
        return 1
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"{rel} rewritten", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
