"""Pages about the whole knowledge base: home, coverage, timeline, tags, bibliography,
methodology."""

from __future__ import annotations

from collections import Counter

from kb.formats.schema import Claim
from kb.site.html import Urls, anchor_id, block, esc, external, front_matter, link, plural, table
from kb.site.labels import metric_html
from kb.site.model import PENDING, STATUS_ORDER, Site
from kb.site.parts import (
    HISTORY_HEAD,
    claim_link,
    crux_state,
    history_rows,
    phenomenon_key,
    prediction_anchor,
    status_badge,
    tier,
    tier_badge,
)

RECENT = 10  # status changes and open predictions shown on the home page


def home(site: Site, urls: Urls) -> str:
    here = ""
    n_claims = len(site.claims)
    out = [front_matter("The state of understanding")]
    out.append(block(
        f"<h1>{esc(site.options.site_name)}</h1>",
        "<p>For each phenomenon of deep learning, every explanation that has been proposed, "
        "what each predicts, what the literature says, what our own reproductions measured, "
        "and how confident we are — side by side.</p>",
        f'<p class="kb-meta">{plural(n_claims, "claim")} · {plural(len(site.phenomena), "phenomenon", "phenomena")} · '
        f'{plural(len(site.references), "source")} · {plural(len(site.experiments), "experiment")} · '
        f'{plural(len(site.records), "run")}</p>',
        cls="kb-head",
    ))
    out.append("## Where understanding stands\n\n")
    out.append(block(_standing(site, urls, here)))
    for topic in site.topics:
        phenomena = [c for c in site.phenomena if c.topic == topic]
        if phenomena:
            out.append(block(
                f'<h2 id="topic-{esc(topic)}">{esc(topic)}</h2>',
                *(_phenomenon_card(site, urls, here, p) for p in phenomena),
            ))
    out.append("## Recent status changes\n\n")
    rows = history_rows(urls, here, site.claims, site)
    out.append(block(
        table(HISTORY_HEAD, rows[:RECENT]) if rows
        else "<p>No status change recorded yet.</p>",
        f'<p>{_showing(min(RECENT, len(rows)), len(rows), "change")} All of them on the '
        f'<a href="{esc(urls.page(here, "timeline"))}">timeline</a>, '
        f'also as an <a href="{esc(urls.asset(here, "feed.xml"))}">Atom feed</a>.</p>',
    ))
    out.append("## Still open\n\n")
    open_items = site.open_predictions
    items = "".join(
        f"<li>{claim_link(urls, here, c, prediction_anchor(p.id))}: "
        f"{esc(' '.join(p.statement.split()))}</li>"
        for c, p in open_items[:RECENT]
    )
    out.append(block(
        f"<p>{plural(len(open_items), 'prediction')} still need{'s' if len(open_items) == 1 else ''} an experiment."
        + (f" {_showing(RECENT, len(open_items), 'prediction')}" if len(open_items) > RECENT else "")
        + "</p>"
        + (f"<ul>{items}</ul>" if items else "")
        + f'<p>Where evidence exists, conflicts or is missing: the <a href="{esc(urls.page(here, "coverage"))}">coverage map</a>.</p>'
    ))
    out.append("## How to read a verdict\n\n")
    out.append(
        "Each prediction gets a **verdict** from the seeds of its runs: "
        '<span class="kb-cell kb-v-holds">holds</span> when the whole confidence interval lies '
        "where the prediction expects it, "
        '<span class="kb-cell kb-v-fails">fails</span> when it lies where the prediction says it '
        'cannot, <span class="kb-cell kb-v-inconclusive">inconclusive</span> when it straddles '
        "the threshold (or too few seeds, or not significant once corrected within its family), "
        '<span class="kb-cell kb-v-invalid">invalid</span> when a validity check of the experiment '
        'failed, <span class="kb-cell kb-v-untested">untested</span> without a current run. '
        "Every verdict names where it was measured (data · model · scale · device). "
        "A claim's **status** (supported, refuted, contested, untested) combines two lines of "
        "evidence, the literature and our reproductions, and its **certainty** (high to very "
        "low) says how far to trust it: see the "
        "[methodology](methodology/index.md) and [how to read this site](how-to-read.md).\n\n"
    )
    out.append("## How to contribute\n\n")
    out.append(
        "Add or amend a claim by pull request: one YAML file, maybe a BibTeX entry and a "
        "reproduction script. `kb check` tells you what is wrong before a reviewer does; "
        "`kb run` tests the predictions. See [contributing](contributing.md).\n\n"
    )
    return "".join(out)


def _showing(shown: int, total: int, noun: str) -> str:
    """'Showing 10 of 24 changes.': a list that is cut says so."""
    if total <= shown:
        return ""
    return f"Showing {shown:,} of {plural(total, noun)}."


