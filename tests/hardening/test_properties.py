"""Properties behind the hardening promises that the example-based suites cannot enumerate.

The domain modules have their own Hypothesis tests (``tests/domain``: skill keys, resolution,
audit chain, statistics, judge parsing, autoConfig junk). These add, for any input:

* an error line reaches stderr as one line of visible characters, and text that is already
  visible is left alone;
* a value refused as a secret reference is never repeated in the error, and a name built the
  way secret names are built is never mistaken for a key;
* an autoConfig model list with an invisible character in a name is refused as invalid, before
  any lookup could echo it;
* ``eval-case import`` of arbitrary bytes ends in "imported" or a validation error, never in an
  internal error (exit 1).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from oc_cli import output
from oc_cli.app import main
from oc_cli.domain import validation as v
from oc_cli.errors import EXIT_USAGE, OcError, ValidationError
from tests.support import fake_keys


def shown_on_stderr(line: str) -> str:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        output.error_line(line)
    return err.getvalue()


@given(st.text())
@example("model '\x1b[2J\x1b[H' not found")
@example("name 'gpt\u202e4o' \u200b\x00\x07")
def test_an_error_line_is_one_line_of_visible_characters(text: str):
    line = OcError(text, text, hint=text).line()
    printed = shown_on_stderr(line)
    assert printed.endswith("\n") and printed.count("\n") == 1
    assert all(ch == " " or ch.isprintable() for ch in printed[:-1]), repr(printed)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"))))
def test_visible_text_is_left_alone(text: str):
    assert output.visible(text) == text


# Values start and end with characters no message of ours contains, so a value found in the
# error can only have been echoed.
@given(st.text(min_size=4).map(lambda text: f"Q{text}Z9"))
@example(fake_keys.aws_secret(23))
@example("Qabcd+efgh/ijkl+mnop=Z9")
def test_a_refused_secret_reference_is_never_echoed(value: str):
    try:
        v.secret_ref(value)
    except OcError as exc:
        assert value not in exc.line() and value not in json.dumps(exc.to_json(), ensure_ascii=False)


WORD = st.from_regex(r"[a-z][a-z0-9]{1,9}", fullmatch=True)


@given(st.lists(WORD, min_size=1, max_size=6), st.sampled_from(["-", "."]))
def test_secret_names_made_of_words_are_accepted(words: list[str], separator: str):
    name = separator.join(words)[:253].rstrip("-.")
    assert v.secret_ref(name) == name


@given(st.lists(WORD, min_size=1, max_size=5))
def test_environment_variable_names_are_accepted(words: list[str]):
    name = "_".join(words).upper()
    assert v.secret_ref(name) == name


INVISIBLE = st.characters(whitelist_categories=("Cc", "Cf", "Zl", "Zp"))


@given(st.text(alphabet=st.characters(whitelist_categories=("Ll", "Nd")), min_size=1, max_size=10), INVISIBLE,
       st.sampled_from(["allowedModels", "fallbacks"]))
def test_an_invisible_character_in_an_autoconfig_model_is_invalid(name: str, mark: str, key: str):
    config = {"objective": "balanced", "sessionPin": True, "explorationRate": 0, key: [name + mark + name]}
    looked_up: list[str] = []
    with pytest.raises(ValidationError):
        v.auto_config(config, check_model=lambda model, field: looked_up.append(model))
    assert looked_up == []


@pytest.fixture(scope="module")
def import_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("import-fuzz") / "cases.jsonl"


CASE_LINE = st.fixed_dictionaries({"skillName": st.just("fuzz"), "input": st.text(max_size=20)}).map(
    lambda d: json.dumps(d).encode())
LINES = st.lists(st.one_of(st.binary(max_size=40), CASE_LINE, st.just(b"[" * 5000)), max_size=5)


@settings(max_examples=60)
@given(LINES)
@example([b"\xff\xfe"])
@example([b"[" * 100_000])
def test_importing_arbitrary_bytes_never_fails_internally(import_file: Path, lines: list[bytes]):
    import_file.write_bytes(b"\n".join(lines) + b"\n")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        with pytest.raises(SystemExit) as exited:
            main(["routing", "eval-case", "import", str(import_file)])
    assert exited.value.code in (None, 0, EXIT_USAGE), err.getvalue()
    assert "INTERNAL_ERROR" not in err.getvalue()
