"""docs/reference.md: generated from the command tree, complete, and never out of date."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest
from typer.core import TyperGroup

from oc_cli.app import LazyGroup

ROOT = Path(__file__).resolve().parents[2]


def _gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


GEN = _gen_docs()


def _nodes(node):
    yield node
    for child in node.children:
        yield from _nodes(child)


def test_reference_is_up_to_date() -> None:
    skipped: list[str] = []
    text = GEN.render(skipped)
    committed = GEN.OUTPUT.read_text(encoding="utf-8") if GEN.OUTPUT.exists() else ""
    absent = f" (not installed here: {', '.join(skipped)})" if skipped else ""
    assert committed == text, f"docs/reference.md is out of date{absent}: run .venv/bin/python scripts/gen_docs.py"


def test_every_command_has_its_usage_and_options() -> None:
    root = GEN.build_tree([])
    text = GEN.render()
    paths = [node.path for node in _nodes(root)]
    assert {"oc", "oc model add", "oc routing proposal approve", "oc completion", "oc doctor"} <= set(paths)
    for node in _nodes(root):
        heading = "#" * min(6, node.depth + 2) + f" {node.path}\n"
        assert heading in text, f"no section for {node.path}"
        section = text.split(heading, 1)[1].split("\n#", 1)[0]
        assert f"```text\n{node.ctx.command_path} " in section
        for param in node.command.get_params(node.ctx):
            if param.hidden or param.name == "help":
                continue
            assert f"- `{param.get_help_record(node.ctx)[0]}`" in section, f"{node.path}: {param.name} missing"
        if isinstance(node.command, TyperGroup):
            for child in node.children:
                assert f"[`{child.path}`](#{child.path.replace(' ', '-')})" in section


def test_verbatim_help_paragraphs_stay_verbatim() -> None:
    blocks = GEN._help_blocks("Summary line.\n\n\b\nbash:\n    eval x\n\nWrapped\nprose.\f\nhidden")
    assert blocks == ["Summary line.", "```text\nbash:\n    eval x\n```", "Wrapped prose."]


class _Ghosts(LazyGroup):
    lazy = {"ghost": ("oc_cli.commands.no_such_module_yet", "Not written yet."),
            "model": ("oc_cli.commands.model", "Exists.")}


def test_only_a_missing_lazy_module_is_skipped() -> None:
    group = _Ghosts(name="ghosts")
    with pytest.raises(ModuleNotFoundError) as missing:
        importlib.import_module("oc_cli.commands.no_such_module_yet")
    assert GEN._missing_module(group, "ghost", missing.value)
    broken = ModuleNotFoundError("No module named 'some_dependency'", name="some_dependency")
    assert not GEN._missing_module(group, "model", broken)  # a module that exists but fails to import
