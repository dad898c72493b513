"""Writing the status block back: everything outside it stays byte-for-byte."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.checking.load import read_claim
from kb.evidence.writeback import render, status_yaml, write_status
from kb.formats import yamlfile
from kb.formats.schema import (
    SLUG_PATTERN,
    Certainty,
    CertaintyStep,
    Claim,
    Status,
    StatusChange,
    StatusValue,
    VerdictRecord,
    VerdictValue,
)

HEAD = """\
# yaml-language-server: $schema=../../schemas/claim.schema.json
schema_version: 1
id:   odd-claim      # extra spaces, and a comment
kind: phenomenon
title: "A phenomenon, quoted"
statement: >-
  Something happens,
  folded over two lines.
summary: |
  Literal text.

  With a blank line.
topic: demo
sources:
- citekey: ioffe2015     # a list that is not indented
  stance: proposes
  locator: Abstract
"""
OLD_BLOCK = """\
status:
  value: untested
  certainty: low
  reason: >-
    An old reason,
    folded.
  basis: literature
  verdicts: []
"""
TAIL = """\
  # an indented comment after the block

# a comment about the dates
created: 2026-01-01
updated:    2026-01-01   # odd spacing
"""

STATUS = Status(
    value=StatusValue.supported,
    certainty=Certainty.moderate,
    reason="2 of 2 tested predictions hold (a, b); 1 source refutes.",
    basis="experiments",
    certainty_steps=[CertaintyStep(change=-1, reason="imprecision: a has 3 seeds")],
    verdicts=[
        VerdictRecord(prediction="a", verdict=VerdictValue.holds, scale="smoke", estimate=1.234,
                      interval=(1.102, 1.366), level=0.975, p_adjusted=0.0123, n=3,
                      runs=["20260101T000000Z-abcdef"], confirmatory=False),
        VerdictRecord(prediction="b", verdict=VerdictValue.untested),
    ],
    history=[StatusChange(date=dt.date(2026, 1, 2), status=StatusValue.untested, certainty=Certainty.low)],
)


def claim_file(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "claims" / "demo" / "odd-claim.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def reload(path: Path, root: Path) -> Claim:
    loaded, problems = read_claim(path, root)
    assert loaded is not None, problems
    return loaded.claim


def test_the_block_is_replaced_and_nothing_else_changes(tmp_path: Path) -> None:
    path = claim_file(tmp_path, HEAD + OLD_BLOCK + TAIL)
    assert write_status(path, STATUS) is True
    assert path.read_text() == HEAD + status_yaml(STATUS) + TAIL
    assert reload(path, tmp_path).status == STATUS


def test_the_emitted_block_reads_well() -> None:
    assert status_yaml(STATUS) == """\
status:
  value: supported
  certainty: moderate
  reason: 2 of 2 tested predictions hold (a, b); 1 source refutes.
  basis: experiments
  certainty_steps:
    - change: -1
      reason: 'imprecision: a has 3 seeds'
  verdicts:
    - prediction: a
      verdict: holds
      scale: smoke
      estimate: 1.234
      interval: [1.102, 1.366]
      level: 0.975
      p_adjusted: 0.0123
      n: 3
      runs:
        - 20260101T000000Z-abcdef
      confirmatory: false
    - prediction: b
      verdict: untested
  history:
    - date: 2026-01-02
      status: untested
      certainty: low
