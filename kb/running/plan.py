"""What `kb run` was asked for: the experiments, scale, seeds and config of each run.

A target is a claim id, an experiment name or a topic; `plan_runs` turns targets into one
`RunPlan` per experiment, and `RunOptions` carries how to run them (device, parallel jobs,
limits, executor). `RunEvents` is what the running code reports back to the command line.
`preview` is what `kb run --dry-run` shows: for each plan, the seeds a real run would
compute and those it would reuse (as `kb.running.batch.prepare` decides them), and how
long it should take, from the seeds' wall times in earlier run records.
"""

from __future__ import annotations

import math
import shlex
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from kb.checking.knowledge import KnowledgeBase
from kb.formats.diagnose import suggest
from kb.formats.errors import KbError
from kb.formats.experiment import ExperimentInfo, apply_overrides
from kb.formats.records import (
    Outcome,
    PredictionRef,
    RunRecord,
    SeedResult,
    prediction_sha256,
    sha256_bytes,
)
from kb.running.config import SlurmSettings


class RunEvents(Protocol):
    """What the runner reports while it works (the CLI draws progress bars from it)."""

    def planned(self, plan: RunPlan, to_compute: int, reused: int) -> None: ...
    def seed_started(self, plan: RunPlan, seed: int) -> None: ...
    def seed_finished(self, plan: RunPlan, result: SeedResult) -> None: ...


class Silent:
    def planned(self, plan: RunPlan, to_compute: int, reused: int) -> None:
        pass

    def seed_started(self, plan: RunPlan, seed: int) -> None:
        pass

    def seed_finished(self, plan: RunPlan, result: SeedResult) -> None:
        pass


@dataclass(frozen=True)
class RunPlan:
    experiment: ExperimentInfo
    scale: str
    config: dict[str, Any]
    seeds: list[int]
    predictions: list[PredictionRef]
    script_sha256: str
    rerun: bool = False  # recompute every seed, even those already recorded or cached

    @property
    def name(self) -> str:
        """'noisy_bn [smoke]', and for a variant the constants it changes: 'noisy_bn [smoke] depth=4'."""
        registered = self.experiment.scales.get(self.scale, {})
        changed = [f"{k}={v}" for k, v in sorted(self.config.items()) if registered.get(k) != v]
        return " ".join([f"{self.experiment.name} [{self.scale}]", *changed])


@dataclass
class RunOptions:
    device: str = "auto"
    jobs: int = 1
    timeout_s: float = 1800.0
    memory_mb: int = 8192
    # One intra-op thread per seed: metrics can depend on the thread count (so `kb verify`
    # must use the recorded one), and one thread per seed with --jobs = cores does not
    # oversubscribe the machine (2 threads on a loaded 2-core box made a seed 8x slower).
    threads: int = 1
    command: str = "kb run"
    executor: str = "local"  # or "submitit-local" / "slurm" (kb.running.executors)
    slurm: SlurmSettings = field(default_factory=SlurmSettings)
    wait: bool = True  # for submitted seeds: wait and record, or return once submitted
    poll_s: float = 2.0  # how often submitted seeds are checked while waiting


