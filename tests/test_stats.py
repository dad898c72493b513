"""t-intervals, decision p-values and Holm's method, against hand calculations and scipy."""

from __future__ import annotations

import math

import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.evidence.stats import decision_p_value, holm, round_sig, t_interval
from kb.formats.expectation import Expectation, Outcome


def p_df2(t: float) -> float:
    """Two-sided p-value of Student's t with 2 degrees of freedom, in closed form."""
    return 1 - abs(t) / math.sqrt(t * t + 2)


# ---- t-interval ----------------------------------------------------------------------------


def test_t_interval_by_hand() -> None:
    # [1, 2, 3]: mean 2, sd 1, se 1/sqrt(3); t(0.975, df=2) = 4.302653
    mean, lo, hi = t_interval([1.0, 2.0, 3.0], 0.95)
    half = 4.302653 / math.sqrt(3)
    assert mean == 2
    assert lo == pytest.approx(2 - half, abs=1e-6)
    assert hi == pytest.approx(2 + half, abs=1e-6)


@pytest.mark.parametrize("level", [0.5, 0.9, 0.95, 0.9875, 0.999])
@pytest.mark.parametrize("values", [[1.0, 2.0, 4.0], [0.3, 0.31, 0.29, 0.35, 0.2], [-5, 3, 8, 1, 0, 2, 9, 4, 4, 1]])
def test_t_interval_matches_scipy(values: list[float], level: float) -> None:
    n = len(values)
    expected = scipy.stats.t.interval(level, n - 1, loc=sum(values) / n, scale=scipy.stats.sem(values))
    _, lo, hi = t_interval(values, level)
    assert (lo, hi) == pytest.approx(expected, rel=1e-12)


def test_zero_variance_is_a_point() -> None:
    assert t_interval([0.1, 0.1, 0.1], 0.95) == (0.1, 0.1, 0.1)


def test_t_interval_needs_two_values_and_a_level() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        t_interval([1.0], 0.95)
    with pytest.raises(ValueError, match="level"):
        t_interval([1.0, 2.0], 1.0)


# ---- decision p-value ----------------------------------------------------------------------

THREE = [1.0, 2.0, 3.0]  # mean 2, se 1/sqrt(3), df 2
SE = 1 / math.sqrt(3)


@pytest.mark.parametrize(
    ("expect", "p"),
    [
        ("> 0", p_df2(2 / SE)),  # one-sided: the t-test against 0 (0.0742)
        ("< 0", p_df2(2 / SE)),  # same boundary, the verdict would be fails
        (">= 2", 1.0),  # the mean sits on the boundary
        ("between 0 5", max(p_df2(2 / SE), p_df2(3 / SE))),  # inside: both ends (0.0742)
        ("between 3 10", p_df2(1 / SE)),  # outside: the nearer end (0.2254)
        ("≈ -1 ± 1", p_df2(2 / SE)),  # outside [-2, 0]: nearer end 0
    ],
)
def test_decision_p_value_by_hand(expect: str, p: float) -> None:
    assert decision_p_value(THREE, Expectation.parse(expect)) == pytest.approx(p, rel=1e-9)


def test_hand_values_are_what_they_say() -> None:
    assert p_df2(2 / SE) == pytest.approx(0.074180, abs=1e-6)
    assert p_df2(1 / SE) == pytest.approx(0.225403, abs=1e-6)
    assert p_df2(2 / SE) == pytest.approx(2 * scipy.stats.t.sf(2 / SE, 2))


@pytest.mark.parametrize(
    ("expect", "p"), [("> 1", 0.0), ("> 2", 1.0), ("between 0 5", 0.0), ("between 2 3", 1.0), ("< 1", 0.0)]
)
def test_decision_p_value_zero_variance(expect: str, p: float) -> None:
    assert decision_p_value([2.0, 2.0, 2.0], Expectation.parse(expect)) == p


