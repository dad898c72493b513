"""The seeds of one `kb run`: those already known, those to compute, and the records written.

A finished seed is saved at once under `.kb/seeds/` (a SIGKILL of kb loses nothing
finished) and reused by the next run with the same script hash, config and seed. Run
records are written once per run, atomically, whichever executor computed the seeds.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

from kb.formats.records import (
    ExecutorInfo,
    Outcome,
    RunOutcome,
    RunRecord,
    SeedResult,
    atomic_write,
    new_run_id,
    read_records,
    seed_key,
    write_record,
)
from kb.running import provenance
from kb.running.plan import RunEvents, RunOptions, RunPlan, median_seed_seconds
from kb.running.seedproc import SeedSpec

CACHE_DIR = ".kb/seeds"


@dataclass
class Batch:
    """The seeds of one `kb run`: reused ones, those still to compute, and results as they come."""

    plans: list[RunPlan]
    started: dt.datetime
    results: dict[int, dict[int, SeedResult]]
    computed: dict[int, set[int]]
    todo: list[tuple[int, int]]

    def add(self, root: Path, i: int, result: SeedResult) -> None:
        if result.outcome is Outcome.ok:
            _cache(root, self.plans[i], result)
        self.results[i][result.seed] = result
        self.computed[i].add(result.seed)


def _known_results(records: list[RunRecord], root: Path) -> dict[str, tuple[SeedResult, str]]:
    """Finished seeds by key: from committed run records, then from the local seed cache."""
    known: dict[str, tuple[SeedResult, str]] = {}
    for record in records:
        for result in record.ok_results():
            known.setdefault(result.key, (result, record.id))
    for path in sorted((root / CACHE_DIR).glob("*/*.json")):
        try:
            cached = SeedResult.model_validate_json(path.read_bytes())
        except (ValueError, OSError):
            continue  # a damaged cache entry is recomputed, never trusted
        known.setdefault(cached.key, (cached, ""))
    return known


def seed_spec(
    plan: RunPlan, seed: int, root: Path, options: RunOptions, checkpoints: Path, slot: int = 0
) -> SeedSpec:
    key = seed_key(plan.script_sha256, plan.config, seed)
    return SeedSpec(
        script=str(plan.experiment.path),
        config=plan.config,
        seed=seed,
        key=key,
        device=options.device,
        timeout_s=options.timeout_s,
        memory_mb=options.memory_mb,
        threads=max(1, options.threads),
        root=str(root),
        checkpoint_dir=str(checkpoints / key),
        slot=slot,
    )


def prepare(plans: list[RunPlan], root: Path, events: RunEvents) -> Batch:
    """Which seeds are already known (recorded or cached) and which must be computed.

    The seeds to compute are ordered longest first (by the experiment's median recorded
    seed time; never-run experiments first), so a parallel run does not end with one long
    seed on one core while the others sit idle.
    """
    records, _ = read_records(root)
    known = _known_results(records, root)
    batch = Batch(
        plans,
        dt.datetime.now(dt.UTC),
        {i: {} for i in range(len(plans))},
        {i: set() for i in range(len(plans))},
        [],
    )
    for i, plan in enumerate(plans):
        for seed in plan.seeds:
            key = seed_key(plan.script_sha256, plan.config, seed)
            if key in known and not plan.rerun:
                cached, run_id = known[key]
                batch.results[i][seed] = cached.model_copy(
                    update={"reused": True, "reused_from": run_id or cached.reused_from}
                )
            else:
                batch.todo.append((i, seed))
        events.planned(plan, sum(1 for j, _ in batch.todo if j == i), len(batch.results[i]))
    expected = [median_seed_seconds(plan, records) for plan in plans]
    batch.todo.sort(key=lambda item: -(expected[item[0]] or math.inf))  # stable: seed order kept
    return batch


def write_records(
    batch: Batch,
    root: Path,
    *,
    command: str,
    interrupted: bool,
    executor: dict[int, ExecutorInfo] | None = None,
    threads: int | None = None,
) -> tuple[list[RunRecord], list[RunPlan]]:
    """One record per plan with new seeds; and the plans whose seeds were all recorded before.

    A record's wall time is its own: the seconds its newly computed seeds took, summed
    (not the whole command's, which seven experiments run together would all share).
    """
    finished_at = dt.datetime.now(dt.UTC)
    git = provenance.git_info(root)
    packages = provenance.package_versions()
    records: list[RunRecord] = []
    reused_only: list[RunPlan] = []
    for i, plan in enumerate(batch.plans):
        results = batch.results[i]
        if not batch.computed[i] and all(r.reused_from for r in results.values()):
            reused_only.append(plan)
            continue
        seeds = sorted(results)
        seed_results = [results[s] for s in seeds]
        ok = sum(r.outcome is Outcome.ok for r in seed_results)
        if interrupted:
            outcome = RunOutcome.interrupted
        elif ok == len(seed_results):
            outcome = RunOutcome.ok
        else:
            outcome = RunOutcome.failed if ok == 0 else RunOutcome.partial
        ran = [r for r in seed_results if r.device] or seed_results
        device = ran[0].device or "cpu"
        gpu = ran[0].gpu
        record = RunRecord(
            id=new_run_id(batch.started),
            experiment=plan.experiment.name,
            scale=plan.scale,
            config=plan.config,
            seeds=seeds,
            outcome=outcome,
            results=seed_results,
            script=plan.experiment.path.relative_to(root).as_posix(),
            script_sha256=plan.script_sha256,
            predictions=plan.predictions,
            git=git,
            packages=packages,
            hardware=provenance.hardware(device, gpu),
            started=batch.started,
            finished=finished_at,
            wall_s=round(sum(r.wall_s for r in seed_results if not r.reused), 3),
            command=command,
            executor=(executor or {}).get(i),
            threads=threads,
        )
        write_record(root, record)
        records.append(record)
    return records, reused_only


def _cache(root: Path, plan: RunPlan, result: SeedResult) -> None:
    """Keep a finished seed at once, so a killed `kb run` loses nothing finished."""
    path = root / CACHE_DIR / plan.experiment.name / f"{result.key}.json"
    atomic_write(path, result.model_dump_json())


