"""oc routing judge: check the judge against people (sample, label, calibration).

Local mode only: the control plane has no endpoint for human labels, so in remote mode every verb
fails with the standard "not supported by the control plane" error.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import typer

from oc_cli import output, runtime, schema
from oc_cli.commands._common import OutputOpt, flush_notes
from oc_cli.commands.routing import _skill
from oc_cli.errors import ValidationError

app = typer.Typer(help="The judge checked against people: sample answers, label them, calibrate.",
                  no_args_is_help=True)

SAMPLE_FORMATS = ("jsonl", "json", "table")


def _backend(verb: str):
    return runtime.local_backend(f"routing judge {verb}")


def _sample_format(value: str) -> str:
    if value not in SAMPLE_FORMATS:
        raise typer.BadParameter(f"expected one of {', '.join(SAMPLE_FORMATS)}, got {value!r}")
    return value


@app.command("sample")
def sample(
    ref: str = typer.Argument(..., metavar="MEASUREMENT"),
    size: int = typer.Option(50, "--size", min=1, max=1_000_000, help="How many answers to sample."),
    seed: int = typer.Option(None, "--seed", min=0, help="Seed of the random draw (default: random, printed)."),
    file: str = typer.Option(None, "--file", metavar="PATH", help="Write the labelling file here instead of stdout."),
    fmt: str = typer.Option("jsonl", "-o", "--output", metavar="jsonl|json|table", callback=_sample_format,
                            help="jsonl: the labelling file (default); json: one document; table: a preview."),
) -> None:
    """Write a labelling file: answers where the models' verdicts disagree first, then a seeded draw."""
    result = _backend("sample").judge_sample(ref, size=size, seed=seed)
    flush_notes()
    rows = result["rows"]
    if fmt == "table" and not file:
        output.emit(rows, "table", columns=schema.JUDGE_ANSWER.columns("local"))
    elif fmt == "json" and not file:
        output.emit(result, "json")
    else:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        if file:
            try:
                with open(file, "w", encoding="utf-8") as fh:
                    fh.write(text)
            except OSError as exc:
                raise ValidationError(f"--file {file}: cannot write the labelling file", str(exc)) from None
        else:
            sys.stdout.write(text)
    output.message(f"{len(rows)} of {result['answers']} answers sampled from measurement {ref} (seed {result['seed']});"
                   f" fill in humanPass (true or false), then import the file with:"
                   f" oc routing judge label {file or 'FILE'}")


@app.command("label")
def label(
    target: str = typer.Argument(..., metavar="FILE|MEASUREMENT"),
    interactive: bool = typer.Option(False, "--interactive", "-i",
                                     help="Grade MEASUREMENT's answers in the terminal, one key per answer."),
    fmt: str = OutputOpt(),
) -> None:
    """Import people's grades from a labelling file, or grade a measurement's answers interactively."""
    if interactive:
        _interactive(target)
        return
    result = _backend("label").import_judge_labels(target)
    flush_notes()
    if fmt == "json":
        output.emit(result, "json")
        return
    output.success(f"{result['imported']} label(s) imported from {target} ({result['created']} new,"
                   f" {result['updated']} overwritten, {result['skippedUnlabelled']} left unlabelled)")


@app.command("calibration")
def calibration(
    skill: str = _skill.SkillOpt(),
    judge: str = typer.Option(None, "--judge", metavar="MODEL", help="Only this judge model."),
    swap_check: int = typer.Option(0, "--swap-check", min=0, max=10_000, metavar="N",
                                   help="Re-judge N labelled answers with the sections swapped; report verdict flips."),
    seed: int = typer.Option(None, "--seed", min=0, help="Which labelled answers the swap check picks (default 0)."),
    fmt: str = OutputOpt(),
) -> None:
    """Compare the judge with people, per judge model and skill: agreement, kappa, bias, verdict."""
    key = _skill.required(skill, None, None, None) if skill else None
    rows = _backend("calibration").judge_calibration(skill=key, judge_model=judge, swap_check=swap_check, seed=seed)
    flush_notes()
    if fmt == "json":
        output.emit(rows, "json")
        return
    if not rows:
        output.message("no human labels yet: sample a measurement's answers with"
                       " `oc routing judge sample MEASUREMENT`, label them, and import them with `oc routing judge label FILE`")
        return
    sys.stdout.write("\n\n".join(render(r) for r in rows) + "\n")


