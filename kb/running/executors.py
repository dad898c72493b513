"""Where seeds run besides the local pool: submitit's local executor, or a Slurm cluster.

A submitted seed is a `SeedTask`: inside the allocated job it calls `kb.running.seedproc.run_seed`,
the same function the local runner calls, so the seed runs in a `kb.running.worker` process with
the same environment and its metrics cannot depend on the executor. The task is
submitit-checkpointable: when Slurm (or submitit's local controller) signals that the time
limit is near, submitit requeues it, and the experiment resumes from the checkpoint it saved
in its private `checkpoint_dir` (see `kb.formats.experiment.checkpoint_dir`).

submitit is imported lazily: `kb --help` and local runs never load it.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.formats.errors import KbError
from kb.formats.records import Outcome, SeedResult, sha256_bytes
from kb.running.config import SlurmSettings
from kb.running.seedproc import SeedSpec, run_seed, tail

EXECUTORS = ("local", "submitit-local", "slurm")
# submitit-local controllers started by this process, by job id: polled (so reaped) here.
_LOCAL_PROCESSES: dict[str, subprocess.Popen[bytes]] = {}
_KILLED_BY_SCHEDULER_WAIT_S = 600  # Slurm sends SIGKILL KillWait seconds after SIGTERM


@dataclass(frozen=True)
class SeedTask:
    """One seed as a submitit job (pickled into the job folder, run on the node)."""

    spec: SeedSpec
    script_sha256: str
    workdir: str

    def __call__(self) -> dict[str, Any]:
        script = Path(self.spec.script)
        if sha256_bytes(script.read_bytes()) != self.script_sha256:
            # The job started after the script was edited: it would not compute what was planned.
            return SeedResult(
                seed=self.spec.seed,
                key=self.spec.key,
                outcome=Outcome.failed,
                reason="the script changed between submission and start; run it again",
            ).model_dump(mode="json")
        workdir = Path(self.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        result, code = run_seed(self.spec, workdir)
        if code == -signal.SIGTERM and "SLURM_JOB_ID" in os.environ:
            # Slurm is cancelling, preempting or requeueing this job. Returning now would
            # publish a failure as the seed's result; the SIGKILL that follows ends us instead.
            time.sleep(_KILLED_BY_SCHEDULER_WAIT_S)
        assert result is not None  # only a Ctrl-C of the local pool yields None
        return result.model_dump(mode="json")

    def checkpoint(self) -> Any:
        """Requeue this same task: the experiment's own checkpoint lives on disk."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self)


def make_executor(name: str, folder: Path, settings: SlurmSettings) -> Any:
    """A submitit executor for `name`, its jobs' files under `folder/<job id>/`."""
    import submitit

    pattern = folder / "%j"
    if name == "submitit-local":
        executor: Any = submitit.LocalExecutor(pattern, max_num_timeout=settings.max_requeues)
        executor.update_parameters(
            timeout_min=settings.time,
            signal_delay_s=settings.signal_delay_s,
            setup=list(settings.setup),
        )
        return executor
    if name == "slurm":
        executor = submitit.SlurmExecutor(pattern, max_num_timeout=settings.max_requeues)
        parameters: dict[str, Any] = {
            "job_name": "kb",
            "time": max(1, math.ceil(settings.time)),  # sbatch takes whole minutes
            "signal_delay_s": settings.signal_delay_s,
            "array_parallelism": settings.array_parallelism,
            "setup": list(settings.setup),
            "partition": settings.partition,
            "account": settings.account,
            "gpus_per_task": settings.gpus_per_task,
            "cpus_per_task": settings.cpus_per_task,
            "mem": settings.slurm_mem,
        }
        executor.update_parameters(**{k: v for k, v in parameters.items() if v is not None})
        return executor
    raise KbError(f"unknown executor '{name}' (one of {', '.join(EXECUTORS)})")


