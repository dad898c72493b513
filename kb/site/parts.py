"""Pieces shared by several pages: badges, verdict cells, claim links, source lines.

Each returns HTML with every untrusted string escaped (see `kb.site.html`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from kb.formats.schema import Claim, SourceRef
from kb.site.html import Urls, anchor_id, esc, external, fmt, link
from kb.site.model import OPEN, PENDING, Cell, Site

STATE_LABEL = {
    "holds": "holds",
    "fails": "fails",
    "inconclusive": "inconclusive",
    "invalid": "invalid",
    "untested": "untested",
    OPEN: "open",
    PENDING: "not derived",
}
STATE_HELP = {
    "holds": "the interval lies where the prediction expects it",
    "fails": "the interval lies where the prediction says it cannot",
    "inconclusive": "the interval straddles the threshold, too few seeds, or not significant after Holm",
    "invalid": "a validity check of the experiment failed: the measurement means nothing here",
    "untested": "no current run of the registered configuration reports this metric",
    OPEN: "no experiment tests this prediction yet",
    PENDING: "kb run has not derived this claim's status yet",
}
STANCE_ORDER = ("proposes", "supports", "qualifies", "refutes", "discusses")


def interval_text(interval: tuple[float | None, float | None], fmt: Callable[[float], str]) -> str:
    """'[a, b]', or '≥ a' / '≤ b' where censored seeds leave one end open."""
    lo, hi = interval
    if lo is not None and hi is not None:
        return f"[{fmt(lo)}, {fmt(hi)}]"
    if lo is not None:
        return f"≥ {fmt(lo)}"
    return f"≤ {fmt(hi)}" if hi is not None else "(unbounded)"


def claim_key(claim: Claim) -> str:
    return f"claims/{claim.id}"


def phenomenon_key(claim: Claim) -> str:
    return f"phenomena/{claim.id}"


def experiment_key(name: str) -> str:
    return f"experiments/{name}"


def status_text(site: Site, claim: Claim) -> str:
    if claim.status is None:
        return "not derived yet"
    return f"{claim.status.value.value} · {claim.status.certainty.value}"


def status_badge(site: Site, claim: Claim) -> str:
    value = site.status_value(claim)
    title = esc(claim.status.reason) if claim.status else "kb run has not derived it yet"
    return f'<span class="kb-badge kb-s-{esc(value)}" title="{title}">{esc(status_text(site, claim))}</span>'


def kind_badge(claim: Claim) -> str:
    return f'<span class="kb-badge kb-kind">{esc(claim.kind.value)}</span>'


def claim_link(urls: Urls, here: str, claim: Claim, fragment: str | None = None) -> str:
    return link(urls.page(here, claim_key(claim), fragment), claim.title)


def prediction_anchor(prediction_id: str) -> str:
    return f"prediction-{prediction_id}"


def estimate(cell: Cell) -> str:
    """'1.62 [1.51, 1.74] · n = 5', or what is known of it."""
    r = cell.record
    if r is None or (r.estimate is None and not r.n):
        return ""
    parts = []
    if r.estimate is not None:
        text = fmt(r.estimate)
        if r.interval is not None:
            text += f" {interval_text(r.interval, fmt)}"
        parts.append(text)
    parts.append(f"n = {r.n}")
    return " · ".join(parts)


def verdict_inner(urls: Urls, here: str, cell: Cell, expect: bool = True) -> str:
    """Label (linked to the prediction), expectation and estimate of one verdict."""
    label = STATE_LABEL[cell.state].upper()
    href = urls.page(here, claim_key(cell.claim), prediction_anchor(cell.prediction.id))
    inner = [f'<a class="kb-verdict" href="{esc(href)}">{esc(label)}</a>']
    if expect and cell.prediction.expect:
        inner.append(f'<span class="kb-expect">expects {esc(cell.prediction.expect)}</span>')
    if est := estimate(cell):
        inner.append(f'<span class="kb-est">{esc(est)}</span>')
    return "<br>".join(inner)


def verdict_cell(urls: Urls, here: str, cell: Cell, expect: bool = True) -> str:
    """A <td> coloured by verdict, with the prediction's statement as its tooltip."""
    title = esc(f"{cell.prediction.id}: {' '.join(cell.prediction.statement.split())}")
    inner = verdict_inner(urls, here, cell, expect)
    return f'<td class="kb-cell kb-v-{esc(cell.state)}" title="{title}">{inner}</td>'