expectations = st.sampled_from(["> 1", "< 1", ">= 0.5", "<= 2", "between 0 2", "≈ 1 ± 0.25", "between 1.5 4"])
samples = st.lists(st.floats(-3, 5, allow_nan=False).map(lambda x: round(x, 3)), min_size=3, max_size=8)


@settings(max_examples=200, deadline=None)
@given(values=samples, expect=expectations)
def test_p_value_is_where_the_interval_turns_decisive(values: list[float], expect: str) -> None:
    """Definition: decisive at any α above p, not at any α below it."""
    if len(set(values)) < 2:
        return
    expectation = Expectation.parse(expect)
    p = decision_p_value(values, expectation)
    if 1e-6 < p < 0.99:
        _, lo, hi = t_interval(values, 1 - p * 1.001)
        assert expectation.decide(lo, hi) is not Outcome.inconclusive
    if 1e-6 < p <= 1:
        _, lo, hi = t_interval(values, 1 - p * 0.999)
        assert expectation.decide(lo, hi) is Outcome.inconclusive


# ---- Holm ----------------------------------------------------------------------------------


def test_holm_by_hand() -> None:
    # Sorted: d .005, a .01, c .03, b .04 (m = 4). Adjusted: 4*.005=.02; max(.02, 3*.01)=.03;
    # max(.03, 2*.03)=.06; max(.06, 1*.04)=.06. statsmodels' multipletests(method="holm")
    # gives the same [.03, .06, .06, .02] for [a, b, c, d].
    result = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005})
    assert {k: r.p_adjusted for k, r in result.items()} == pytest.approx(
        {"a": 0.03, "b": 0.06, "c": 0.06, "d": 0.02}
    )
    assert {k: r.alpha_level for k, r in result.items()} == pytest.approx(
        {"d": 0.05 / 4, "a": 0.05 / 3, "c": 0.05 / 2, "b": 0.05}
    )
    assert {k: r.rank for k, r in result.items()} == {"d": 1, "a": 2, "c": 3, "b": 4}
    assert {k for k, r in result.items() if r.rejected} == {"a", "d"}


def test_holm_caps_at_one_and_stops_stepping_down() -> None:
    # statsmodels holm for [.6, .7] is [1, 1]; for [.01, .04, .2, .3, .5] it is
    # [.05, .16, .6, .6, .6]: .04 fails its level .0125 so nothing after it is rejected.
    assert [r.p_adjusted for r in holm({"x": 0.6, "y": 0.7}).values()] == [1.0, 1.0]
    result = holm(dict(zip("abcde", [0.01, 0.04, 0.2, 0.3, 0.5], strict=True)))
    assert [result[k].p_adjusted for k in "abcde"] == pytest.approx([0.05, 0.16, 0.6, 0.6, 0.6])
    assert [result[k].rejected for k in "abcde"] == [True, False, False, False, False]
    assert holm({}) == {}


@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_is_the_step_down_procedure(ps: list[float]) -> None:
    """Rejected exactly when every smaller-or-equal p passed its own level, in order."""
    result = holm(dict(enumerate(ps)))
    ordered = sorted(range(len(ps)), key=lambda i: ps[i])
    m, still = len(ps), True
    for rank, i in enumerate(ordered, start=1):
        still = still and ps[i] <= 0.05 / (m - rank + 1)
        assert result[i].rejected == still
        assert ps[i] <= result[i].p_adjusted <= min(1.0, m * ps[i]) or result[i].p_adjusted == 1.0
    adjusted = [result[i].p_adjusted for i in ordered]
    assert adjusted == sorted(adjusted)


def test_round_sig() -> None:
    assert round_sig(1.23456) == 1.235
    assert round_sig(0.000123456) == 0.0001235
    assert round_sig(-98765.4) == -98770.0
    assert round_sig(0.0) == 0.0
    assert math.isinf(round_sig(math.inf))