def _num(x: Any, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _ci(ci: Any) -> str:
    return "" if not ci else f" (95% CI {ci[0]:.2f} to {ci[1]:.2f})"


def render(r: dict) -> str:
    """One calibration as the lines a person reads."""
    t = r["thresholds"]
    lines = [f"Judge {r['judgeModel']} on skill {r['skill']}: {r['verdict']}"]
    agreement = "n/a" if r["agreement"] is None else f"{r['agreement'] * 100:.0f}%"
    lines.append(f"  labels       {r['labels']}, agreement {agreement}")
    lines.append(f"  kappa        {_num(r['kappa'])}{_ci(r['kappaCi'])}")
    lines.append(f"  sensitivity  {_num(r['sensitivity'])}{_ci(r['sensitivityCi'])} — judge passes what people pass")
    lines.append(f"  specificity  {_num(r['specificity'])}{_ci(r['specificityCi'])} — judge fails what people fail")
    if r["bias"] is not None:
        lines.append(f"  bias         {r['bias'] * 100:+.1f} pts (judge passes {r['judgePassRate'] * 100:.0f}%,"
                     f" people {r['humanPassRate'] * 100:.0f}%)")
    v = r["verbosity"]
    groups = v["groups"]
    detail = ", ".join(f"{name[5:].lower()} {_num(g['rho'])} (n={g['n']})" for name, g in groups.items())
    warn = " — the judge rewards length" if v.get("warning") else ""
    lines.append(f"  verbosity    rank correlation of score with length {_num(v['rho'])}{warn}"
                 f" [people graded {detail}]")
    order = r.get("orderSensitivity")
    if order:
        rate = "n/a" if order["flipRate"] is None else f"{order['flipRate'] * 100:.0f}%"
        errors = f", {order['errors']} without a grade" if order.get("errors") else ""
        ci = order["flipRateCi"]
        interval = f", 95% CI {ci[0] * 100:.0f}% to {ci[1] * 100:.0f}%" if ci else ""
        lines.append(f"  order        {order['flips']} of {order['checked']} verdicts flipped with the sections"
                     f" swapped ({rate}{interval}){errors}")
    else:
        lines.append("  order        not checked (use --swap-check N)")
    for reason in r["reasons"]:
        lines.append(f"  reason       {reason}")
    lines.append(f"  thresholds   at least {t['minLabels']:g} labels, kappa >= {t['kappa']:g}, sensitivity >="
                 f" {t['sensitivity']:g}, specificity >= {t['specificity']:g}")
    return "\n".join(lines)


# ===== interactive labelling ======================================================================
KEYS = {"p": True, "f": False}


def _readable(value: Any) -> str:
    """An eval case's input or expected answer as text: chat messages as ``role: content`` lines."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        parts = []
        for msg in value["messages"]:
            if isinstance(msg, dict):
                content = msg.get("content")
                parts.append(f"{msg.get('role', '?')}: {content if isinstance(content, str) else json.dumps(content)}")
        return "\n".join(parts)
    return json.dumps(value, ensure_ascii=False, indent=2)


def _interactive(ref: str) -> None:
    """Show each unlabelled answer (input, expected, answer) and read one key: p, f, s or q.

    Every grade is stored the moment its key is pressed, so quitting (q, Ctrl-C, a closed
    terminal) keeps every label given. The judge's score is not shown: a person who sees it tends
    to agree with it, and the point is an independent grade.
    """
    backend = _backend("label")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise ValidationError("--interactive needs a terminal", "standard input and output must be a TTY",
                              hint="label a file instead: oc routing judge sample ID > f.jsonl; oc routing judge label f.jsonl")
    from rich.panel import Panel
    from rich.text import Text

    queue = backend.judge_label_queue(ref)
    console = output._rich_console()
    if not queue:
        output.message(f"every answer of measurement {ref} is labelled")
        return
    import termios
    import tty

    given = skipped = 0
    total = len(queue)
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    # One key at a time, not echoed, for the whole session: switching per key would discard keys
    # typed ahead (TCSAFLUSH). Ctrl-C still interrupts.
    tty.setcbreak(fd, termios.TCSANOW)
    try:
        for i, a in enumerate(queue, start=1):
            console.rule(Text(f"{i} of {total} · measurement {ref} · case {a['case']} · {a['side']} answer"))
            console.print(Panel(Text(_readable(a["input"])), title="input", title_align="left"))
            expected = "(none)" if a["expected"] is None else _readable(a["expected"])
            console.print(Panel(Text(expected), title="expected", title_align="left"))
            console.print(Panel(Text(a["answer"]), title="answer", title_align="left"))
            console.print(Text("[p] pass   [f] fail   [s] skip   [q] quit"))
            key = ""
            while key not in ("p", "f", "s", "q"):
                key = os.read(fd, 1).decode("utf-8", "ignore").lower()
                if not key:  # end of input: the terminal went away
                    raise EOFError
            if key == "q":
                break
            if key == "s":
                skipped += 1
                console.print(Text("skipped"))
                continue
            backend.set_judge_label(ref, a["case"], a["side"], KEYS[key])
            given += 1
            console.print(Text(f"saved: {'pass' if KEYS[key] else 'fail'}"))
    except (KeyboardInterrupt, EOFError):
        pass
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)
    left = total - given
    output.success(f"{given} label(s) saved, {skipped} skipped, {left} answer(s) of {ref} still unlabelled")
