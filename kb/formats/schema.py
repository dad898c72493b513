"""The claim file format: pydantic models for what contributors write in `claims/**/*.yaml`.

These are the *input* models (strict: unknown fields are errors). The index tables and
the page views are separate models with their own roles. Field descriptions here are the
reference documentation: they flow into the JSON Schema that editors use (`kb schema`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from kb.formats.expectation import SYNTAX_HELP, Expectation


class FieldError(ValueError):
    """A model-level rule broken by one field: reported at that field, not at the mapping."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


SCHEMA_VERSION = 1  # bump with a migration in kb/migrate.py when the format changes

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
EXPERIMENT_PATTERN = r"^[a-z][a-z0-9_]*$"
CITEKEY_PATTERN = r"^[A-Za-z][A-Za-z0-9_:.+-]*$"

Slug = Annotated[
    str,
    Field(pattern=SLUG_PATTERN, min_length=1, max_length=80, examples=["bn-reduces-ics"]),
]
ShortText = Annotated[str, Field(min_length=1, max_length=300)]
LongText = Annotated[str, Field(min_length=1, max_length=5000)]


class Kind(StrEnum):
    phenomenon = "phenomenon"
    explanation = "explanation"


class Stance(StrEnum):
    """What a cited work does with a claim; only independent works count as evidence.

    - proposes: puts the claim forward. Never independent evidence, even where it reports support.
    - supports: independent evidence that the claim holds where it says it does (in its scope).
    - refutes: independent evidence that the claim does not hold where it says it does.
    - qualifies: it holds only in part of its scope, or with caveats. Counts for neither side;
      it narrows the claim and grades certainty down.
    - discusses: takes no side (a review, a rival mechanism mentioned in passing, an older work).

    A rival mechanism is not a stance on this claim: cite it on the rival's own claim.
    """

    proposes = "proposes"
    supports = "supports"
    refutes = "refutes"
    qualifies = "qualifies"
    discusses = "discusses"


class StatusValue(StrEnum):
    supported = "supported"
    refuted = "refuted"
    contested = "contested"
    untested = "untested"


class Certainty(StrEnum):
    high = "high"
    moderate = "moderate"
    low = "low"
    very_low = "very low"


class VerdictValue(StrEnum):
    holds = "holds"
    fails = "fails"
    inconclusive = "inconclusive"
    invalid = "invalid"  # the run's validity checks failed: the measurement means nothing
    untested = "untested"


class Origin(StrEnum):
    literature = "literature"
    this_project = "this-project"


class Direction(StrEnum):
    """Which way one line of evidence points."""

    for_ = "for"
    against = "against"
    mixed = "mixed"
    none = "none"


class DataScale(StrEnum):
    """Training-set regimes, so evidence from a toy regime is not mistaken for the claimed one."""

    toy = "toy"  # synthetic or under ~10k examples (MNIST-1D, sklearn digits)
    small = "small"  # MNIST / CIFAR-10 scale
    medium = "medium"  # ImageNet-1k scale
    large = "large"  # web scale pre-training


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Range(Strict):
    """An inclusive integer range; either end may be left open."""

    min: int | None = Field(None, ge=1, description="Smallest value the claim is made for.")
    max: int | None = Field(None, ge=1, description="Largest value the claim is made for.")

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is larger than max ({self.max})")
        return self


class Scope(Strict):
    """The regime in which a claim is made. Empty lists mean "any"."""

    architectures: list[Slug] = Field(
        default_factory=list,
        description="Architecture families, e.g. mlp, cnn, resnet, vgg, transformer.",
    )
    width: Range | None = Field(None, description="Layer width (units or channels).")
    depth: Range | None = Field(None, description="Number of layers or residual blocks.")
    optimizers: list[Slug] = Field(default_factory=list, description="e.g. sgd, adam, gd.")
    normalization: list[Slug] = Field(
        default_factory=list, description="e.g. batchnorm, layernorm, none."
    )
    data_scale: list[DataScale] = Field(
        default_factory=list, description="Training-set regimes: toy, small, medium, large."
    )
    tasks: list[Slug] = Field(
        default_factory=list, description="e.g. image-classification, language-modeling."
    )


