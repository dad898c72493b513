"""Jobs: the submissions table and follow lines of `kb jobs`, cancellation and collection."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table

from kb.render.base import safe, stderr, stdout
from kb.render.runs import run_report

if TYPE_CHECKING:
    from kb.running.jobs import JobView, Submission


def job_table(views: Sequence[JobView]) -> None:
    if not views:
        stdout.print(safe("no submissions under .kb/jobs", "dim"))
        return
    table = Table(header_style="bold", box=None, pad_edge=False)
    for column in ("submission", "executor", "state", "experiments", "seeds", "job ids", "records"):
        table.add_column(column)
    for v in views:
        s = v.submission
        done = sum(1 for state in v.states.values() if state == "DONE")
        table.add_row(
            safe(s.id),
            safe(s.executor),
            safe(v.state, "green" if v.state == "recorded" else ""),
            safe(", ".join(f"{p.experiment} [{p.scale}]" for p in s.plans)),
            safe(f"{done}/{len(v.states)} done"),
            safe(" ".join(s.job_ids)),
            safe(", ".join(s.records)),
        )
    stdout.print(table)


class JobFollower:
    """One status line per change while `kb jobs --follow` waits."""

    def __init__(self) -> None:
        self._last = ""

    def __enter__(self) -> JobFollower:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, view: JobView) -> None:
        counts = Counter(view.states.values())
        line = f"{view.submission.id}: " + ", ".join(
            f"{n} {state.lower()}" for state, n in sorted(counts.items())
        )
        if line != self._last:
            stderr.print(safe(line))
            self._last = line


def job_cancelled(submission: Submission) -> None:
    stdout.print(
        safe(
            f"cancelled submission {submission.id} (jobs {' '.join(submission.job_ids)}); "
            "`kb jobs --collect` records the seeds that finished",
            "yellow",
        )
    )


def collected(records: Sequence[Any]) -> None:
    from kb.running.runner import RunReport

    if not records:
        stdout.print(safe("nothing to record", "dim"))
        return
    run_report(RunReport(records=list(records)))
