"""Terminal rendering with rich: the only module that imports it.

Claim text comes from pull requests, so it is untrusted here too: it is never parsed as
rich markup (a title holding "[link=...]" stays literal) and control characters are
dropped (an escape sequence in a YAML string cannot repaint the terminal).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from kb.errors import KbError, Problem, Severity
from kb.query import ClaimRow, ClaimView, OpenPrediction

if TYPE_CHECKING:
    from kb.changes import StatusSummary, TouchedExperiment
    from kb.export import ExportReport
    from kb.index import IndexReport
    from kb.jobs import JobView, Submission
    from kb.load import KnowledgeBase
    from kb.records import SeedResult
    from kb.rocrate_export import CrateReport
    from kb.runner import RunPlan, RunReport
    from kb.scaffold import NewClaim, NewExperiment
    from kb.schema import Status
    from kb.statuses import Assessment, Change
    from kb.verify import VerifyReport

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_STATUS_STYLE = {
    "supported": "green",
    "refuted": "red",
    "contested": "yellow",
    "untested": "dim",
    "holds": "green",
    "fails": "red",
    "inconclusive": "yellow",
}

stdout = Console(highlight=False, soft_wrap=False)
stderr = Console(stderr=True, highlight=False)


def safe(text: object, style: str = "") -> Text:
    """Untrusted text as a rich Text: literal, without control characters."""
    return Text(_CONTROL.sub("", str(text)), style=style)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def problems(found: Sequence[Problem], files: int) -> None:
    for p in found:
        style = "yellow" if p.severity is Severity.warning else "red"
        stdout.print(safe(str(p), style), soft_wrap=True)  # one problem, one line: greppable
    errors = sum(p.severity is Severity.error for p in found)
    warnings = len(found) - errors
    summary = f"checked {files} claim file(s): {errors} error(s), {warnings} warning(s)"
    stdout.print(safe(summary, "bold red" if errors else "bold green"))


def error(exc: KbError) -> None:
    for p in exc.problems[:20]:
        stderr.print(safe(str(p), "red"), soft_wrap=True)
    if len(exc.problems) > 20:
        stderr.print(safe(f"... and {len(exc.problems) - 20} more"))
    stderr.print(safe(f"error: {exc.message}", "bold red"))


def _widths(rows: Sequence[Any], **columns: Any) -> dict[str, int]:
    """Column widths that fit every value, so ids are never cut; prose columns take the rest."""
    return {name: max([len(name), *(len(get(r)) for r in rows)]) for name, get in columns.items()}


def claim_table(rows: Sequence[ClaimRow]) -> None:
    table = Table(header_style="bold", box=None, pad_edge=False)
    widths = _widths(
        rows,
        topic=lambda r: r.topic,
        claim=lambda r: r.id + "  ↳ ",
        status=lambda r: r.status,
        certainty=lambda r: r.certainty,
    )
    for column, width in widths.items():
        table.add_column(
            column, no_wrap=True, min_width=width, style="dim" if column == "topic" else ""
        )
    table.add_column("title", overflow="ellipsis", no_wrap=True, min_width=20)
    for r in rows:
        # Explanations sit under the phenomenon they explain (list_claims orders them so).
        shown_id = safe(r.id, "bold") if r.kind == "phenomenon" else safe(f"  ↳ {r.id}")
        table.add_row(
            safe(r.topic),
            shown_id,
            safe(r.status, _STATUS_STYLE.get(r.status, "")),
            safe(r.certainty),
            safe(r.title),
        )
    stdout.print(table)
    stdout.print(safe(f"{len(rows)} claim(s)", "dim"))


def open_table(rows: Sequence[OpenPrediction]) -> None:
    table = Table(
        header_style="bold",
        box=None,
        pad_edge=False,
        title="Open predictions: they need an experiment",
        title_justify="left",
    )
    widths = _widths(
        rows,
        claim=lambda r: r.claim,
        prediction=lambda r: r.prediction,
        metric=lambda r: r.metric or "",
        expect=lambda r: r.expect or "",
    )
    for column, width in widths.items():
        table.add_column(column, no_wrap=True, min_width=width)
    table.add_column("statement", overflow="ellipsis", no_wrap=True, min_width=20)
    for r in rows:
        table.add_row(
            safe(r.claim),
            safe(r.prediction),
            safe(r.metric or ""),
            safe(r.expect or ""),
            safe(r.statement),
        )
    stdout.print(table)


def claim_view(view: ClaimView) -> None:
    c = view.claim
    status = c.status
    head = Text()
    head.append_text(safe(c.title, "bold"))
    head.append_text(safe(f"  [{c.kind.value} · {c.topic}]", "dim"))
    stdout.print(head)
    stdout.print(safe(f"{c.id} · {view.file}", "dim"))
    if status:
        line = Text("status: ")
        line.append_text(safe(status.value.value, _STATUS_STYLE.get(status.value.value, "")))
        line.append_text(safe(f" · certainty {status.certainty.value} · {status.reason}"))
        stdout.print(line)
    else:
        stdout.print(safe("status: not derived yet (run `kb run` on its predictions)", "dim"))
    stdout.print()
    stdout.print(safe(c.statement))
    stdout.print()
    stdout.print(safe(c.summary, "italic"))
    if c.would_change_our_mind:
        stdout.print()
        stdout.print(safe("What would change our mind: ", "bold") + safe(c.would_change_our_mind))
    if c.explains:
        stdout.print(safe(f"\nExplains: {c.explains}", "bold"))
    sources = Table(title="Sources", header_style="bold", title_justify="left")
    for column in ("stance", "work", "locator", "note"):
        sources.add_column(column, overflow="fold")
    for s in view.sources:
        work = safe(f"{s.authors} {s.year}. {s.title}".strip())
        note = s.note or ""
        if s.quote:
            note = f'{note} "{s.quote}"'.strip()
        sources.add_row(
            safe(s.stance, _STANCE_STYLE.get(s.stance, "")), work, safe(s.locator), safe(note)
        )
    stdout.print(sources)
    if c.predictions:
        preds = Table(title="Predictions", header_style="bold", title_justify="left")
        for column in ("id", "test", "expect", "verdict", "estimate [interval]", "statement"):
            preds.add_column(column, overflow="fold")
        verdicts = {v.prediction: v for v in (status.verdicts if status else [])}
        for p in c.predictions:
            test = "open: needs an experiment" if p.open else f"{p.experiment} · {p.metric}"
            v = verdicts.get(p.id)
            shown = v.verdict.value if v else "untested"
            estimate = _interval(v) if v else ""
            preds.add_row(
                safe(p.id),
                safe(test),
                safe(p.expect or ""),
                safe(shown, _STATUS_STYLE.get(shown, "")),
                safe(estimate),
                safe(p.statement),
            )
        stdout.print(preds)
    for title, rows in (
        ("Competing explanations", view.competitors),
        ("Explanations", view.explanations),
    ):
        if rows:
            stdout.print(safe(title, "bold"))
            for r in rows:
                stdout.print(safe(f"  {r.id} ({r.status}): {r.title}"))


_STANCE_STYLE = {
    "proposes": "cyan",
    "supports": "green",
    "refutes": "red",
    "qualifies": "yellow",
    "discusses": "dim",
}


def plans(planned: Sequence[RunPlan]) -> None:
    table = Table(
        header_style="bold", box=None, pad_edge=False, title="Would run", title_justify="left"
    )
    for column in ("experiment", "scale", "seeds", "serves predictions", "config"):
        table.add_column(column)
    for p in planned:
        served = ", ".join(f"{r.claim}/{r.prediction}" for r in p.predictions) or "(none yet)"
        table.add_row(
            safe(p.experiment.name),
            safe(p.scale),
            safe(len(p.seeds)),
            safe(served),
            safe(json.dumps(p.config)),
        )
    stdout.print(table)


class RunProgress:
    """Progress bars with ETA, one per run, fed by the runner's events."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=stderr,
        )
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> RunProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)  # type: ignore[arg-type]

    def planned(self, plan: RunPlan, to_compute: int, reused: int) -> None:
        description = f"{plan.name}" + (f" ({reused} reused)" if reused else "")
        self._tasks[plan.name] = self._progress.add_task(description, total=to_compute, failed="")
        self._failed = 0

    def seed_started(self, plan: RunPlan, seed: int) -> None:
        pass

    def seed_finished(self, plan: RunPlan, result: SeedResult) -> None:
        task = self._tasks[plan.name]
        failed = "" if result.outcome.value == "ok" else "[red]failed seed[/red]"
        self._progress.update(task, advance=1, failed=failed)


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


