"""`kb run`: plan which experiments to run, run every seed in its own process, record.

Seeds run in local processes by default, or are submitted through submitit (to its local
executor or a Slurm cluster; `kb.running.executors`, `kb.running.jobs`), where each job runs the same
`kb.running.seedproc.run_seed` and its results become the same records.

Each seed runs in a child process (`kb.running.worker`) with a timeout and a memory cap, so a
crash, a hang, a runaway allocation, a NaN or a malformed result becomes a failed seed
with its reason and the tail of its log, and the other seeds go on. A finished seed is
saved at once under `.kb/seeds/` (a SIGKILL of kb loses nothing finished) and reused by
the next run with the same script hash, config and seed; Ctrl-C stops the children and
still records the seeds that finished. Run records are written once per run, atomically.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kb.checking.load import KnowledgeBase
from kb.formats.diagnose import suggest
from kb.formats.errors import KbError
from kb.formats.experiment import ExperimentInfo, apply_overrides
from kb.formats.records import (
    ExecutorInfo,
    Outcome,
    PredictionRef,
    RunOutcome,
    RunRecord,
    SeedResult,
    atomic_write,
    new_run_id,
    prediction_sha256,
    read_records,
    seed_key,
    sha256_bytes,
    write_record,
)
from kb.running import provenance
from kb.running.config import SlurmSettings
from kb.running.seedproc import Children, SeedSpec, run_seed

CACHE_DIR = ".kb/seeds"


class RunEvents(Protocol):
    """What the runner reports while it works (the CLI draws progress bars from it)."""

    def planned(self, plan: RunPlan, to_compute: int, reused: int) -> None: ...
    def seed_started(self, plan: RunPlan, seed: int) -> None: ...
    def seed_finished(self, plan: RunPlan, result: SeedResult) -> None: ...


class _Silent:
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

    @property
    def name(self) -> str:
        return f"{self.experiment.name} [{self.scale}]"


@dataclass
class RunOptions:
    device: str = "auto"
    jobs: int = 1
    timeout_s: float = 1800.0
    memory_mb: int = 8192
    command: str = "kb run"
    executor: str = "local"  # or "submitit-local" / "slurm" (kb.running.executors)
    slurm: SlurmSettings = field(default_factory=SlurmSettings)
    wait: bool = True  # for submitted seeds: wait and record, or return once submitted
    poll_s: float = 2.0  # how often submitted seeds are checked while waiting


@dataclass
class RunReport:
    records: list[RunRecord] = field(default_factory=list)
    reused_only: list[RunPlan] = field(default_factory=list)  # nothing new to record
    interrupted: bool = False
    submission: str | None = None  # submitted seeds not yet recorded: `kb jobs --follow ID`


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


# --- planning --------------------------------------------------------------------------


def plan_runs(
    kb: KnowledgeBase,
    experiments: dict[str, ExperimentInfo],
    targets: Iterable[str],
    *,
    run_all: bool = False,
    scale: str = "smoke",
    seeds: int = 5,
    overrides: list[str] | None = None,
) -> list[RunPlan]:
    """Which experiments the targets need: claim ids, experiment names or topics."""
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
        plans.append(
            RunPlan(
                info,
                scale,
                config,
                list(range(seeds)),
                served,
                sha256_bytes(info.path.read_bytes()),
            )
        )
    return plans


# --- executing -------------------------------------------------------------------------


def _known_results(root: Path) -> dict[str, tuple[SeedResult, str]]:
    """Finished seeds by key: from committed run records, then from the local seed cache."""
    known: dict[str, tuple[SeedResult, str]] = {}
    records, _ = read_records(root)
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
        threads=max(1, (os.cpu_count() or 1) // max(1, options.jobs)),
        root=str(root),
        checkpoint_dir=str(checkpoints / key),
        slot=slot,
    )


def _run_one(spec: SeedSpec, workdir: Path, children: Children) -> SeedResult | None:
    return run_seed(spec, workdir, children)[0]


def compute(
    plans: list[RunPlan],
    todo: list[tuple[int, int]],
    root: Path,
    options: RunOptions,
    events: RunEvents,
    finished: Callable[[int, int, SeedResult], None],
) -> bool:
    """Run each (plan index, seed) in `todo` in its own process, `options.jobs` at a time.

    Calls `finished` as each seed ends. Returns True when Ctrl-C stopped the work: the
    children are killed, and seeds that had already finished are still reported.
    """
    children = Children()
    with (
        tempfile.TemporaryDirectory(prefix="kb-run-") as tmp,
        ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool,
    ):
        workdir = Path(tmp)
        pending: dict[Future[SeedResult | None], tuple[int, int]] = {}
        queue = list(todo)
        free_slots = list(range(max(1, options.jobs)))
        slot_of: dict[Future[SeedResult | None], int] = {}
        try:
            while queue or pending:
                while queue and free_slots:
                    i, seed = queue.pop(0)
                    slot = free_slots.pop(0)
                    events.seed_started(plans[i], seed)
                    spec = seed_spec(plans[i], seed, root, options, workdir / "checkpoints", slot)
                    future = pool.submit(_run_one, spec, workdir, children)
                    pending[future] = (i, seed)
                    slot_of[future] = slot
                done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    i, seed = pending.pop(future)
                    free_slots.append(slot_of.pop(future))
                    seed_result = future.result()
                    if seed_result is not None:
                        finished(i, seed, seed_result)
        except KeyboardInterrupt:
            children.kill_all()
            for future, (i, seed) in pending.items():
                seed_result = future.result()
                if seed_result is not None and seed_result.outcome is Outcome.ok:
                    finished(i, seed, seed_result)
            return True
    return False


def prepare(plans: list[RunPlan], root: Path, events: RunEvents) -> Batch:
    """Which seeds are already known (recorded or cached) and which must be computed."""
    known = _known_results(root)
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
            if key in known:
                cached, run_id = known[key]
                batch.results[i][seed] = cached.model_copy(
                    update={"reused": True, "reused_from": run_id or cached.reused_from}
                )
            else:
                batch.todo.append((i, seed))
        events.planned(plan, sum(1 for j, _ in batch.todo if j == i), len(batch.results[i]))
    return batch


def execute(
    plans: list[RunPlan], root: Path, options: RunOptions, events: RunEvents | None = None
) -> RunReport:
    """Run every plan's seeds (reusing finished ones) and write one record per run.

    With a submitit executor the seeds to compute are submitted as one array job; the
    report then names the submission, and holds its records once they were collected.
    """
    events = events or _Silent()
    batch = prepare(plans, root, events)
    clock = time.perf_counter()
    report = RunReport()

    def finished(i: int, seed: int, seed_result: SeedResult) -> None:
        batch.add(root, i, seed_result)
        events.seed_finished(plans[i], seed_result)

    if options.executor != "local" and batch.todo:
        from kb.running import jobs

        submission = jobs.submit(batch, root, options)
        report.submission = submission.id
        if options.wait:
            report.interrupted = jobs.wait(submission, root, finished, options.poll_s)
            if not report.interrupted:
                # `finished` put every seed's result in the batch: record it as collected.
                report.records, report.reused_only = jobs.record(submission, root, batch)
                report.submission = None
        return report
    report.interrupted = compute(plans, batch.todo, root, options, events, finished)
    report.records, report.reused_only = write_records(
        batch,
        root,
        command=options.command,
        interrupted=report.interrupted,
        wall_s=round(time.perf_counter() - clock, 3),
    )
    return report


def write_records(
    batch: Batch,
    root: Path,
    *,
    command: str,
    interrupted: bool,
    wall_s: float,
    executor: dict[int, ExecutorInfo] | None = None,
) -> tuple[list[RunRecord], list[RunPlan]]:
    """One record per plan with new seeds; and the plans whose seeds were all recorded before."""
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
            wall_s=wall_s,
            command=command,
            executor=(executor or {}).get(i),
        )
        write_record(root, record)
        records.append(record)
    return records, reused_only


def _cache(root: Path, plan: RunPlan, result: SeedResult) -> None:
    """Keep a finished seed at once, so a killed `kb run` loses nothing finished."""
    path = root / CACHE_DIR / plan.experiment.name / f"{result.key}.json"
    atomic_write(path, result.model_dump_json())


def command_line(argv: list[str]) -> str:
    return "kb " + shlex.join(argv)