def cells_td(urls: Urls, here: str, cells: list[Cell]) -> str:
    """The predictions one claim makes about one metric, stacked in one cell."""
    if len(cells) == 1:
        return verdict_cell(urls, here, cells[0])
    inner = "".join(
        f'<div class="kb-v-{esc(c.state)}">{verdict_inner(urls, here, c)}</div>' for c in cells
    )
    return f'<td class="kb-cell kb-stack">{inner}</td>'


def stance_counts(claim: Claim) -> str:
    """'1 proposes, 2 refute': how many distinct works take each stance."""
    works: dict[str, set[str]] = {}
    for s in claim.sources:
        works.setdefault(s.stance.value, set()).add(s.citekey)
    counts = Counter({stance: len(keys) for stance, keys in works.items()})
    return ", ".join(f"{counts[s]} {s if counts[s] == 1 else _plural(s)}" for s in STANCE_ORDER if counts[s])


def _plural(stance: str) -> str:
    return stance[:-1] if stance.endswith("s") else stance


def source_item(site: Site, urls: Urls, here: str, source: SourceRef) -> str:
    """One cited work as an <li>: stance, author-year linked to the bibliography, note."""
    ref = site.kb.references.get(source.citekey)
    who = f"{ref.short_authors} ({ref.year})" if ref else source.citekey
    bib = link(urls.page(here, "bibliography", anchor_id("ref", source.citekey)), who)
    title = f" — <em>{external(ref.link if ref else None, ref.title)}</em>" if ref else ""
    parts = [
        f'<span class="kb-stance kb-st-{esc(source.stance.value)}">{esc(source.stance.value)}</span> ',
        bib,
        title,
        f' <span class="kb-locator">({esc(source.locator)})</span>',
    ]
    if source.note:
        parts.append(f'<br><span class="kb-note">{esc(" ".join(source.note.split()))}</span>')
    if source.quote:
        parts.append(f'<br><q class="kb-quote">{esc(" ".join(source.quote.split()))}</q>')
    return "<li>" + "".join(parts) + "</li>"


def sources_list(site: Site, urls: Urls, here: str, claim: Claim) -> str:
    order = {s: i for i, s in enumerate(STANCE_ORDER)}
    ordered = sorted(claim.sources, key=lambda s: order[s.stance.value])
    return '<ul class="kb-sources">' + "".join(source_item(site, urls, here, s) for s in ordered) + "</ul>"


def freshness_text(site: Site, claims: list[Claim]) -> str:
    f = site.freshness(claims)
    if f.last is None:
        experiments = site.experiments_of(claims)
        if not experiments:
            return "Not reproduced yet: no prediction here names an experiment."
        return "Not reproduced yet: no run records for " + ", ".join(experiments) + "."
    torch = f.last.packages.get("torch", "unknown")
    devices = ", ".join(f.devices)
    runs = f"{f.runs} run" + ("" if f.runs == 1 else "s")
    return f"Last reproduced on {f.last.finished:%Y-%m-%d} with torch {torch} on {devices}, {runs}."


def history_rows(urls: Urls, here: str, claims: list[Claim], site: Site) -> list[list[str]]:
    rows = []
    for e in site.events_of(claims):
        run = run_link(urls, here, site, e.run) if e.run else ""
        before = esc(e.previous) if e.previous else "—"
        rows.append([
            esc(e.date.isoformat()),
            claim_link(urls, here, e.claim),
            before,
            f'<span class="kb-badge kb-s-{esc(e.status)}">{esc(e.status)} · {esc(e.certainty)}</span>',
            run,
        ])
    return rows


def run_link(urls: Urls, here: str, site: Site, run_id: str) -> str:
    record = site.runs_by_id.get(run_id)
    if record is None:
        return f"<code>{esc(run_id)}</code>"
    href = urls.page(here, experiment_key(record.experiment), f"run-{run_id}")
    return f'<a href="{esc(href)}"><code>{esc(run_id)}</code></a>'


def scope_line(claim: Claim, empty: str = "") -> str:
    """The regime a claim is made for, on one line (empty lists mean any)."""
    s = claim.scope
    parts = []
    for name, values in (("architectures", s.architectures), ("optimizers", s.optimizers),
                         ("normalization", s.normalization), ("tasks", s.tasks),
                         ("data scale", [d.value for d in s.data_scale])):
        if values:
            parts.append(f"{name}: {', '.join(values)}")
    for name, r in (("width", s.width), ("depth", s.depth)):
        if r is not None:
            parts.append(f"{name}: {r.min or '…'}–{r.max or '…'}")
    if not parts:
        return f'<p class="kb-scope">{esc(empty)}</p>' if empty else ""
    return f'<p class="kb-scope">Scope · {esc(" · ".join(parts))}</p>'
