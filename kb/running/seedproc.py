"""One seed in its own `kb.running.worker` process: the parent side, shared by every executor.

The local runner calls `run_seed` in a thread per job slot; a Slurm or submitit-local job
calls the same function inside the allocated job (`kb.running.executors.SeedTask`). So a seed
computes the same thing, with the same environment (thread count, PYTHONHASHSEED, memory
cap, timeout), whichever executor ran it, and a fault becomes the same failed seed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

import kb
from kb.formats.experiment import CHECKPOINT_ENV
from kb.formats.records import Outcome, SeedResult
from kb.running import provenance, sandbox
from kb.running.worker import OOM_MARKERS, out_of_memory

LOG_LINES = 40  # lines of a failed seed's output kept in its record
# Environment variables that differ between seeds of one run, beyond PYTHONHASHSEED (which a
# fork server must already have at start-up: see kb.running.forkserver).
PER_SEED_ENV = frozenset({"KB_JOB_SLOT", CHECKPOINT_ENV, sandbox.TOKEN_ENV})
_KB_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(kb.__file__)))


@dataclass(frozen=True)
class SeedSpec:
    """Everything one seed's process needs; plain data, so it pickles into a Slurm job."""

    script: str  # absolute path of the experiment script
    config: dict[str, Any]
    seed: int
    key: str  # seed_key(script hash, config, seed)
    device: str
    timeout_s: float
    memory_mb: int
    threads: int
    root: str  # the knowledge base: the worker's cwd, and scrubbed from log tails
    checkpoint_dir: str  # private to this run plan and seed (see kb.formats.experiment.checkpoint_dir)
    slot: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)


class SeedProcess(Protocol):
    """What kb needs of a seed's process: a `subprocess.Popen`, or a forked `ForkedSeed`."""

    @property
    def pid(self) -> int: ...

    def wait(self, timeout: float | None = None) -> int: ...


# A way to start the worker other than a new Python: (argv, cwd, env, log path) -> process.
Launcher = Callable[[list[str], str, dict[str, str], str], SeedProcess]


