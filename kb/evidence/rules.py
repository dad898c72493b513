"""Verdicts of predictions and the status of claims: the one documented rule.

`derive` turns the knowledge base and its run records into a verdict per prediction and a
status (with a GRADE-style certainty) per claim. The rule lives in data — `STATUS_RULES`,
`CERTAINTY_RULES`, `STANCE_SIDE` and the constants — which both `derive` evaluates and
`kb.evidence.methodology` prints, so the published methodology cannot drift from the code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from kb.checking.knowledge import KnowledgeBase
from kb.evidence.registration import RecordCommits, Registration
from kb.evidence.stats import FAMILY_ALPHA, MIN_SEEDS, holm, mean
from kb.evidence.verdicts import (
    Key,
    Pool,
    VariantVerdict,
    expectation_of,
    judge,
    judge_variants,
    metric_spec,
    pool_seeds,
    robustness,
    sample,
    validity_failure,
)
from kb.formats.experiment import ExperimentInfo, regime_range
from kb.formats.records import RunRecord, sha256_bytes
from kb.formats.schema import (
    Certainty,
    CertaintyStep,
    Claim,
    Direction,
    EvidenceLine,
    Prediction,
    Range,
    Stance,
    Status,
    StatusValue,
    VerdictRecord,
    VerdictValue,
    interval_text,
)

Basis = Literal["experiments", "literature", "both", "none"]

PRECISE_SEEDS = 5  # a decisive verdict from fewer seed values grades certainty down
DOSE_RESPONSE_METRIC = "dose_response_spearman"
DOSE_RESPONSE_MIN = 0.8
GRADES = (Certainty.very_low, Certainty.low, Certainty.moderate, Certainty.high)

# Where certainty starts, by what the status rests on (GRADE: our own controlled experiments in
# the claim's scope start high; literature alone, or experiments outside the scope beside it, low).
START_TEXT = {
    "experiments": "high (our reproductions alone; steps below grade toy scale down)",
    "both": "high when our reproductions ran in the claim's scope, else low",
    "literature": "low",
    "none": "low",
}

# Which side of a claim a cited work is on. Only independent works count: a work that
# proposes the claim never does. `qualifies` (holds only in part of its scope, or with
# caveats) counts for neither side: it narrows the claim and grades certainty down.
STANCE_SIDE: dict[Stance, Literal["for", "against"] | None] = {
    Stance.supports: "for",
    Stance.refutes: "against",
    Stance.qualifies: None,
    Stance.discusses: None,
    Stance.proposes: None,
}


@dataclass(frozen=True)
class Tally:
    """What a claim's status is decided from: both lines of evidence, counted."""

    holds: tuple[str, ...] = ()  # prediction ids (valid, decisive verdicts only)
    fails: tuple[str, ...] = ()
    inconclusive: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()
    supports: tuple[str, ...] = ()  # citekeys of independent works
    qualifies: tuple[str, ...] = ()
    refutes: tuple[str, ...] = ()
    in_scope: bool | None = None  # every decisive verdict measured in the claim's scope
    regime: str = ""  # where the decisive verdicts were measured, in words
    proposed: tuple[str, ...] = ()  # works that propose it (never independent evidence)

    @property
    def works_for(self) -> set[str]:
        return set(self.supports)

    @property
    def works_against(self) -> set[str]:
        return set(self.refutes)

    @property
    def literature(self) -> Direction:
        return _direction(bool(self.supports), bool(self.refutes))

    @property
    def reproduction(self) -> Direction:
        return _direction(bool(self.holds), bool(self.fails))


def _direction(pro: bool, con: bool) -> Direction:
    if pro and con:
        return Direction.mixed
    return Direction.for_ if pro else Direction.against if con else Direction.none


@dataclass(frozen=True)
class Rule:
    when: str  # printed on the methodology page
    basis: Basis
    status: StatusValue
    applies: Callable[[Tally], bool]


_NONE, _FOR, _AGAINST, _MIXED = Direction.none, Direction.for_, Direction.against, Direction.mixed


