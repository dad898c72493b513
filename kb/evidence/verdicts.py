"""Verdicts of predictions: pool the seeds of the registered configuration, then test them.

For one prediction, `pool_seeds` gathers the seed values of its experiment's runs that are
not stale (same script, same prediction hash) and that ran the *registered* configuration
(the script's SCALES entry for that scale, compared as data), at the largest scale that has
any, each computation counted once. Runs made with other configurations (`--set`, the
multiverse) are *variants*: kept apart, never pooled, used only to judge robustness.

`judge` turns a pool into holds / fails / inconclusive / invalid / untested:

- a failed validity check of the experiment makes the verdict `invalid`;
- a metric declared `scale: log` is judged on the log scale (geometric mean, log-t interval);
- a seed whose value is only a bound (`bounds` in its result) keeps the interval end it
  bounds and leaves the other end open, so a censored value can only ever count in the
  direction in which the bound is valid;
- the interval's level comes from Holm's method within the prediction's family.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kb.evidence.registration import RecordCommits, Registration
from kb.evidence.stats import MIN_SEEDS, HolmResult, Sample, round_sig, seeds_to_decide
from kb.formats.expectation import Expectation, Outcome
from kb.formats.experiment import ExperimentInfo, MetricSpec
from kb.formats.records import RunRecord, SeedResult, prediction_sha256
from kb.formats.schema import Prediction, VerdictRecord, VerdictValue

Key = tuple[str, str]  # (claim id, prediction id)

SCALE_ORDER = ("full", "smoke")  # preferred first; other scale names follow alphabetically

Seeds = list[tuple[SeedResult, RunRecord]]  # (seed, the record that computed it)


@dataclass
class Variant:
    """The seeds of one non-registered configuration of the pooled scale."""

    changed: dict[str, Any]  # config keys whose value differs from the registered config
    seeds: Seeds = field(default_factory=list)
    runs: list[str] = field(default_factory=list)


@dataclass
class Pool:
    """The non-stale seed values of one prediction at the scale chosen for it."""

    scale: str | None = None
    seeds: Seeds = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    variants: list[Variant] = field(default_factory=list)


@dataclass(frozen=True)
class VariantVerdict:
    """A variant judged at the registered verdict's level: one point of a specification curve."""

    changed: dict[str, Any]
    multiverse: bool  # every changed key is a declared free design constant
    verdict: VerdictValue
    estimate: float | None
    interval: tuple[float | None, float | None] | None
    n: int
    runs: list[str]


def scale_rank(name: str) -> tuple[int, str]:
    return (SCALE_ORDER.index(name) if name in SCALE_ORDER else len(SCALE_ORDER), name)


def _config_key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def pool_seeds(
    claim_id: str,
    prediction: Prediction,
    records: Iterable[RunRecord],
    script_sha: str | None,
    info: ExperimentInfo | None = None,
) -> Pool:
    current = prediction_sha256(claim_id, prediction)
    by_id = {r.id: r for r in records}
    pool = Pool()
    registered: dict[str, dict[str, tuple[SeedResult, RunRecord]]] = {}
    variants: dict[tuple[str, str], dict[str, tuple[SeedResult, RunRecord]]] = {}
    configs: dict[tuple[str, str], dict[str, Any]] = {}
    for record in sorted(by_id.values(), key=lambda r: (r.started, r.id)):
        ref = next(
            (
                p
                for p in record.predictions
                if p.claim == claim_id and p.prediction == prediction.id
            ),
            None,
        )
        if record.script_sha256 != script_sha or (ref is not None and ref.sha256 != current):
            pool.stale.append(record.id)
            continue
        wanted = info.scales.get(record.scale) if info is not None else None
        if wanted is None or record.config == wanted:
            target = registered.setdefault(record.scale, {})
        else:
            variant_key = (record.scale, _config_key(record.config))
            configs[variant_key] = record.config
            target = variants.setdefault(variant_key, {})
        for seed in record.ok_results():
            # The runner only records finite metrics; a corrupt record must not poison the family.
            if math.isfinite(seed.metrics.get(prediction.metric or "", math.nan)):
                # Equal keys are one computation recorded twice: the later record wins.
                target[seed.key] = (seed, record)
    if registered:
        pool.scale = min(registered, key=scale_rank)
        pool.seeds, pool.runs = _kept(registered[pool.scale], by_id)
        base = info.scales.get(pool.scale, {}) if info is not None else {}
        for (scale, text), seeds in sorted(variants.items()):
            if scale != pool.scale or not seeds:
                continue
            config = configs[(scale, text)]
            changed = {k: v for k, v in config.items() if base.get(k) != v}
            changed.update({k: None for k in base if k not in config})
            kept, runs = _kept(seeds, by_id)
            pool.variants.append(Variant(changed, kept, runs))
    return pool