class Children:
    """Live child processes, so Ctrl-C can stop them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[SeedProcess] = set()
        self.stopping = threading.Event()

    def add(self, proc: SeedProcess) -> None:
        with self._lock:
            self._procs.add(proc)

    def remove(self, proc: SeedProcess) -> None:
        with self._lock:
            self._procs.discard(proc)

    def kill_all(self) -> None:
        self.stopping.set()
        with self._lock:
            for proc in self._procs:
                kill_group(proc)


def kill_group(proc: SeedProcess) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def tail(text: str, root: Path) -> str:
    return provenance.scrub("\n".join(text.splitlines()[-LOG_LINES:]), root)


def _tail_file(path: Path, root: Path) -> str:
    try:
        return tail(path.read_text(errors="replace"), root)
    except OSError:
        return ""


def run_seed(
    spec: SeedSpec,
    workdir: Path,
    children: Children | None = None,
    launcher: Launcher | None = None,
) -> tuple[SeedResult | None, int]:
    """Run one seed in a `kb.running.worker` process; (result, exit code of the worker).

    The worker runs in a scratch folder of its own, in its own process group, fenced as
    `kb.running.sandbox` describes: a new Python by default, or a process `launcher` forks
    (`kb.running.forkserver`). The result is None when `children` was told to stop (Ctrl-C)
    before the seed finished.
    """
    children = children or Children()
    root = Path(os.path.abspath(spec.root))
    workdir = Path(os.path.abspath(workdir))
    result_path = workdir / f"seed-{spec.seed}-{spec.key[:12]}.json"
    log_path = result_path.with_suffix(".log")
    result_path.unlink(missing_ok=True)  # a requeued job must not read its last attempt's result
    token = sandbox.new_token()
    env = {
        **os.environ,
        **spec.extra_env,
        "KB_THREADS": str(spec.threads),
        "OMP_NUM_THREADS": str(spec.threads),
        "KB_JOB_SLOT": str(spec.slot),
        "PYTHONHASHSEED": str(spec.seed),
        CHECKPOINT_ENV: os.path.abspath(spec.checkpoint_dir),
        sandbox.TOKEN_ENV: token,
        # The worker imports the same kb as this process, whatever its working folder.
        "PYTHONPATH": os.pathsep.join(
            p for p in (_KB_PARENT, os.environ.get("PYTHONPATH", "")) if p
        ),
    }
    argv = [
        sys.executable,
        "-m",
        "kb.running.worker",
        os.path.abspath(spec.script),  # absolute: the worker runs in its scratch folder
        str(result_path),
        "--config",
        json.dumps(sandbox.absolute_paths(spec.config, root)),
        "--seed",
        str(spec.seed),
        "--device",
        spec.device,
        "--memory-mb",
        str(spec.memory_mb),
    ]
    before = sandbox.tracked_state(root)
    with log_path.open("wb") as log, sandbox.scratch_folder(spec.seed) as scratch:
        proc: SeedProcess
        if launcher is not None:
            proc = launcher(argv, str(scratch), env, str(log_path))
        else:
            proc = subprocess.Popen(
                argv,
                cwd=scratch,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        # The seed's wall time starts with its process, not with a fork server's own start.
        started = time.perf_counter()
        children.add(proc)
        try:
            code = proc.wait(timeout=spec.timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            kill_group(proc)
            code = proc.wait()
            timed_out = True
        finally:
            # Also on SystemExit from submitit's preemption handler: never leave the seed
            # running, nor anything it started, in its group or detached from it.
            kill_group(proc)
            sandbox.kill_tagged(token)
            children.remove(proc)
    wall = round(time.perf_counter() - started, 3)
    if children.stopping.is_set() and not result_path.exists():
        return None, code

    def failed(reason: str) -> SeedResult:
        return SeedResult(
            seed=spec.seed,
            key=spec.key,
            outcome=Outcome.failed,
            wall_s=wall,
            reason=reason,
            log_tail=_tail_file(log_path, root),
        )

    touched = sandbox.changed_files(before, root) if before is not None else []
    if touched:
        shown = ", ".join(touched[:10]) + (f" and {len(touched) - 10} more" if len(touched) > 10 else "")
        return failed(
            f"tracked files in the repository changed while the seed ran: {shown} "
            "(an experiment writes only to its scratch folder and checkpoint_dir; "
            "if you edited them yourself, run it again)"
        ), code
    if timed_out:
        return failed(f"timed out after {spec.timeout_s:g} s"), code
    if not result_path.exists():
        log_tail = _tail_file(log_path, root)
        if spec.memory_mb > 0 and any(m in log_tail for m in OOM_MARKERS):
            return failed(out_of_memory(spec.memory_mb)), code
        if code < 0:
            name = signal.Signals(-code).name
            hint = " (killed: out of memory?)" if name == "SIGKILL" else ""
            return failed(f"crashed with signal {name}{hint}"), code
        return failed(f"exited with code {code} without a result"), code
    try:
        outcome = json.loads(result_path.read_text())
    except (OSError, json.JSONDecodeError):
        return failed("result file is not valid JSON"), code
    if not outcome.get("ok"):
        return failed(str(outcome.get("reason", "failed"))), code
    try:
        return SeedResult(
            seed=spec.seed,
            key=spec.key,
            outcome=Outcome.ok,
            metrics=outcome["metrics"],
            curves=outcome.get("curves", {}),
            bounds=outcome.get("bounds", {}),
            wall_s=wall,
            device=outcome.get("device"),
            gpu=outcome.get("gpu"),
        ), code
    except (KeyError, ValidationError) as exc:  # the worker checks; this is the last fence
        return failed(f"malformed result: {str(exc).splitlines()[0]}"), code
