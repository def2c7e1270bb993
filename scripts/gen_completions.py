"""Regenerate the shipped completion scripts in completions/ from `oc completion SHELL`.

    .venv/bin/python scripts/gen_completions.py          # rewrite the files
    .venv/bin/python scripts/gen_completions.py --check  # exit 1 if any file is out of date

Packagers install these files instead of running ``oc`` at install time; the test suite
(tests/cli/test_completion.py) fails when they drift from what ``oc completion`` prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from oc_cli.commands.completion import Shell, script  # noqa: E402 - needs the path above

OUT_DIR = ROOT / "completions"

#: shell -> file name, following each shell's convention for completion files.
FILES: dict[Shell, str] = {Shell.bash: "oc.bash", Shell.zsh: "_oc", Shell.fish: "oc.fish"}


def render() -> dict[Path, str]:
    """Every completion file and the text it must hold."""
    return {OUT_DIR / name: script(shell) for shell, name in FILES.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale files instead of writing them")
    args = parser.parse_args(argv)
    stale = []
    for path, text in render().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "out of date" if args.check else "rewritten"
    for path in stale:
        print(f"{path.relative_to(ROOT)}: {verb}", file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
