"""Expected outcomes of a prediction, written as short comparisons.

Grammar (numbers are decimal, optionally signed, optionally with an exponent):

    > x      < x      >= x      <= x
    between a b                       (a < b; inside means a <= value <= b)
    ≈ x ± t     (ASCII: "~ x +- t")   (inside means x - t <= value <= x + t)

`decide` turns an interval estimate of the metric into holds / fails / inconclusive:
an expectation holds when the whole interval satisfies it and fails when the whole
interval contradicts it; an interval that straddles the boundary is inconclusive.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_PATTERNS = {
    "cmp": re.compile(rf"^\s*(>=|<=|>|<|≥|≤)\s*({_NUMBER})\s*$"),
    "between": re.compile(rf"^\s*between\s+({_NUMBER})\s+(?:and\s+)?({_NUMBER})\s*$"),
    "approx": re.compile(rf"^\s*(?:≈|~)\s*({_NUMBER})\s*(?:±|\+-|\+/-)\s*({_NUMBER})\s*$"),
}
SYNTAX_HELP = "'> x', '< x', '>= x', '<= x', 'between a b' or '≈ x ± t'"
_UNICODE_OPS = {"≥": ">=", "≤": "<="}


def _finite(text: str) -> float:
    """A bound as a float; `1e999` would be infinity, a bound no interval can cross."""
    value = float(text)
    underflow = value == 0 and re.search(r"[1-9]", re.split("[eE]", text)[0]) is not None
    if not math.isfinite(value) or underflow:
        raise ValueError(f"the number {text} is out of range: write a finite bound")
    return value


class Outcome(StrEnum):
    holds = "holds"
    fails = "fails"
    inconclusive = "inconclusive"


@dataclass(frozen=True)
class Expectation:
    """A parsed comparison. `low`/`high` bound the region where the prediction holds."""

    op: str  # one of ">", "<", ">=", "<=", "between", "approx"
    low: float  # -inf for "<" and "<="
    high: float  # +inf for ">" and ">="

    @classmethod
    def parse(cls, text: str) -> Expectation:
        """Parse `text`; raise ValueError with the accepted syntax when it does not match."""
        if m := _PATTERNS["cmp"].match(text):
            op = _UNICODE_OPS.get(m.group(1), m.group(1))
            x = _finite(m.group(2))
            if op in (">", ">="):
                return cls(op, x, math.inf)
            return cls(op, -math.inf, x)
        if m := _PATTERNS["between"].match(text):
            a, b = _finite(m.group(1)), _finite(m.group(2))
            if not a < b:
                raise ValueError(f"'between a b' needs a < b, got {a:g} and {b:g}")
            return cls("between", a, b)
        if m := _PATTERNS["approx"].match(text):
            x, t = _finite(m.group(1)), _finite(m.group(2))
            if not t > 0:
                raise ValueError(f"the tolerance after ± must be positive, got {t:g}")
            return cls("approx", x - t, x + t)
        raise ValueError(f"cannot read expectation {text!r}: expected {SYNTAX_HELP}")

    def __str__(self) -> str:
        if self.op in (">", ">="):
            return f"{self.op} {self.low:g}"
        if self.op in ("<", "<="):
            return f"{self.op} {self.high:g}"
        if self.op == "between":
            return f"between {self.low:g} {self.high:g}"
        centre, tol = (self.low + self.high) / 2, (self.high - self.low) / 2
        return f"≈ {centre:g} ± {tol:g}"

    @property
    def one_sided(self) -> bool:
        return self.op in (">", "<", ">=", "<=")

    def satisfied_by(self, value: float) -> bool:
        """Whether a single value meets the expectation (strict for > and <)."""
        if self.op == ">":
            return value > self.low
        if self.op == "<":
            return value < self.high
        return self.low <= value <= self.high

    def decide(self, lo: float, hi: float) -> Outcome:
        """Verdict for an interval estimate [lo, hi] of the metric."""
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return Outcome.inconclusive
        if self.satisfied_by(lo) and self.satisfied_by(hi):
            return Outcome.holds
        below = hi < self.low or (self.op == ">" and hi <= self.low)
        above = lo > self.high or (self.op == "<" and lo >= self.high)
        if below or above:
            return Outcome.fails
        return Outcome.inconclusive
