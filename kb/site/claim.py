"""One page per claim (an anchor per prediction, ClaimReview JSON-LD), and the claims index."""

from __future__ import annotations

from typing import Any

from kb.data import jsonld
from kb.formats.schema import Claim, Kind, interval_text
from kb.site.html import (
    Urls,
    anchor_id,
    block,
    esc,
    fmt,
    front_matter,
    json_ld,
    link,
    paragraphs,
    table,
)
from kb.site.labels import metric_html
from kb.site.model import Cell, Site
from kb.site.parts import (
    HISTORY_HEAD,
    STATE_HELP,
    claim_key,
    claim_link,
    evidence_lines,
    experiment_key,
    history_rows,
    kind_badge,
    phenomenon_key,
    prediction_anchor,
    run_link,
    scope_line,
    sources_list,
    status_badge,
    tier_badge,
    verdict_cell,
)
from kb.site.speccurve import INTRO, spec_curve_svg


def claim_page(site: Site, urls: Urls, claim: Claim) -> str:
    here = claim_key(claim)
    phenomenon = site.phenomenon_of(claim)
    out = [front_matter(claim.title)]
    relation = ""
    if claim.kind is Kind.explanation and claim.explains in site.by_id:
        relation = (
            "Explains "
            + link(urls.page(here, phenomenon_key(phenomenon)), phenomenon.title)
            + " — see it side by side with its competitors."
        )
    elif claim.kind is Kind.phenomenon:
        n = len(site.explanations_of(claim))
        relation = link(
            urls.page(here, phenomenon_key(claim)),
            f"The phenomenon page compares its {n} competing explanation{'s' if n != 1 else ''}.",
        )
    if claim.refines and claim.refines in site.by_id:
        relation += " Narrows " + claim_link(urls, here, site.by_id[claim.refines]) + "."
    topic = link(urls.page(here, "claims", f"topic-{claim.topic}"), claim.topic)
    out.append(block(
        f"<h1>{esc(claim.title)}</h1>",
        f'<p class="kb-meta">{kind_badge(claim)} {status_badge(site, claim)} · topic {topic}</p>',
        paragraphs(claim.statement, "kb-statement"),
        paragraphs(claim.summary),
        f'<p class="kb-relation">{relation}</p>' if relation else "",
        cls="kb-head",
    ))
    out.append("## Status\n\n")
    out.append(block(_status(site, claim)))
    out.append("## Two lines of evidence\n\n")
    out.append(block(evidence_lines(claim)))
    out.append("## Predictions\n\n")
    out.append(block(*(_prediction(site, urls, here, site.cell(claim, p)) for p in claim.predictions))
               if claim.predictions else block("<p>This claim states no prediction yet.</p>"))
    out.append("## Sources\n\n")
    out.append(block(sources_list(site, urls, here, claim)))
    out.append("## Scope\n\n")
    out.append(block(scope_line(claim, "Scope · any regime: the claim names no limits.")))
    if claim.would_change_our_mind:
        out.append("## What would change our mind\n\n")
        out.append(block(paragraphs(claim.would_change_our_mind)))
    out.append("## History\n\n")
    rows = history_rows(urls, here, [claim], site)
    out.append(block(
        table(HISTORY_HEAD, rows) if rows
        else "<p>No status change recorded yet.</p>"
    ))
    tags = ", ".join(link(urls.page(here, "tags", anchor_id("tag", t)), t) for t in claim.tags)
    out.append(block(
        f"<p>File <code>{esc(site.file(claim))}</code> · created {esc(claim.created.isoformat())}"
        f" · updated {esc(claim.updated.isoformat())}" + (f" · tags {tags}" if tags else "") + "</p>",
        cls="kb-foot",
    ))
    out.append(json_ld(claim_review(site, claim, urls)) + "\n")
    return "".join(out)


def _status(site: Site, claim: Claim) -> str:
    s = claim.status
    if s is None:
        return (
            "<p>Not derived yet: <code>kb run</code> (or the status refresh) has not computed "
            "this claim's status from its runs and literature.</p>"
        )
    steps = "".join(
        f"<li>{'+' if step.change > 0 else '−'}{abs(step.change)} grade{'s' if abs(step.change) > 1 else ''}: "
        f"{esc(step.reason)}</li>"
        for step in s.certainty_steps
    )
    return (
        f'<p><span class="kb-badge kb-s-{esc(s.value.value)}">{esc(s.value.value)}</span> '
        f"with <strong>{esc(s.certainty.value)}</strong> certainty · evidence: {tier_badge(claim, site)}</p>"
        f'<p class="kb-reason">{esc(s.reason)}</p>'
        + (f"<p>Certainty steps:</p><ul>{steps}</ul>" if steps else "")
    )


