"""Tables at a real terminal: fitted to its width, no id or header ever wrapped or cut.

The commands run as ``oc`` subprocesses on a pseudo-terminal (``pty``) whose window size is set
with TIOCSWINSZ, the way a terminal emulator sets it; COLUMNS is removed from the environment so
the width really comes from the terminal.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import sys
import termios
from pathlib import Path

import pytest

from oc_cli import output
from tests.support.fake_gateway import FakeGateway, Reply
from tests.support.oc_process import OC, Oc

ID = re.compile(r"\bc[0-9a-z]{24}\b")


def on_terminal(oc: Oc, columns: int, *args: str) -> str:
    """What ``oc args`` writes to a terminal ``columns`` wide (stdout and stderr, as a user sees it)."""
    env = {k: v for k, v in oc.env.items() if k not in ("COLUMNS", "LINES", "CI")}
    env["TERM"] = "xterm"
    pid, fd = pty.fork()
    if pid == 0:  # the child: its stdin, stdout and stderr are the terminal
        try:
            os.execve(OC, [OC, *args], env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.fixture(scope="module")
def oc(tmp_path_factory: pytest.TempPathFactory) -> Oc:
    """A database with three models, a tenant, a completed measurement, its proposal and their audit."""
    home = tmp_path_factory.mktemp("tables")
    with FakeGateway() as gw:
        gw.add_model("base", prices=(10.0, 30.0))
        gw.add_model("cand", prices=(1.0, 3.0))
        gw.add_model("judge", Reply.ok('{"score": 0.9}'), prices=(2.0, 6.0))
        cli = Oc(home, LITELLM_ENDPOINT=gw.url, LITELLM_MASTER_KEY=gw.api_key or "", ROUTING_JUDGE_MODEL="judge")
        cli.run("model", "add", "--name", "base", "--upstream", "openai/gpt-4o")
        cli.run("model", "add", "--name", "cand", "--upstream", "anthropic/claude-3-haiku")
        cli.run("model", "add", "--name", "judge", "--upstream", "gemini/gemini-1.5-pro")
        cli.run("model-default", "set", "--model", "base")
        cli.run("cluster-tenant", "create", "acme")
        cli.run("cluster-tenant", "grant", "acme", "--model", "cand")
        cases = home / "cases.jsonl"
        cases.write_text("".join(json.dumps({
            "skillName": "summarise", "skillScope": "org", "skillTeam": "",
            "input": {"messages": [{"role": "user", "content": f"Summarise ticket {i}: the printer is jammed."}]},
            "expected": "One sentence naming the fault.", "qualityBar": 0.8}) + "\n" for i in range(12)))
        cli.run("routing", "eval-case", "import", str(cases))
        cli.run("routing", "measurement", "run", "--skill", "summarise", "--candidate-model", "cand", "--seed", "1",
                "--quality-margin", "0.3")  # a dozen cases show non-inferiority only at a wide margin
    return cli


LISTS = [("model", "list"), ("routing", "measurement", "list"), ("routing", "proposal", "list"), ("audit", "list")]


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("command", LISTS, ids=lambda c: " ".join(c))
def test_tables_fit_the_terminal_and_keep_ids_and_headers_whole(oc: Oc, command: tuple[str, ...],
                                                                 columns: int) -> None:
    wire = oc.json(*command)
    rows = wire["data"] if isinstance(wire, dict) else wire
    assert rows, "the fixture must give every list something to show"
    ids = {r["id"] for r in rows if "id" in r} | {r.get("proposalId") for r in rows} - {None}
    screen = on_terminal(oc, columns, *command)
    lines = [line for line in screen.splitlines() if line.strip()]
    assert lines and all(len(line) <= columns for line in lines), screen
    head, body = lines[0], lines[1:]
    # one line per row: nothing wrapped onto a second line
    assert len(body) == len(rows), screen
    # headers are whole words of the declared columns, never split
    for name in head.split():
        assert name in {output.header(c) for c in _columns(command)}, (name, screen)
    # every id printed is printed whole, and the row's own id is always there
    printed = set(ID.findall(screen))
    if command[0] != "audit":
        assert {r["id"] for r in rows} <= printed
    assert printed <= ids | {r.get("resourceId") for r in rows} | _ids_in_text(rows)
    for line in body:
        for token in re.findall(r"\bc[0-9a-z]{10,}", line):
            assert ID.fullmatch(token) or line.endswith("…"), (token, line)


def _columns(command: tuple[str, ...]) -> list[str]:
    from oc_cli import schema

    return {"model": schema.MODEL, "measurement": schema.MEASUREMENT, "proposal": schema.PROPOSAL,
            "audit": schema.AUDIT_ENTRY}[command[-2]].columns("local")


def _ids_in_text(rows: list[dict]) -> set[str]:
    return {m for r in rows for v in r.values() if isinstance(v, str) for m in ID.findall(v)}


def test_audit_list_at_80_columns_is_one_line_per_entry_with_the_message_cut(oc: Oc) -> None:
    entries = oc.json("audit", "list")["data"]
    screen = on_terminal(oc, 80, "audit", "list")
    lines = [line for line in screen.splitlines() if line.strip()]
    assert lines[0].split() == ["TIMESTAMP", "ACTOR", "TENANT", "ACTION", "MESSAGE"]
    assert len(lines) == 1 + len(entries)
    assert any(line.endswith("…") for line in lines[1:])
    for entry, line in zip(entries, lines[1:]):
        assert line.startswith(entry["timestamp"]) and entry["action"] in line


def test_wide_keeps_every_column_and_narrow_drops_the_least_valuable_first(oc: Oc) -> None:
    from oc_cli import schema

    narrow = on_terminal(oc, 80, "routing", "measurement", "list").splitlines()[0].split()
    assert narrow == ["ID", "SKILL", "CURRENT_MODEL", "CANDIDATE_MODEL", "STATUS"]
    wide = on_terminal(oc, 80, "routing", "measurement", "list", "-o", "wide").splitlines()[0].split()
    assert wide == [output.header(c) for c in schema.MEASUREMENT.columns("local")]
    roomy = on_terminal(oc, 120, "routing", "measurement", "list").splitlines()[0].split()
    assert "PINNED_SAVINGS_PCT" in roomy and "PINNED_CI_LOW_PCT" not in roomy


def test_piped_tables_are_never_fitted(oc: Oc) -> None:
    from oc_cli import schema

    piped = oc.run("audit", "list").stdout.splitlines()
    assert piped[0].split() == [output.header(c) for c in schema.AUDIT_ENTRY.columns("local")]
    assert not any(line.endswith("…") for line in piped)


@pytest.mark.parametrize("fmt", ["wide", "table"])
def test_every_output_option_accepts_wide(oc: Oc, fmt: str) -> None:
    assert oc.run("model", "list", "-o", fmt).stdout.startswith("ID")
    bad = oc.run("model", "list", "-o", "yaml", expect=2)
    assert "table, wide, json" in bad.stderr


# ----- the fitting rule itself -----------------------------------------------------------------------

def test_fit_drops_in_declared_order_then_puts_back_what_fits() -> None:
    cols = output.Columns(["id", "a", "b", "message"], drop=["a", "b"])
    heads = [output.header(c) for c in cols]
    cells = [["x" * 20, "aaaaaaaaaa", "bb", "some long free text " * 5]]
    shown, widths = output.fit(cols, heads, cells, 40, cols.drop)
    # a (10) is dropped first; b (2, header B) fits back; message gets the rest
    assert shown == [0, 2, 3] and widths[0] == 20 and sum(widths) + 2 * 2 == 40
    shown, _ = output.fit(cols, heads, cells, 200, cols.drop)
    assert shown == [0, 1, 2, 3]


def test_fit_never_cuts_an_id_even_when_nothing_fits() -> None:
    cols = output.Columns(["id", "name"])
    shown, widths = output.fit(cols, ["ID", "NAME"], [["i" * 30, "n" * 30]], 20, ())
    assert shown == [0, 1] and widths == [30, 30]


def test_cut_and_width_count_terminal_cells() -> None:
    assert output.cut("hello world", 6) == "hello…"
    assert output.cut("hello", 5) == "hello"
    assert output.width("日本") == 4 and output.cut("日本語テキスト", 5) == "日本…"


def test_columns_refuses_a_drop_name_it_does_not_have() -> None:
    with pytest.raises(ValueError):
        output.Columns(["id"], drop=["nope"])


@pytest.mark.parametrize("value,text", [(7e-05, "$0.00007"), (0.0123456, "$0.0123"), (0, "$0"),
                                        (1234.5, "$1,234.50"), (0.5, "$0.5"), (-0.002, "-$0.002")])
def test_money(value: float, text: str) -> None:
    assert output.money(value) == text
    assert output.money(float("nan")) == "nan" and output.money(float("inf")) == "inf"
    assert output.column_cell("spendUsd", value) == text


def test_latency_and_other_numbers() -> None:
    assert output.column_cell("latencyMs", 151.529) == "152 ms"
    assert output.column_cell("baselineLatencyMs", 1520) == "1,520 ms"
    assert output.column_cell("promptTokens", 12) == "12"
    assert output.column_cell("spendUsd", None) == ""


def test_usage_list_prints_dollars_and_milliseconds_and_json_keeps_numbers(oc: Oc, tmp_path: Path) -> None:
    log = tmp_path / "spend.jsonl"
    log.write_text(json.dumps({"request_id": "req-money-1", "model": "cand", "spend": 7e-05,
                               "startTime": "2026-01-01T00:00:00Z", "endTime": "2026-01-01T00:00:00.151529Z",
                               "prompt_tokens": 3, "completion_tokens": 4}) + "\n")
    oc.run("usage", "import", str(log))
    table = oc.run("usage", "list", "--model", "cand").stdout
    assert "$0.00007" in table and "152 ms" in table and "7e-05" not in table
    row = next(r for r in oc.json("usage", "list", "--model", "cand") if r["requestId"] == "req-money-1")
    assert row["spendUsd"] == pytest.approx(7e-05) and row["latencyMs"] == pytest.approx(151.529)


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("pty is POSIX only")


def test_every_declared_drop_is_a_column_of_its_table() -> None:
    from oc_cli import schema

    objs = [v for v in vars(schema).values() if isinstance(v, schema.Obj)]
    assert any(o.drop for o in objs)
    for o in objs:
        for mode in ("local", "remote"):
            cols = o.columns(mode)
            assert set(cols.drop) <= set(cols), (o.name, mode)
    with pytest.raises(ValueError):
        schema.Obj("x", [schema.F("id")], table=("id",), drop=("nope",))