@contextlib.contextmanager
def _detached_stdio(local: bool) -> Iterator[None]:
    """submitit-local controllers inherit our stdio; give them /dev/null instead, or a
    `kb run --no-wait | cat` (or a test capturing output) would wait for the jobs to end."""
    if not local:
        yield
        return
    saved = [os.dup(fd) for fd in (0, 1, 2)]
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        yield
    finally:
        for fd, copy in zip((0, 1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)


def submit(executor: Any, tasks: list[SeedTask]) -> list[str]:
    """Submit the tasks as one array job (one element per seed); their job ids, in order."""
    from submitit.core.utils import FailedJobError, FailedSubmissionError

    try:
        with _detached_stdio(local=executor.__class__.__name__ == "LocalExecutor"):
            with executor.batch():
                jobs = [executor.submit(task) for task in tasks]
    except (FailedSubmissionError, FailedJobError, OSError) as exc:
        raise KbError(f"could not submit the seeds: {str(exc).strip()[:500]}") from None
    for job in jobs:
        process = getattr(job, "_process", None)
        if process is not None:
            _LOCAL_PROCESSES[str(job.job_id)] = process
    return [str(job.job_id) for job in jobs]


# --- state of submitted seeds --------------------------------------------------------------


def _paths(folder: Path, job_id: str) -> Any:
    from submitit.core.utils import JobPaths

    return JobPaths(folder / "%j", job_id=job_id, task_id=0)


def _reap(job_id: str) -> None:
    """Wait for a submitit-local controller whose result exists (it exits right after writing
    it), so no zombie and no never-waited Popen is left to the end of the process."""
    process = _LOCAL_PROCESSES.pop(job_id, None)
    if process is None:
        return
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        _LOCAL_PROCESSES[job_id] = process


def _local_alive(job_id: str) -> bool:
    """submitit-local job ids are the controller's pid; a zombie counts as finished."""
    if job_id in _LOCAL_PROCESSES:
        return _LOCAL_PROCESSES[job_id].poll() is None
    try:
        stat = Path(f"/proc/{int(job_id)}/stat").read_text()
    except (OSError, ValueError):
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _array_jobs(job_ids: list[str]) -> list[str]:
    """The Slurm array jobs (`123`) of array elements (`123_4`)."""
    return sorted({j.split("_")[0] for j in job_ids})


def _slurm_queue(job_ids: list[str]) -> dict[str, str]:
    """State of each job id still known to squeue (array elements one per line)."""
    bases = _array_jobs(job_ids)
    if not bases:
        return {}
    try:
        out = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i|%T", "-j", ",".join(bases)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KbError(f"cannot ask Slurm for job states (squeue): {exc}") from None
    states = {}
    for line in out.stdout.splitlines():
        job_id, _, state = line.partition("|")
        states[job_id.strip()] = state.strip()
    return states


def _slurm_final_state(job_id: str) -> str:
    """JobState of a job that left the queue, while slurmctld remembers it (MinJobAge)."""
    try:
        out = subprocess.run(
            ["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "UNKNOWN"
    match = re.search(r"JobState=(\S+)", out)
    return match.group(1) if match else "UNKNOWN"


def states(executor: str, folder: Path, job_ids: list[str]) -> dict[str, str]:
    """PENDING, RUNNING (and Slurm's other live states), or DONE once a result exists,
    or the scheduler's final state (CANCELLED, FAILED, ...) when the job ended without one."""
    queue = _slurm_queue(job_ids) if executor == "slurm" else {}
    out = {}
    for job_id in job_ids:
        if _paths(folder, job_id).result_pickle.exists():
            out[job_id] = "DONE"
            _reap(job_id)
        elif executor == "slurm":
            live = queue.get(job_id)
            out[job_id] = live if live else _slurm_final_state(job_id)
        else:
            out[job_id] = "RUNNING" if _local_alive(job_id) else "ENDED"
    return out


def is_live(state: str) -> bool:
    return state in {
        "PENDING",
        "RUNNING",
        "CONFIGURING",
        "COMPLETING",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESIZING",
        "SUSPENDED",
        "STAGE_OUT",
        "SIGNALING",
        "PREEMPTED",
    }


def outcome(
    folder: Path, job_id: str, seed: int, key: str, state: str, root: Path, cancelled: bool
) -> SeedResult:
    """A finished (or dead) array element as a seed result, like a local seed's."""
    from submitit.core.utils import pickle_load

    paths = _paths(folder, job_id)
    if paths.result_pickle.exists():
        status, value = pickle_load(paths.result_pickle)
        if status == "success":
            return SeedResult.model_validate(value)
        last = [line for line in str(value).strip().splitlines() if line.strip()]
        reason = last[-1] if last else "the job failed"
    elif cancelled or state.startswith("CANCELLED"):
        reason = "cancelled"
    else:
        reason = f"the job ended without a result (state {state})"
    stderr = ""  # read only for a failed seed: most seeds succeed, and polling reads them
    for log in (paths.stderr, paths.stdout):
        try:
            stderr = log.read_text(errors="replace") + stderr
        except OSError:
            pass
    return SeedResult(
        seed=seed,
        key=key,
        outcome=Outcome.failed,
        reason=f"{reason} [job {job_id}]",
        log_tail=tail(stderr, root),
    )


def cancel(executor: str, job_ids: list[str]) -> None:
    if executor == "slurm":
        result = subprocess.run(
            ["scancel", *_array_jobs(job_ids)], capture_output=True, text=True, timeout=60
        )
        if result.returncode != 0:
            raise KbError(f"scancel failed: {result.stderr.strip()}")
        return
    for job_id in job_ids:
        try:
            # The local controller stops its task on SIGINT (it only forwards SIGTERM, which
            # the task ignores); the task's worker dies with it.
            os.kill(int(job_id), signal.SIGINT)
        except (ProcessLookupError, ValueError):
            pass