def _kept(
    seeds: dict[str, tuple[SeedResult, RunRecord]], by_id: dict[str, RunRecord]
) -> tuple[Seeds, list[str]]:
    kept = list(seeds.values())
    # A reused seed was computed by the run it was first recorded in.
    return (
        [(s, by_id.get(s.reused_from or "", r)) for s, r in kept],
        sorted({record.id for _, record in kept}),
    )


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def confirmatory(
    key: Key,
    pool: Pool,
    current_sha: str,
    registered: dict[Key, Registration | None] | None,
    commits: RecordCommits | None = None,
) -> bool | None:
    """Every counted seed comes from a run that served this version of the prediction and
    entered the repository after it (by git ancestry when `commits` is given)."""
    if registered is None or not pool.seeds:
        return None  # not assessed
    registration = registered.get(key)
    if registration is None:
        return False  # the prediction as it stands was never committed before the runs

    def after(origin: RunRecord) -> bool:
        if commits is not None:
            return commits.registered_before(origin.id, registration)
        return _utc(origin.started) > _utc(registration.when)

    return all(
        any(
            p.claim == key[0] and p.prediction == key[1] and p.sha256 == current_sha
            for p in origin.predictions
        )
        and after(origin)
        for _, origin in pool.seeds
    )


def expectation_of(p: Prediction) -> Expectation:
    expectation = p.expectation
    assert expectation is not None  # the schema requires one when an experiment is named
    return expectation


def metric_spec(info: ExperimentInfo | None, metric: str) -> MetricSpec:
    spec = info.metric_specs.get(metric) if info is not None else None
    return spec or MetricSpec(metric, info.metrics.get(metric, "") if info else "")


def sample(seeds: Seeds, metric: str, spec: MetricSpec) -> Sample:
    return Sample(
        values=[seed.metrics[metric] for seed, _ in seeds],
        bounds=[seed.bounds.get(metric) for seed, _ in seeds],
        log=spec.scale == "log",
    )


def validity_failure(info: ExperimentInfo | None, seeds: Seeds) -> str | None:
    """Why the run's validity checks fail for these seeds, or None when they pass."""
    if info is None or not seeds:
        return None
    for check in info.validity.values():
        values = [s.metrics[check.metric] for s, _ in seeds if check.metric in s.metrics]
        if len(values) < len(seeds):
            return (
                f"validity check '{check.name}' cannot be assessed: the runs do not report "
                f"{check.metric} (re-run the experiment)"
            )
        average = sum(values) / len(values)
        if not Expectation.parse(check.expect).satisfied_by(average):
            return (
                f"validity check '{check.name}' failed: {check.why} (mean {check.metric} = "
                f"{average:.4g}, expected {check.expect})"
            )
    return None


def decide(expectation: Expectation, lo: float, hi: float) -> Outcome:
    """`Expectation.decide`, with an open end (±inf) allowed where censoring leaves one."""
    if math.isnan(lo) or math.isnan(hi):
        return Outcome.inconclusive
    if expectation.satisfied_by(lo) and expectation.satisfied_by(hi):
        return Outcome.holds
    below = hi < expectation.low or (expectation.op == ">" and hi <= expectation.low)
    above = lo > expectation.high or (expectation.op == "<" and lo >= expectation.high)
    return Outcome.fails if below or above else Outcome.inconclusive


def _finite_or_none(x: float) -> float | None:
    return round_sig(x) if math.isfinite(x) else None


