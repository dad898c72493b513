"""Invariants of the real knowledge base in claims/ (content rules a reviewer relies on)."""

from __future__ import annotations

import pytest
from support import REPO

from kb.checking.knowledge import KnowledgeBase
from kb.checking.load import load
from kb.data.query import open_predictions
from kb.formats.schema import Kind, Stance


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load(REPO)


def test_no_errors_and_no_unused_references(kb: KnowledgeBase) -> None:
    assert [str(p) for p in kb.problems] == []


def test_every_phenomenon_has_competing_explanations(kb: KnowledgeBase) -> None:
    phenomena = [c.claim for c in kb.claims.values() if c.claim.kind is Kind.phenomenon]
    assert phenomena
    for p in phenomena:
        assert len(kb.explanations_of(p.id)) >= 2, f"{p.id} needs at least two explanations"


def test_every_explanation_has_a_proposer_and_a_second_source(kb: KnowledgeBase) -> None:
    for loaded in kb.claims.values():
        claim = loaded.claim
        if claim.kind is not Kind.explanation:
            continue
        stances = [s.stance for s in claim.sources]
        assert Stance.proposes in stances, f"{claim.id} has no proposing source"
        assert len(claim.sources) >= 2, f"{claim.id} needs a source beyond its proposer"
        assert claim.predictions, f"{claim.id} states no prediction"
        assert all(s.locator.strip() for s in claim.sources)


def test_open_predictions_are_listed(kb: KnowledgeBase) -> None:
    listed = {(o.claim, o.prediction) for o in open_predictions(kb)}
    expected = {
        (c.claim.id, p.id) for c in kb.claims.values() for p in c.claim.predictions if p.open
    }
    assert listed == expected
