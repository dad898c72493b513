"""Near-identical claim statements (kb/checking/similar.py), and the warning `kb check` gives for them."""

from __future__ import annotations

import random
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import REPO, run_kb

from kb.checking.crosscheck import duplicate_statements
from kb.checking.load import load
from kb.checking.similar import (
    THRESHOLD,
    near_duplicates,
    normalize,
    similarity,
)

STATEMENT = (
    "BatchNorm speeds up training of deep networks because it makes the loss landscape "
    "smoother: the gradients of a network with BatchNorm are more predictive of the loss "
    "after a step, so larger learning rates remain stable and fewer steps reach a target."
)

words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
sentences = st.lists(words, min_size=3, max_size=60).map(" ".join)


def _restyled(text: str, rng: random.Random) -> str:
    """The same words with case, punctuation and spacing changed at random."""
    out = []
    for word in text.split():
        word = "".join(c.upper() if rng.random() < 0.3 else c for c in word)
        out.append(word + rng.choice(["", ",", ";", " -", ":", "...", "!"]))
    return rng.choice(["", "  ", "\t", "("]) + rng.choice([" ", "\n  ", "   "]).join(out) + "."


def _slow_normalize(text: str) -> str:
    return re.sub(r"[\W_]+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_fast_path_equals_the_general_rule(text: str) -> None:
    assert normalize(text) == _slow_normalize(text)


@given(st.text())
def test_normalize_is_idempotent_and_single_spaced(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert "  " not in once and once == once.strip()


def test_normalize_ignores_case_punctuation_spacing_and_compatibility_forms() -> None:
    assert normalize("  Ioffe & Szegedy's\tBN—“fast” ") == "ioffe szegedy s bn fast"
    assert normalize("ＢＮ ﬁts") == "bn fits"  # full-width letters, the fi ligature


@settings(max_examples=200)
@given(sentences, st.integers(0, 2**32))
def test_a_restyled_copy_is_always_flagged(text: str, seed: int) -> None:
    copy = _restyled(text, random.Random(seed))
    assert near_duplicates([text, copy]) == [near_duplicates([text, text])[0]]
    assert near_duplicates([text, copy])[0].similarity == 1.0


@settings(max_examples=100)
@given(st.lists(sentences, min_size=2, max_size=30, unique_by=normalize))
def test_only_real_near_duplicates_are_reported(texts: list[str]) -> None:
    found = near_duplicates(texts)
    for match in found:  # every report is a real near-duplicate
        assert similarity(texts[match.later], texts[match.earlier]) >= THRESHOLD


def test_random_statements_from_a_large_vocabulary_are_not_flagged() -> None:
    rng = random.Random(0)
    vocabulary = ["".join(rng.choices("abcdefghijklmnop", k=rng.randint(3, 9))) for _ in range(3000)]
    texts = [" ".join(rng.choices(vocabulary, k=rng.randint(10, 60))) for _ in range(500)]
    assert near_duplicates(texts) == []


def test_small_edits_are_flagged_against_the_earlier_statement() -> None:
    edited = [
        STATEMENT.replace("smoother", "flatter"),  # a word changed
        STATEMENT.replace("deep ", ""),  # a word dropped
        STATEMENT.replace("speeds", "sppeds").replace("landscape", "landscapes"),  # typos
    ]
    for text in edited:
        [match] = near_duplicates(["An unrelated statement about dropout.", STATEMENT, text])
        assert (match.later, match.earlier) == (2, 1)
        assert THRESHOLD <= match.similarity < 1.0


def test_different_claims_on_the_same_subject_are_not_flagged() -> None:
    other = (
        "BatchNorm speeds up training because it reduces internal covariate shift: the "
        "distribution of each layer's inputs changes less during training."
    )
    assert near_duplicates([STATEMENT, other]) == []


def test_a_cluster_of_copies_is_matched_to_its_first_member() -> None:
    texts = [f"The measured ratio exceeds one and a half in regime number {i}." for i in range(2000)]
    found = near_duplicates(texts)
    assert [m.later for m in found] == list(range(1, 2000))
    assert {m.earlier for m in found} == {0}


def test_the_real_knowledge_base_has_no_near_duplicates() -> None:
    assert duplicate_statements(load(REPO)) == []


CLAIM = """\
schema_version: 1
id: {id}
kind: explanation
explains: fast-training
title: Title of {id}
statement: >-
  {statement}
summary: A summary.
topic: demo
sources:
  - citekey: ioffe2015
    stance: proposes
    locator: Abstract
created: {created}
updated: {created}
"""


def _claim(root: Path, cid: str, statement: str, created: str) -> None:
    path = root / "claims" / "demo" / f"{cid}.yaml"
    path.write_text(CLAIM.format(id=cid, statement=statement, created=created), encoding="utf-8")


def test_check_warns_at_the_newer_claims_statement(base_kb: Path) -> None:
    _claim(base_kb, "a-newer", "BN works, because: it SMOOTHS the landscape!", "2026-03-01")
    _claim(base_kb, "z-older", "BN works because it smooths the landscape.", "2026-02-01")
    assert run_kb("status", "--write", cwd=base_kb).returncode == 0
    result = run_kb("check", cwd=base_kb)
    assert result.returncode == 0, result.stdout  # a warning, not an error
    expected = (
        "claims/demo/a-newer.yaml:6:12: warning: statement: statement is the same as the "
        "statement of claims/demo/z-older.yaml, ignoring case, punctuation and spacing: merge "
        "the two claims, or reword one to make the difference explicit"
    )
    assert expected in result.stdout.splitlines(), result.stdout


def test_check_names_the_first_file_when_created_on_the_same_day(base_kb: Path) -> None:
    _claim(base_kb, "b-claim", STATEMENT, "2026-02-01")
    _claim(base_kb, "a-claim", STATEMENT.replace("smoother", "flatter"), "2026-02-01")
    [problem] = duplicate_statements(load(base_kb))
    assert problem.file == "claims/demo/b-claim.yaml" and problem.field == "statement"
    assert "claims/demo/a-claim.yaml" in problem.message and "% similar" in problem.message
    assert problem.severity.value == "warning"


@pytest.mark.parametrize(
    "layout",
    [
        "statement: >-\n  {s}\n",
        "statement: {s}\n",
        "statement:   '{s}'  # a comment\n",
        'statement: "{s}"\r\n',
        "statement:\n  {s}\n",  # the value on the next line: the parser decides
    ],
)
def test_the_scanned_location_is_the_parsers(base_kb: Path, layout: str) -> None:
    plain = "BatchNorm makes training faster for deep networks of any width"
    for cid, created, statement in (("a-claim", "2026-02-01", plain), ("b-claim", "2026-03-01", plain.upper())):
        text = CLAIM.format(id=cid, statement="x", created=created)
        text = text.replace("statement: >-\n  x\n", layout.format(s=statement))
        (base_kb / f"claims/demo/{cid}.yaml").write_text(text, encoding="utf-8", newline="")
    kb = load(base_kb)
    [problem] = duplicate_statements(kb)
    expected = kb.claims["b-claim"].problem(("statement",), problem.message)
    assert (problem.file, problem.line, problem.column) == (expected.file, expected.line, expected.column)