def _prediction(site: Site, urls: Urls, here: str, cell: Cell) -> str:
    p = cell.prediction
    facts = []
    if p.experiment:
        facts.append("experiment " + link(urls.page(here, experiment_key(p.experiment)), p.experiment))
    if p.metric:
        facts.append("metric " + metric_html(site.info(p.experiment or ""), p.metric))
    if p.expect:
        facts.append(f"expects <code>{esc(p.expect)}</code>")
    if p.registered:
        facts.append(f"registered {esc(p.registered.isoformat())}")
    verdict = f'<div class="kb-scroll"><table class="kb-verdicts"><tbody><tr>' \
              f"{verdict_cell(site, urls, here, cell, expect=False)}" \
              f"<td>{esc(STATE_HELP[cell.state])}{_record(site, urls, here, cell)}</td></tr></tbody></table></div>"
    curve = _spec_curve(site, cell)
    return (
        f'<div class="kb-prediction" id="{esc(prediction_anchor(p.id))}">'
        f"<h3>{esc(p.id)}</h3>{paragraphs(p.statement)}"
        f'<p class="kb-facts">{" · ".join(facts)}</p>{verdict}{curve}</div>'
    )


def _spec_curve(site: Site, cell: Cell) -> str:
    variants = site.variants(cell.claim, cell.prediction)
    if cell.record is None or not variants:
        return ""
    return INTRO + spec_curve_svg(site, cell, variants)


def _record(site: Site, urls: Urls, here: str, cell: Cell) -> str:
    r = cell.record
    if r is None:
        return ""
    facts = []
    if r.scale:
        facts.append(f"measured at {esc(site.regime(cell))}")
    if r.interval is not None and r.level is not None:
        facts.append(f"{esc(_percent(r.level))} interval {esc(interval_text(r.interval, fmt))}")
    if r.censored:
        facts.append(f"{r.censored:,} of {r.n:,} seeds censored: they only bound the value")
    if r.p_adjusted is not None:
        facts.append(f"Holm-adjusted p = {esc(fmt(r.p_adjusted))}")
    if r.seeds_needed:
        facts.append(f"about {r.seeds_needed:,} seeds would decide it")
    if r.confirmatory is not None:
        facts.append("confirmatory" if r.confirmatory else "exploratory")
    runs = ", ".join(run_link(urls, here, site, run) for run in r.runs)
    stale = ", ".join(run_link(urls, here, site, run) for run in r.stale_runs)
    reason = f"<br>{esc(r.reason)}" if r.reason else ""
    return (
        reason
        + (f"<br>{' · '.join(facts)}" if facts else "")
        + (f"<br>runs counted: {runs}" if runs else "")
        + (f"<br>stale runs (not counted): {stale}" if stale else "")
    )


def _percent(level: float) -> str:
    """0.998571 -> '99.86%': enough digits to tell the Holm-corrected level from 99%."""
    return f"{level:.2%}" if level < 0.9999 else f"{level:.4%}"


def claim_review(site: Site, claim: Claim, urls: Urls) -> dict[str, Any]:
    """The claim's ClaimReview (kb.data.jsonld builds it), addressed to this page when the site has a URL."""
    base = (site.options.site_url or "").rstrip("/")
    url = f"{base}/{urls.page('', claim_key(claim))}" if base else None
    return jsonld.document(
        jsonld.claim_review(claim, site.references, site.options.site_name, url)
    )


def claims_index(site: Site, urls: Urls) -> str:
    here = "claims"
    out = [front_matter("All claims"), "# All claims\n\n"]
    out.append(f"{len(site.claims)} claims, by topic: each phenomenon followed by its explanations.\n\n")
    for topic in site.topics:
        rows = []
        for p in [c for c in site.phenomena if c.topic == topic]:
            rows.append(_index_row(site, urls, here, p, ""))
            rows += [_index_row(site, urls, here, e, "↳ ") for e in site.explanations_of(p)]
        listed = {c.id for c in site.phenomena} | {e.id for p in site.phenomena for e in site.explanations_of(p)}
        rows += [_index_row(site, urls, here, c, "") for c in site.claims if c.topic == topic and c.id not in listed]
        out.append(block(
            f'<h2 id="topic-{esc(topic)}">{esc(topic)}</h2>',
            table(["claim", "kind", "status", "predictions"], rows),
        ))
    return "".join(out)


def _index_row(site: Site, urls: Urls, here: str, claim: Claim, prefix: str) -> list[str]:
    tested = sum(site.cell(claim, p).state in ("holds", "fails", "inconclusive") for p in claim.predictions)
    return [
        esc(prefix) + claim_link(urls, here, claim),
        esc(claim.kind.value),
        status_badge(site, claim),
        esc(f"{tested} of {len(claim.predictions)} tested"),
    ]

