"""Loading a knowledge base: cross-file checks, references, and robustness."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.checking.load import find_root, load, read_claim
from kb.formats.errors import InvalidKnowledgeBase, NotAKnowledgeBase, Severity, UnknownClaim

Write = Callable[[str, "str | bytes"], Path]

EXPLANATION = """\
schema_version: 1
id: {id}
kind: explanation
explains: fast-training
title: An explanation
statement: Because.
summary: Because, at more length.
topic: demo
sources:
  - citekey: ioffe2015
    stance: proposes
    locator: Sec. 1
{extra}created: 2026-01-01
updated: 2026-01-01
"""


def explanation(id: str, extra: str = "") -> str:
    return EXPLANATION.format(id=id, extra=extra)


def test_base_is_valid(base_kb: Path) -> None:
    kb = load(base_kb)
    assert kb.errors == []
    assert [p.message for p in kb.warnings] == ["not cited by any claim"]  # santurkar2018
    assert set(kb.claims) == {"fast-training"}


def test_competitors_and_explanations(base_kb: Path, write: Write) -> None:
    write("claims/demo/because-a.yaml", explanation("because-a"))
    write("claims/demo/because-b.yaml", explanation("because-b"))
    kb = load(base_kb)
    assert kb.errors == []
    assert [c.id for c in kb.explanations_of("fast-training")] == ["because-a", "because-b"]
    assert [c.id for c in kb.competitors(kb.claims["because-a"].claim)] == ["because-b"]


def test_duplicate_id_across_topics(base_kb: Path, write: Write) -> None:
    write("claims/demo/same.yaml", explanation("same"))
    write("claims/other/same.yaml", explanation("same").replace("topic: demo", "topic: other"))
    errors = load(base_kb).errors
    assert [str(e) for e in errors] == [
        "claims/other/same.yaml:2:5: id: id 'same' is already used by claims/demo/same.yaml"
    ]


def test_topic_must_match_folder(base_kb: Path, write: Write) -> None:
    write("claims/elsewhere/moved.yaml", explanation("moved"))
    (error,) = load(base_kb).errors
    assert error.field == "topic" and "differs from the folder 'elsewhere'" in error.message


def test_file_outside_a_topic_folder(base_kb: Path, write: Write) -> None:
    write("claims/loose.yaml", explanation("loose"))
    (error,) = load(base_kb).errors
    assert "claims/<topic>/<id>.yaml" in error.message


def test_refines_cycle_is_reported_once(base_kb: Path, write: Write) -> None:
    write("claims/demo/a.yaml", explanation("a", "refines: b\n"))
    write("claims/demo/b.yaml", explanation("b", "refines: c\n"))
    write("claims/demo/c.yaml", explanation("c", "refines: a\n"))
    errors = load(base_kb).errors
    assert [e.message for e in errors] == ["'refines' forms a cycle: a -> b -> c -> a"]


def test_refines_must_keep_the_kind(base_kb: Path, write: Write) -> None:
    write("claims/demo/a.yaml", explanation("a", "refines: fast-training\n"))
    (error,) = load(base_kb).errors
    assert "a claim refines one of its own kind" in error.message


def test_yml_extension_is_refused(base_kb: Path, write: Write) -> None:
    write("claims/demo/a.yml", explanation("a"))
    (error,) = load(base_kb).errors
    assert error.message == "claim files end in .yaml, not .yml"


def test_open_prediction_needs_no_experiment(base_kb: Path, write: Write) -> None:
    extra = "predictions:\n  - id: p\n    statement: Something.\n    open: true\n    metric: m\n    expect: '> 1'\n"
    write("claims/demo/a.yaml", explanation("a", extra))
    assert load(base_kb).errors == []


def test_problems_are_sorted_and_all_reported(base_kb: Path, write: Write) -> None:
    write("claims/demo/z.yaml", "id: z\n")
    write("claims/demo/a.yaml", explanation("a").replace("stance: proposes", "stance: nope"))
    errors = load(base_kb).errors
    assert [e.file for e in errors] == sorted(e.file for e in errors)
    assert len([e for e in errors if e.file == "claims/demo/z.yaml"]) >= 8  # every missing field


# --- references --------------------------------------------------------------------------


def test_reference_problems_are_located(base_kb: Path, write: Write) -> None:
    bib = (base_kb / "claims/references.bib").read_text()
    bib += "\n@article{nolink2020,\n  title = {A title},\n  author = {Doe, Jane},\n  year = {20x0},\n}\n"
    bib += "\n@misc{ioffe2015,\n  title = {Again},\n}\n"
    bib += "\n@misc{broken,\n  title = {Oops\n"
    write("claims/references.bib", bib)
    problems = [str(p) for p in load(base_kb).problems if p.file == "claims/references.bib"]
    assert (
        "claims/references.bib:17:1: @article{nolink2020}: needs one of doi, eprint or url to find the work"
        in problems
    )
    assert (
        "claims/references.bib:17:1: @article{nolink2020}: year '20x0' is not a 4-digit year"
        in problems
    )
    assert "claims/references.bib:23:1: duplicate entry key 'ioffe2015'" in problems
    assert any(
        p.startswith("claims/references.bib:27:1:") and "cannot parse" in p for p in problems
    )


def test_missing_references_file(base_kb: Path) -> None:
    (base_kb / "claims/references.bib").unlink()
    messages = [p.message for p in load(base_kb).errors]
    assert "references file is missing: create it (BibTeX)" in messages


def test_reference_display(base_kb: Path) -> None:
    refs = load(base_kb).references
    assert refs["ioffe2015"].short_authors == "Ioffe & Szegedy"
    assert refs["santurkar2018"].short_authors == "Santurkar et al."
    assert refs["ioffe2015"].title.startswith("Batch Normalization: Accelerating")
    assert refs["ioffe2015"].link == "https://arxiv.org/abs/1502.03167"


# --- roots and lookups -------------------------------------------------------------------


def test_find_root_walks_up(base_kb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KB_ROOT", raising=False)
    assert find_root(base_kb / "claims" / "demo") == base_kb.resolve()
    monkeypatch.setenv("KB_ROOT", str(base_kb / "claims"))
    with pytest.raises(NotAKnowledgeBase):
        find_root()


def test_unknown_claim_suggests(base_kb: Path) -> None:
    with pytest.raises(UnknownClaim, match="did you mean 'fast-training'"):
        load(base_kb).get("fast-trainig")


def test_require_valid(base_kb: Path, write: Write) -> None:
    write("claims/demo/bad.yaml", "id: bad\n")
    with pytest.raises(InvalidKnowledgeBase) as info:
        load(base_kb).require_valid()
    assert info.value.problems


# --- robustness: arbitrary claim-shaped data never crashes the loader -------------------

VALID = yaml.safe_load(explanation("fuzz"))
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | st.dates()
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(field=st.sampled_from([*VALID, "predictions", "scope", "status", "unknown"]), value=values)
def test_mutated_claims_give_problems_not_crashes(base_kb: Path, field: str, value: object) -> None:
    data = dict(VALID)
    data[field] = value
    path = base_kb / "claims" / "demo" / "fuzz.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    loaded, problems = read_claim(path, base_kb)
    assert (loaded is None) == any(
        p.severity is Severity.error for p in problems
    ) or loaded is not None
    for p in problems:
        assert p.file == "claims/demo/fuzz.yaml" and p.line >= 1 and p.message