def judge(
    key: Key,
    p: Prediction,
    pool: Pool,
    test: HolmResult | None,
    registered: dict[Key, Registration | None] | None,
    info: ExperimentInfo | None = None,
    family_size: int = 0,
    commits: RecordCommits | None = None,
) -> VerdictRecord:
    spec = metric_spec(info, p.metric or "")
    data = sample(pool.seeds, p.metric or "", spec)
    base = VerdictRecord(
        prediction=p.id,
        verdict=VerdictValue.untested,
        scale=pool.scale,
        n=len(data.values),
        censored=data.censored,
        runs=pool.runs,
        stale_runs=sorted(pool.stale),
        confirmatory=confirmatory(key, pool, prediction_sha256(key[0], p), registered, commits),
    )
    if not data.values:
        return base
    invalid = validity_failure(info, pool.seeds)
    if invalid is not None:
        return base.model_copy(
            update={"verdict": VerdictValue.invalid, "reason": f"Invalid: {invalid}."}
        )
    problem = data.problem()
    if problem is not None:
        return base.model_copy(
            update={"verdict": VerdictValue.inconclusive, "reason": f"Inconclusive: {problem}."}
        )
    if test is None:  # fewer than MIN_SEEDS values: outside the family, no interval drawn
        return base.model_copy(
            update={
                "verdict": VerdictValue.inconclusive,
                "estimate": round_sig(data.centre()),
                "reason": (
                    f"Inconclusive: {data.n} seed value{'s' if data.n != 1 else ''}; a verdict "
                    f"needs at least {MIN_SEEDS}."
                ),
            }
        )
    level = 1 - test.alpha_level
    expectation = expectation_of(p)
    centre, lo, hi = data.interval(level)
    outcome = decide(expectation, lo, hi) if test.rejected else Outcome.inconclusive
    update: dict[str, Any] = {
        "verdict": VerdictValue(outcome.value),
        "estimate": round_sig(centre),
        "interval": (_finite_or_none(lo), _finite_or_none(hi)),
        "level": round(level, 6),
        "p_adjusted": round_sig(test.p_adjusted),
    }
    if outcome is Outcome.inconclusive:
        update["reason"] = _inconclusive_reason(data, expectation, lo, hi, level, family_size)
        update["seeds_needed"] = seeds_to_decide(data, expectation, level)
    return base.model_copy(update=update)


def _inconclusive_reason(
    data: Sample, expectation: Expectation, lo: float, hi: float, level: float, family: int
) -> str:
    ends = f"[{_show(lo)}, {_show(hi)}]"
    where = (
        f"the {level:.2%} interval {ends} (Holm-corrected over the {family} tested "
        f"prediction{'s' if family != 1 else ''} of its family) does not settle '{expectation}'"
    )
    if data.censored:
        where += (
            f"; {data.censored} of {data.n} seeds only bound the value, so the interval is "
            "open on that side"
        )
    return f"Inconclusive: {where}."


def _show(x: float) -> str:
    return f"{x:.4g}" if math.isfinite(x) else ("∞" if x > 0 else "−∞")


def judge_variants(
    p: Prediction, pool: Pool, verdict: VerdictRecord, info: ExperimentInfo | None
) -> list[VariantVerdict]:
    """Each variant configuration judged at the registered verdict's level (no new family)."""
    spec = metric_spec(info, p.metric or "")
    declared = set(info.multiverse.get(pool.scale or "", {})) if info is not None else set()
    out = []
    for variant in pool.variants:
        data = sample(variant.seeds, p.metric or "", spec)
        multiverse = bool(variant.changed) and set(variant.changed) <= declared
        value, estimate, interval = VerdictValue.inconclusive, None, None
        if validity_failure(info, variant.seeds) is not None:
            value = VerdictValue.invalid
        elif data.n >= MIN_SEEDS and data.problem() is None:
            estimate = round_sig(data.centre())
            if verdict.level is not None:
                _, lo, hi = data.interval(verdict.level)
                interval = (_finite_or_none(lo), _finite_or_none(hi))
                value = VerdictValue(decide(expectation_of(p), lo, hi).value)
        out.append(
            VariantVerdict(
                variant.changed, multiverse, value, estimate, interval, data.n, variant.runs
            )
        )
    return out


def robustness(
    verdict: VerdictRecord, variants: list[VariantVerdict]
) -> tuple[str | None, list[str]]:
    """Across the declared multiverse: robust (every judged variant gives the same verdict),
    fragile (some value gives the opposite verdict; the constants are named), or unresolved
    (some variants decide nothing, none flips; the constants are named)."""
    if verdict.verdict not in (VerdictValue.holds, VerdictValue.fails):
        return None, []
    judged = [
        v
        for v in variants
        if v.multiverse and v.verdict not in (VerdictValue.invalid,) and v.estimate is not None
    ]
    if not judged:
        return None, []
    decisive = (VerdictValue.holds, VerdictValue.fails)
    flips = sorted({k for v in judged if v.verdict in decisive and v.verdict is not verdict.verdict
                    for k in v.changed})
    if flips:  # some declared value gives the opposite verdict
        return "fragile", flips
    open_ = sorted({k for v in judged if v.verdict is not verdict.verdict for k in v.changed})
    # Undecided variants (too few seeds, or an interval over the line) are no evidence either
    # way: the verdict is not shown robust, and not shown to flip.
    return ("unresolved", open_) if open_ else ("robust", [])
