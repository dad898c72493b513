"""The local executor: every seed in its own process, `--jobs` at a time.

Each seed runs in a child process (`kb.running.worker`) with a timeout and a memory cap, so
a crash, a hang, a runaway allocation, a NaN or a malformed result becomes a failed seed
with its reason and the tail of its log, and the other seeds go on. Ctrl-C stops the
children and still reports the seeds that finished.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from kb.formats.records import Outcome, SeedResult
from kb.running.batch import seed_spec
from kb.running.forkserver import ForkServers
from kb.running.plan import RunEvents, RunOptions, RunPlan
from kb.running.seedproc import PER_SEED_ENV, Children, Launcher, SeedSpec, run_seed

# Fork seeds from a server that imported torch once (Linux); elsewhere, a new Python each.
FORK_SEEDS = sys.platform == "linux" and os.environ.get("KB_FORK_SEEDS", "1") != "0"


def _run_one(
    spec: SeedSpec, workdir: Path, children: Children, launcher: Launcher | None
) -> SeedResult | None:
    return run_seed(spec, workdir, children, launcher)[0]


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
        ForkServers(PER_SEED_ENV) if FORK_SEEDS else contextlib.nullcontext() as servers,
        tempfile.TemporaryDirectory(prefix="kb-run-") as tmp,
        ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool,
    ):
        workdir = Path(tmp)
        launcher = servers.spawn if servers is not None else None
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
                    future = pool.submit(_run_one, spec, workdir, children, launcher)
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