class SourceRef(Strict):
    """A work from `claims/references.bib` and what it says about this claim."""

    citekey: str = Field(pattern=CITEKEY_PATTERN, description="Key of a references.bib entry.")
    stance: Stance = Field(
        description=(
            "What the work does with the claim. proposes: puts it forward (never counted as "
            "independent evidence). supports / refutes: independent evidence that the claim "
            "holds / does not hold where it says it does. qualifies: it holds only in part of "
            "its scope or with caveats (counts for neither side; grades certainty down). "
            "discusses: takes no side. A rival mechanism is not a stance: cite it on the rival."
        )
    )
    locator: ShortText = Field(
        description="Where in the work: section, figure, table or page, e.g. 'Sec. 2.1, Fig. 2'."
    )
    note: LongText | None = Field(None, description="One or two sentences in our words.")
    quote: ShortText | None = Field(
        None, description="A short exact quote from the work (leave out rather than paraphrase)."
    )


def _check_expectation(text: str) -> str:
    Expectation.parse(text)  # raises ValueError with the accepted syntax
    return text


class Prediction(Strict):
    """What the claim implies that could be observed, fixed before the runs."""

    id: Slug = Field(description="Unique within the claim; anchors and run records use it.")
    statement: LongText = Field(description="The prediction in one or two sentences.")
    experiment: str | None = Field(
        None,
        pattern=EXPERIMENT_PATTERN,
        description="Name of the script repro/<experiment>.py that tests it.",
    )
    metric: str | None = Field(
        None,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Metric reported by the experiment that the expectation is about.",
    )
    expect: Annotated[str, AfterValidator(_check_expectation)] | None = Field(
        None, description=f"Expected outcome of the metric: {SYNTAX_HELP}."
    )
    open: bool = Field(
        False,
        description="True when no experiment exists yet: the site lists it as needing one.",
    )
    registered: dt.date | None = Field(
        None, description="Date the prediction was written, before any run (pre-registration)."
    )

    @model_validator(mode="after")
    def _experiment_or_open(self) -> Prediction:
        if self.open and self.experiment:
            raise FieldError("open", "a prediction is either open or names an experiment, not both")
        if not self.open:
            missing = [f for f in ("experiment", "metric", "expect") if getattr(self, f) is None]
            if missing:
                raise ValueError(
                    f"missing {', '.join(missing)}: name the experiment, its metric and the "
                    "expected outcome, or mark the prediction 'open: true'"
                )
        return self

    @property
    def expectation(self) -> Expectation | None:
        return Expectation.parse(self.expect) if self.expect else None


class CertaintyStep(Strict):
    change: Literal[-2, -1, 1] = Field(description="Grades moved: down (-1, -2) or up (+1).")
    reason: ShortText


def interval_text(
    interval: tuple[float | None, float | None],
    fmt: Callable[[float], str] = "{:g}".format,
    unbounded: str = "(unbounded)",
) -> str:
    """'[a, b]', or '≥ a' / '≤ b' where censored seeds leave one end of it open."""
    lo, hi = interval
    if lo is not None and hi is not None:
        return f"[{fmt(lo)}, {fmt(hi)}]"
    if lo is not None:
        return f"≥ {fmt(lo)}"
    return f"≤ {fmt(hi)}" if hi is not None else unbounded


class VerdictRecord(Strict):
    """Derived: the verdict of one prediction over the runs of its registered configuration."""

    prediction: Slug
    verdict: VerdictValue
    scale: str | None = Field(None, description="Experiment scale whose runs were pooled.")
    estimate: float | None = Field(
        None, description="Mean of the pooled seed values (geometric mean for a log-scale metric)."
    )
    interval: tuple[float | None, float | None] | None = Field(
        None,
        description=(
            "Interval at `level` (t-interval, on the log scale for a log-scale metric); an end "
            "is null where censored seeds leave it unbounded."
        ),
    )
    censored: int = Field(
        0, ge=0, description="Seeds whose value is only a bound (the event did not happen in budget)."
    )
    reason: str | None = Field(
        None, description="Why the verdict is inconclusive or invalid, in one sentence."
    )
    seeds_needed: int | None = Field(
        None, description="Seeds that would likely decide an inconclusive verdict, at the same spread."
    )
    robustness: Literal["robust", "fragile", "unresolved"] | None = Field(
        None,
        description=(
            "Across the experiment's declared multiverse: robust (the same verdict everywhere), "
            "fragile (some value gives the opposite verdict), unresolved (some values decide "
            "nothing, none flips it)."
        ),
    )
    fragile_on: list[str] = Field(
        default_factory=list,
        description="Design constants whose other values give the opposite verdict (fragile) or none (unresolved).",
    )
    level: float | None = Field(None, description="Confidence level after the Holm correction.")
    p_adjusted: float | None = Field(None, description="Holm-adjusted p-value of the decision.")
    n: int = Field(0, ge=0, description="Seed values pooled.")
    runs: list[str] = Field(default_factory=list)
    stale_runs: list[str] = Field(default_factory=list)
    confirmatory: bool | None = Field(
        None, description="True when every counted run started after the prediction was committed."
    )


