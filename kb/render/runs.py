"""Runs: the plan, progress and report of `kb run`, verdicts, status changes, `kb verify`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table

from kb.render.base import (
    _STATUS_STYLE,
    _interval,
    _label,
    _widths,
    fit_widths,
    safe,
    stderr,
    stdout,
)

if TYPE_CHECKING:
    from kb.checking.knowledge import KnowledgeBase
    from kb.evidence.statuses import Assessment, Change
    from kb.formats.records import SeedResult
    from kb.formats.schema import Status
    from kb.running.changes import TouchedExperiment
    from kb.running.plan import Preview
    from kb.running.runner import RunPlan, RunReport
    from kb.running.verify import VerifyReport


def plans(previews: Sequence[Preview], jobs: int) -> None:
    """`kb run --dry-run`: per experiment, the seeds to compute and reuse, and the time."""
    stdout.print(safe(f"Would run (--jobs {jobs}):", "bold"))
    for p in previews:
        line = f"{p.plan.name}: compute {_seeds(p.compute)}, reuse {_seeds(p.reuse)}"
        if p.compute:
            line += f"; {_expected(p)}"
        stdout.print(safe(line), soft_wrap=True)
        served = ", ".join(f"{r.claim}/{r.prediction}" for r in p.plan.predictions) or "(none yet)"
        stdout.print(safe(f"  serves {served}", "dim"), soft_wrap=True)
        stdout.print(safe(f"  config {json.dumps(p.plan.config)}", "dim"), soft_wrap=True)
    computed = sum(len(p.compute) for p in previews)
    if not computed:
        stdout.print(
            safe("nothing new to run: every seed is already recorded (--rerun computes them again)")
        )
        return
    known = [p.seed_s * len(p.compute) for p in previews if p.compute and p.seed_s is not None]
    total = f"; about {_duration(sum(known) / jobs)}" if known else ""
    unknown = sum(1 for p in previews if p.compute and p.seed_s is None)
    if known and unknown:
        total += f", plus {unknown} experiment(s) never run before"
    stdout.print(safe(f"would compute {computed} seed(s){total}", "bold"), soft_wrap=True)


def _seeds(seeds: Sequence[int]) -> str:
    if not seeds:
        return "0 seeds"
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{len(seeds)} seeds ({seeds[0]}-{seeds[-1]})"
    return f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} ({', '.join(map(str, seeds))})"


def _expected(p: Preview) -> str:
    if p.expected_s is None or p.seed_s is None:
        return "time unknown: no earlier record of it at this scale"
    return f"about {_duration(p.expected_s)} ({_duration(p.seed_s)} per seed, median of earlier records)"


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class RunProgress:
    """Progress of a run, fed by the runner's events, on stderr.

    At a terminal: progress bars with an ETA, one per run. When stdout or stderr is not a
    terminal (redirected to a file, a pipe, a CI log) a bar cannot be drawn, so each
    finished seed is one line instead: experiment, seed, outcome, seconds.
    """

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.lines = not (stdout.is_terminal and stderr.is_terminal)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=stderr,
            disable=self.lines,
        )
        self._tasks: dict[str, Any] = {}
        self._done: dict[str, list[int]] = {}  # per run: [seeds finished, seeds to compute]

    def __enter__(self) -> RunProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)  # type: ignore[arg-type]

    def planned(self, plan: RunPlan, to_compute: int, reused: int) -> None:
        description = f"{plan.name}" + (f" ({reused} reused)" if reused else "")
        self._tasks[plan.name] = self._progress.add_task(description, total=to_compute, failed="")
        self._done[plan.name] = [0, to_compute]
        if self.lines and to_compute:
            text = f"{plan.name}: computing {to_compute} seed(s)" + (
                f", reusing {reused}" if reused else ""
            )
            stderr.print(safe(text), soft_wrap=True)

    def seed_started(self, plan: RunPlan, seed: int) -> None:
        pass

    def seed_finished(self, plan: RunPlan, result: SeedResult) -> None:
        task = self._tasks[plan.name]
        ok = result.outcome.value == "ok"
        self._progress.update(task, advance=1, failed="" if ok else "[red]failed seed[/red]")
        done = self._done[plan.name]
        done[0] += 1
        if self.lines:
            outcome = "ok" if ok else f"failed ({result.reason})"
            text = f"{plan.name} seed {result.seed}: {outcome}, {result.wall_s:.1f} s [{done[0]}/{done[1]}]"
            stderr.print(safe(text, "" if ok else "red"), soft_wrap=True)


def run_report(report: RunReport) -> None:
    for record in report.records:
        ok = len(record.ok_results())
        stdout.print(
            safe(
                f"{record.experiment} [{record.scale}] run {record.id}: {record.outcome.value}, {ok}/{len(record.results)} seeds ok, {record.wall_s:.1f} s",
                "bold",
            )
        )
        table = Table(header_style="bold", box=None, pad_edge=False)
        table.add_column("metric")
        for name in ("mean", "min", "max"):
            table.add_column(name, justify="right")
        names = sorted({m for r in record.ok_results() for m in r.metrics})
        for name in names:
            values = [r.metrics[name] for r in record.ok_results() if name in r.metrics]
            table.add_row(
                safe(name),
                f"{sum(values) / len(values):.4g}",
                f"{min(values):.4g}",
                f"{max(values):.4g}",
            )
        if names:
            stdout.print(table)
        for r in record.results:
            if r.outcome.value != "ok":
                stdout.print(safe(f"  seed {r.seed} failed: {r.reason}", "red"))
    for plan in report.reused_only:
        stdout.print(safe(f"{plan.name}: every seed already recorded; nothing new to run", "dim"))
    if report.submission is not None:
        verb = "still running" if report.interrupted else "submitted"
        stdout.print(
            safe(
                f"{verb}: submission {report.submission}; follow it with "
                f"`kb jobs --follow {report.submission}` (records it when done)",
                "bold",
            )
        )
    elif report.interrupted:
        stderr.print(safe("interrupted: finished seeds were kept and recorded", "yellow"))


def run_summary(
    report: RunReport,
    assessment: Assessment | None = None,
    served: set[tuple[str, str]] | None = None,
    changes: Sequence[Change] = (),
) -> dict[str, Any]:
    """`kb run --format json`: each new record in brief, the verdicts served, status changes."""
    runs = []
    for record in report.records:
        ok = record.ok_results()
        names = sorted({m for r in ok for m in r.metrics})
        values = {n: [r.metrics[n] for r in ok if n in r.metrics] for n in names}
        runs.append(
            {
                "id": record.id,
                "experiment": record.experiment,
                "scale": record.scale,
                "outcome": record.outcome.value,
                "seeds": record.seeds,
                "seeds_ok": len(ok),
                "computed": [r.seed for r in record.results if not r.reused],
                "wall_s": record.wall_s,
                "metrics": {
                    n: {"mean": sum(v) / len(v), "min": min(v), "max": max(v)}
                    for n, v in values.items()
                },
                "failed": {str(r.seed): r.reason for r in record.results if r.outcome.value != "ok"},
            }
        )
    verdicts = []
    if assessment is not None:
        verdicts = [
            {"claim": cid, **v.model_dump(mode="json")}
            for (cid, pid), v in sorted(assessment.derivation.verdicts.items())
            if (cid, pid) in (served or set())
        ]
    return {
        "runs": runs,
        "nothing_new": [p.name for p in report.reused_only],
        "submission": report.submission,
        "interrupted": report.interrupted,
        "verdicts": verdicts,
        "status_changes": [
            {
                "claim": c.claim,
                "before": _label(c.before) if c.before else None,
                "after": _label(c.after),
            }
            for c in changes
        ],
    }


def verify_summary(report: VerifyReport) -> dict[str, Any]:
    """`kb verify --format json`: every metric of every seed, recorded and reproduced."""
    record = report.record
    return {
        "run": record.id,
        "experiment": record.experiment,
        "scale": record.scale,
        "rtol": report.rtol,
        "atol": report.atol,
        "ok": report.ok,
        "checks": [
            {
                "seed": c.seed,
                "metric": c.metric,
                "recorded": c.recorded,
                "reproduced": c.reproduced,
                "match": c.matches(report.rtol, report.atol),
            }
            for c in report.checks
        ],
        "failures": {str(seed): reason for seed, reason in sorted(report.failures.items())},
        "notes": report.notes,
    }


def verdicts(assessment: Assessment, served: set[tuple[str, str]]) -> None:
    """Estimate, interval and verdict of each prediction the run served."""
    kinds = {True: "confirmatory", False: "exploratory", None: ""}
    rows = [
        (
            cid,
            pid,
            v.scale or "",
            str(v.n),
            _interval(v),
            f"{v.level:.4g}" if v.level else "",
            v.verdict.value,
            kinds[v.confirmatory],
        )
        for (cid, pid), v in sorted(assessment.derivation.verdicts.items())
        if (cid, pid) in served
    ]
    table = Table(
        header_style="bold", box=None, pad_edge=False, title="Verdicts", title_justify="left"
    )
    names = ("claim", "prediction", "scale", "n", "estimate [interval]", "level", "verdict", "kind")
    for k, name in enumerate(names):
        table.add_column(name, no_wrap=True, min_width=max([len(name), *(len(r[k]) for r in rows)]))
    for r in rows:
        table.add_row(*(safe(cell, _STATUS_STYLE.get(cell, "")) for cell in r))
    stdout.print(table)


def status_changes(changes: Sequence[Change]) -> None:
    for change in changes:
        before, after = _label(change.before), _label(change.after)
        if before != after:
            text = f"status of {change.claim}: {before} → {after}"
            if change.run is None and change.cause:
                text += f" ({change.cause})"
        else:
            text = f"verdicts of {change.claim} updated ({after})"
        stdout.print(safe(text, "bold"), soft_wrap=True)


def status_table(
    kb: KnowledgeBase, assessment: Assessment, committed: dict[str, Status | None]
) -> None:
    rows = []
    for cid, st in sorted(assessment.derivation.statuses.items()):
        before = committed.get(cid)
        same = before is not None and (before.value, before.certainty) == (st.value, st.certainty)
        moved = "new" if before is None else ("" if same else f"was {_label(before)}")
        rows.append((cid, st, moved))
    widths = _widths(
        rows,
        claim=lambda r: r[0],
        status=lambda r: r[1].value.value,
        certainty=lambda r: r[1].certainty.value,
        basis=lambda r: r[1].basis,
        since_commit=lambda r: r[2],
    )
    reason = max([len("reason"), *(len(r[1].reason) for r in rows)])
    # The status is always shown; the reason takes the room left (`kb show` prints it whole).
    fixed, reason_width = fit_widths(
        widths, reason, stdout.width, prose_min=20, drop=("basis", "since_commit"), fold="claim"
    )
    table = Table(header_style="bold", box=None, pad_edge=False)
    for column, width in fixed.items():
        table.add_column(
            column.replace("_", " "), overflow="fold", width=width, no_wrap=column != "claim"
        )
    if reason_width:
        table.add_column("reason", overflow="ellipsis", no_wrap=True, width=reason_width)
    for cid, st, moved in rows:
        cells = [
            safe(cid),
            safe(st.value.value, _STATUS_STYLE.get(st.value.value, "")),
            safe(st.certainty.value),
            safe(st.basis),
            safe(moved, "yellow"),
            safe(st.reason),
        ]
        shown = dict(zip([*widths, "reason"], cells, strict=True))
        table.add_row(*(shown[c] for c in fixed), *([shown["reason"]] if reason_width else []))
    stdout.print(table)


def verify_report(report: VerifyReport) -> None:
    record = report.record
    stdout.print(
        safe(
            f"verify {record.experiment} [{record.scale}] run {record.id} (rtol {report.rtol:g}, atol {report.atol:g})",
            "bold",
        )
    )
    table = Table(header_style="bold", box=None, pad_edge=False)
    for column in ("seed", "metric", "recorded", "reproduced", "match"):
        table.add_column(column, no_wrap=True)
    for c in report.checks:
        match = c.matches(report.rtol, report.atol)
        table.add_row(
            safe(c.seed),
            safe(c.metric),
            f"{c.recorded:.10g}",
            "failed" if c.reproduced is None else f"{c.reproduced:.10g}",
            safe("yes" if match else "NO", "green" if match else "red"),
        )
    stdout.print(table)
    for seed, reason in sorted(report.failures.items()):
        stdout.print(safe(f"seed {seed} failed on re-execution: {reason}", "red"))
    for note in report.notes:
        stdout.print(safe(f"note: {note}", "yellow"))
    stdout.print(
        safe(
            "verified: every metric matches" if report.ok else "NOT verified",
            "bold green" if report.ok else "bold red",
        )
    )


def touched_experiments(touched: Sequence[TouchedExperiment], rev: str) -> None:
    if not touched:
        stdout.print(safe(f"no experiment touched since {rev}", "dim"))
    for t in touched:
        stdout.print(safe(f"{t.name}: {'; '.join(t.reasons)}"), soft_wrap=True)
