"""Submissions: seeds sent to submitit-local or Slurm, kept under `.kb/jobs/` until recorded.

A submission is one small JSON file, `.kb/jobs/<id>.json` (what was planned, which seeds
were reused, the job id of every submitted seed), next to a folder `.kb/jobs/<id>/` with
submitit's files (pickles and logs per job) and each seed's private checkpoint folder.
`kb run --executor slurm` waits for it and records it; `kb run --no-wait` leaves it for
`kb jobs --follow ID` or `kb jobs --collect`, which write the run records exactly as a
local run does (same seed cache, same records, plus the executor and job ids).
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import Field

from kb.formats.diagnose import suggest
from kb.formats.errors import KbError
from kb.formats.experiment import ExperimentInfo
from kb.formats.records import (
    ExecutorInfo,
    PredictionRef,
    Record,
    RunRecord,
    SeedResult,
    atomic_write,
    new_run_id,
)
from kb.running import executors
from kb.running.batch import Batch, seed_spec, write_records
from kb.running.plan import RunOptions, RunPlan

JOBS_DIR = ".kb/jobs"


class SubmittedPlan(Record):
    experiment: str
    scale: str
    config: dict[str, Any]
    seeds: list[int]
    script: str = Field(description="Script path relative to the knowledge base.")
    script_sha256: str
    predictions: list[PredictionRef]
    reused: list[SeedResult] = Field(default_factory=list)
    jobs: dict[int, str] = Field(default_factory=dict, description="Job id of each submitted seed.")
    keys: dict[int, str] = Field(
        default_factory=dict, description="Seed key of each submitted seed."
    )


class Submission(Record):
    id: str
    executor: str
    created: dt.datetime
    command: str
    plans: list[SubmittedPlan]
    cancelled: bool = False
    threads: int = Field(1, description="Intra-op threads per seed, recorded in the run records.")
    records: list[str] = Field(default_factory=list, description="Run records once collected.")

    @property
    def job_ids(self) -> list[str]:
        return [j for p in self.plans for _, j in sorted(p.jobs.items())]


@dataclass(frozen=True)
class JobView:
    """One submission as `kb jobs` lists it."""

    submission: Submission
    states: dict[str, str]  # job id -> state

    @property
    def running(self) -> bool:
        return any(executors.is_live(s) for s in self.states.values())

    @property
    def state(self) -> str:
        if self.submission.records:
            return "recorded"
        if self.running:
            return "running"
        return "cancelled" if self.submission.cancelled else "finished"

    def to_dict(self) -> dict[str, Any]:
        s = self.submission
        return {
            "id": s.id,
            "executor": s.executor,
            "created": s.created.isoformat(),
            "state": self.state,
            "experiments": [p.experiment for p in s.plans],
            "seeds": {p.experiment: sorted(p.jobs) for p in s.plans},
            "jobs": self.states,
            "records": s.records,
            "folder": f"{JOBS_DIR}/{s.id}",
        }


def _path(root: Path, submission_id: str) -> Path:
    return root / JOBS_DIR / f"{submission_id}.json"


def folder(root: Path, submission_id: str) -> Path:
    return root / JOBS_DIR / submission_id


def save(root: Path, submission: Submission) -> None:
    atomic_write(_path(root, submission.id), submission.model_dump_json(indent=2) + "\n")


def load(root: Path, submission_id: str) -> Submission:
    path = _path(root, submission_id)
    if not path.is_file():
        known = [p.stem for p in (root / JOBS_DIR).glob("*.json")]
        raise KbError(
            f"no submission '{submission_id}' under {JOBS_DIR}{suggest(submission_id, known)}"
        )
    return Submission.model_validate_json(path.read_bytes())


def submissions(root: Path) -> list[Submission]:
    found = []
    for path in sorted((root / JOBS_DIR).glob("*.json")):
        try:
            found.append(Submission.model_validate_json(path.read_bytes()))
        except (ValueError, OSError):
            continue  # a damaged file is not ours to judge here; `kb jobs` lists the rest
    return found


def submit(batch: Batch, root: Path, options: RunOptions) -> Submission:
    """Submit the batch's seeds to compute as one array job and save the submission."""
    submission_id = new_run_id(batch.started)
    jobs_folder = folder(root, submission_id)
    settings = options.slurm
    # The thread count is part of the result (metrics depend on it), not of the allocation.
    threads = options.threads
    tasks = []
    for i, seed in batch.todo:
        spec = seed_spec(batch.plans[i], seed, root, options, jobs_folder / "checkpoints")
        tasks.append(
            executors.SeedTask(
                replace(spec, threads=threads),
                batch.plans[i].script_sha256,
                str(jobs_folder / "work"),
            )
        )
    executor = executors.make_executor(options.executor, jobs_folder, settings)
    job_ids = executors.submit(executor, tasks)
    plans = [
        SubmittedPlan(
            experiment=plan.experiment.name,
            scale=plan.scale,
            config=plan.config,
            seeds=plan.seeds,
            script=plan.experiment.path.relative_to(root).as_posix(),
            script_sha256=plan.script_sha256,
            predictions=plan.predictions,
            reused=[batch.results[i][s] for s in sorted(batch.results[i])],
        )
        for i, plan in enumerate(batch.plans)
    ]
    for (i, seed), task, job_id in zip(batch.todo, tasks, job_ids, strict=True):
        plans[i].jobs[seed] = job_id
        plans[i].keys[seed] = task.spec.key
    submission = Submission(
        id=submission_id,
        executor=options.executor,
        created=batch.started,
        command=options.command,
        plans=plans,
        threads=threads,
    )
    save(root, submission)
    return submission


