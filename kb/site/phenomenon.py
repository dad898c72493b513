"""The phenomenon pages: competing explanations side by side, cruxes, runs, literature."""

from __future__ import annotations

from kb.formats.schema import Claim, Prediction
from kb.site.html import Urls, block, esc, front_matter, link, paragraphs, table
from kb.site.labels import axis_label, metric_html
from kb.site.mapsvg import map_svg
from kb.site.model import Row, Site
from kb.site.parts import (
    HISTORY_HEAD,
    POINTS,
    STATE_LABEL,
    agreement,
    cells_td,
    claim_key,
    claim_link,
    crux_state,
    evidence_lines,
    freshness_text,
    history_rows,
    kind_badge,
    phenomenon_key,
    prediction_anchor,
    scope_line,
    sources_list,
    stance_counts,
    status_badge,
    tier_badge,
    verdict_cell,
)
from kb.site.plots import Plot, curve_plot, metric_plot
from kb.site.speccurve import INTRO, spec_curve_svg

LEGEND = (
    '<p class="kb-legend">'
    '<span class="kb-cell kb-v-holds">holds</span> '
    '<span class="kb-cell kb-v-fails">fails</span> '
    '<span class="kb-cell kb-v-inconclusive">inconclusive</span> '
    '<span class="kb-cell kb-v-invalid">invalid</span> '
    '<span class="kb-cell kb-v-untested">untested / open / not derived</span> '
    "· each cell: verdict, what the explanation expects, the estimate with its interval (≥ / ≤ where "
    "censored seeds leave it open) and the number of seed values, and where it was measured "
    "(data · model · scale · device)."
    "</p>"
)


def phenomenon_plots(site: Site, phenomenon: Claim) -> list[Plot]:
    """Dots per seed for every measured metric of the family, then each experiment's curves."""
    plots: list[Plot] = []
    family = site.family(phenomenon)
    by_metric: dict[tuple[str, str], list[tuple[str, Prediction]]] = {}
    for claim in family:
        for p in claim.predictions:
            if p.experiment and p.metric:
                by_metric.setdefault((p.experiment, p.metric), []).append((claim.id, p))
    for (experiment, metric), expectations in sorted(by_metric.items()):
        runs = site.runs_by_experiment.get(experiment, [])
        plot = metric_plot(experiment, metric, runs, expectations, axis_label(site.info(experiment), metric))
        if plot:
            plots.append(plot)
    for experiment in site.experiments_of(family):
        runs = [r for r in site.runs_by_experiment.get(experiment, []) if r.ok_results()]
        if runs and (plot := curve_plot(experiment, runs[-1])):
            plots.append(plot)
    return plots


def phenomenon_page(site: Site, urls: Urls, phenomenon: Claim, plots: list[Plot]) -> str:
    here = phenomenon_key(phenomenon)
    explanations = site.explanations_of(phenomenon)
    family = [phenomenon, *explanations]
    out = [front_matter(phenomenon.title, hide=("navigation", "toc"))]
    out.append(block(
        f"<h1>{esc(phenomenon.title)}</h1>",
        f'<p class="kb-meta">{kind_badge(phenomenon)} {status_badge(site, phenomenon)} '
        f'· topic <a href="{esc(urls.page(here, "claims", f"topic-{phenomenon.topic}"))}">{esc(phenomenon.topic)}</a> '
        f'· {len(explanations)} competing explanation{"" if len(explanations) == 1 else "s"} '
        f'· {link(urls.page(here, claim_key(phenomenon)), "claim page")}</p>',
        paragraphs(phenomenon.statement, "kb-statement"),
        paragraphs(phenomenon.summary),
        scope_line(phenomenon),
        cls="kb-head",
    ))
    out.append("## Is the phenomenon itself reproduced?\n\n")
    out.append(block(_own_table(site, urls, here, phenomenon), evidence_lines(phenomenon), cls="kb-own"))
    out.append("## Competing explanations\n\n")
    if explanations:
        out.append(block(LEGEND, _matrix(site, urls, here, phenomenon, explanations), cls="kb-scroll"))
    else:
        out.append(block("<p>No explanation of this phenomenon has been proposed here yet.</p>"))
    out.append("## Cruxes\n\n")
    out.append(block(_cruxes(site, urls, here, phenomenon), cls="kb-cruxes"))
    out.append("## Runs\n\n")
    out.append(block(f'<p class="kb-fresh">{esc(freshness_text(site, family))}</p>', _figures(urls, here, plots),
                     _spec_curves(site, family)))
    out.append("## Literature\n\n")
    out.append(block(*(
        f'<h3 id="lit-{esc(c.id)}">{claim_link(urls, here, c)}</h3>{sources_list(site, urls, here, c)}'
        for c in family
    ), cls="kb-literature"))
    out.append("## Map\n\n")
    out.append(block(
        "<p>Who says what: each cited work (left) and the stance it takes on the phenomenon or on "
        "an explanation (right, coloured by status).</p>",
        map_svg(site, urls, here, phenomenon, explanations),
    ))
    out.append("## Open predictions\n\n")
    out.append(block(_open_list(urls, here, family)))
    out.append("## History\n\n")
    rows = history_rows(urls, here, family, site)
    out.append(block(
        table(HISTORY_HEAD, rows) if rows
        else "<p>No status change recorded yet.</p>"
    ))
    return "".join(out)


