"""Verdicts of predictions and the status of claims: the one documented rule.

`derive` turns the knowledge base and its run records into a verdict per prediction and a
status (with a GRADE-style certainty) per claim. The rule lives in data — `STATUS_RULES`,
`CERTAINTY_RULES`, `STANCE_SIDE` and the constants — which both `derive` evaluates and
`kb.evidence.methodology` prints, so the published methodology cannot drift from the code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from kb.checking.knowledge import KnowledgeBase
from kb.evidence.stats import (
    FAMILY_ALPHA,
    MIN_SEEDS,
    decision_p_value,
    holm,
    mean,
)
from kb.evidence.verdicts import (
    Key,
    Pool,
    expectation_of,
    judge,
    pool_seeds,
    seed_values,
)
from kb.formats.experiment import ExperimentInfo
from kb.formats.records import RunRecord, sha256_bytes
from kb.formats.schema import (
    Certainty,
    CertaintyStep,
    Claim,
    Prediction,
    Stance,
    Status,
    StatusValue,
    VerdictRecord,
    VerdictValue,
)

Basis = Literal["experiments", "literature"]

PRECISE_SEEDS = 5  # a decisive verdict from fewer seed values grades certainty down
DOSE_RESPONSE_METRIC = "dose_response_spearman"
DOSE_RESPONSE_MIN = 0.8
GRADES = (Certainty.very_low, Certainty.low, Certainty.moderate, Certainty.high)
START: dict[Basis, Certainty] = {"experiments": Certainty.high, "literature": Certainty.low}

# Which side of a claim a cited work is on. Only independent works count: a work that
# proposes the claim is left out even where it also reports support for it. `qualifies`
# (the claim holds, but only in part of its scope or with caveats) sides with the claim: it
# confirms it somewhere, so it conflicts with a refutation; alone it grades certainty down.
STANCE_SIDE: dict[Stance, Literal["for", "against"] | None] = {
    Stance.supports: "for",
    Stance.qualifies: "for",
    Stance.refutes: "against",
    Stance.discusses: None,
    Stance.proposes: None,
}


@dataclass(frozen=True)
class Tally:
    """What a claim's status is decided from."""

    holds: tuple[str, ...] = ()  # prediction ids
    fails: tuple[str, ...] = ()
    inconclusive: tuple[str, ...] = ()
    supports: tuple[str, ...] = ()  # citekeys of independent works
    qualifies: tuple[str, ...] = ()
    refutes: tuple[str, ...] = ()

    @property
    def works_for(self) -> set[str]:
        return set(self.supports) | set(self.qualifies)

    @property
    def works_against(self) -> set[str]:
        return set(self.refutes)


@dataclass(frozen=True)
class Rule:
    when: str  # printed on the methodology page
    basis: Basis
    status: StatusValue
    applies: Callable[[Tally], bool]


