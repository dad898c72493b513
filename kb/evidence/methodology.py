"""The methodology page: the rules of `kb.evidence.rules`, printed from the rules themselves.

Nothing here decides anything; every number and row comes from the tables and constants
that `derive` evaluates, so the page cannot drift from the code.
"""

from __future__ import annotations

from kb.evidence.rules import CERTAINTY_RULES, GRADES, STANCE_SIDE, START_TEXT, STATUS_RULES
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
    start = "; ".join(f"{basis}: {text}" for basis, text in START_TEXT.items())
    return f"""# Methodology

Every verdict and status on this site is computed by `kb` from the claim files and the run
records; this page is generated from the code that computes them.

## Verdict of one prediction

- **Runs counted.** The successful seeds of the runs of the prediction's experiment that ran
  its *registered configuration*: the script's `SCALES` entry for that scale, compared as data.
  Runs made with `--set` or by `kb run --multiverse` are *variants*: recorded and shown beside
  the verdict, never pooled into it. A run is *stale*, listed but never counted, when its
  script differs from the current one (sha256) or when it recorded this prediction with a
  different hash (experiment, metric or expected outcome changed since; rewording the
  statement does not count). The same computation recorded twice counts once.
- **Scale.** Seeds are pooled per scale, and the largest scale with a counted seed is used:
  {order}, then other scales alphabetically.
- **Validity.** An experiment declares checks that must pass for its measurements to mean
  anything (`VALIDITY`: did the manipulation work, did the model learn enough). A check is
  the mean over the pooled seeds of one metric against an expected outcome; if one fails, the
  verdict is `invalid`, with the check's reason, and counts on neither side.
- **Too few seeds.** With fewer than {MIN_SEEDS} seed values the verdict is `inconclusive`,
  whatever they show, and the prediction is left out of the correction below. An
  inconclusive verdict names, where it can, how many seeds at the same spread would decide it.
- **Interval.** A two-sided Student-t interval for the mean over seeds. Not a bootstrap: with
  3 to 10 seeds the percentile bootstrap cannot be wider than the observed range and covers
  the mean far less often than it claims. A metric declared `scale: log` in `METRICS` (ratios,
  and other positive multiplicative quantities) gets its interval on the log scale, and its
  estimate is the geometric mean.
- **Censored values.** A seed may report a metric as a bound: the event did not happen
  within the budget, so the true value is at least (or at most) the reported one. A censored
  value enters only in the direction in which its bound is valid: lower bounds keep the
  interval's lower end and leave its upper end open (shown `≥ a`), upper bounds the reverse.
  An open end never decides anything, so a lower bound can make `> x` hold but never fail.
- **Multiple testing.** Each tested prediction gets a decision p-value: the smallest α at
  which the (1 − α) interval gives a decisive verdict (for `> x`, the t-test against x; for a
  region, both ends must be excluded to hold, the nearer end to fail). Holm's step-down method
  runs within each *family*: a phenomenon together with the explanations of it (they are
  compared by its crux predictions), keeping the chance of any false decisive verdict in the
  family at α = {FAMILY_ALPHA}. A prediction ranked *i*-th of *m* in its family is judged on
  the interval at level 1 − α / (m − i + 1); unless Holm rejects it, it is `inconclusive`. A
  new run or prediction can move verdicts inside its own family, never outside it.
- **Robustness.** An experiment declares its free design constants with the values a
  reasonable researcher might pick (`MULTIVERSE`). Each variant run is judged at the
  registered verdict's level; a decisive verdict that every judged variant repeats is
  *robust*; one that some variant reverses (holds becomes fails, or the reverse) is *fragile*,
  naming the constants it depends on; one that some variants leave undecided, with none
  reversing it, is *unresolved*: no evidence either way.
- **Deciding.** From `kb.formats.expectation`, the code that decides:

  ```text
{_indent(grammar)}
  ```

- **Confirmatory or exploratory.** A verdict is *confirmatory* when every counted seed was
  computed by a run that recorded the prediction with its current hash and started after the
  commit that introduced that version of the prediction; otherwise it is *exploratory*.

## Status of a claim

A claim has two lines of evidence, summarised separately and shown side by side:

- **The literature**: the independent works cited on it, by stance. {_and(sides['for'])}
  points *for* the claim (independent evidence that it holds where it says it does),
  {_and(sides['against'])} *against* it (that it does not); {_and(ignored)} take no side.
  `qualifies` means the claim holds only in part of its scope or with caveats: it narrows the
  claim and grades certainty down, on neither side. A work that proposes the claim is never
  independent. A rival mechanism is not a stance on a claim: it is cited on the rival.
- **Our reproductions**: the valid decisive verdicts of its predictions, with where they were
  measured (the experiment's declared regime, against the claim's scope).

The status is the first row that applies:

| # | when | basis | status |
|---|---|---|---|
{status_rows}

Neither line overrides the other: where they disagree the claim is `contested`, and the
reason says which way each points. A reproduction measured outside the claim's scope (toy
data, small widths) can therefore make a claim contested but never settle it against the
literature; alone it can decide a status, labelled as resting on our reproductions only and
graded down for it.

## Certainty

GRADE's four levels ({', '.join(g.value for g in reversed(GRADES))}). Where it starts depends
on what the status rests on: {start}. Then one grade per row that applies, never below
*{GRADES[0].value}* or above *{GRADES[-1].value}*. Every step is stored with its reason.

| step | change | when |
|---|---|---|
{step_rows}
"""


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line.strip() else "" for line in text.splitlines())


def _and(words: list[str]) -> str:
    quoted = [f"`{w}`" for w in words]
    return " and ".join([", ".join(quoted[:-1]), quoted[-1]]) if len(quoted) > 1 else "".join(quoted)