def _only_reproduction(t: Tally, d: Direction) -> bool:
    return t.literature is _NONE and t.reproduction is d


def _only_literature(t: Tally, d: Direction) -> bool:
    return t.reproduction is _NONE and t.literature is d


STATUS_RULES = (
    Rule("neither line speaks: no valid decisive verdict, and no independent work supports or "
         "refutes it", "none", StatusValue.untested,
         lambda t: t.literature is _NONE and t.reproduction is _NONE),
    Rule("our reproductions are divided: some predictions hold and some fail", "experiments",
         StatusValue.contested, lambda t: t.reproduction is _MIXED),
    Rule("the literature is divided: independent works support it and others refute it",
         "literature", StatusValue.contested,
         lambda t: t.literature is _MIXED and t.reproduction is not _MIXED),
    Rule("the two lines point different ways (whatever the scale of our runs: a toy-scale "
         "reproduction can make a claim contested, never overrule the literature)", "both",
         StatusValue.contested,
         lambda t: {t.literature, t.reproduction} == {_FOR, _AGAINST}),
    Rule("both lines point for it", "both", StatusValue.supported,
         lambda t: t.literature is _FOR and t.reproduction is _FOR),
    Rule("both lines point against it", "both", StatusValue.refuted,
         lambda t: t.literature is _AGAINST and t.reproduction is _AGAINST),
    Rule("only our reproductions speak, and they point for it", "experiments",
         StatusValue.supported, lambda t: _only_reproduction(t, _FOR)),
    Rule("only our reproductions speak against it, all measured outside its scope, while the "
         "work proposing it reports evidence for it: a disagreement, not a refutation", "both",
         StatusValue.contested,
         lambda t: _only_reproduction(t, _AGAINST) and t.in_scope is False and bool(t.proposed)),
    Rule("only our reproductions speak, and they point against it", "experiments",
         StatusValue.refuted,
         lambda t: _only_reproduction(t, _AGAINST) and not (t.in_scope is False and t.proposed)),
    Rule("only the literature speaks, and it points for it", "literature",
         StatusValue.supported, lambda t: _only_literature(t, _FOR)),
    Rule("only the literature speaks, and it points against it", "literature",
         StatusValue.refuted, lambda t: _only_literature(t, _AGAINST)),
)


def status_rule(tally: Tally) -> Rule:
    """The first rule of STATUS_RULES that applies (exactly one does; the tests check it)."""
    return next(rule for rule in STATUS_RULES if rule.applies(tally))


@dataclass(frozen=True)
class Evidence:
    """The counted runs behind one decisive verdict, as certainty needs them."""

    verdict: VerdictRecord
    data_scale: str | None  # REGIME[scale]["data_scale"] of the experiment, if declared
    devices: frozenset[str]  # device kinds (cpu, cuda, mps) the counted seeds ran on
    dose_response: float | None  # pooled mean of DOSE_RESPONSE_METRIC, if reported
    in_scope: bool = False  # the regime lies inside the claim's scope
    regime: str = ""  # e.g. "toy data · mlp · smoke scale"
    reexecutable: bool = True  # CI can re-execute every counted run (smoke scale on a CPU)


@dataclass(frozen=True)
class Context:
    claim: Claim
    basis: Basis
    tally: Tally
    decisive: tuple[Evidence, ...]

    @property
    def rests_on_reproduction(self) -> bool:
        return self.basis == "experiments" or (self.basis == "both" and bool(self.tally.in_scope))


@dataclass(frozen=True)
class CertaintyRule:
    name: str
    change: Literal[-1, 1]
    when: str  # printed on the methodology page
    reason: Callable[[Context], str | None]  # why it applies to this claim, or None


def _start(c: Context) -> Certainty:
    if c.basis == "experiments" or (c.basis == "both" and c.tally.in_scope):
        return Certainty.high
    return Certainty.low