def _standing(site: Site, urls: Urls, here: str) -> str:
    """The few sentences a reader needs before the details."""
    explanations = [e for p in site.phenomena for e in site.explanations_of(p)]
    tally = Counter(site.status_value(e) for e in explanations)
    counts = ", ".join(
        f'<span class="kb-badge kb-s-{esc(s)}">{tally[s]} {esc(s if s != PENDING else "not derived")}</span>'
        for s in STATUS_ORDER if tally[s]
    )
    parts = [
        f"<p>{plural(len(site.phenomena), 'phenomenon', 'phenomena')} with "
        f"{plural(len(explanations), 'competing explanation')}: {counts}.</p>"
    ]
    parts.append(f"<p>{esc(_where_measured(site))}</p>")
    tiers = Counter(tier(e) for e in explanations)
    if tiers:
        parts.append("<p>What the explanations' statuses rest on: " + ", ".join(
            f"{n} {esc(t)}" for t, n in sorted(tiers.items(), key=lambda kv: (-kv[1], kv[0]))) + ".</p>")
    looks = [p for p in site.phenomena if _only_looks_settled(site, p)]
    if looks:
        items = "".join(f"<li>{link(urls.page(here, phenomenon_key(p)), p.title)}</li>" for p in looks)
        parts.append(
            f"<p><strong>Only looks settled</strong> ({len(looks)}): every competing explanation is "
            "“supported” at once, and no crux that could tell them apart has been run. "
            "Supporting all of them means none has been tested against the others:</p>"
            f'<ul class="kb-columns">{items}</ul>'
        )
    return "".join(parts)


def _where_measured(site: Site) -> str:
    """Say plainly at what scale and on what hardware our verdicts were measured."""
    scales: Counter[str] = Counter()
    devices: set[str] = set()
    data_scales: set[str] = set()
    total = 0
    for c in site.claims:
        for p in c.predictions:
            cell = site.cell(c, p)
            if cell.record is None or not cell.record.n:
                continue
            total += 1
            scales[cell.record.scale or "unknown"] += 1
            devices.update(site.devices(cell.record))
            regime = site.regime_of(cell)
            if regime.get("data_scale"):
                data_scales.add(str(regime["data_scale"]))
    if not total:
        return "No reproduction has been run yet: every status rests on the literature alone."
    device = " and ".join(sorted({"CPU" if d.lower().startswith("cpu") else "GPU" for d in devices})) or "unknown hardware"
    if set(scales) == {"smoke"}:
        data = " and ".join(sorted(data_scales)) or "small"
        return (f"All {total:,} measured verdicts come from smoke-scale runs ({data} data, small "
                f"models) on {device}: toy-scale reproductions, not the papers' settings. They can "
                "make a claim contested; alone they cannot settle one that the literature "
                "speaks to at its own scale.")
    shown = ", ".join(f"{n:,} at {s} scale" for s, n in sorted(scales.items()))
    return f"{total:,} measured verdicts: {shown}; devices: {device}."


def _only_looks_settled(site: Site, phenomenon: Claim) -> bool:
    explanations = site.explanations_of(phenomenon)
    if len(explanations) < 2 or any(site.status_value(e) != "supported" for e in explanations):
        return False
    return not any(crux_state(r)[0] == "run" for r in site.matrix(phenomenon) if r.crux)


def _phenomenon_card(site: Site, urls: Urls, here: str, p: Claim) -> str:
    explanations = site.explanations_of(p)
    rows = [[
        link(urls.page(here, phenomenon_key(p)), "the phenomenon itself"),
        f"{status_badge(site, p)} {tier_badge(p, site)}",
    ]]
    rows += [[claim_link(urls, here, e), f"{status_badge(site, e)} {tier_badge(e, site)}"] for e in explanations]
    cruxes = [r for r in site.matrix(p) if r.crux]
    if cruxes:
        lines = []
        for row in cruxes:
            info = site.info(row.experiments[0]) if row.experiments else None
            what = metric_html(info, row.metric) if row.metric else esc(row.key)
            kind, state = crux_state(row)
            lines.append(f'<li class="kb-crux-{esc(kind)}">{what} — {esc(state)}</li>')
        crux = ('<p class="kb-cruxline"><span class="kb-crux">crux</span> what would decide between '
                f'them:</p><ul>{"".join(lines)}</ul>')
    elif len(explanations) >= 2:
        crux = '<p class="kb-cruxline">No crux yet: no two explanations expect incompatible outcomes of one measurement.</p>'
    else:
        crux = ""
    return (
        f'<div class="kb-card"><h3>{link(urls.page(here, phenomenon_key(p)), p.title)}</h3>'
        + table(["", "status · certainty · what it rests on"], rows, cls="kb-home")
        + crux + "</div>"
    )


