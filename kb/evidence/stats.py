"""The statistics behind verdicts: t-intervals over seeds, decision p-values, Holm's method.

Pure functions of numbers; what they mean for a claim is decided in `kb.evidence.rules`.

Why a Student-t interval and not a bootstrap: a prediction is tested with a handful of
seeds (3 to 10). The percentile bootstrap resamples those few values, so its interval can
never be wider than their range and under-covers badly below n = 10 (a nominal 95%
interval from 3 values covers the mean far less often than 95%). The t-interval accounts for
estimating the spread from n values through its n − 1 degrees of freedom, and per-seed
metrics of one training recipe are close enough to normal for it to be honest.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from kb.formats.expectation import Expectation

MIN_SEEDS = 3  # fewer seed values than this and no verdict is drawn, whatever they show
FAMILY_ALPHA = 0.05  # family-wise error rate within each family of predictions (Holm)

K = TypeVar("K", bound=Hashable)


def mean(values: Sequence[float]) -> float:
    # statistics works with exact fractions: identical values give exactly that value (and
    # stdev exactly 0), so a degenerate sample is recognised as one
    return float(statistics.mean(values))


def _mean_and_se(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 2:
        raise ValueError(f"a t-interval needs at least 2 values, got {len(values)}")
    return mean(values), statistics.stdev(values) / math.sqrt(len(values))


def t_interval(values: Sequence[float], level: float) -> tuple[float, float, float]:
    """(mean, lo, hi): the two-sided Student-t interval for the mean at confidence `level`.

    Zero variance gives the degenerate interval [mean, mean].
    """
    from scipy.stats import t

    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    mean, se = _mean_and_se(values)
    if se == 0:
        return mean, mean, mean
    half = float(t.ppf((1 + level) / 2, len(values) - 1)) * se
    return mean, mean - half, mean + half


def _p_against(mean: float, se: float, df: int, boundary: float) -> float:
    """Two-sided t-test p-value of the mean against one boundary."""
    from scipy.stats import t

    if se == 0:
        return 1.0 if mean == boundary else 0.0
    return min(1.0, float(2 * t.sf(abs(mean - boundary) / se, df)))


def decision_p_value(
    values: Sequence[float],
    expectation: Expectation,
    *,
    lower_valid: bool = True,
    upper_valid: bool = True,
) -> float:
    """The smallest α at which the two-sided (1 − α) t-interval gives a decisive verdict.

    At level 1 − p the interval just touches the deciding boundary; any larger α excludes it.
    One-sided (`> x`, `< x`, ...): the t-test p-value against x. Region [a, b]: with the mean
    inside, holding needs the interval clear of both ends, so max(p_a, p_b); with the mean
    outside, failing needs it clear of the nearer end, so that end's p-value.
    """
    mean, se = _mean_and_se(values)
    df = len(values) - 1

    def clears_from_above(boundary: float) -> float:  # the interval's lower end passes it
        if not lower_valid or not math.isfinite(boundary) or mean <= boundary:
            return 1.0
        return _p_against(mean, se, df, boundary)

    def clears_from_below(boundary: float) -> float:  # the interval's upper end stays under it
        if not upper_valid or not math.isfinite(boundary) or mean >= boundary:
            return 1.0
        return _p_against(mean, se, df, boundary)

    low, high = expectation.low, expectation.high
    if expectation.one_sided:
        if math.isfinite(low):  # > x: holds when clear above x, fails when clear below
            return min(clears_from_above(low), clears_from_below(low))
        return min(clears_from_below(high), clears_from_above(high))
    holds = max(clears_from_above(low), clears_from_below(high))
    fails = min(clears_from_below(low), clears_from_above(high))
    return min(holds, fails)


@dataclass(frozen=True)
class HolmResult:
    p: float
    p_adjusted: float  # max over j <= rank of min(1, (m - j + 1) p_(j))
    alpha_level: float  # α / (m - rank + 1): the level this hypothesis is tested at
    rank: int  # 1 = smallest p
    rejected: bool  # p_adjusted <= α


def holm(p_values: Mapping[K, float], alpha: float = FAMILY_ALPHA) -> dict[K, HolmResult]:
    """Holm's step-down method: controls the family-wise error rate at `alpha`, any dependence.

    Ties keep the mapping's order (their adjusted p-values are equal either way).
    """
    ordered = sorted(p_values.items(), key=lambda item: item[1])
    m = len(ordered)
    out: dict[K, HolmResult] = {}
    running = 0.0
    for rank, (key, p) in enumerate(ordered, start=1):
        running = max(running, min(1.0, (m - rank + 1) * p))
        level = alpha / (m - rank + 1)
        out[key] = HolmResult(p, running, level, rank, running <= alpha)
    return out


def round_sig(x: float, digits: int = 4) -> float:
    """`x` to `digits` significant digits: what a stored estimate can honestly claim."""
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


@dataclass(frozen=True)
class Sample:
    """One prediction's pooled seed values, with what is known about each.

    `bounds[i]` is None for a measurement, "lower" when the true value is at least
    `values[i]` (the event did not happen within the budget), "upper" when at most. On a
    log scale (`log`) everything is computed on log values and reported back transformed.
    """

    values: list[float]
    bounds: list[str | None]
    log: bool = False

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def censored(self) -> int:
        return sum(b is not None for b in self.bounds)

    @property
    def lower_valid(self) -> bool:
        """A lower end computed from the values is valid unless some are upper bounds."""
        return "upper" not in self.bounds

    @property
    def upper_valid(self) -> bool:
        return "lower" not in self.bounds

    def problem(self) -> str | None:
        if self.log and any(v <= 0 for v in self.values):
            return "a log-scale metric has values at or below zero"
        return None

    def transformed(self) -> list[float]:
        return [math.log(v) for v in self.values] if self.log else list(self.values)

    def back(self, x: float) -> float:
        """Back from the computing scale; an open end (±inf) stays open."""
        if not self.log or not math.isfinite(x):
            return x
        return math.exp(x) if x < 709 else math.inf

    def centre(self) -> float:
        return self.back(mean(self.transformed()))

    def interval(self, level: float) -> tuple[float, float, float]:
        """(centre, lo, hi) at `level`; an end that censored values leave open is ±inf."""
        centre, lo, hi = t_interval(self.transformed(), level)
        lo = lo if self.lower_valid else -math.inf
        hi = hi if self.upper_valid else math.inf
        return self.back(centre), self.back(lo), self.back(hi)

    def expectation(self, expectation: Expectation) -> Expectation:
        """The expectation on this sample's scale (log of its bounds for a log metric)."""
        if not self.log:
            return expectation

        def log(x: float) -> float:
            if x == math.inf:
                return math.inf
            return math.log(x) if x > 0 else -math.inf

        return Expectation(expectation.op, log(expectation.low), log(expectation.high))

    def decision_p_value(self, expectation: Expectation) -> float:
        return decision_p_value(
            self.transformed(),
            self.expectation(expectation),
            lower_valid=self.lower_valid,
            upper_valid=self.upper_valid,
        )


def seeds_to_decide(data: Sample, expectation: Expectation, level: float, cap: int = 100) -> int | None:
    """Seeds that would decide an inconclusive verdict if the mean and spread stayed as they are.

    None when censored values leave the interval open, the spread is zero, the mean sits on
    the boundary, or more than `cap` seeds would be needed.
    """
    from scipy.stats import t

    if data.censored or data.n < 2 or data.problem() is not None:
        return None
    values = data.transformed()
    exp = data.expectation(expectation)
    centre, sd = mean(values), statistics.stdev(values)
    boundaries = [b for b in (exp.low, exp.high) if math.isfinite(b)]
    if sd == 0 or not boundaries:
        return None
    distance = min(abs(centre - b) for b in boundaries)
    if distance == 0:
        return None
    for n in range(data.n + 1, cap + 1):
        if float(t.ppf((1 + level) / 2, n - 1)) * sd / math.sqrt(n) < distance:
            return n
    return None