def _smoke_only(c: Context) -> str | None:
    if c.basis != "experiments" or not c.decisive:
        return None
    if all(e.verdict.scale == "smoke" for e in c.decisive):
        return "smoke scale: every decisive verdict comes from smoke-scale runs"
    return None


def _out_of_scope(c: Context) -> str | None:
    if c.basis != "experiments" or not c.decisive or all(e.in_scope for e in c.decisive):
        return None
    return f"outside the scope: measured at {c.tally.regime}, outside the claim's scope"


def _qualified(c: Context) -> str | None:
    if c.tally.qualifies:
        return f"qualified: {', '.join(c.tally.qualifies)} find it holds only in part of its scope"
    return None


def _imprecise(c: Context) -> str | None:
    if not c.rests_on_reproduction:
        return None
    parts = []
    for e in c.decisive:
        v = e.verdict
        if v.n < PRECISE_SEEDS:
            parts.append(f"{v.prediction} has {v.n} seeds")
        elif (
            v.interval
            and v.interval[0] is not None
            and v.interval[1] is not None
            and v.estimate is not None
            and v.interval[1] - v.interval[0] > abs(v.estimate)
        ):
            parts.append(f"{v.prediction}'s interval is wider than its estimate")
    return f"imprecision: {', '.join(parts)}" if parts else None


def _inconsistent(c: Context) -> str | None:
    t = c.tally
    if t.reproduction is Direction.mixed:
        return "inconsistency: some predictions hold and others fail"
    if t.literature is Direction.mixed:
        return "inconsistency: independent works disagree"
    if {t.literature, t.reproduction} == {Direction.for_, Direction.against}:
        return "inconsistency: our reproductions and the literature point different ways"
    if (t.literature is Direction.none and t.reproduction is Direction.against
            and t.in_scope is False and t.proposed):
        return "inconsistency: our out-of-scope reproductions disagree with the proposing work"
    return None


def _one_device(c: Context) -> str | None:
    if not c.rests_on_reproduction or not c.decisive:
        return None
    devices = set().union(*(e.devices for e in c.decisive))
    if len(devices) == 1:
        return f"single device: every counted run ran on {devices.pop()}"
    return None


def _fragile(c: Context) -> str | None:
    if not c.rests_on_reproduction:
        return None
    fragile = [e.verdict for e in c.decisive if e.verdict.robustness == "fragile"]
    if fragile:
        on = sorted({k for v in fragile for k in v.fragile_on})
        return f"fragile: the verdict changes with {', '.join(on)} within its declared range"
    return None


def _not_reexecuted(c: Context) -> str | None:
    if c.rests_on_reproduction and any(not e.reexecutable for e in c.decisive):
        return "not re-executed: some counted runs are beyond what CI re-executes (smoke scale, CPU)"
    return None


def _robust(c: Context) -> str | None:
    if not c.rests_on_reproduction or not c.decisive:
        return None
    if all(e.verdict.robustness == "robust" for e in c.decisive):
        return "robust: every decisive verdict holds across its experiment's declared multiverse"
    return None


def _dose_response(c: Context) -> str | None:
    if not c.rests_on_reproduction:
        return None
    for e in c.decisive:
        dose = e.dose_response
        if e.verdict.verdict is VerdictValue.holds and dose is not None and dose >= DOSE_RESPONSE_MIN:
            return f"dose-response: {e.verdict.prediction} grows with the swept variable (Spearman {dose:.2f})"
    return None


