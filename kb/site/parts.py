"""Pieces shared by several pages: badges, verdict cells, claim links, source lines.

Each returns HTML with every untrusted string escaped (see `kb.site.html`).
"""

from __future__ import annotations

from collections import Counter

from kb.formats.schema import Claim, EvidenceLine, SourceRef, interval_text
from kb.site.html import Urls, anchor_id, esc, external, fmt, link, plural
from kb.site.model import OPEN, PENDING, Cell, Row, Site

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
    """'1.62 [1.51, 1.74] · n = 5', or what is known of it. Where censored seeds (the event
    did not happen within the budget) leave an end of the interval open, the estimate is a
    bound too: '≥ 3,950 (≥ 3,610) · n = 5, 2 censored'."""
    r = cell.record
    if r is None or (r.estimate is None and not r.n):
        return ""
    parts = []
    if r.estimate is not None:
        lo, hi = r.interval if r.interval is not None else (0.0, 0.0)
        bound = "≥ " if hi is None and lo is not None else "≤ " if lo is None and hi is not None else ""
        text = bound + fmt(r.estimate)
        if r.interval is not None:
            shown = interval_text(r.interval, fmt)
            text += f" {shown}" if shown.startswith("[") else f" ({shown})"
        parts.append(text)
    seeds = f"n = {r.n:,}"
    if r.censored:
        seeds += f", {r.censored:,} censored"
    parts.append(seeds)
    return " · ".join(parts)


def marks(cell: Cell) -> str:
    """robust / fragile (with the design constants it depends on) and 'invalid' flags."""
    r = cell.record
    if r is None:
        return ""
    out = []
    if r.robustness == "robust":
        out.append('<span class="kb-mark kb-robust" title="the verdict is the same across every '
                   'value of the design constants the experiment declares">robust</span>')
    elif r.robustness == "unresolved":
        on = ", ".join(r.fragile_on)
        out.append(f'<span class="kb-mark kb-unresolved" title="some values of {esc(on)} decide '
                   f'nothing; none gives the opposite verdict">robustness unresolved</span>')
    elif r.robustness == "fragile":
        on = ", ".join(r.fragile_on)
        out.append(f'<span class="kb-mark kb-fragile" title="the verdict changes with {esc(on)}">'
                   f"fragile{': ' + esc(on) if on else ''}</span>")
    if cell.state == "invalid" and r.reason:
        out.append(f'<span class="kb-mark kb-invalid" title="{esc(r.reason)}">validity check failed</span>')
    return " ".join(out)


def verdict_inner(urls: Urls, here: str, cell: Cell, expect: bool = True, regime: str = "") -> str:
    """Label (linked to the prediction), expectation, estimate and where it was measured."""
    label = STATE_LABEL[cell.state].upper()
    href = urls.page(here, claim_key(cell.claim), prediction_anchor(cell.prediction.id))
    first = f'<a class="kb-verdict" href="{esc(href)}">{esc(label)}</a>'
    if flags := marks(cell):
        first += " " + flags
    inner = [first]
    if expect and cell.prediction.expect:
        inner.append(f'<span class="kb-expect">expects {esc(cell.prediction.expect)}</span>')
    if est := estimate(cell):
        inner.append(f'<span class="kb-est">{esc(est)}</span>')
    if regime:
        inner.append(f'<span class="kb-regime" title="where it was measured">{esc(regime)}</span>')
    return "<br>".join(inner)


def verdict_cell(site: Site, urls: Urls, here: str, cell: Cell, expect: bool = True) -> str:
    """A <td> coloured by verdict, with the prediction's statement as its tooltip."""
    title = esc(f"{cell.prediction.id}: {' '.join(cell.prediction.statement.split())}")
    inner = verdict_inner(urls, here, cell, expect, site.regime(cell))
    return f'<td class="kb-cell kb-v-{esc(cell.state)}" title="{title}">{inner}</td>'


def cells_td(site: Site, urls: Urls, here: str, cells: list[Cell]) -> str:
    """The predictions one claim makes about one metric, stacked in one cell."""
    if len(cells) == 1:
        return verdict_cell(site, urls, here, cells[0])
    inner = "".join(
        f'<div class="kb-v-{esc(c.state)}">{verdict_inner(urls, here, c, regime=site.regime(c))}</div>'
        for c in cells
    )
    return f'<td class="kb-cell kb-stack">{inner}</td>'


def stance_counts(claim: Claim) -> str:
    """'1 proposes, 2 refute': how many distinct works take each stance."""
    works: dict[str, set[str]] = {}
    for s in claim.sources:
        works.setdefault(s.stance.value, set()).add(s.citekey)
    counts = Counter({stance: len(keys) for stance, keys in works.items()})
    return ", ".join(f"{counts[s]} {s if counts[s] == 1 else _plural(s)}" for s in STANCE_ORDER if counts[s])


STANCE_PLURAL = {"proposes": "propose", "supports": "support", "qualifies": "qualify",
                 "refutes": "refute", "discusses": "discuss"}


def _plural(stance: str) -> str:
    """'2 qualify', not '2 qualifie'."""
    return STANCE_PLURAL.get(stance, stance)