"""


def test_rewriting_the_same_status_leaves_the_file_alone(tmp_path: Path) -> None:
    path = claim_file(tmp_path, HEAD + OLD_BLOCK + TAIL)
    write_status(path, STATUS)
    before = path.stat()
    assert write_status(path, STATUS) is False
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_missing_block_is_appended(tmp_path: Path) -> None:
    path = claim_file(tmp_path, HEAD + TAIL)
    assert write_status(path, STATUS) is True
    assert path.read_text() == HEAD + TAIL + status_yaml(STATUS)
    assert reload(path, tmp_path).status == STATUS


def test_a_file_without_final_newline(tmp_path: Path) -> None:
    path = claim_file(tmp_path, (HEAD + TAIL).rstrip("\n"))
    write_status(path, STATUS)
    assert path.read_text() == HEAD + TAIL + status_yaml(STATUS)
    end = HEAD + TAIL + OLD_BLOCK.rstrip("\n")  # the block ends the file, without a newline
    path = claim_file(tmp_path, end)
    write_status(path, STATUS)
    assert path.read_text() == HEAD + TAIL + status_yaml(STATUS).rstrip("\n")


def test_crlf_and_bom_are_kept(tmp_path: Path) -> None:
    original = "\ufeff" + (HEAD + OLD_BLOCK + TAIL).replace("\n", "\r\n")
    path = claim_file(tmp_path, original.encode())
    write_status(path, STATUS)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.count(b"\n") == raw.count(b"\r\n")
    assert raw.decode() == "\ufeff" + (HEAD + status_yaml(STATUS) + TAIL).replace("\n", "\r\n")
    assert reload(path, tmp_path).status == STATUS


def test_a_flow_style_status_is_replaced(tmp_path: Path) -> None:
    flow = "status: {value: untested, certainty: low, reason: x, basis: literature}\n"
    path = claim_file(tmp_path, HEAD + flow + TAIL)
    write_status(path, STATUS)
    assert path.read_text() == HEAD + status_yaml(STATUS) + TAIL


# ---- history -------------------------------------------------------------------------------

DAY = dt.date(2026, 3, 1)


# ---- any status round-trips ----------------------------------------------------------------

texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
slugs = st.from_regex(SLUG_PATTERN, fullmatch=True).filter(lambda s: len(s) <= 80)
numbers = st.floats(allow_nan=False, allow_infinity=False)
verdicts = st.builds(
    VerdictRecord,
    prediction=slugs,
    verdict=st.sampled_from(VerdictValue),
    scale=st.none() | texts,
    estimate=st.none() | numbers,
    interval=st.none() | st.tuples(numbers, numbers),
    level=st.none() | st.floats(0, 1),
    p_adjusted=st.none() | st.floats(0, 1),
    n=st.integers(0, 1000),
    runs=st.lists(texts, max_size=3),
    stale_runs=st.lists(texts, max_size=3),
    confirmatory=st.none() | st.booleans(),
)
statuses = st.builds(
    Status,
    value=st.sampled_from(StatusValue),
    certainty=st.sampled_from(Certainty),
    reason=texts,
    basis=st.sampled_from(["experiments", "literature"]),
    certainty_steps=st.lists(st.builds(CertaintyStep, change=st.sampled_from([-2, -1, 1]), reason=texts), max_size=3),
    verdicts=st.lists(verdicts, max_size=3),
    history=st.lists(st.builds(StatusChange, date=st.dates(), status=st.sampled_from(StatusValue),
                               certainty=st.sampled_from(Certainty), run=st.none() | texts), max_size=3),
)


@settings(max_examples=150, deadline=None)
@given(first=statuses, second=statuses)
def test_any_status_round_trips(first: Status, second: Status) -> None:
    once = render(HEAD + TAIL, first)
    assert Claim.model_validate(yamlfile.parse(once.encode()).data).status == first
    assert render(once, first) == once  # deterministic: the same status, the same bytes
    twice = render(once, second)
    assert Claim.model_validate(yamlfile.parse(twice.encode()).data).status == second
    assert twice == HEAD + TAIL + status_yaml(second)


@pytest.mark.parametrize("reason", ["a: b", "- x", "#", "'quoted'", "2026-01-01", "yes", "null", "é ≈ ±", "x\ny", "a\x85b", " x ", "\ufeffx"])
def test_awkward_reasons_round_trip(reason: str) -> None:
    status = STATUS.model_copy(update={"reason": reason})
    text = render(HEAD + OLD_BLOCK + TAIL, status)
    assert Claim.model_validate(yamlfile.parse(text.encode()).data).status == status
