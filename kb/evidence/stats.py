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
FAMILY_ALPHA = 0.05  # error rate for the whole knowledge base's tested predictions (Holm)

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


def decision_p_value(values: Sequence[float], expectation: Expectation) -> float:
    """The smallest α at which the two-sided (1 − α) t-interval gives a decisive verdict.

    At level 1 − p the interval just touches the deciding boundary; any larger α excludes it.
    One-sided (`> x`, `< x`, ...): the t-test p-value against x. Region [a, b]: with the mean
    inside, holding needs the interval clear of both ends, so max(p_a, p_b); with the mean
    outside, failing needs it clear of the nearer end, so that end's p-value.
    """
    mean, se = _mean_and_se(values)
    df = len(values) - 1
    if expectation.one_sided:
        boundary = expectation.low if math.isfinite(expectation.low) else expectation.high
        return _p_against(mean, se, df, boundary)
    p_low = _p_against(mean, se, df, expectation.low)
    p_high = _p_against(mean, se, df, expectation.high)
    if expectation.low <= mean <= expectation.high:
        return max(p_low, p_high)
    return p_low if mean < expectation.low else p_high


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
