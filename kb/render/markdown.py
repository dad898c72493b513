"""Markdown: the status changes of a pull request, with untrusted text made inert."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kb.render.base import _CONTROL, _label

if TYPE_CHECKING:
    from kb.running.changes import StatusSummary

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
    verdicts = _verdict_table(summary)
    if not summary.moves:
        if verdicts:
            return head + "No claim's status or certainty changed.\n\n" + verdicts
        return head + (
            "No claim's status or certainty changed, no verdict moved, and no claim was added "
            "or removed.\n"
        )
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
    return head + "\n".join(lines) + f"\n\n{tail}.\n" + ("\n" + verdicts if verdicts else "")


def _verdict_text(v: Any) -> str:
    if v is None:
        return "—"
    text = v.verdict.value
    if v.estimate is not None:
        text += f" {v.estimate:.4g}"
    if v.interval is not None:
        from kb.formats.schema import interval_text

        ends = interval_text(v.interval, "{:.4g}".format, "")
        text += f" ({ends})" if None in v.interval and ends else f" {ends}" if ends else ""
    return text + f", n = {v.n}"


def _verdict_table(summary: Any) -> str:
    """Every verdict that moved, with its cause: a reviewer must see these even when no
    status moved (a flip from inconclusive to holds is evidence changing)."""
    moves = getattr(summary, "verdict_moves", [])
    if not moves:
        return ""
    lines = ["#### Verdict changes", "", "| claim | prediction | before | after | runs counted now |",
             "|---|---|---|---|---|"]
    for m in moves:
        runs = ", ".join(m.after.runs) if m.after is not None and m.after.runs else "—"
        cells = [markdown_text(c) for c in (m.claim, m.prediction, _verdict_text(m.before),
                                             _verdict_text(m.after), runs)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\n{len(moves)} verdict{'s' if len(moves) != 1 else ''} moved.\n"