STATUS_RULES = (
    Rule("some predictions hold and some fail", "experiments", StatusValue.contested,
         lambda t: bool(t.holds and t.fails)),
    Rule("some predictions hold and none fails", "experiments", StatusValue.supported,
         lambda t: bool(t.holds and not t.fails)),
    Rule("some predictions fail and none holds", "experiments", StatusValue.refuted,
         lambda t: bool(t.fails and not t.holds)),
    Rule("no decisive verdict; independent works support or qualify it and others refute it",
         "literature", StatusValue.contested,
         lambda t: not (t.holds or t.fails) and bool(t.works_for and t.works_against)),
    Rule("no decisive verdict; independent works support or qualify it and none refutes it",
         "literature", StatusValue.supported,
         lambda t: not (t.holds or t.fails) and bool(t.works_for and not t.works_against)),
    Rule("no decisive verdict; independent works refute it and none supports or qualifies it",
         "literature", StatusValue.refuted,
         lambda t: not (t.holds or t.fails) and bool(t.works_against and not t.works_for)),
    Rule("no decisive verdict and no independent work takes a side", "literature",
         StatusValue.untested,
         lambda t: not (t.holds or t.fails or t.works_for or t.works_against)),
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


@dataclass(frozen=True)
class Context:
    claim: Claim
    basis: Basis
    tally: Tally
    decisive: tuple[Evidence, ...]


@dataclass(frozen=True)
class CertaintyRule:
    name: str
    change: Literal[-1, 1]
    when: str  # printed on the methodology page
    reason: Callable[[Context], str | None]  # why it applies to this claim, or None


def _indirect(c: Context) -> str | None:
    if c.basis == "literature":
        if c.tally.qualifies and not c.tally.supports and not c.tally.refutes:
            return "indirectness: the supporting works only qualify the claim"
        return None
    parts = []
    if all(e.verdict.scale == "smoke" for e in c.decisive):
        parts.append("only smoke-scale runs")
    wanted = [s.value for s in c.claim.scope.data_scale]
    if wanted and all(e.data_scale not in wanted for e in c.decisive):
        found = sorted({e.data_scale or "undeclared" for e in c.decisive})
        parts.append(f"runs at {', '.join(found)} data scale for a claim about {', '.join(wanted)}")
    return f"indirectness: {'; '.join(parts)}" if parts else None


def _imprecise(c: Context) -> str | None:
    parts = []
    for e in c.decisive:
        v = e.verdict
        if v.n < PRECISE_SEEDS:
            parts.append(f"{v.prediction} has {v.n} seeds")
        elif v.interval and v.estimate is not None and v.interval[1] - v.interval[0] > abs(v.estimate):
            parts.append(f"{v.prediction}'s interval is wider than its estimate")
    return f"imprecision: {', '.join(parts)}" if parts else None


def _literature_majority(t: Tally) -> str | None:
    n_for, n_against = len(t.works_for), len(t.works_against)
    return "for" if n_for > n_against else "against" if n_against > n_for else None


def _inconsistent(c: Context) -> str | None:
    t = c.tally
    if t.holds and t.fails:
        return "inconsistency: some predictions hold and others fail"
    if c.basis == "literature":
        if t.works_for and t.works_against:
            return "inconsistency: independent works disagree"
        return None
    ours = "for" if t.holds else "against"
    majority = _literature_majority(t)
    if majority is not None and majority != ours:
        return "inconsistency: the experiments disagree with most independent works"
    return None


def _one_device(c: Context) -> str | None:
    if c.basis == "literature":
        return None
    devices = set().union(*(e.devices for e in c.decisive))
    if len(devices) == 1:
        return f"single device: every counted run ran on {devices.pop()}"
    return None


def _dose_response(c: Context) -> str | None:
    for e in c.decisive:
        dose = e.dose_response
        if e.verdict.verdict is VerdictValue.holds and dose is not None and dose >= DOSE_RESPONSE_MIN:
            return f"dose-response: {e.verdict.prediction} grows with the swept variable (Spearman {dose:.2f})"
    return None


CERTAINTY_RULES = (
    CertaintyRule("indirectness", -1,
                  "the decisive verdicts rest only on smoke-scale runs, or only on runs whose "
                  "regime (the experiment's REGIME data_scale) lies outside the claim's "
                  "scope.data_scale when the scope names one; literature alone: the supporting "
                  "works only qualify the claim", _indirect),
    CertaintyRule("imprecision", -1,
                  f"a decisive verdict rests on fewer than {PRECISE_SEEDS} seed values, or its "
                  "interval is wider than the absolute value of its estimate", _imprecise),
    CertaintyRule("inconsistency", -1,
                  "the claim's predictions disagree (some hold, some fail), or the experiments "
                  "disagree with the majority of independent works; literature alone: "
                  "independent works disagree", _inconsistent),
    CertaintyRule("single device", -1,
                  "every counted run behind the decisive verdicts ran on one kind of device "
                  "(cpu, cuda, mps)", _one_device),
    CertaintyRule("dose-response", 1,
                  f"a prediction holds and its experiment reports `{DOSE_RESPONSE_METRIC}` (rank "
                  "correlation of the effect with the swept variable: width, depth, noise, "
                  f"learning rate) with a pooled mean of at least {DOSE_RESPONSE_MIN}", _dose_response),
)


def certainty(context: Context) -> tuple[Certainty, list[CertaintyStep]]:
    """GRADE: start by basis, move one grade per rule that applies, stay within the scale."""
    steps = [
        CertaintyStep(change=rule.change, reason=reason)
        for rule in CERTAINTY_RULES
        if (reason := rule.reason(context)) is not None
    ]
    grade = GRADES.index(START[context.basis]) + sum(s.change for s in steps)
    return GRADES[min(max(grade, 0), len(GRADES) - 1)], steps


@dataclass(frozen=True)
class Derivation:
    statuses: dict[str, Status]
    verdicts: dict[Key, VerdictRecord]


def derive(
    kb: KnowledgeBase,
    records: list[RunRecord],
    experiments: dict[str, ExperimentInfo],
    registered: dict[Key, dt.datetime | None] | None = None,
    today: dt.date | None = None,
) -> Derivation:
    """Verdicts for every prediction and the status of every claim, knowledge-base wide.

    `registered` maps each prediction to the commit time of its current version (see
    kb.evidence.registration); without it, `confirmatory` is left unassessed (None). `today` is
    accepted for callers that stamp history; derived statuses carry no date.
    """
    del today  # statuses are dated only in their history (kb.evidence.writeback.append_history)
    by_experiment: dict[str, list[RunRecord]] = {}
    for record in records:
        by_experiment.setdefault(record.experiment, []).append(record)
    script_sha = {name: sha256_bytes(path.read_bytes()) for name, path in kb.experiments.items()}

    pools: dict[Key, Pool] = {}
    family: dict[Key, float] = {}  # decision p-values of the predictions with enough seeds
    claims = [kb.claims[cid].claim for cid in sorted(kb.claims)]
    for claim in claims:
        for p in claim.predictions:
            if not p.open and p.experiment is not None:
                pool = pool_seeds(claim.id, p, by_experiment.get(p.experiment, []), script_sha.get(p.experiment))
                pools[(claim.id, p.id)] = pool
                if len(pool.seeds) >= MIN_SEEDS:
                    family[(claim.id, p.id)] = decision_p_value(seed_values(pool, p), expectation_of(p))
    tests = holm(family, FAMILY_ALPHA)

    verdicts: dict[Key, VerdictRecord] = {}
    statuses: dict[str, Status] = {}
    for claim in claims:
        evidence: list[Evidence] = []
        for p in claim.predictions:
            key = (claim.id, p.id)
            if key not in pools:  # open: nothing to run yet
                verdicts[key] = VerdictRecord(prediction=p.id, verdict=VerdictValue.untested)
                continue
            verdicts[key] = judge(key, p, pools[key], tests.get(key), registered)
            if verdicts[key].verdict in (VerdictValue.holds, VerdictValue.fails):
                evidence.append(_evidence(verdicts[key], p, pools[key], experiments))
        statuses[claim.id] = _status(claim, [verdicts[(claim.id, p.id)] for p in claim.predictions],
                                     evidence)
    return Derivation(statuses, verdicts)


def _evidence(verdict: VerdictRecord, p: Prediction, pool: Pool,
              experiments: dict[str, ExperimentInfo]) -> Evidence:
    info = experiments.get(p.experiment or "")
    regime = info.regime.get(pool.scale or "", {}) if info else {}
    doses = [s.metrics[DOSE_RESPONSE_METRIC] for s, _ in pool.seeds if DOSE_RESPONSE_METRIC in s.metrics]
    return Evidence(
        verdict=verdict,
        data_scale=regime.get("data_scale") if isinstance(regime, dict) else None,
        devices=frozenset(origin.hardware.device.split(":")[0] for _, origin in pool.seeds),
        dose_response=mean(doses) if doses else None,
    )


def tally(claim: Claim, verdicts: list[VerdictRecord]) -> Tally:
    proposers = {s.citekey for s in claim.sources if s.stance is Stance.proposes}

    def works(stance: Stance) -> tuple[str, ...]:
        return tuple(sorted({s.citekey for s in claim.sources
                             if s.stance is stance and s.citekey not in proposers}))

    def ids(value: VerdictValue) -> tuple[str, ...]:
        return tuple(v.prediction for v in verdicts if v.verdict is value)

    return Tally(ids(VerdictValue.holds), ids(VerdictValue.fails), ids(VerdictValue.inconclusive),
                 works(Stance.supports), works(Stance.qualifies), works(Stance.refutes))


def _status(claim: Claim, verdicts: list[VerdictRecord], evidence: list[Evidence]) -> Status:
    counts = tally(claim, verdicts)
    rule = status_rule(counts)
    grade, steps = certainty(Context(claim, rule.basis, counts, tuple(evidence)))
    return Status(value=rule.status, certainty=grade, reason=reason(counts), basis=rule.basis,
                  certainty_steps=steps, verdicts=verdicts)


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def reason(t: Tally) -> str:
    """One sentence from the verdict counts and the literature."""
    tested = len(t.holds) + len(t.fails) + len(t.inconclusive)
    if t.holds or t.fails:
        parts = [f"{len(t.holds)} of {_n(tested, 'tested prediction', 'tested predictions')} "
                 f"{'holds' if len(t.holds) == 1 else 'hold'}"
                 + (f" ({', '.join(t.holds)})" if t.holds else "")]
        if t.fails:
            parts.append(f"{_n(len(t.fails), 'fails', 'fail')} ({', '.join(t.fails)})")
        if t.inconclusive:
            parts.append(f"{_n(len(t.inconclusive), 'is', 'are')} inconclusive")
        ours = ", ".join(parts)
    elif tested:
        ours = f"{_n(tested, 'tested prediction', 'tested predictions')}, none decisive"
    else:
        ours = "no prediction tested yet"
    literature = [
        _n(len(works), f"source {one}", f"sources {many}")
        for works, one, many in ((t.supports, "supports", "support"),
                                 (t.qualifies, "qualifies", "qualify"),
                                 (t.refutes, "refutes", "refute"))
        if works
    ]
    theirs = ", ".join(literature) if literature else "no independent source takes a side"
    text = f"{ours}; {theirs}."
    return text[0].upper() + text[1:]


def verdict_reason(prediction: Prediction, v: VerdictRecord) -> str:
    """Why a prediction has its verdict, in one sentence (for pages and `kb show`)."""
    if prediction.open:
        return "Open: no experiment tests it yet."
    if v.verdict is VerdictValue.untested:
        stale = f" ({_n(len(v.stale_runs), 'stale run', 'stale runs')} not counted)" if v.stale_runs else ""
        return f"No current run of {prediction.experiment} reports {prediction.metric}{stale}."
    if v.interval is None or v.level is None or v.p_adjusted is None:
        return f"Inconclusive: {_n(v.n, 'seed value', 'seed values')}; a verdict needs at least {MIN_SEEDS}."
    where = f"the {v.level:.2%} interval [{v.interval[0]:g}, {v.interval[1]:g}]"
    p = f"Holm-adjusted p = {v.p_adjusted:.3g}"
    if v.verdict is VerdictValue.holds:
        return f"Holds: {where} satisfies '{prediction.expect}' ({p})."
    if v.verdict is VerdictValue.fails:
        return f"Fails: {where} contradicts '{prediction.expect}' ({p})."
    if v.p_adjusted > FAMILY_ALPHA:
        return f"Inconclusive: {p} > {FAMILY_ALPHA} across the knowledge base's tested predictions."
    return f"Inconclusive: {where} touches the boundary of '{prediction.expect}'."


def stale_statuses(
    kb: KnowledgeBase, derivation: Derivation, *, compare_confirmatory: bool = True
) -> list[tuple[str, Status | None, Status]]:
    """Claims whose stored status (ignoring its history) differs from the derived one.

    `compare_confirmatory=False` leaves out the confirmatory flags, for a shallow clone
    whose git history is too short to recompute them.
    """

    def comparable(status: Status) -> Status:
        verdicts = status.verdicts
        if not compare_confirmatory:
            verdicts = [v.model_copy(update={"confirmatory": None}) for v in verdicts]
        return status.model_copy(update={"history": [], "verdicts": verdicts})

    out = []
    for cid in sorted(derivation.statuses):
        stored = kb.claims[cid].claim.status if cid in kb.claims else None
        derived = derivation.statuses[cid]
        if stored is None or comparable(stored) != comparable(derived):
            out.append((cid, stored, derived))
    return out
