from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb.formats.expectation import Expectation, Outcome

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@pytest.mark.parametrize(
    ("text", "op", "low", "high"),
    [
        ("> 1.5", ">", 1.5, math.inf),
        (">=2", ">=", 2.0, math.inf),
        ("≥ 2", ">=", 2.0, math.inf),
        ("< -1e-3", "<", -math.inf, -1e-3),
        ("<= .5", "<=", -math.inf, 0.5),
        ("between 0.2 0.8", "between", 0.2, 0.8),
        ("between 1 and 3", "between", 1.0, 3.0),
        ("≈ 2 ± 0.5", "approx", 1.5, 2.5),
        ("~ 2 +- 0.5", "approx", 1.5, 2.5),
    ],
)
def test_parse(text: str, op: str, low: float, high: float) -> None:
    e = Expectation.parse(text)
    assert (e.op, e.low, e.high) == (op, low, high)


@pytest.mark.parametrize(
    "text", ["", ">> 1", "> x", "between 3 1", "≈ 1 ± 0", "≈ 1 ± -1", "=1", "> 1 2"]
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        Expectation.parse(text)


@pytest.mark.parametrize(
    ("text", "lo", "hi", "outcome"),
    [
        ("> 1.5", 1.6, 2.0, Outcome.holds),
        ("> 1.5", 1.4, 1.6, Outcome.inconclusive),
        ("> 1.5", 1.0, 1.5, Outcome.fails),  # at the threshold counts against "> x"
        (">= 1.5", 1.5, 2.0, Outcome.holds),
        ("< 1", 0.2, 0.9, Outcome.holds),
        ("< 1", 1.0, 1.2, Outcome.fails),
        ("between 0 1", 0.2, 0.8, Outcome.holds),
        ("between 0 1", 0.8, 1.2, Outcome.inconclusive),
        ("between 0 1", 1.1, 1.2, Outcome.fails),
        ("≈ 2 ± 0.5", 1.6, 2.4, Outcome.holds),
        ("≈ 2 ± 0.5", 2.6, 3.0, Outcome.fails),
        ("> 0", -math.inf, math.inf, Outcome.inconclusive),
    ],
)
def test_decide(text: str, lo: float, hi: float, outcome: Outcome) -> None:
    assert Expectation.parse(text).decide(lo, hi) is outcome


@given(op=st.sampled_from([">", "<", ">=", "<="]), x=finite)
def test_one_sided_round_trip(op: str, x: float) -> None:
    e = Expectation.parse(f"{op} {x!r}")
    assert Expectation.parse(str(e)).op == op


@given(x=finite, lo=finite, hi=finite)
def test_decide_is_consistent_with_points(x: float, lo: float, hi: float) -> None:
    """holds ⇒ both ends satisfy; fails ⇒ neither end does (for any interval)."""
    lo, hi = min(lo, hi), max(lo, hi)
    for text in (f"> {x!r}", f"< {x!r}", f"between {x!r} {x + 1!r}"):
        e = Expectation.parse(text)
        outcome = e.decide(lo, hi)
        if outcome is Outcome.holds:
            assert e.satisfied_by(lo) and e.satisfied_by(hi)
        if outcome is Outcome.fails:
            assert not e.satisfied_by(lo) and not e.satisfied_by(hi)
