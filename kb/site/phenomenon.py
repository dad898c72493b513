"""The phenomenon pages: competing explanations side by side, cruxes, runs, literature."""

from __future__ import annotations

from kb.formats.schema import Claim, Prediction
from kb.site.html import Urls, block, esc, front_matter, link, paragraphs, table
from kb.site.model import Row, Site
from kb.site.parts import (
    STATE_LABEL,
    cells_td,
    claim_key,
    claim_link,
    freshness_text,
    history_rows,
    kind_badge,
    phenomenon_key,
    prediction_anchor,
    scope_line,
    sources_list,
    stance_counts,
    status_badge,
    verdict_cell,
)
from kb.site.plots import Plot, curve_plot, metric_plot

LEGEND = (
    '<p class="kb-legend">'
    '<span class="kb-cell kb-v-holds">holds</span> '
    '<span class="kb-cell kb-v-fails">fails</span> '
    '<span class="kb-cell kb-v-inconclusive">inconclusive</span> '
    '<span class="kb-cell kb-v-untested">untested / open / not derived</span> '
    "· each cell: verdict, what the explanation expects, the estimate with its interval and the number of seed values."
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
        plot = metric_plot(experiment, metric, runs, expectations)
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
    out.append(block(_own_table(site, urls, here, phenomenon), cls="kb-own"))
    out.append("## Competing explanations\n\n")
    if explanations:
        out.append(block(LEGEND, _matrix(site, urls, here, phenomenon, explanations), cls="kb-scroll"))
    else:
        out.append(block("<p>No explanation of this phenomenon has been proposed here yet.</p>"))
    out.append("## Cruxes\n\n")
    out.append(block(_cruxes(site, urls, here, phenomenon), cls="kb-cruxes"))
    out.append("## Runs\n\n")
    out.append(block(f'<p class="kb-fresh">{esc(freshness_text(site, family))}</p>', _figures(urls, here, plots)))
    out.append("## Literature\n\n")
    out.append(block(*(
        f'<h3 id="lit-{esc(c.id)}">{claim_link(urls, here, c)}</h3>{sources_list(site, urls, here, c)}'
        for c in family
    ), cls="kb-literature"))
    out.append("## Map\n\n")
    out.append(block(_mermaid(site, phenomenon, explanations), cls="kb-map"))
    out.append("## Open predictions\n\n")
    out.append(block(_open_list(urls, here, family)))
    out.append("## History\n\n")
    rows = history_rows(urls, here, family, site)
    out.append(block(
        table(["date", "claim", "before", "after", "run"], rows) if rows
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
            verdict_cell(urls, here, cell),
        ])
    reason = (
        f'<p class="kb-reason">{esc(phenomenon.status.reason)}</p>' if phenomenon.status else ""
    )
    return table(["prediction", "verdict"], rows, cls="kb-verdicts") + reason


def _metric_header(site: Site, urls: Urls, here: str, row: Row) -> str:
    crux = '<span class="kb-crux" title="the explanations expect incompatible outcomes">crux</span> ' if row.crux else ""
    if row.metric is None:
        cell = next(iter(row.cells.values()))[0]
        return f'<th class="kb-rowhead">{crux}{esc(cell.prediction.id)}<br><span class="kb-pstatement">no metric yet</span></th>'
    described = []
    for e in row.experiments:
        info = site.info(e)
        meaning = info.metrics.get(row.metric) if info else None
        exp = link(urls.page(here, f"experiments/{e}"), e)
        described.append(exp + (f": {esc(meaning)}" if meaning else ""))
    where = f'<br><span class="kb-pstatement">{"<br>".join(described) or "no experiment yet"}</span>'
    return f'<th class="kb-rowhead">{crux}<code>{esc(row.metric)}</code>{where}</th>'


def _matrix(site: Site, urls: Urls, here: str, phenomenon: Claim, explanations: list[Claim]) -> str:
    head = ['<th class="kb-corner"></th>'] + [
        f'<th class="kb-colhead">{claim_link(urls, here, c)}</th>' for c in explanations
    ]
    body = ["<tr><th class=\"kb-rowhead\">status · certainty</th>" + "".join(
        f"<td>{status_badge(site, c)}"
        + (f'<br><span class="kb-reason">{esc(c.status.reason)}</span>' if c.status else "")
        + "</td>"
        for c in explanations
    ) + "</tr>"]
    for row in site.matrix(phenomenon):
        cls = ' class="kb-cruxrow"' if row.crux else ""
        cells = "".join(
            cells_td(urls, here, row.cells[c.id]) if c.id in row.cells else '<td class="kb-empty">—</td>'
            for c in explanations
        )
        body.append(f"<tr{cls}>{_metric_header(site, urls, here, row)}{cells}</tr>")
    body.append('<tr><th class="kb-rowhead">literature</th>' + "".join(
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
                    f'<span class="kb-cell kb-v-{esc(c.state)}">{esc(STATE_LABEL[c.state])}</span></li>'
                )
        tested = any(c.prediction.experiment for cells in row.cells.values() for c in cells)
        need = "" if tested else '<p class="kb-need">Needs an experiment that reports this metric.</p>'
        out.append(
            f'<div class="kb-crux-item"><p><code>{esc(row.metric or row.key)}</code>'
            f'{" in " + ", ".join(esc(e) for e in row.experiments) if row.experiments else ""}</p>'
            f"<ul>{''.join(sides)}</ul>{need}</div>"
        )
    intro = "<p>Predictions on which the explanations disagree: one outcome decides between them.</p>"
    return intro + "".join(out)


def _figures(urls: Urls, here: str, plots: list[Plot]) -> str:
    if not plots:
        return "<p>No plots yet: they appear once runs are recorded.</p>"
    return "".join(
        f'<figure class="kb-plot"><img src="{esc(urls.asset(here, p.path))}" alt="{esc(p.alt)}" '
        f'loading="lazy"><figcaption>{esc(p.alt)}</figcaption></figure>'
        for p in plots
    )


def _mermaid(site: Site, phenomenon: Claim, explanations: list[Claim]) -> str:
    """phenomenon → explanations → sources; only ids and citekeys (validated patterns)."""
    lines = ["graph LR", f'  p0["{phenomenon.id}"]']
    keys: dict[str, str] = {}
    classes: dict[str, list[str]] = {}
    classes.setdefault(site.status_value(phenomenon), []).append("p0")
    for i, claim in enumerate([phenomenon, *explanations]):
        node = "p0" if i == 0 else f"e{i}"
        if i:
            lines.append(f'  {node}["{claim.id}"] -->|explains| p0')
            classes.setdefault(site.status_value(claim), []).append(node)
        for stance, key in sorted({(s.stance.value, s.citekey) for s in claim.sources}):
            if key not in keys:
                keys[key] = f"s{len(keys)}"
                lines.append(f'  {keys[key]}["{key}"]')
            lines.append(f"  {keys[key]} -.->|{stance}| {node}")
    for status, nodes in sorted(classes.items()):
        lines.append(f"  class {','.join(nodes)} {status.replace(' ', '-')}")
    lines += [
        "  classDef supported fill:#d7f0dc,stroke:#2e7d32",
        "  classDef refuted fill:#f8d7da,stroke:#c62828",
        "  classDef contested fill:#fff1c2,stroke:#b7791f",
        "  classDef untested fill:#eceff1,stroke:#78909c",
        "  classDef pending fill:#eceff1,stroke:#78909c",
    ]
    return f'<pre class="mermaid"><code>{esc(chr(10).join(lines))}</code></pre>'


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