def _own_table(site: Site, urls: Urls, here: str, phenomenon: Claim) -> str:
    if not phenomenon.predictions:
        return "<p>This phenomenon states no prediction of its own yet.</p>"
    rows = []
    for p in phenomenon.predictions:
        cell = site.cell(phenomenon, p)
        rows.append([
            f'<a href="{esc(urls.page(here, claim_key(phenomenon), prediction_anchor(p.id)))}">{esc(p.id)}</a>'
            f'<br><span class="kb-pstatement">{esc(" ".join(p.statement.split()))}</span>',
            verdict_cell(site, urls, here, cell),
        ])
    reason = (
        f'<p class="kb-reason">{esc(phenomenon.status.reason)}</p>' if phenomenon.status else ""
    )
    return table(["prediction", "verdict"], rows, cls="kb-verdicts") + reason


def _spec_curves(site: Site, family: list[Claim]) -> str:
    out = []
    for c in family:
        for p in c.predictions:
            cell = site.cell(c, p)
            variants = site.variants(c, p)
            if cell.record is not None and variants:
                out.append(spec_curve_svg(site, cell, variants))
    if not out:
        return ""
    return "<h3>Do the verdicts survive other design choices?</h3>" + INTRO + "".join(out)


def _metric_header(site: Site, urls: Urls, here: str, row: Row) -> str:
    crux = '<span class="kb-crux" title="the explanations expect incompatible outcomes">crux</span> ' if row.crux else ""
    if row.metric is None:
        cell = next(iter(row.cells.values()))[0]
        return f'<th class="kb-rowhead">{crux}{esc(cell.prediction.id)}<br><span class="kb-pstatement">no metric yet</span></th>'
    info = site.info(row.experiments[0]) if row.experiments else None
    described = []
    for e in row.experiments:
        found = site.info(e)
        meaning = found.metrics.get(row.metric) if found is not None else None
        exp = link(urls.page(here, f"experiments/{e}"), e)
        described.append(exp + (f": {esc(meaning)}" if meaning else ""))
    where = f'<br><span class="kb-pstatement">{"<br>".join(described) or "no experiment yet"}</span>'
    return f'<th class="kb-rowhead">{crux}<strong>{metric_html(info, row.metric)}</strong>{where}</th>'


def _line_cell(claim: Claim, which: str) -> str:
    s = claim.status
    line = getattr(s, which) if s is not None else None
    if line is None:
        return '<td class="kb-empty">—</td>'
    direction = line.direction.value
    where = ""
    if which == "reproduction" and direction != "none":
        where = " · in scope" if line.in_scope else " · toy scale, outside its scope"
    return (f'<td class="kb-line kb-dir-{esc(direction)}"><strong>{esc(POINTS[direction])}</strong>'
            f'{esc(where)}<br><span class="kb-reason">{esc(line.summary)}</span></td>')


def _matrix(site: Site, urls: Urls, here: str, phenomenon: Claim, explanations: list[Claim]) -> str:
    head = ['<th class="kb-corner"></th>'] + [
        f'<th class="kb-colhead">{claim_link(urls, here, c)}</th>' for c in explanations
    ]
    body = ['<tr><th class="kb-rowhead">status · certainty<br><span class="kb-pstatement">and what it rests on</span></th>'
            + "".join(
                f"<td>{status_badge(site, c)} {tier_badge(c, site)}"
                + (f'<br><span class="kb-reason">{esc(c.status.reason)}</span>' if c.status else "")
                + "</td>"
                for c in explanations
            ) + "</tr>"]
    for row in site.matrix(phenomenon):
        cls = ' class="kb-cruxrow"' if row.crux else ""
        cells = "".join(
            cells_td(site, urls, here, row.cells[c.id]) if c.id in row.cells else '<td class="kb-empty">—</td>'
            for c in explanations
        )
        body.append(f"<tr{cls}>{_metric_header(site, urls, here, row)}{cells}</tr>")
    body.append('<tr><th class="kb-rowhead">the literature</th>' + "".join(
        _line_cell(c, "literature") for c in explanations) + "</tr>")
    body.append('<tr><th class="kb-rowhead">our reproductions</th>' + "".join(
        _line_cell(c, "reproduction") for c in explanations) + "</tr>")
    body.append('<tr><th class="kb-rowhead">do they agree?</th>' + "".join(
        f'<td><span class="kb-reason">{esc(agreement(c))}</span></td>' for c in explanations) + "</tr>")
    body.append('<tr><th class="kb-rowhead">cited works</th>' + "".join(
        f'<td><a href="#lit-{esc(c.id)}">{esc(stance_counts(c))}</a></td>' for c in explanations
    ) + "</tr>")
    return (
        '<table class="kb-matrix"><thead><tr>' + "".join(head) + "</tr></thead><tbody>"
        + "".join(body) + "</tbody></table>"
    )