def coverage(site: Site, urls: Urls) -> str:
    here = "coverage"
    out = [front_matter("Coverage"), "# Coverage\n\n"]
    out.append(
        "Where the evidence is, by topic and regime. A cell counts the stored verdicts whose "
        "runs were made in that regime (the experiment's declared `REGIME` for the scale "
        "used) and the claims whose scope includes it: "
        '<span class="kb-cov kb-cov-evidence">evidence</span> verdicts exist, '
        '<span class="kb-cov kb-cov-conflict">conflict</span> a claim both holds and fails there, '
        '<span class="kb-cov kb-cov-missing">missing</span> claimed but untested.\n\n'
    )
    for axis, title in (("data_scale", "Data scale"), ("architectures", "Architecture")):
        out.append(f"## {title}\n\n")
        columns, grid = site.coverage(axis)
        rows = []
        for topic in site.topics:
            cells = []
            for col in columns:
                cell = grid.get((topic, col))
                if cell is None or cell.state == "none":
                    cells.append('<td class="kb-cov-none"></td>')
                    continue
                parts = []
                if cell.holds or cell.fails or cell.inconclusive:
                    parts.append(f"{cell.holds} holds · {cell.fails} fails · {cell.inconclusive} inconclusive")
                if cell.conflicts:
                    parts.append("conflict: " + ", ".join(sorted(cell.conflicts)))
                untested = cell.claimed - cell.tested
                if untested:
                    parts.append(f"{len(untested)} claimed, untested")
                cells.append(f'<td class="kb-cov-{esc(cell.state)}">{"<br>".join(esc(p) for p in parts)}</td>')
            rows.append([link(urls.page(here, "claims", f"topic-{topic}"), topic), *cells])
        out.append(block(
            table(["topic", *(esc(c) for c in columns)], rows) if columns
            else "<p>No claim states a regime of this kind yet.</p>"
        ))
    out.append("## Open predictions that need an experiment\n\n")
    by_topic: dict[str, list[str]] = {}
    for c, p in site.open_predictions:
        by_topic.setdefault(c.topic, []).append(
            f"<li>{claim_link(urls, here, c, prediction_anchor(p.id))} · <code>{esc(p.id)}</code>: "
            f"{esc(' '.join(p.statement.split()))}"
            + (f" <span class=\"kb-expect\">({esc(p.metric or '')} {esc(p.expect or '')})</span>" if p.expect else "")
            + "</li>"
        )
    if not by_topic:
        out.append(block("<p>None: every prediction names an experiment.</p>"))
    for topic, items in by_topic.items():
        out.append(block(f'<h3 id="open-{esc(topic)}">{esc(topic)} ({len(items)})</h3><ul>{"".join(items)}</ul>'))
    return "".join(out)


def timeline(site: Site, urls: Urls) -> str:
    here = "timeline"
    out = [front_matter("Timeline"), "# Timeline of status changes\n\n"]
    out.append(
        "Every change of a claim's status or certainty, newest first, as recorded by `kb run`. "
        "Subscribe to the [Atom feed](../feed.xml).\n\n"
    )
    rows = history_rows(urls, here, site.claims, site)
    out.append(block(
        table(HISTORY_HEAD, rows) if rows
        else "<p>No status change recorded yet.</p>"
    ))
    return "".join(out)


def tags(site: Site, urls: Urls) -> str:
    here = "tags"
    out = [front_matter("Tags"), "# Tags\n\n"]
    if not site.tags:
        out.append("No claim has a tag yet.\n")
    index = " · ".join(f'<a href="#{esc(anchor_id("tag", t))}">{esc(t)}</a> ({len(cs)})' for t, cs in site.tags.items())
    if index:
        out.append(block(f"<p>{index}</p>"))
    for tag, claims in site.tags.items():
        items = "".join(f"<li>{claim_link(urls, here, c)} {status_badge(site, c)}</li>" for c in claims)
        out.append(block(f'<h2 id="{esc(anchor_id("tag", tag))}">{esc(tag)}</h2><ul>{items}</ul>'))
    return "".join(out)


def bibliography(site: Site, urls: Urls) -> str:
    here = "bibliography"
    out = [front_matter("Bibliography"), "# Bibliography\n\n"]
    out.append("Every work in `claims/references.bib`, with the claims that cite it and how.\n\n")
    refs = sorted(site.references.values(), key=lambda r: (r.short_authors.lower(), r.year, r.key))
    for ref in refs:
        cited = site.cited_by.get(ref.key, [])
        backlinks = "".join(
            f'<li><span class="kb-stance kb-st-{esc(stance)}">{esc(stance)}</span> {claim_link(urls, here, c)}</li>'
            for c, stance in cited
        ) or "<li>not cited by any claim</li>"
        venue = f" <em>{esc(ref.venue)}</em>." if ref.venue else ""
        out.append(block(
            f'<div class="kb-ref" id="{esc(anchor_id("ref", ref.key))}">'
            f"<p><strong>{esc(', '.join(ref.authors))}</strong> ({esc(ref.year)}). "
            f"{external(ref.link, ref.title)}.{venue} <code>{esc(ref.key)}</code></p>"
            f"<ul>{backlinks}</ul></div>"
        ))
    return "".join(out)


def methodology() -> str:
    """The rule, printed by the evidence engine from the code that applies it."""
    try:
        from kb.evidence.methodology import methodology_markdown
    except ImportError:
        text = (
            "# Methodology\n\n"
            "The evidence engine (`kb.evidence.rules`) is not installed in this build, so the rule "
            "that turns runs into verdicts and statuses cannot be printed here. It is generated "
            "from the code that applies it; rebuild the site with the engine present.\n"
        )
    else:
        text = methodology_markdown()
    return front_matter("Methodology") + text