class StatusChange(Strict):
    date: dt.date
    status: StatusValue
    certainty: Certainty
    run: str | None = Field(None, description="The run that caused the change, if any.")
    cause: str | None = Field(
        None,
        description=(
            "What changed it when no run of this claim did: e.g. the multiple-testing "
            "correction within its family, or its sources."
        ),
    )


class EvidenceLine(Strict):
    """One line of evidence about a claim: the literature, or our reproductions."""

    direction: Direction
    in_scope: bool | None = Field(
        None, description="Reproduction only: measured in the claim's scope (not toy scale)."
    )
    summary: ShortText


class Status(Strict):
    """Derived by `kb run` / `kb status --write`; never edited by hand (`kb check` compares)."""

    value: StatusValue
    certainty: Certainty
    reason: LongText
    basis: Literal["experiments", "literature", "both", "none"]
    literature: EvidenceLine | None = None
    reproduction: EvidenceLine | None = None
    certainty_steps: list[CertaintyStep] = Field(default_factory=list)
    verdicts: list[VerdictRecord] = Field(default_factory=list)
    history: list[StatusChange] = Field(
        default_factory=list,
        description="Never stored: derived from git (kb check rejects a stored one). Kept for reading old files.",
    )

    @property
    def tier(self) -> str:
        """The kind of evidence the status rests on, for readers: the first thing to weigh."""
        if self.reproduction is None and self.basis in ("experiments", "both"):
            return "reproduction (its regime not recorded)"
        ours = self.reproduction is not None and self.reproduction.direction is not Direction.none
        scoped = bool(self.reproduction and self.reproduction.in_scope)
        if self.basis == "experiments" and ours:
            return "in-scope reproduction" if scoped else "toy reproduction"
        if self.basis == "both" and ours:
            return "literature and in-scope reproduction" if scoped else "literature and toy reproduction"
        if self.basis == "literature":
            return "literature only"
        return "no evidence yet"


class Claim(Strict):
    """One explanation or phenomenon: `claims/<topic>/<id>.yaml`."""

    schema_version: Literal[1] = Field(description="Version of this file format.")
    id: Slug = Field(description="Lowercase slug; equals the file name without .yaml.")
    kind: Kind
    origin: Origin = Field(
        Origin.literature,
        description=(
            "literature: a published work proposes it. this-project: this knowledge base "
            "originates it (then no source may be tagged 'proposes')."
        ),
    )
    title: ShortText = Field(description="One line, as it would head a page.")
    statement: LongText = Field(description="The claim itself, precise enough to be wrong.")
    summary: LongText = Field(description="A few sentences for a reader who knows basic DL.")
    topic: Slug = Field(description="Equals the folder the file sits in.")
    tags: list[Slug] = Field(default_factory=list)
    explains: Slug | None = Field(
        None, description="For an explanation: id of the phenomenon it explains."
    )
    refines: Slug | None = Field(
        None, description="Id of a broader claim of the same kind that this one narrows."
    )
    scope: Scope = Field(default_factory=Scope)
    would_change_our_mind: LongText | None = Field(
        None, description="The observation that would make us drop or revise the claim."
    )
    sources: list[SourceRef] = Field(min_length=1)
    predictions: list[Prediction] = Field(default_factory=list)
    created: dt.date
    updated: dt.date
    status: Status | None = Field(None, description="Derived; written by kb, not by hand.")

    @model_validator(mode="after")
    def _consistent(self) -> Claim:
        if self.kind is Kind.explanation and not self.explains:
            raise FieldError("kind", "an explanation must name the phenomenon it 'explains'")
        if self.kind is Kind.phenomenon and self.explains:
            raise FieldError(
                "explains", "a phenomenon does not explain anything; use kind: explanation"
            )
        if self.updated < self.created:
            raise FieldError(
                "updated", f"updated ({self.updated}) is before created ({self.created})"
            )
        return self


def json_schema() -> dict[str, object]:
    """JSON Schema of a claim file, for editors (yaml-language-server) and other tools."""
    schema = Claim.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