CERTAINTY_RULES = (
    CertaintyRule("smoke scale", -1,
                  "the status rests on our reproductions alone and every decisive verdict comes "
                  "from smoke-scale runs", _smoke_only),
    CertaintyRule("outside the scope", -1,
                  "the status rests on our reproductions alone and some decisive verdict was "
                  "measured outside the claim's scope (the experiment's REGIME data scale or "
                  "architecture is not one the claim's scope names)", _out_of_scope),
    CertaintyRule("qualified", -1,
                  "an independent work `qualifies` the claim: it holds only in part of its scope",
                  _qualified),
    CertaintyRule("imprecision", -1,
                  f"a decisive verdict it rests on has fewer than {PRECISE_SEEDS} seed values, or "
                  "an interval wider than the absolute value of its estimate", _imprecise),
    CertaintyRule("inconsistency", -1,
                  "the two lines point different ways, or one of them is divided", _inconsistent),
    CertaintyRule("single device", -1,
                  "every counted run behind the decisive verdicts it rests on ran on one kind of "
                  "device (cpu, cuda, mps)", _one_device),
    CertaintyRule("fragile", -1,
                  "a decisive verdict it rests on changes within the experiment's declared "
                  "multiverse of design constants", _fragile),
    CertaintyRule("not re-executed", -1,
                  "a counted run is beyond what CI re-executes (not smoke scale, or not on a CPU) "
                  "and no trusted re-run exists", _not_reexecuted),
    CertaintyRule("robust", 1,
                  "every decisive verdict it rests on is the same across the experiment's "
                  "declared multiverse", _robust),
    CertaintyRule("dose-response", 1,
                  f"a prediction holds and its experiment reports `{DOSE_RESPONSE_METRIC}` (rank "
                  "correlation of the effect with the swept variable: width, depth, noise, "
                  f"learning rate) with a pooled mean of at least {DOSE_RESPONSE_MIN}", _dose_response),
)


def certainty(context: Context) -> tuple[Certainty, list[CertaintyStep]]:
    """GRADE: start by what the status rests on, move one grade per rule, stay on the scale."""
    steps = [
        CertaintyStep(change=rule.change, reason=reason)
        for rule in CERTAINTY_RULES
        if (reason := rule.reason(context)) is not None
    ]
    grade = GRADES.index(_start(context)) + sum(s.change for s in steps)
    return GRADES[min(max(grade, 0), len(GRADES) - 1)], steps


@dataclass(frozen=True)
class Derivation:
    statuses: dict[str, Status]
    verdicts: dict[Key, VerdictRecord]
    variants: dict[Key, list[VariantVerdict]] = field(default_factory=dict)
    families: dict[str, str] = field(default_factory=dict)  # claim id -> family id


def family_of(claim: Claim) -> str:
    """The multiple-testing family: a phenomenon with its explanations (the crux compares them).

    A change to one family's predictions or runs can never move another family's verdicts.
    """
    return claim.explains or claim.id


def derive(
    kb: KnowledgeBase,
    records: list[RunRecord],
    experiments: dict[str, ExperimentInfo],
    registered: dict[Key, Registration | None] | None = None,
    today: dt.date | None = None,
    commits: RecordCommits | None = None,
) -> Derivation:
    """Verdicts for every prediction and the status of every claim.

    Holm's correction runs within each family (`family_of`), never across the knowledge base.
    `registered` maps each prediction to the commit time of its current version (see
    kb.evidence.registration); without it, `confirmatory` is left unassessed (None).
    """
    del today  # statuses are dated only in their history (kb.evidence.writeback.append_history)
    by_experiment: dict[str, list[RunRecord]] = {}
    for record in records:
        by_experiment.setdefault(record.experiment, []).append(record)
    script_sha = {name: sha256_bytes(path.read_bytes()) for name, path in kb.experiments.items()}

    pools: dict[Key, Pool] = {}
    families: dict[str, dict[Key, float]] = {}  # decision p-values of judgeable predictions
    claims = [kb.claims[cid].claim for cid in sorted(kb.claims)]
    for claim in claims:
        for p in claim.predictions:
            if p.open or p.experiment is None:
                continue
            info = experiments.get(p.experiment)
            pool = pool_seeds(claim.id, p, by_experiment.get(p.experiment, []),
                              script_sha.get(p.experiment), info)
            pools[(claim.id, p.id)] = pool
            data = sample(pool.seeds, p.metric or "", metric_spec(info, p.metric or ""))
            if (data.n >= MIN_SEEDS and data.problem() is None
                    and validity_failure(info, pool.seeds) is None):
                families.setdefault(family_of(claim), {})[(claim.id, p.id)] = (
                    data.decision_p_value(expectation_of(p)))
    tests = {key: result for family in families.values()
             for key, result in holm(family, FAMILY_ALPHA).items()}

    verdicts: dict[Key, VerdictRecord] = {}
    variants: dict[Key, list[VariantVerdict]] = {}
    statuses: dict[str, Status] = {}
    for claim in claims:
        evidence: list[Evidence] = []
        for p in claim.predictions:
            key = (claim.id, p.id)
            if key not in pools:  # open: nothing to run yet
                verdicts[key] = VerdictRecord(prediction=p.id, verdict=VerdictValue.untested)
                continue
            info = experiments.get(p.experiment or "")
            verdict = judge(key, p, pools[key], tests.get(key), registered, info,
                            len(families.get(family_of(claim), {})), commits)
            variants[key] = judge_variants(p, pools[key], verdict, info)
            robust, fragile_on = robustness(verdict, variants[key])
            verdicts[key] = verdict.model_copy(update={"robustness": robust, "fragile_on": fragile_on})
            if verdicts[key].verdict in (VerdictValue.holds, VerdictValue.fails):
                evidence.append(_evidence(claim, verdicts[key], p, pools[key], info))
        statuses[claim.id] = _status(claim, [verdicts[(claim.id, p.id)] for p in claim.predictions],
                                     evidence)
    return Derivation(statuses, verdicts, variants, {c.id: family_of(c) for c in claims})


