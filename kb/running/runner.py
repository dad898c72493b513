"""`kb run`: plan, then compute the new seeds locally or submit them, then record.

Seeds run in local processes by default (`kb.running.pool`), or are submitted through
submitit (to its local executor or a Slurm cluster; `kb.running.executors`,
`kb.running.jobs`), where each job runs the same `kb.running.seedproc.run_seed` and its
results become the same records (`kb.running.batch`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kb.formats.records import Outcome, RunRecord, SeedResult
from kb.running import jobs
from kb.running.batch import prepare, write_records
from kb.running.plan import RunEvents, RunOptions, RunPlan, Silent
from kb.running.pool import compute


@dataclass
class RunReport:
    records: list[RunRecord] = field(default_factory=list)
    reused_only: list[RunPlan] = field(default_factory=list)  # nothing new to record
    interrupted: bool = False
    submission: str | None = None  # submitted seeds not yet recorded: `kb jobs --follow ID`

    @property
    def failed_seeds(self) -> int:
        """Seeds this run computed that failed (reused seeds are finished ones): what makes
        `kb run` exit non-zero, so CI sees a broken experiment."""
        return sum(
            r.outcome is Outcome.failed and not r.reused
            for record in self.records
            for r in record.results
        )


def execute(
    plans: list[RunPlan], root: Path, options: RunOptions, events: RunEvents | None = None
) -> RunReport:
    """Run every plan's seeds (reusing finished ones) and write one record per run.

    With a submitit executor the seeds to compute are submitted as one array job; the
    report then names the submission, and holds its records once they were collected.
    """
    events = events or Silent()
    batch = prepare(plans, root, events)
    report = RunReport()

    def finished(i: int, seed: int, seed_result: SeedResult) -> None:
        batch.add(root, i, seed_result)
        events.seed_finished(plans[i], seed_result)

    if options.executor != "local" and batch.todo:
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
        threads=options.threads,
    )
    return report


