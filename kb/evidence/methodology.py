"""The methodology page: the rules of `kb.evidence.rules`, printed from the rules themselves.

Nothing here decides anything; every number and row comes from the tables and constants
that `derive` evaluates, so the page cannot drift from the code.
"""

from __future__ import annotations

from kb.evidence.rules import CERTAINTY_RULES, GRADES, STANCE_SIDE, START, STATUS_RULES
from kb.evidence.stats import FAMILY_ALPHA, MIN_SEEDS
from kb.evidence.verdicts import SCALE_ORDER
from kb.formats import expectation as expectation_module


def methodology_markdown() -> str:
    """The methodology page, printed from the same tables and constants `derive` evaluates."""
    doc = expectation_module.__doc__ or ""
    grammar = doc.split("\n\n", 1)[1].strip() if "\n\n" in doc else doc
    sides = {side: [s.value for s, v in STANCE_SIDE.items() if v == side] for side in ("for", "against")}
    ignored = [s.value for s, v in STANCE_SIDE.items() if v is None]
    status_rows = "\n".join(f"| {i} | {r.when} | {r.basis} | {r.status.value} |"
                            for i, r in enumerate(STATUS_RULES, 1))
    step_rows = "\n".join(f"| {r.name} | {r.change:+d} | {r.when} |" for r in CERTAINTY_RULES)
    order = ", ".join(f"`{s}`" for s in SCALE_ORDER)
    return f"""# Methodology

Every verdict and status on this site is computed by `kb` from the claim files and the run
records; this page is generated from the code that computes them.

## Verdict of one prediction

- **Runs counted.** The successful seeds of the runs of the prediction's experiment. A run is
  *stale*, listed but never counted, when its script differs from the current one (sha256) or
  when it recorded this prediction with a different hash (experiment, metric or expected
  outcome changed since; rewording the statement does not count). The same computation
  recorded twice (equal seed keys, e.g. after a resumed run) counts once.
- **Scale.** Seeds are pooled per scale, and the largest scale with a counted seed is used:
  {order}, then other scales alphabetically.
- **Too few seeds.** With fewer than {MIN_SEEDS} seed values the verdict is `inconclusive`,
  whatever they show, and the prediction is left out of the correction below.
- **Interval.** A two-sided Student-t interval for the mean over seeds. Not a bootstrap: with
  3 to 10 seeds the percentile bootstrap cannot be wider than the observed range and covers
  the mean far less often than it claims.
- **Multiple testing.** Each tested prediction gets a decision p-value: the smallest α at
  which the (1 − α) interval gives a decisive verdict (for `> x`, the t-test against x; for a
  region, both ends must be excluded to hold, the nearer end to fail). Holm's step-down method
  across all tested predictions of the knowledge base keeps the chance of any false decisive
  verdict at α = {FAMILY_ALPHA}. A prediction ranked *i*-th of *m* by p-value is judged on the
  interval at level 1 − α / (m − i + 1); unless Holm rejects it, it is `inconclusive`. A new
  prediction or run can therefore move other claims' verdicts.
- **Deciding.** From `kb.formats.expectation`, the code that decides:

  ```text
{_indent(grammar)}
  ```

- **Confirmatory or exploratory.** A verdict is *confirmatory* when every counted seed was
  computed by a run that recorded the prediction with its current hash and started after the
  commit that introduced that version of the prediction; otherwise it is *exploratory*.

## Status of a claim

Stances of cited works: {_and(sides['for'])} count *for* the claim, {_and(sides['against'])}
*against* it; {_and(ignored)} take no side. Each work counts once, and a work that proposes
the claim is not independent and is left out.

| # | when | basis | status |
|---|---|---|---|
{status_rows}

## Certainty

GRADE's four levels ({', '.join(g.value for g in reversed(GRADES))}). Start at
*{START['experiments'].value}* for our own experiments and at *{START['literature'].value}* for
literature alone; then one grade per row that applies, never below *{GRADES[0].value}* or above
*{GRADES[-1].value}*. Every step is stored with its reason.

| step | change | when |
|---|---|---|
{step_rows}
"""


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line.strip() else "" for line in text.splitlines())


def _and(words: list[str]) -> str:
    quoted = [f"`{w}`" for w in words]
    return " and ".join([", ".join(quoted[:-1]), quoted[-1]]) if len(quoted) > 1 else "".join(quoted)