def _in_scope(claim: Claim, regime: dict[str, Any]) -> bool:
    """Whether an experiment's declared regime lies inside the claim's scope.

    A scope that names no data scale is not taken to include toy data: a toy-scale run then
    counts as outside it.
    """
    data_scale = regime.get("data_scale")
    wanted = [s.value for s in claim.scope.data_scale]
    if (wanted and data_scale not in wanted) or (not wanted and data_scale == "toy"):
        return False
    architectures = set(regime.get("architectures") or [])
    if (claim.scope.architectures and architectures
            and not architectures & set(claim.scope.architectures)):
        return False
    return all(_overlaps(regime_range(regime.get(key)), getattr(claim.scope, key))
               for key in ("width", "depth"))


def _range_text(key: str, measured: tuple[int, int] | None) -> str:
    low, high = measured or (0, 0)
    return f"{key} {low}" if low == high else f"{key} {low}–{high}"


def _overlaps(measured: tuple[int, int] | None, scope: Range | None) -> bool:
    """Whether the widths (or depths) a run measured reach into the claim's range.

    Undeclared on either side is no constraint: the scope says nothing, or the experiment
    did not declare what it measured.
    """
    if measured is None or scope is None:
        return True
    low, high = measured
    return (scope.min is None or high >= scope.min) and (scope.max is None or low <= scope.max)


def _evidence(claim: Claim, verdict: VerdictRecord, p: Prediction, pool: Pool,
              info: ExperimentInfo | None) -> Evidence:
    regime = info.regime.get(pool.scale or "", {}) if info else {}
    regime = regime if isinstance(regime, dict) else {}
    doses = [s.metrics[DOSE_RESPONSE_METRIC] for s, _ in pool.seeds if DOSE_RESPONSE_METRIC in s.metrics]
    devices = frozenset(origin.hardware.device.split(":")[0] for _, origin in pool.seeds)
    where = [f"{regime.get('data_scale', 'undeclared')} data"]
    where += ["/".join(regime.get("architectures") or [])] if regime.get("architectures") else []
    where += [_range_text(key, regime_range(regime.get(key))) for key in ("width", "depth")
              if regime_range(regime.get(key))]
    where.append(f"{pool.scale} scale")
    return Evidence(
        verdict=verdict,
        data_scale=regime.get("data_scale"),
        devices=devices,
        dose_response=mean(doses) if doses else None,
        in_scope=_in_scope(claim, regime),
        regime=" · ".join(where),
        reexecutable=pool.scale == "smoke" and devices <= {"cpu"},
    )


