"""Invariants of the real knowledge base in claims/ (content rules a reviewer relies on)."""

from __future__ import annotations

import pytest
from support import REPO

from kb.checking.knowledge import KnowledgeBase
from kb.checking.load import load
from kb.checking.rules import load_rules
from kb.data.query import open_predictions
from kb.formats.schema import Kind


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load(REPO)


def test_no_errors_and_no_unused_references(kb: KnowledgeBase) -> None:
    assert [str(p) for p in kb.problems] == []


def test_the_content_rules_are_kb_check_rules(kb: KnowledgeBase) -> None:
    # "Every phenomenon has competing explanations, every explanation a proposer, a second
    # source and a prediction" are [tool.kb.rules] in pyproject.toml, so `kb check` (and the
    # test above) enforces them; tests/test_rules.py tests the rules themselves.
    rules, problems = load_rules(REPO)
    assert problems == [] and rules.enabled
    assert [c for c in kb.claims.values() if c.claim.kind is Kind.phenomenon]


def test_every_source_has_a_locator(kb: KnowledgeBase) -> None:
    for loaded in kb.claims.values():
        assert all(s.locator.strip() for s in loaded.claim.sources), loaded.file


def test_open_predictions_are_listed(kb: KnowledgeBase) -> None:
    listed = {(o.claim, o.prediction) for o in open_predictions(kb)}
    expected = {
        (c.claim.id, p.id) for c in kb.claims.values() for p in c.claim.predictions if p.open
    }
    assert listed == expected
