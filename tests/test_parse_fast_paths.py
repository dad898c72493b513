"""The shortcuts that make a cold `kb check` fast give exactly PyYAML's answers."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.formats import yamlfile

SCALARS = [
    "", "~", "null", "Null", "true", "False", "yes", "on", "off", "1", "-1", "0x1f", "0o17",
    "1_000", "1.5", ".5", "1e3", "1.0e+3", ".inf", "-.Inf", ".nan", "2026-01-01",
    "2026-01-01 10:00:00", "12:30", "<<", "=", "a", "plain text", "@", "3 apples", "+1",
]  # fmt: skip


def test_the_resolver_tables_are_what_the_fast_resolver_assumes() -> None:
    resolver = yaml.resolver.Resolver
    assert None not in resolver.yaml_implicit_resolvers  # no resolver for any first character
    assert not resolver.yaml_path_resolvers


@pytest.mark.parametrize("text", SCALARS)
@pytest.mark.parametrize("implicit", [(True, False), (False, True), (False, False)])
def test_scalar_tags_match_pyyaml(text: str, implicit: tuple[bool, bool]) -> None:
    ours = yamlfile._Loader("")
    theirs = yaml.SafeLoader("")
    try:
        assert ours.resolve(yaml.ScalarNode, text, implicit) == theirs.resolve(
            yaml.ScalarNode, text, implicit
        )
        for kind in (yaml.SequenceNode, yaml.MappingNode):
            assert ours.resolve(kind, None, (True, False)) == theirs.resolve(
                kind, None, (True, False)
            )
    finally:
        ours.dispose()
        theirs.dispose()


plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(SCALARS)
    | st.dates(min_value=dt.date(1900, 1, 1)),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(st.text(min_size=1, max_size=8), plain, max_size=6))
def test_parsed_data_matches_pyyaml(data: dict) -> None:
    for style in (None, '"'):
        text = yaml.safe_dump(data, default_style=style, allow_unicode=True)
        assert yamlfile.parse(text.encode()).data == yaml.safe_load(text)
