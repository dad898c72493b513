"""`kb verify RUN_ID`: re-execute a recorded run's config and seeds, compare metric by metric.

Experiments seed every generator from the seed, so on the same device and software the
metrics should come back equal; `rtol`/`atol` state the tolerance that counts as a match
(default: agreement to 1e-6 relative, which absorbs float summation order and nothing
more). A different device, a changed script or different package versions are reported
next to the comparison, since each is a legitimate reason for a mismatch.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace

from kb.checking.knowledge import KnowledgeBase
from kb.formats.diagnose import suggest
from kb.formats.errors import KbError
from kb.formats.records import Outcome, RunRecord, SeedResult, read_records, sha256_bytes
from kb.running.plan import RunEvents, RunOptions, RunPlan
from kb.running.pool import compute


@dataclass(frozen=True)
class MetricCheck:
    seed: int
    metric: str
    recorded: float
    reproduced: float | None  # None when the seed failed on re-execution

    def matches(self, rtol: float, atol: float) -> bool:
        return self.reproduced is not None and math.isclose(
            self.recorded, self.reproduced, rel_tol=rtol, abs_tol=atol
        )


@dataclass
class VerifyReport:
    record: RunRecord
    rtol: float
    atol: float
    checks: list[MetricCheck] = field(default_factory=list)
    failures: dict[int, str] = field(default_factory=dict)  # seed -> reason it failed now
    notes: list[str] = field(default_factory=list)  # reasons a mismatch may be legitimate

    @property
    def ok(self) -> bool:
        return not self.failures and all(c.matches(self.rtol, self.atol) for c in self.checks)


def find_record(kb: KnowledgeBase, run_id: str) -> RunRecord:
    """The run with this id; an experiment name means that experiment's latest run."""
    records, _ = read_records(kb.root)
    by_id = {r.id: r for r in records}
    latest = {r.experiment: r for r in records if r.ok_results()}  # records come oldest first
    if run_id in latest and run_id not in by_id:
        return latest[run_id]
    if run_id not in by_id:
        raise KbError(f"no run record with id '{run_id}'{suggest(run_id, by_id)}")
    return by_id[run_id]


def verify(
    kb: KnowledgeBase,
    run_id: str,
    options: RunOptions,
    events: RunEvents,
    rtol: float = 1e-6,
    atol: float = 1e-9,
) -> VerifyReport:
    record = find_record(kb, run_id)
    info = kb.experiment_info.get(record.experiment)
    if info is None:
        raise KbError(f"run {run_id} used repro/{record.experiment}.py, which no longer exists")
    report = VerifyReport(record, rtol, atol)
    current_sha = sha256_bytes(info.path.read_bytes())
    if current_sha != record.script_sha256:
        report.notes.append("the script changed since this run (its sha256 differs)")
    ok_seeds = {r.seed: r for r in record.ok_results()}
    plan = RunPlan(info, record.scale, record.config, sorted(ok_seeds), [], current_sha)
    reproduced: dict[int, SeedResult] = {}

    def finished(_: int, seed: int, result: SeedResult) -> None:
        reproduced[seed] = result
        events.seed_finished(plan, result)

    # Metrics can depend on the intra-op thread count: re-execute with the recorded one
    # (records made before it was kept ran with cores // jobs threads).
    threads = record.threads or max(1, (os.cpu_count() or 1) // max(1, options.jobs))
    options = replace(options, threads=threads)
    events.planned(plan, len(ok_seeds), 0)
    if compute([plan], [(0, s) for s in sorted(ok_seeds)], kb.root, options, events, finished):
        raise KbError("interrupted: nothing was verified")
    devices = {r.device for r in reproduced.values() if r.device}
    if devices and devices != {r.device for r in ok_seeds.values()}:
        report.notes.append(
            f"ran on {', '.join(sorted(devices))}, recorded on {record.hardware.device}"
        )
    for seed, original in sorted(ok_seeds.items()):
        again = reproduced.get(seed)
        if again is None or again.outcome is not Outcome.ok:
            report.failures[seed] = (again.reason or "failed") if again else "not run"
        for metric, value in sorted(original.metrics.items()):
            new = again.metrics.get(metric) if again and again.outcome is Outcome.ok else None
            report.checks.append(MetricCheck(seed, metric, value, new))
    return report