def _interval(v: Any) -> str:
    if v.estimate is None:
        return ""
    if v.interval is None:
        return f"{v.estimate:.4g}"
    return f"{v.estimate:.4g} [{v.interval[0]:.4g}, {v.interval[1]:.4g}]"


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


def _label(status: Status | None) -> str:
    return f"{status.value.value} · {status.certainty.value}" if status else "—"


def status_changes(changes: Sequence[Change]) -> None:
    for change in changes:
        before, after = _label(change.before), _label(change.after)
        if before != after:
            text = f"status of {change.claim}: {before} → {after}"
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
    table = Table(header_style="bold", box=None, pad_edge=False)
    widths = _widths(
        rows,
        claim=lambda r: r[0],
        status=lambda r: r[1].value.value,
        certainty=lambda r: r[1].certainty.value,
        basis=lambda r: r[1].basis,
        since_commit=lambda r: r[2],
    )
    for column, width in widths.items():
        table.add_column(column.replace("_", " "), no_wrap=True, min_width=width)
    wide = stdout.width >= 120  # the reason needs room; `kb show` prints it whole anyway
    if wide:
        table.add_column("reason", overflow="ellipsis", no_wrap=True, min_width=20)
    for cid, st, moved in rows:
        cells = [
            safe(cid),
            safe(st.value.value, _STATUS_STYLE.get(st.value.value, "")),
            safe(st.certainty.value),
            safe(st.basis),
            safe(moved, "yellow"),
            safe(st.reason),
        ]
        table.add_row(*(cells if wide else cells[:-1]))
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


