"""Markdown: the status changes of a pull request, with untrusted text made inert."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