def tally(claim: Claim, verdicts: list[VerdictRecord], evidence: list[Evidence] | None = None) -> Tally:
    proposers = {s.citekey for s in claim.sources if s.stance is Stance.proposes}

    def works(stance: Stance) -> tuple[str, ...]:
        return tuple(sorted({s.citekey for s in claim.sources
                             if s.stance is stance and s.citekey not in proposers}))

    def ids(value: VerdictValue) -> tuple[str, ...]:
        return tuple(v.prediction for v in verdicts if v.verdict is value)

    evidence = evidence or []
    return Tally(ids(VerdictValue.holds), ids(VerdictValue.fails), ids(VerdictValue.inconclusive),
                 ids(VerdictValue.invalid), works(Stance.supports), works(Stance.qualifies),
                 works(Stance.refutes),
                 in_scope=all(e.in_scope for e in evidence) if evidence else None,
                 regime="; ".join(sorted({e.regime for e in evidence})),
                 proposed=tuple(sorted(proposers)))


def _status(claim: Claim, verdicts: list[VerdictRecord], evidence: list[Evidence]) -> Status:
    counts = tally(claim, verdicts, evidence)
    rule = status_rule(counts)
    grade, steps = certainty(Context(claim, rule.basis, counts, tuple(evidence)))
    return Status(value=rule.status, certainty=grade, reason=reason(counts), basis=rule.basis,
                  literature=literature_line(counts), reproduction=reproduction_line(counts),
                  certainty_steps=steps, verdicts=verdicts)


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


_POINTS = {Direction.for_: "points for it", Direction.against: "points against it",
           Direction.mixed: "is divided", Direction.none: "takes no side"}


def literature_line(t: Tally) -> EvidenceLine:
    parts = [_n(len(works), f"independent work {verb}", f"independent works {verb_many}")
             for works, verb, verb_many in ((t.supports, "supports", "support"),
                                            (t.refutes, "refutes", "refute"),
                                            (t.qualifies, "qualifies", "qualify"))
             if works]
    summary = ", ".join(parts) if parts else "no independent work supports or refutes it"
    return EvidenceLine(direction=t.literature, summary=summary[0].upper() + summary[1:])


def reproduction_line(t: Tally) -> EvidenceLine:
    tested = len(t.holds) + len(t.fails) + len(t.inconclusive) + len(t.invalid)
    if not tested:
        return EvidenceLine(direction=Direction.none, summary="No prediction tested yet")
    parts = []
    if t.holds:
        parts.append(f"{_n(len(t.holds), 'prediction holds', 'predictions hold')} ({', '.join(t.holds)})")
    if t.fails:
        parts.append(f"{_n(len(t.fails), 'prediction fails', 'predictions fail')} ({', '.join(t.fails)})")
    if t.inconclusive:
        parts.append(f"{len(t.inconclusive)} inconclusive")
    if t.invalid:
        parts.append(f"{len(t.invalid)} invalid (validity check failed)")
    summary = ", ".join(parts)
    if t.regime:
        summary += f"; measured at {t.regime}" + ("" if t.in_scope else ", outside the claim's scope")
    return EvidenceLine(direction=t.reproduction, in_scope=t.in_scope, summary=summary)