def index_report(report: IndexReport) -> None:
    what = "updated" if report.rebuilt else "already up to date"
    stdout.print(safe(f"index {what}: {report.url}", "bold"))
    stdout.print(safe(", ".join(f"{n} {name}" for name, n in report.counts.items())))


def export_report(report: ExportReport) -> None:
    for path in report.files:
        stdout.print(safe(f"wrote {path}"))
    stdout.print(safe(", ".join(f"{n} {name}" for name, n in report.rows.items()), "dim"))


def crate_report(report: CrateReport) -> None:
    record = report.record
    stdout.print(
        safe(
            f"wrote the RO-Crate of {record.experiment} [{record.scale}] run {record.id} to {report.path}",
            "bold",
        ),
        soft_wrap=True,
    )
    for name in report.files:
        stdout.print(safe(f"  {name}"))
    stdout.print(safe(f"{len(report.files)} files, {report.entities} entities", "dim"))


def touched_experiments(touched: Sequence[TouchedExperiment], rev: str) -> None:
    if not touched:
        stdout.print(safe(f"no experiment touched since {rev}", "dim"))
    for t in touched:
        stdout.print(safe(f"{t.name}: {'; '.join(t.reasons)}"), soft_wrap=True)


# Every ASCII punctuation character can be backslash-escaped in CommonMark; escaping them
# all (and HTML's specials as entities) leaves no markup, link, autolink or raw HTML in
# untrusted text, and a `|` cannot split a table cell.
_MARKDOWN_ESCAPES = {
    **{c: "\\" + c for c in "!#$%'()*+,-./:;=?@[\\]^_`{|}~"},
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
}
_SUMMARY_STATEMENT_CHARS = 200  # a table cell, not the claim page


def markdown_text(text: object, limit: int | None = None) -> str:
    """Untrusted text as inert Markdown on one line: shown literally, never as markup."""
    flat = " ".join(_CONTROL.sub(" ", str(text)).split())
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return "".join(_MARKDOWN_ESCAPES.get(c, c) for c in flat)


def status_summary_markdown(summary: StatusSummary) -> str:
    """The status changes of a pull request as Markdown, for a CI summary or a comment."""
    base = summary.base
    head = f"### Status changes since {markdown_text(base.rev)} ({base.commit[:12]})\n\n"
    if not summary.moves:
        return head + "No claim's status or certainty changed, and no claim was added or removed.\n"
    lines = [
        "| claim | change | before | after | reason | statement |",
        "|---|---|---|---|---|---|",
    ]
    for m in summary.moves:
        now = m.after or m.before  # a removed claim keeps its last reason
        cells = [
            markdown_text(c)
            for c in (m.claim, m.change, _label(m.before), _label(m.after), now.reason if now else "")
        ]
        cells.append(markdown_text(m.statement, _SUMMARY_STATEMENT_CHARS))
        lines.append("| " + " | ".join(cells) + " |")
    counts = {k: sum(m.change == k for m in summary.moves) for k in ("changed", "new", "removed")}
    tail = ", ".join(f"{n} {k}" for k, n in counts.items())
    return head + "\n".join(lines) + f"\n\n{tail}.\n"


# --- kb jobs -------------------------------------------------------------------------------


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
        counts: dict[str, int] = {}
        for state in view.states.values():
            counts[state] = counts.get(state, 0) + 1
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
    from kb.runner import RunReport

    if not records:
        stdout.print(safe("nothing to record", "dim"))
        return
    run_report(RunReport(records=list(records)))


def new_claim_report(result: NewClaim) -> None:
    stdout.print(safe(f"created {result.file}", "green"), soft_wrap=True)
    for stub in result.stubs:
        stdout.print(
            safe(
                f"claims/references.bib:{stub.line}: complete @misc{{{stub.citekey}}}: title, "
                "author, year, and one of doi, eprint or url (`kb check` fails until you do)",
                "yellow",
            ),
            soft_wrap=True,
        )
    stdout.print(
        safe(
            "next: add tags, scope and would_change_our_mind if they help, then `kb check`",
            "dim",
        )
    )


def new_experiment_report(result: NewExperiment) -> None:
    stdout.print(safe(f"created {result.file}", "green"), soft_wrap=True)
    if result.linked:
        stdout.print(safe(f"linked: its prediction in {result.linked} now names it"), soft_wrap=True)
    stdout.print(
        safe(
            f"next: replace the TODOs and placeholders in {result.file}; it runs as "
            f"`python {result.file} --scale smoke --seed 0`",
            "dim",
        ),
        soft_wrap=True,
    )