def view(root: Path, submission: Submission) -> JobView:
    if submission.records:
        return JobView(submission, {j: "DONE" for j in submission.job_ids})
    return JobView(
        submission,
        executors.states(submission.executor, folder(root, submission.id), submission.job_ids),
    )


def _outcomes(
    root: Path,
    submission: Submission,
    states: dict[str, str],
    skip: Collection[tuple[int, int]] = (),
) -> dict[tuple[int, int], SeedResult]:
    """The seeds whose job has ended, as seed results (but those in `skip`)."""
    out = {}
    for i, plan in enumerate(submission.plans):
        for seed, job_id in plan.jobs.items():
            state = states[job_id]
            if (i, seed) not in skip and not executors.is_live(state):
                out[i, seed] = executors.outcome(
                    folder(root, submission.id),
                    job_id,
                    seed,
                    plan.keys[seed],
                    state,
                    root,
                    submission.cancelled,
                )
    return out


def wait(
    submission: Submission,
    root: Path,
    finished: Callable[[int, int, SeedResult], None],
    poll_s: float = 2.0,
) -> bool:
    """Poll until every seed's job has ended, calling `finished` for each as it ends.

    Returns True on Ctrl-C: the jobs keep running, `kb jobs --collect` records them later.
    """
    reported: set[tuple[int, int]] = set()
    total = sum(len(p.jobs) for p in submission.plans)
    try:
        while len(reported) < total:
            states = view(root, submission).states
            ended = _outcomes(root, submission, states, skip=reported)
            for (i, seed), result in sorted(ended.items()):
                reported.add((i, seed))
                finished(i, seed, result)
            if len(reported) < total:
                time.sleep(poll_s)
    except KeyboardInterrupt:
        return True
    return False


def collect(
    submission: Submission, root: Path, states: dict[str, str] | None = None
) -> tuple[list[RunRecord], list[RunPlan]]:
    """Write the run records of a submission whose jobs have all ended (once).

    `states` are its jobs' states when the caller has just asked for them (`view`).
    """
    if submission.records:
        raise KbError(
            f"submission {submission.id} was already recorded: {', '.join(submission.records)}"
        )
    states = view(root, submission).states if states is None else states
    live = [j for j, s in states.items() if executors.is_live(s)]
    if live:
        raise KbError(
            f"submission {submission.id} still has {len(live)} job(s) running; "
            f"`kb jobs --follow {submission.id}` waits for them"
        )
    plans = [
        RunPlan(
            ExperimentInfo(p.experiment, root / p.script, "", {}, {}, {}),
            p.scale,
            p.config,
            p.seeds,
            p.predictions,
            p.script_sha256,
        )
        for p in submission.plans
    ]
    batch = Batch(
        plans,
        submission.created,
        {i: {r.seed: r for r in p.reused} for i, p in enumerate(submission.plans)},
        {i: set() for i in range(len(plans))},
        [],
    )
    for (i, _), result in sorted(_outcomes(root, submission, states).items()):
        batch.add(root, i, result)
    return record(submission, root, batch)


def record(
    submission: Submission, root: Path, batch: Batch
) -> tuple[list[RunRecord], list[RunPlan]]:
    """Write the run records of a submission from `batch`, which holds every seed's result."""
    info = {
        i: ExecutorInfo(name=submission.executor, submission=submission.id, job_ids=dict(p.jobs))
        for i, p in enumerate(submission.plans)
        if p.jobs
    }
    records, reused_only = write_records(
        batch,
        root,
        command=submission.command,
        interrupted=False,
        executor=info,
        threads=submission.threads,
    )
    submission.records = [r.id for r in records]
    save(root, submission)
    # The checkpoints served their purpose; a later run with a new submission starts afresh.
    shutil.rmtree(folder(root, submission.id) / "checkpoints", ignore_errors=True)
    return records, reused_only


def follow(
    root: Path, submission_id: str, update: Callable[[JobView], None], poll_s: float = 2.0
) -> list[RunRecord]:
    """Report the state of a submission until its jobs have ended; then record it if needed."""
    submission = load(root, submission_id)
    while True:
        jv = view(root, submission)
        update(jv)
        if not jv.running:
            break
        time.sleep(poll_s)
    if submission.records:
        return []
    return collect(submission, root, jv.states)[0]


def collect_all(root: Path) -> list[RunRecord]:
    """Record every submission whose jobs have all ended and that was not recorded yet."""
    records: list[RunRecord] = []
    for submission in submissions(root):
        if submission.records:
            continue
        jv = view(root, submission)
        if jv.running:
            continue
        records.extend(collect(submission, root, jv.states)[0])
    return records


def cancel(root: Path, submission_id: str) -> Submission:
    submission = load(root, submission_id)
    if submission.records:
        raise KbError(f"submission {submission.id} has ended and was recorded; nothing to cancel")
    executors.cancel(submission.executor, submission.job_ids)
    submission.cancelled = True
    save(root, submission)
    return submission