def reason(t: Tally) -> str:
    """One sentence: which way each line points, and what follows."""
    ours = ("our reproductions" if t.in_scope is not False
            else f"our reproductions ({t.regime}, outside the claim's scope)")
    lit, rep = t.literature, t.reproduction
    theirs = {Direction.for_: f"{_n(len(t.supports), 'independent work supports', 'independent works support')} it",
              Direction.against: f"{_n(len(t.refutes), 'independent work refutes', 'independent works refute')} it",
              Direction.mixed: (f"the literature is divided ({len(t.supports)} for, "
                                f"{len(t.refutes)} against)"),
              Direction.none: "no independent work supports or refutes it"}[lit]
    mine = {Direction.for_: f"{ours} point for it ({', '.join(t.holds)} "
                            f"{'holds' if len(t.holds) == 1 else 'hold'})",
            Direction.against: f"{ours} point against it ({', '.join(t.fails)} "
                               f"{'fails' if len(t.fails) == 1 else 'fail'})",
            Direction.mixed: f"{ours} are divided ({', '.join(t.holds)} hold; {', '.join(t.fails)} fail)",
            Direction.none: "no prediction of ours is decisive" if (t.inconclusive or t.invalid)
            else "no prediction of ours has been tested"}[rep]
    if rep is not Direction.none and lit is not Direction.none and {lit, rep} == {Direction.for_, Direction.against}:
        text = f"{mine}, but {theirs}: the two lines disagree"
    elif lit is Direction.none and rep is Direction.against and t.in_scope is False and t.proposed:
        text = (f"{mine}, but only outside its scope, while {', '.join(t.proposed)}, which "
                "proposes it, reports evidence for it: a disagreement, not a refutation")
    else:
        text = f"{theirs}; {mine}"
    if t.qualifies:
        text += f"; {', '.join(t.qualifies)} {'qualifies' if len(t.qualifies) == 1 else 'qualify'} it"
    text += "."
    return text[0].upper() + text[1:]


def show_interval(v: VerdictRecord) -> str:
    """'[a, b]', with an open end shown as such: '≥ a' or '≤ b' when censoring leaves one."""
    return "" if v.interval is None else interval_text(v.interval)


def verdict_reason(prediction: Prediction, v: VerdictRecord) -> str:
    """Why a prediction has its verdict, in one sentence (for pages and `kb show`)."""
    if prediction.open:
        return "Open: no experiment tests it yet."
    if v.verdict is VerdictValue.untested:
        stale = f" ({_n(len(v.stale_runs), 'stale run', 'stale runs')} not counted)" if v.stale_runs else ""
        return f"No current run of {prediction.experiment}'s registered configuration reports {prediction.metric}{stale}."
    if v.reason is not None:
        needed = f" About {v.seeds_needed} seeds would likely decide it." if v.seeds_needed else ""
        return v.reason + needed
    if v.interval is None or v.level is None or v.p_adjusted is None:
        return f"Inconclusive: {_n(v.n, 'seed value', 'seed values')}; a verdict needs at least {MIN_SEEDS}."
    where = f"the {v.level:.2%} interval {show_interval(v)}"
    p = f"Holm-adjusted p = {v.p_adjusted:.3g} within its family"
    censored = (f"; {v.censored} of {v.n} seeds only bound the value" if v.censored else "")
    robust = (f"; {v.robustness}" + (f" (depends on {', '.join(v.fragile_on)})" if v.fragile_on else "")
              if v.robustness else "")
    if v.verdict is VerdictValue.holds:
        return f"Holds: {where} satisfies '{prediction.expect}' ({p}{censored}{robust})."
    return f"Fails: {where} contradicts '{prediction.expect}' ({p}{censored}{robust})."


def stale_statuses(
    kb: KnowledgeBase, derivation: Derivation, *, compare_confirmatory: bool = True
) -> list[tuple[str, Status | None, Status]]:
    """Claims whose stored status differs from the derived one (a stored history is a difference).

    `compare_confirmatory=False` leaves out the confirmatory flags, for a shallow clone
    whose git history is too short to recompute them.
    """

    def comparable(status: Status) -> Status:
        # A stored history counts as a difference: history is derived from git, never stored.
        verdicts = status.verdicts
        if not compare_confirmatory:
            verdicts = [v.model_copy(update={"confirmatory": None}) for v in verdicts]
        return status.model_copy(update={"verdicts": verdicts})

    out = []
    for cid in sorted(derivation.statuses):
        stored = kb.claims[cid].claim.status if cid in kb.claims else None
        derived = derivation.statuses[cid]
        if stored is None or comparable(stored) != comparable(derived):
            out.append((cid, stored, derived))
    return out
