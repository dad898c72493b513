"""Claims: the claim and open-prediction tables, the `kb show` view and `kb check` problems."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from kb.data.query import ClaimRow, ClaimView, OpenPrediction
from kb.formats.errors import Problem, Severity
from kb.render.base import _STATUS_STYLE, GAP, _interval, _widths, fit_widths, safe, stdout

_STANCE_STYLE = {
    "proposes": "cyan",
    "supports": "green",
    "refutes": "red",
    "qualifies": "yellow",
    "discusses": "dim",
}


def problems(found: Sequence[Problem], files: int) -> None:
    for p in found:
        style = "yellow" if p.severity is Severity.warning else "red"
        stdout.print(safe(str(p), style), soft_wrap=True)  # one problem, one line: greppable
    errors = sum(p.severity is Severity.error for p in found)
    warnings = len(found) - errors
    summary = f"checked {files} claim file(s): {errors} error(s), {warnings} warning(s)"
    stdout.print(safe(summary, "bold red" if errors else "bold green"))


def claim_table(rows: Sequence[ClaimRow]) -> None:
    """The claims, one line each; the status column is always shown, whatever the width.

    The title takes the room left and is cut with an ellipsis. When the terminal (or the
    80 columns of a pipe) is too narrow for the topic column, each topic becomes a heading
    line; when it is too narrow for a title column, each title goes on a line of its own.
    """
    widths = _widths(
        rows,
        topic=lambda r: r.topic,
        claim=lambda r: r.id + "  ↳ ",
        status=lambda r: r.status,
        certainty=lambda r: r.certainty,
    )
    title = max([len("title"), *(len(r.title) for r in rows)])
    fixed, title_width = fit_widths(widths, title, stdout.width, prose_min=20)
    headings = not title_width
    if headings:
        del widths["topic"]
        fixed, title_width = fit_widths(widths, title, stdout.width, prose_min=20)
    if not title_width:
        _narrow_claim_lines(rows, widths)
    else:
        table = Table(header_style="bold", box=None, pad_edge=False)
        for column, width in fixed.items():
            style = "dim" if column == "topic" else ""
            table.add_column(column, no_wrap=True, width=width, style=style)
        table.add_column("title", overflow="ellipsis", no_wrap=True, width=title_width)
        topic = None
        for r in rows:
            if headings and r.topic != topic:
                table.add_row(safe(f"{r.topic}/", "bold"))
            topic = r.topic
            cells = [safe(r.topic), _shown_id(r), *_status_cells(r), safe(r.title)]
            table.add_row(*cells[1 if headings else 0 :])
        stdout.print(table)
    stdout.print(safe(f"{len(rows)} claim(s)", "dim"))


def _shown_id(r: ClaimRow) -> Text:
    # Explanations sit under the phenomenon they explain (list_claims orders them so).
    return safe(r.id, "bold") if r.kind == "phenomenon" else safe(f"  ↳ {r.id}")


def _status_cells(r: ClaimRow) -> tuple[Text, Text]:
    return safe(r.status, _STATUS_STYLE.get(r.status, "")), safe(r.certainty)


def _narrow_claim_lines(rows: Sequence[ClaimRow], widths: dict[str, int]) -> None:
    """Topic headings; per claim its id, status and certainty, then its title on a line below.

    An id longer than the room left beside the status is written whole (never cut).
    """
    room = stdout.width - widths["status"] - widths["certainty"] - 2 * GAP
    id_width = max(1, min(widths["claim"], room))
    header = Text("claim".ljust(id_width) + "  " + "status".ljust(widths["status"]) + "  certainty")
    stdout.print(header, style="bold", crop=False, soft_wrap=True)
    topic = None
    for r in rows:
        if r.topic != topic:
            stdout.print(safe(f"{r.topic}/", "bold"), soft_wrap=True)
            topic = r.topic
        status, certainty = _status_cells(r)
        shown = _shown_id(r)
        line = Text.assemble(
            shown,
            " " * max(0, id_width - shown.cell_len) + "  ",
            status,
            " " * (widths["status"] - status.cell_len) + "  ",
            certainty,
        )
        stdout.print(line, soft_wrap=True)
        title = safe(("      " if r.kind == "explanation" else "    ") + r.title, "dim")
        title.truncate(stdout.width, overflow="ellipsis")
        stdout.print(title, soft_wrap=True)


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
