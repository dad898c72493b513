"""`kb run`: plan which experiments to run, run every seed in its own process, record.

Each seed runs in a child process (`kb.worker`) with a timeout and a memory cap, so a
crash, a hang, a runaway allocation, a NaN or a malformed result becomes a failed seed
with its reason and the tail of its log, and the other seeds go on. A finished seed is
saved at once under `.kb/seeds/` (a SIGKILL of kb loses nothing finished) and reused by
the next run with the same script hash, config and seed; Ctrl-C stops the children and
still records the seeds that finished. Run records are written once per run, atomically.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kb import provenance
from kb.diagnose import suggest
from kb.errors import KbError
from kb.experiment import ExperimentInfo, apply_overrides
from kb.load import KnowledgeBase
from kb.records import (
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

CACHE_DIR = ".kb/seeds"
LOG_LINES = 40  # lines of a failed seed's output kept in its record


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


@dataclass
class RunReport:
    records: list[RunRecord] = field(default_factory=list)
    reused_only: list[RunPlan] = field(default_factory=list)  # nothing new to record
    interrupted: bool = False


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


class _Children:
    """Live child processes, so Ctrl-C can stop them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen[bytes]] = set()
        self.stopping = threading.Event()

    def add(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.add(proc)

    def remove(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.discard(proc)

    def kill_all(self) -> None:
        self.stopping.set()
        with self._lock:
            for proc in self._procs:
                _kill_group(proc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path, root: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()[-LOG_LINES:]
    except OSError:
        return ""
    return provenance.scrub("\n".join(lines), root)


def _run_seed(
    plan: RunPlan,
    seed: int,
    slot: int,
    root: Path,
    options: RunOptions,
    children: _Children,
    workdir: Path,
) -> SeedResult | None:
    """One seed in its own process; None when it was stopped by Ctrl-C."""
    key = seed_key(plan.script_sha256, plan.config, seed)
    result_path = workdir / f"{plan.experiment.name}-{plan.scale}-{seed}.json"
    log_path = result_path.with_suffix(".log")
    threads = max(1, (os.cpu_count() or 1) // max(1, options.jobs))
    env = {
        **os.environ,
        "KB_THREADS": str(threads),
        "OMP_NUM_THREADS": str(threads),
        "KB_JOB_SLOT": str(slot),
        "PYTHONHASHSEED": str(seed),
    }
    argv = [
        sys.executable,
        "-m",
        "kb.worker",
        str(plan.experiment.path),
        str(result_path),
        "--config",
        json.dumps(plan.config),
        "--seed",
        str(seed),
        "--device",
        options.device,
        "--memory-mb",
        str(options.memory_mb),
    ]
    started = time.perf_counter()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        children.add(proc)
        try:
            code = proc.wait(timeout=options.timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            code = proc.wait()
            timed_out = True
        finally:
            children.remove(proc)
    wall = round(time.perf_counter() - started, 3)
    if children.stopping.is_set() and not result_path.exists():
        return None

    def failed(reason: str) -> SeedResult:
        return SeedResult(
            seed=seed,
            key=key,
            outcome=Outcome.failed,
            wall_s=wall,
            reason=reason,
            log_tail=_tail(log_path, root),
        )

    if timed_out:
        return failed(f"timed out after {options.timeout_s:g} s")
    if not result_path.exists():
        if code < 0:
            name = signal.Signals(-code).name
            hint = " (killed: out of memory?)" if name == "SIGKILL" else ""
            return failed(f"crashed with signal {name}{hint}")
        return failed(f"exited with code {code} without a result")
    try:
        outcome = json.loads(result_path.read_text())
    except (OSError, json.JSONDecodeError):
        return failed("result file is not valid JSON")
    if not outcome.get("ok"):
        return failed(str(outcome.get("reason", "failed")))
    return SeedResult(
        seed=seed,
        key=key,
        outcome=Outcome.ok,
        metrics=outcome["metrics"],
        curves=outcome.get("curves", {}),
        wall_s=wall,
        device=outcome.get("device"),
        gpu=outcome.get("gpu"),
    )


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
    children = _Children()
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
                    future = pool.submit(
                        _run_seed, plans[i], seed, slot, root, options, children, workdir
                    )
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


def execute(
    plans: list[RunPlan], root: Path, options: RunOptions, events: RunEvents | None = None
) -> RunReport:
    """Run every plan's seeds (reusing finished ones) and write one record per run."""
    events = events or _Silent()
    known = _known_results(root)
    started_at = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    results: dict[int, dict[int, SeedResult]] = {i: {} for i in range(len(plans))}
    computed: dict[int, set[int]] = {i: set() for i in range(len(plans))}
    todo: list[tuple[int, int]] = []
    for i, plan in enumerate(plans):
        for seed in plan.seeds:
            key = seed_key(plan.script_sha256, plan.config, seed)
            if key in known:
                cached, run_id = known[key]
                results[i][seed] = cached.model_copy(
                    update={"reused": True, "reused_from": run_id or cached.reused_from}
                )
            else:
                todo.append((i, seed))
        events.planned(plan, sum(1 for j, _ in todo if j == i), len(results[i]))
    report = RunReport()

    def finished(i: int, seed: int, seed_result: SeedResult) -> None:
        if seed_result.outcome is Outcome.ok:
            _cache(root, plans[i], seed_result)
        results[i][seed] = seed_result
        computed[i].add(seed)
        events.seed_finished(plans[i], seed_result)

    report.interrupted = compute(plans, todo, root, options, events, finished)
    finished_at = dt.datetime.now(dt.UTC)
    git = provenance.git_info(root)
    packages = provenance.package_versions()
    for i, plan in enumerate(plans):
        new = [results[i][s] for s in sorted(computed[i])]
        if not new and all(r.reused_from for r in results[i].values()):
            report.reused_only.append(plan)
            continue
        seeds = sorted(results[i])
        seed_results = [results[i][s] for s in seeds]
        ok = sum(r.outcome is Outcome.ok for r in seed_results)
        if report.interrupted:
            outcome = RunOutcome.interrupted
        elif ok == len(seed_results):
            outcome = RunOutcome.ok
        else:
            outcome = RunOutcome.failed if ok == 0 else RunOutcome.partial
        ran = [r for r in seed_results if r.device] or seed_results
        device = ran[0].device or "cpu"
        gpu = ran[0].gpu
        record = RunRecord(
            id=new_run_id(started_at),
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
            started=started_at,
            finished=finished_at,
            wall_s=round(time.perf_counter() - clock, 3),
            command=options.command,
        )
        write_record(root, record)
        report.records.append(record)
    return report


def _cache(root: Path, plan: RunPlan, result: SeedResult) -> None:
    """Keep a finished seed at once, so a killed `kb run` loses nothing finished."""
    path = root / CACHE_DIR / plan.experiment.name / f"{result.key}.json"
    atomic_write(path, result.model_dump_json())


def command_line(argv: list[str]) -> str:
    return "kb " + shlex.join(argv)