def _cruxes(site: Site, urls: Urls, here: str, phenomenon: Claim) -> str:
    rows = [r for r in site.matrix(phenomenon) if r.crux]
    if not rows:
        return (
            "<p>No crux yet: no two explanations expect incompatible outcomes of the same "
            "metric. A prediction on which they disagree is the most useful thing to add.</p>"
        )
    out = []
    for row in rows:
        sides = []
        for cells in row.cells.values():
            for c in cells:
                sides.append(
                    f"<li>{claim_link(urls, here, c.claim, prediction_anchor(c.prediction.id))} "
                    f"expects <code>{esc(c.prediction.expect or '?')}</code> — now "
                    f'<span class="kb-cell kb-v-{esc(c.state)}">{esc(STATE_LABEL[c.state])}</span>'
                    + (f' <span class="kb-regime">{esc(site.regime(c))}</span>' if c.record and c.record.n else "")
                    + "</li>"
                )
        _, state = crux_state(row)
        info = site.info(row.experiments[0]) if row.experiments else None
        what = metric_html(info, row.metric) if row.metric else f"<code>{esc(row.key)}</code>"
        out.append(
            f'<div class="kb-crux-item"><p><strong>{what}</strong>'
            f'{" in " + ", ".join(esc(e) for e in row.experiments) if row.experiments else ""}'
            f' — {esc(state)}</p><ul>{"".join(sides)}</ul></div>'
        )
    intro = "<p>Predictions on which the explanations disagree: one outcome decides between them.</p>"
    return intro + "".join(out)


def _figures(urls: Urls, here: str, plots: list[Plot]) -> str:
    if not plots:
        return "<p>No plots yet: they appear once runs are recorded.</p>"
    return "".join(
        f'<figure class="kb-plot"><div class="kb-scroll"><img src="{esc(urls.asset(here, p.path))}" alt="{esc(p.alt)}" '
        f'loading="lazy"></div><figcaption>{esc(p.caption)}</figcaption></figure>'
        for p in plots
    )


def _open_list(urls: Urls, here: str, family: list[Claim]) -> str:
    items = [
        f"<li>{claim_link(urls, here, c, prediction_anchor(p.id))} · <code>{esc(p.id)}</code>: "
        f"{esc(' '.join(p.statement.split()))}"
        + (f" <span class=\"kb-expect\">({esc(p.metric or '')} {esc(p.expect or '')})</span>" if p.expect else "")
        + "</li>"
        for c in family
        for p in c.predictions
        if p.open
    ]
    if not items:
        return "<p>Every prediction here names an experiment.</p>"
    return "<p>These predictions need an experiment (see how to contribute):</p><ul>" + "".join(items) + "</ul>"


def phenomena_index(site: Site, urls: Urls) -> str:
    here = "phenomena"
    out = [front_matter("Phenomena"), "# Phenomena\n\n"]
    out.append(
        "Each phenomenon page puts the competing explanations side by side: their "
        "predictions as rows, the verdicts coloured, the cruxes on which they disagree, "
        "the literature and the runs.\n\n"
    )
    for topic in site.topics:
        rows = [
            [
                link(urls.page(here, phenomenon_key(p)), p.title),
                status_badge(site, p),
                esc(str(len(site.explanations_of(p)))),
                esc(str(sum(r.crux for r in site.matrix(p)))),
            ]
            for p in site.phenomena
            if p.topic == topic
        ]
        if rows:
            out.append(block(
                f'<h2 id="topic-{esc(topic)}">{esc(topic)}</h2>',
                table(["phenomenon", "status", "explanations", "cruxes"], rows),
            ))
    return "".join(out)
