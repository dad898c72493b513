"""Pages about the whole knowledge base: home, coverage, timeline, tags, bibliography,
methodology."""

from __future__ import annotations

from collections import Counter

from kb.site.html import Urls, anchor_id, block, esc, external, front_matter, link, table
from kb.site.model import CERTAINTY_ORDER, PENDING, STATUS_ORDER, Site
from kb.site.parts import (
    claim_link,
    history_rows,
    phenomenon_key,
    prediction_anchor,
    status_badge,
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
        f'<p class="kb-meta">{n_claims} claims · {len(site.phenomena)} phenomena · '
        f"{len(site.kb.references)} sources · {len(site.experiments)} experiments · "
        f"{len(site.records)} runs</p>",
        cls="kb-head",
    ))
    out.append("## At a glance\n\n")
    out.append(block(_counts(site)))
    out.append("## By topic\n\n")
    for topic in site.topics:
        rows = []
        for p in (c for c in site.phenomena if c.topic == topic):
            explanations = site.explanations_of(p)
            tally = Counter(site.status_value(e) for e in explanations)
            summary = ", ".join(f"{tally[s]} {s if s != PENDING else 'not derived'}" for s in STATUS_ORDER if tally[s])
            rows.append([
                link(urls.page(here, phenomenon_key(p)), p.title),
                status_badge(site, p),
                esc(f"{len(explanations)}" + (f" ({summary})" if summary else "")),
                esc(str(sum(r.crux for r in site.matrix(p)))),
            ])
        if rows:
            out.append(block(
                f'<h3 id="topic-{esc(topic)}">{esc(topic)}</h3>',
                table(["phenomenon", "status", "explanations", "cruxes"], rows),
            ))
    out.append("## Recent status changes\n\n")
    rows = history_rows(urls, here, site.claims, site)[:RECENT]
    out.append(block(
        table(["date", "claim", "before", "after", "run"], rows) if rows
        else "<p>No status change recorded yet.</p>",
        f'<p>All of them on the <a href="{esc(urls.page(here, "timeline"))}">timeline</a>, '
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
        f"<p>{len(open_items)} prediction{'s' if len(open_items) != 1 else ''} still need an experiment"
        + (f"; the first {RECENT}:" if len(open_items) > RECENT else ":" if open_items else ".")
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
        "the threshold (or too few seeds, or not significant once corrected for every prediction "
        'tested), <span class="kb-cell kb-v-untested">untested</span> without a current run. '
        "A claim's **status** (supported, refuted, contested, untested) and its **certainty** "
        "(high to very low) follow from its verdicts and the literature by one rule: see the "
        "[methodology](methodology/index.md) and [how to read this site](how-to-read.md).\n\n"
    )
    out.append("## How to contribute\n\n")
    out.append(
        "Add or amend a claim by pull request: one YAML file, maybe a BibTeX entry and a "
        "reproduction script. `kb check` tells you what is wrong before a reviewer does; "
        "`kb run` tests the predictions. See [contributing](contributing.md).\n\n"
    )
    return "".join(out)


def _counts(site: Site) -> str:
    grid = Counter((site.status_value(c), site.certainty(c)) for c in site.claims)
    rows = []
    for status in STATUS_ORDER:
        total = sum(v for (s, _), v in grid.items() if s == status)
        if status == PENDING:
            cells = ["" for _ in CERTAINTY_ORDER]
        else:
            cells = [esc(str(grid[(status, c)])) if grid[(status, c)] else "" for c in CERTAINTY_ORDER]
        label = "not derived yet" if status == PENDING else status
        rows.append([f'<span class="kb-badge kb-s-{esc(status)}">{esc(label)}</span>', *cells, f"<strong>{total}</strong>"])
    return table(["status", *CERTAINTY_ORDER, "claims"], rows)


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
        table(["date", "claim", "before", "after", "run"], rows) if rows
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
    refs = sorted(site.kb.references.values(), key=lambda r: (r.short_authors.lower(), r.year, r.key))
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
