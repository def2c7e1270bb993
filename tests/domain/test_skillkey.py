"""Skill keys (SPEC §4.1): NAME, SCOPE/NAME, SCOPE/TEAM/NAME, and ``str`` as the canonical form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oc_cli.domain import skillkey
from oc_cli.domain.skillkey import DEFAULT_SCOPE, SkillKey, from_parts, parse
from oc_cli.errors import EXIT_USAGE, ValidationError

SEGMENT_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:@+-"
FIRST_CHARS = SEGMENT_CHARS[:62]

# -- the three spellings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("summarise", SkillKey("summarise", "org", "")),
        ("org/summarise", SkillKey("summarise", "org", "")),
        ("platform/summarise", SkillKey("summarise", "platform", "")),
        ("team/acme/summarise", SkillKey("summarise", "team", "acme")),
        ("org/acme/summarise", SkillKey("summarise", "org", "acme")),
        ("  team/acme/summarise \n", SkillKey("summarise", "team", "acme")),
        ("a", SkillKey("a", "org", "")),
        ("v1.2_beta:x@y+z-w", SkillKey("v1.2_beta:x@y+z-w", "org", "")),
    ],
)
def test_parse_accepts_the_three_spellings(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("key", "canonical"),
    [
        (SkillKey("summarise"), "summarise"),
        (SkillKey("summarise", "org", ""), "summarise"),
        (SkillKey("summarise", "platform"), "platform/summarise"),
        (SkillKey("summarise", "team", "acme"), "team/acme/summarise"),
        (SkillKey("summarise", "org", "acme"), "org/acme/summarise"),
    ],
)
def test_str_is_the_canonical_spelling(key, canonical):
    assert str(key) == canonical
    assert parse(canonical) == key


def test_org_scope_is_written_without_its_scope():
    assert str(parse("org/summarise")) == "summarise"


def test_defaults_are_org_scope_and_no_team():
    key = SkillKey("x")
    assert (key.scope, key.team) == (DEFAULT_SCOPE, "") == ("org", "")


def test_team_is_the_owning_tenant():
    assert parse("team/acme/summarise").tenant == "acme"
    assert parse("summarise").tenant is None
    assert parse("platform/summarise").tenant is None


def test_as_query_names_all_three_parts():
    assert parse("team/acme/summarise").as_query() == {"name": "summarise", "scope": "team", "team": "acme"}
    assert parse("summarise").as_query() == {"name": "summarise", "scope": "org", "team": ""}


def test_keys_are_hashable_and_ordered():
    keys = {parse("b"), parse("a"), parse("org/a")}
    assert keys == {SkillKey("a"), SkillKey("b")}
    assert sorted([SkillKey("b"), SkillKey("a")]) == [SkillKey("a"), SkillKey("b")]
    with pytest.raises(AttributeError):
        parse("a").name = "b"  # type: ignore[misc]


# -- what is refused -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "a/b/c/d",
        "team//summarise",  # empty team
        "/summarise",  # empty scope
        "team/",  # empty name
        "team/acme/",
        "//",
        "-summarise",  # must start with a letter or digit
        ".hidden",
        "team/-acme/x",
        "sum marise",
        "team/ac me/x",
        "résumé",  # ASCII only
        "sum\tmarise",
        "a" * 129,
        "team/" + "t" * 129 + "/x",
        "sum*",
        "sum\\marise",
    ],
)
def test_parse_refuses_malformed_keys(text):
    with pytest.raises(ValidationError) as info:
        parse(text)
    assert info.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize("value", [None, 5, ["summarise"], b"summarise"])
def test_parse_refuses_non_strings(value):
    with pytest.raises(ValidationError):
        parse(value)  # type: ignore[arg-type]


def test_segment_length_limit_is_128():
    assert parse("a" * 128).name == "a" * 128
    with pytest.raises(ValidationError):
        parse("a" * 129)


def test_empty_team_error_says_how_to_write_it():
    with pytest.raises(ValidationError) as info:
        parse("team//summarise")
    assert "SCOPE/NAME" in str(info.value)


def test_errors_name_the_flag_and_the_allowed_characters():
    with pytest.raises(ValidationError) as info:
        parse("team/acme/bad name", flag="--skill")
    text = info.value.line()
    assert text.startswith("error: --skill: invalid skill name 'bad name'")
    assert "[VALIDATION_ERROR]" in text


def test_long_junk_is_shortened_in_the_message():
    with pytest.raises(ValidationError) as info:
        parse("x " * 200)
    assert len(info.value.line()) < 400


@pytest.mark.parametrize(
    "text",
    [
        "org\n/summarise",  # a newline at the end of a segment
        "team/acme\n/summarise",
        "summarise\n/x",
    ],
)
def test_a_newline_inside_a_key_is_refused(text):
    # A key is printed in tables and audit messages; a newline in a stored segment would break
    # both, and no `list` output could ever be typed back.
    with pytest.raises(ValidationError):
        parse(text)


@pytest.mark.parametrize("name", ["summarise\n", "summarise\r"])
def test_from_parts_refuses_a_trailing_newline_in_the_name(name):
    with pytest.raises(ValidationError):
        from_parts(name, "org", "")


# -- --name/--scope/--team -----------------------------------------------------------------------


def test_from_parts_defaults():
    assert from_parts("summarise", None, None) == SkillKey("summarise", "org", "")
    assert from_parts("summarise", "", "") == SkillKey("summarise", "org", "")
    assert from_parts("summarise", "team", "  ") == SkillKey("summarise", "team", "")
    assert from_parts("summarise", "team", " acme ") == SkillKey("summarise", "team", "acme")


@pytest.mark.parametrize(
    ("name", "scope", "team", "flag"),
    [
        (None, None, None, "--name"),
        ("", "org", None, "--name"),
        ("bad name", None, None, "--name"),
        ("ok", "bad scope", None, "--scope"),
        ("ok", "team", "bad/team", "--team"),
    ],
)
def test_from_parts_names_the_offending_flag(name, scope, team, flag):
    with pytest.raises(ValidationError) as info:
        from_parts(name, scope, team)
    assert flag in info.value.line()


def test_from_parts_prefix():
    with pytest.raises(ValidationError) as info:
        from_parts(None, None, None, prefix="--skill-")
    assert "--skill-name" in info.value.line()


def test_check_segment_returns_the_value():
    assert skillkey.check_segment("acme", "team") == "acme"


# -- properties ------------------------------------------------------------------------------------

segments = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(FIRST_CHARS),
    st.text(alphabet=SEGMENT_CHARS, max_size=127),
)
keys = st.builds(SkillKey, name=segments, scope=segments, team=st.one_of(st.just(""), segments))


@given(keys)
def test_parse_of_str_round_trips(key):
    assert parse(str(key)) == key


@given(keys)
def test_from_parts_agrees_with_parse(key):
    assert from_parts(key.name, key.scope, key.team) == key


@given(st.text(max_size=300))
def test_junk_raises_only_validation_errors(text):
    try:
        key = parse(text)
    except ValidationError:
        return
    # whatever is accepted is a key that prints and parses back to itself
    assert parse(str(key)) == key


@given(st.lists(st.one_of(segments, st.text(max_size=20)), min_size=0, max_size=5))
def test_junk_joined_by_slashes_raises_only_validation_errors(parts):
    text = "/".join(parts)
    try:
        key = parse(text)
    except ValidationError:
        return
    segments = text.strip().split("/")
    assert 1 <= len(segments) <= 3
    assert key.name == segments[-1]
    assert key.scope == (segments[0] if len(segments) > 1 else "org")