def source_item(site: Site, urls: Urls, here: str, source: SourceRef) -> str:
    """One cited work as an <li>: stance, author-year linked to the bibliography, note."""
    ref = site.references.get(source.citekey)
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
    return (f"Last reproduced on {f.last.finished:%Y-%m-%d} with torch {torch} on {devices}, "
            f"{plural(f.runs, 'run')}.")


def history_rows(urls: Urls, here: str, claims: list[Claim], site: Site) -> list[list[str]]:
    rows = []
    for e in site.events_of(claims):
        run = run_link(urls, here, site, e.run) if e.run else esc(e.cause or "")
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


HISTORY_HEAD = ["date", "claim", "before", "after", "caused by"]
POINTS = {"for": "points for it", "against": "points against it", "mixed": "is divided",
           "none": "takes no side"}


def tier(claim: Claim) -> str:
    """What the status rests on: 'literature only', 'toy reproduction', ..."""
    return claim.status.tier if claim.status else "not derived yet"


def measured_at(site: Site, claim: Claim) -> str:
    """The scales and devices of a claim's measured verdicts: 'smoke scale · CPU'."""
    if claim.status is None:
        return ""
    scales: set[str] = set()
    devices: set[str] = set()
    for v in claim.status.verdicts:
        if v.n and v.verdict.value in ("holds", "fails"):
            scales.add(v.scale or "unknown")
            devices.update(site.devices(v))
    if not scales:
        return ""
    hardware = sorted({"CPU" if d.lower().startswith("cpu") else "GPU" for d in devices})
    return " · ".join([f"{'/'.join(sorted(scales))} scale", *(["+".join(hardware)] if hardware else [])])


def tier_badge(claim: Claim, site: Site | None = None) -> str:
    """The tier, and for a reproduction where it ran ('toy reproduction · smoke scale · CPU')."""
    text = tier(claim)
    if site is not None and "reproduction" in text and (where := measured_at(site, claim)):
        text += f" · {where}"
    cls = "toy" if "toy" in text else "scoped" if "in-scope" in text else "lit" if "literature" in text else "none"
    return f'<span class="kb-tier kb-tier-{cls}">{esc(text)}</span>'


def _line_box(title: str, line: EvidenceLine | None, where: str) -> str:
    if line is None:
        body = '<p class="kb-reason">Not summarised in the stored status yet (derived before evidence lines existed).</p>'
        direction = "none"
    else:
        direction = line.direction.value
        body = f"<p>{esc(line.summary)}.</p>"
    head = f'<p class="kb-line-head"><strong>{esc(title)}</strong> {esc(POINTS.get(direction, direction))}{esc(where)}</p>'
    return f'<div class="kb-line kb-dir-{esc(direction)}">{head}{body}</div>'


def evidence_lines(claim: Claim) -> str:
    """The literature line and the reproduction line side by side, and in words whether
    they agree."""
    s = claim.status
    if s is None:
        return "<p>Not derived yet: no evidence line has been summarised.</p>"
    rep = s.reproduction
    where = ""
    if rep is not None and rep.direction.value != "none":
        where = " (in the claim's scope)" if rep.in_scope else " (toy scale, outside the claim's scope)"
    boxes = _line_box("The literature", s.literature, "") + _line_box("Our reproductions", rep, where)
    return f'<div class="kb-lines">{boxes}</div><p class="kb-agree">{esc(agreement(claim))}</p>'


def agreement(claim: Claim) -> str:
    """One sentence: do the two lines of evidence agree?"""
    s = claim.status
    if s is None or s.literature is None or s.reproduction is None:
        return ""
    lit, rep = s.literature.direction.value, s.reproduction.direction.value
    ours = "our reproductions" + ("" if s.reproduction.in_scope else " (toy scale, outside the claim's scope)")
    if lit == "none" and rep == "none":
        return "Neither line speaks yet: no independent work takes a side and no prediction of ours is decisive."
    if rep == "none":
        return f"Only the literature speaks: it {POINTS[lit]}; no prediction of ours is decisive yet."
    if lit == "none":
        return f"Only {ours} speak: they {POINTS[rep].replace('points', 'point').replace('is divided', 'are divided')}; no independent work takes a side."
    if {lit, rep} == {"for", "against"}:
        return (f"The two lines disagree: the literature {POINTS[lit]}, {ours} "
                f"{POINTS[rep].replace('points', 'point')}. The status is {s.value.value}.")
    if lit == rep:
        return f"The two lines agree: both point {lit} it." if lit in ("for", "against") else "Both lines are divided."
    return f"The lines differ: the literature {POINTS[lit]}, {ours} {POINTS[rep].replace('points', 'point').replace('is divided', 'are divided')}."


def crux_state(row: Row) -> tuple[str, str]:
    """Has the crux been run? ('open' | 'unrun' | 'run', and the same in words)."""
    cells = [c for cells in row.cells.values() for c in cells]
    if not any(c.prediction.experiment for c in cells):
        return "open", "not run: no experiment reports it yet"
    judged = [c for c in cells if c.record is not None and c.record.n]
    if not judged:
        return "unrun", "not run yet: its experiment exists, no current run counts"
    decisive = [c for c in judged if c.state in ("holds", "fails")]
    if not decisive:
        return "run", "run, but not decided yet (" + ", ".join(sorted({c.state for c in judged})) + ")"
    return "run", "run: " + "; ".join(f"{c.claim.id} {c.state}" for c in decisive)
