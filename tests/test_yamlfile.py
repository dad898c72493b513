"""The safe YAML reader: marks, refusals, and that arbitrary input never crashes it."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.formats.yamlfile import Mark, YamlProblem, parse


def test_marks_point_at_values_and_keys() -> None:
    doc = parse(b"id: x\nsources:\n  - citekey: a\n    stance: b\n")
    assert doc.data == {"id": "x", "sources": [{"citekey": "a", "stance": "b"}]}
    assert doc.mark_of(("sources", 0, "stance")) == Mark(4, 13)
    assert doc.mark_of(("sources", 0, "stance"), key=True) == Mark(4, 5)
    assert doc.mark_of(("sources", 0, "missing")) == Mark(3, 5)  # nearest ancestor


def test_plain_types_and_dates() -> None:
    doc = parse(b"a: 1\nb: 1.5\nc: true\nd: null\ne: 2020-01-02\nf: 2020-01-02 10:00:00\n")
    assert doc.data == {
        "a": 1,
        "b": 1.5,
        "c": True,
        "d": None,
        "e": dt.date(2020, 1, 2),
        "f": "2020-01-02 10:00:00",
    }


def test_keys_stay_as_written() -> None:
    assert parse(b"on: 1\n2: x\n").data == {"on": 1, "2": "x"}


def test_bom_is_accepted() -> None:
    assert parse("\ufeffa: 1\n".encode()).data == {"a": 1}


@pytest.mark.parametrize(
    ("raw", "message", "mark"),
    [
        (b"a: !!binary aGk=\n", "tag '!!binary' is not allowed", Mark(1, 4)),
        (b"a: !!set {x}\n", "tag '!!set' is not allowed", Mark(1, 4)),
        (b"? [a]\n: 1\n", "mapping key must be a plain name", Mark(1, 3)),
        (b"a: &x [1]\nb:\n  <<: *x\n", "merge keys", Mark(3, 3)),
        (b"a: &a [*a]\n", "nested deeper", Mark(1, 8)),
        (b"\xef\xbb\xbf\xef\xbb", "not UTF-8", Mark(1, 1)),
    ],
)
def test_refusals(raw: bytes, message: str, mark: Mark) -> None:
    with pytest.raises(YamlProblem) as info:
        parse(raw)
    assert message in info.value.message
    assert info.value.mark.line == mark.line


def test_alias_bomb_is_bounded_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]
    with pytest.raises(YamlProblem, match="alias"):
        parse("\n".join(lines).encode())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(raw: bytes) -> None:
    try:
        parse(raw)
    except YamlProblem as exc:
        assert exc.message
        assert exc.mark.line >= 0


yaml_text = st.text(
    alphabet=st.sampled_from(list("ab:-[]{}&*!#|>'\"\n\t ,?%@`\\01.~")), max_size=120
)


@settings(max_examples=500, deadline=None)
@given(yaml_text)
def test_arbitrary_yamlish_text_never_crashes(text: str) -> None:
    try:
        parse(text.encode())
    except YamlProblem as exc:
        assert exc.message


# Claim keys are names; PyYAML's emitter itself mangles keys made of exotic line breaks.
keys = st.text(
    alphabet=st.characters(categories=["L", "N"], include_characters="_-. "), min_size=1, max_size=8
)
plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, plain, min_size=1, max_size=5))
def test_round_trip_of_plain_data(data: dict[str, object]) -> None:
    """What PyYAML writes from plain data we read back equal (keys are text by design)."""
    text = yaml.safe_dump(data)  # allow_unicode would emit raw NEL, which YAML folds
    assert parse(text.encode()).data == data