def plan_runs(
    kb: KnowledgeBase,
    experiments: dict[str, ExperimentInfo],
    targets: Iterable[str],
    *,
    run_all: bool = False,
    scale: str = "smoke",
    seeds: int = 5,
    overrides: list[str] | None = None,
    multiverse: bool = False,
    rerun: bool = False,
) -> list[RunPlan]:
    """Which experiments the targets need: claim ids, experiment names or topics.

    With `rerun`, every seed is computed again, even one already recorded or cached.
    """
    names: set[str] = set()
    if run_all:
        names = set(experiments)
    for target in targets:
        if target in experiments:
            names.add(target)
        elif target in kb.claims:
            needed = {p.experiment for p in kb.claims[target].claim.predictions if p.experiment}
            if not needed:
                raise KbError(
                    f"claim '{target}' has no prediction with an experiment (all are open)"
                )
            names |= needed
        elif any(c.claim.topic == target for c in kb.claims.values()):
            names |= {
                p.experiment
                for c in kb.claims.values()
                if c.claim.topic == target
                for p in c.claim.predictions
                if p.experiment
            }
        else:
            options = [*experiments, *kb.claims, *{c.claim.topic for c in kb.claims.values()}]
            raise KbError(
                f"'{target}' is not a claim, an experiment or a topic{suggest(target, options)}"
            )
    if not names:
        raise KbError("nothing to run: name a claim, an experiment or a topic, or pass --all")
    if seeds < 1:
        raise KbError("--seeds must be at least 1")
    plans = []
    for name in sorted(names):
        info = experiments[name]
        if info.problems:
            raise KbError(f"experiment '{name}' breaks the contract; run `kb check`", info.problems)
        if scale not in info.scales:
            raise KbError(
                f"experiment '{name}' has no scale '{scale}' (it has {', '.join(info.scales)})"
            )
        config = apply_overrides(info.scales[scale], overrides or [])
        served = [
            PredictionRef(
                claim=c.claim.id, prediction=p.id, sha256=prediction_sha256(c.claim.id, p)
            )
            for c in sorted(kb.claims.values(), key=lambda c: c.claim.id)
            for p in c.claim.predictions
            if p.experiment == name
        ]
        script_sha = sha256_bytes(info.path.read_bytes())
        for variant in [config, *(variants(info, scale, config) if multiverse else [])]:
            plans.append(
                RunPlan(info, scale, variant, list(range(seeds)), served, script_sha, rerun)
            )
    return plans


def variants(info: ExperimentInfo, scale: str, config: dict[str, Any]) -> list[dict[str, Any]]:
    """The declared multiverse around `config`: each free constant swept, the others fixed.

    One constant at a time, not the full grid: the grid's cost multiplies across constants,
    and a verdict's dependence on each constant is what a reader needs first.
    """
    out = []
    for key, values in sorted(info.multiverse.get(scale, {}).items()):
        for value in values:
            if value != config.get(key):
                out.append({**config, key: value})
    return out


@dataclass(frozen=True)
class Preview:
    """What a real run of one plan would do: the seeds it computes and reuses, and how long."""

    plan: RunPlan
    compute: list[int]
    reuse: list[int]
    seed_s: float | None  # median wall time of one seed in earlier records; None: never run
    expected_s: float | None  # seed_s for each round of `jobs` seeds to compute

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.plan.experiment.name,
            "scale": self.plan.scale,
            "config": self.plan.config,
            "compute": self.compute,
            "reuse": self.reuse,
            "predictions": [f"{r.claim}/{r.prediction}" for r in self.plan.predictions],
            "median_seed_s": self.seed_s,
            "expected_s": self.expected_s,
        }


def preview(
    plans: list[RunPlan], todo: list[tuple[int, int]], records: list[RunRecord], jobs: int
) -> list[Preview]:
    """Each plan's seeds to compute (`todo`, from `prepare`) and to reuse, and its expected
    wall time: the median seconds of one seed in earlier records of the experiment at that
    scale, times the rounds of `jobs` parallel seeds it needs."""
    out = []
    for i, plan in enumerate(plans):
        compute = [seed for j, seed in todo if j == i]
        seed_s = median_seed_seconds(plan, records)
        rounds = math.ceil(len(compute) / max(1, jobs))
        out.append(
            Preview(
                plan,
                compute,
                [s for s in plan.seeds if s not in compute],
                seed_s,
                None if seed_s is None else round(seed_s * rounds, 1),
            )
        )
    return out


def median_seed_seconds(plan: RunPlan, records: list[RunRecord]) -> float | None:
    """Median wall time of the seeds computed (not reused) for this experiment and scale."""
    times = [
        r.wall_s
        for record in records
        if record.experiment == plan.experiment.name and record.scale == plan.scale
        for r in record.results
        if r.outcome is Outcome.ok and not r.reused and r.wall_s > 0
    ]
    return statistics.median(times) if times else None


def command_line(argv: list[str]) -> str:
    return "kb " + shlex.join(argv)
