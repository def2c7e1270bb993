"""oc completion: the printed scripts, the shipped copies, and completion answered by a real bash."""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from oc_cli.app import main
from oc_cli.commands.completion import COMPLETE_VAR, register_shells

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def _gen_completions():
    spec = importlib.util.spec_from_file_location("gen_completions", ROOT / "scripts" / "gen_completions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


GEN = _gen_completions()


def _isolated_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OC_", "OPENCRANE_", "LITELLM_", "_OC_"))}
    env.update(PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", HOME=str(tmp_path),
               OC_CONFIG=str(tmp_path / "config.toml"), OC_DB=str(tmp_path / "oc.db"))
    return env


def oc_completion(shell: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oc_cli", "completion", shell], capture_output=True, text=True,
                          env=_isolated_env(tmp_path), stdin=subprocess.DEVNULL, timeout=60)


@pytest.mark.parametrize("shell", sorted(s.value for s in GEN.FILES))
def test_shipped_file_matches_oc_completion(shell: str, tmp_path: Path) -> None:
    result = oc_completion(shell, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    path = ROOT / "completions" / GEN.FILES[GEN.Shell(shell)]
    assert path.read_text(encoding="utf-8") == result.stdout, (
        f"{path.relative_to(ROOT)} is out of date: run .venv/bin/python scripts/gen_completions.py")


def test_scripts_call_oc_back_with_the_completion_variable(tmp_path: Path) -> None:
    bash = oc_completion("bash", tmp_path).stdout
    assert f"{COMPLETE_VAR}=complete_bash" in bash
    # both installed commands complete, each calling itself back
    assert bash.rstrip().endswith("complete -o default -F _oc_completion oc opencrane")
    zsh = oc_completion("zsh", tmp_path).stdout
    assert zsh.startswith("#compdef oc opencrane\n") and f"{COMPLETE_VAR}=complete_zsh" in zsh
    assert "compdef _oc_completion oc opencrane" in zsh and "complete_zsh ${words[1]})" in zsh
    fish = oc_completion("fish", tmp_path).stdout.splitlines()
    assert [line.split()[2] for line in fish] == ["oc", "opencrane"]
    assert all(f"{COMPLETE_VAR}=complete_fish" in line for line in fish)
    assert fish[1].count("opencrane") == 3 and " oc)" not in fish[1]


def test_unknown_shell_is_a_usage_error(tmp_path: Path) -> None:
    result = oc_completion("tcsh", tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "tcsh" in result.stderr


def test_help_shows_how_to_install_for_each_shell(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "oc_cli", "completion", "--help"], capture_output=True,
                            text=True, env=_isolated_env(tmp_path), timeout=60)
    assert result.returncode == 0
    assert 'eval "$(oc completion bash)"' in result.stdout
    assert 'eval "$(oc completion zsh)"' in result.stdout
    assert "oc completion fish > ~/.config/fish/completions/oc.fish" in result.stdout


def test_registered_shells_answer_completion_requests(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    register_shells()
    monkeypatch.setenv(COMPLETE_VAR, "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "oc routing pro")
    monkeypatch.setenv("COMP_CWORD", "2")
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 0
    assert capsys.readouterr().out.split() == ["proposal"]


def bash_complete(words: list[str], tmp_path: Path) -> list[str]:
    """Source completions/oc.bash in bash, run its function as bash would for ``words``, read COMPREPLY."""
    assert (VENV_BIN / words[0]).exists(), f"`{words[0]}` is not installed in {VENV_BIN}"
    quoted = " ".join(shlex.quote(w) for w in words)
    script = "\n".join([
        f"source {shlex.quote(str(ROOT / 'completions' / 'oc.bash'))}",
        f"COMP_WORDS=({quoted})",
        f"COMP_CWORD={len(words) - 1}",
        f"_oc_completion {shlex.quote(words[0])} {shlex.quote(words[-1])} {shlex.quote(words[-2])}",
        'printf "%s\\n" "${COMPREPLY[@]}"',
    ])
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                            env=_isolated_env(tmp_path), stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    return [line for line in result.stdout.splitlines() if line]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.parametrize(("words", "expected"), [
    (["oc", "routing", "pro"], ["proposal"]),
    (["oc", "mo"], ["model", "model-default"]),
    (["oc", "routing", "proposal", "ap"], ["approve"]),
    (["oc", "completion", "f"], ["fish"]),
    (["oc", "doctor", "--o"], ["--output"]),
    (["opencrane", "routing", "pro"], ["proposal"]),
    (["opencrane", "mo"], ["model", "model-default"]),
])
def test_bash_completes_through_lazy_groups(words: list[str], expected: list[str], tmp_path: Path) -> None:
    assert bash_complete(words, tmp_path) == expected
