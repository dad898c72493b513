"""Verdicts of predictions: pool the seeds of current runs, then test them.

For one prediction, `pool` gathers the seed values of its experiment's runs that are not
stale (same script, same prediction hash), at the largest scale that has any, with each
computation counted once. `verdict` turns the pool and the prediction's place in the
knowledge base's Holm family into holds / fails / inconclusive / untested, with the
estimate, the interval at the corrected level, and whether it was confirmatory.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from kb.evidence.stats import HolmResult, mean, round_sig, t_interval
from kb.formats.expectation import Expectation, Outcome
from kb.formats.records import RunRecord, SeedResult, prediction_sha256
from kb.formats.schema import Prediction, VerdictRecord, VerdictValue

Key = tuple[str, str]  # (claim id, prediction id)

SCALE_ORDER = ("full", "smoke")  # preferred first; other scale names follow alphabetically


@dataclass
class Pool:
    """The non-stale seed values of one prediction at the scale chosen for it."""

    scale: str | None = None
    seeds: list[tuple[SeedResult, RunRecord]] = field(
        default_factory=list
    )  # (seed, record computing it)
    runs: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)


def scale_rank(name: str) -> tuple[int, str]:
    return (SCALE_ORDER.index(name) if name in SCALE_ORDER else len(SCALE_ORDER), name)


def pool_seeds(
    claim_id: str, prediction: Prediction, records: Iterable[RunRecord], script_sha: str | None
) -> Pool:
    current = prediction_sha256(claim_id, prediction)
    by_id = {r.id: r for r in records}
    pool = Pool()
    by_scale: dict[str, dict[str, tuple[SeedResult, RunRecord]]] = {}
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
        for seed in record.ok_results():
            # The runner only records finite metrics; a corrupt record must not poison the family.
            if math.isfinite(seed.metrics.get(prediction.metric or "", math.nan)):
                # Equal keys are one computation recorded twice: the later record wins.
                by_scale.setdefault(record.scale, {})[seed.key] = (seed, record)
    if by_scale:
        pool.scale = min(by_scale, key=scale_rank)
        kept = list(by_scale[pool.scale].values())
        pool.runs = sorted({record.id for _, record in kept})
        # A reused seed was computed by the run it was first recorded in.
        pool.seeds = [(s, by_id.get(s.reused_from or "", r)) for s, r in kept]
    return pool


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def confirmatory(
    key: Key, pool: Pool, current_sha: str, registered: dict[Key, dt.datetime | None] | None
) -> bool | None:
    if registered is None or not pool.seeds:
        return None  # not assessed
    moment = registered.get(key)
    if moment is None:
        return False  # the prediction as it stands was never committed before the runs
    return all(
        any(
            p.claim == key[0] and p.prediction == key[1] and p.sha256 == current_sha
            for p in origin.predictions
        )
        and _utc(origin.started) > _utc(moment)
        for _, origin in pool.seeds
    )


def expectation_of(p: Prediction) -> Expectation:
    expectation = p.expectation
    assert expectation is not None  # the schema requires one when an experiment is named
    return expectation


def seed_values(pool: Pool, prediction: Prediction) -> list[float]:
    metric = prediction.metric or ""
    return [seed.metrics[metric] for seed, _ in pool.seeds]


def judge(
    key: Key,
    p: Prediction,
    pool: Pool,
    test: HolmResult | None,
    registered: dict[Key, dt.datetime | None] | None,
) -> VerdictRecord:
    values = seed_values(pool, p)
    base = VerdictRecord(
        prediction=p.id,
        verdict=VerdictValue.untested,
        scale=pool.scale,
        n=len(values),
        runs=pool.runs,
        stale_runs=sorted(pool.stale),
        confirmatory=confirmatory(key, pool, prediction_sha256(key[0], p), registered),
    )
    if not values:
        return base
    if test is None:  # fewer than MIN_SEEDS values: outside the family, no interval drawn
        estimate = round_sig(mean(values))
        return base.model_copy(update={"verdict": VerdictValue.inconclusive, "estimate": estimate})
    level = 1 - test.alpha_level
    centre, lo, hi = t_interval(values, level)
    outcome = expectation_of(p).decide(lo, hi) if test.rejected else Outcome.inconclusive
    return base.model_copy(
        update={
            "verdict": VerdictValue(outcome.value),
            "estimate": round_sig(centre),
            "interval": (round_sig(lo), round_sig(hi)),
            "level": round(level, 6),
            "p_adjusted": round_sig(test.p_adjusted),
        }
    )
