"""One page per experiment: what it tests, its scales and metrics, every run's provenance."""

from __future__ import annotations

from kb.formats.experiment import ExperimentInfo
from kb.formats.records import RunRecord
from kb.site.html import Urls, block, esc, fmt, front_matter, link, paragraphs, table
from kb.site.labels import config_rows, metric_html, metric_unit, regime_text, value_text
from kb.site.model import Site
from kb.site.parts import claim_link, experiment_key, prediction_anchor, verdict_cell
from kb.site.speccurve import INTRO, spec_curve_svg

MAX_DIFF_CHARS = 4000  # a record may carry a 200 kB diff; the page shows its start
MAX_RUNS = 50  # rows of the runs table (every run is still detailed below it)


def experiment_page(site: Site, urls: Urls, name: str) -> str:
    here = experiment_key(name)
    info = site.info(name)
    runs = site.runs_by_experiment.get(name, [])
    out = [front_matter(f"Experiment {name}")]
    head = [f"<h1>Experiment <code>{esc(name)}</code></h1>"]
    if info is None:
        head.append("<p>The script <code>repro/" + esc(name) + ".py</code> is no longer in the "
                    "repository; its recorded runs are kept below.</p>")
    else:
        head.append(f'<p class="kb-meta">script <code>repro/{esc(info.path.name)}</code></p>')
        head.append(paragraphs(info.docstring or "(no docstring)", "kb-docstring"))
    out.append(block(*head, cls="kb-head"))
    out.append("## What it tests\n\n")
    uses = site.predictions_using(name)
    rows = []
    curves = []
    for c, p in uses:
        cell = site.cell(c, p)
        rows.append([
            claim_link(urls, here, c, prediction_anchor(p.id)) + f'<br><span class="kb-pstatement">{esc(p.id)}</span>',
            metric_html(info, p.metric) if p.metric else "—",
            f"<code>{esc(p.expect or '')}</code>",
            verdict_cell(site, urls, here, cell, expect=False),
        ])
        variants = site.variants(c, p)
        if cell.record is not None and variants:
            curves.append(spec_curve_svg(site, cell, variants))
    out.append(block(
        table(["prediction", "metric", "expects", "verdict"], rows, cls="kb-verdicts") if rows
        else "<p>No prediction names this experiment.</p>",
        ("<h3>Do the verdicts survive other design choices?</h3>" + INTRO + "".join(curves)) if curves else "",
    ))
    if info is not None:
        out.append("## Scales, regimes and metrics\n\n")
        out.append(block(_scales(info), _metrics(info), _validity(info)))
    out.append("## Runs\n\n")
    if not runs:
        out.append(block(f"<p>No run recorded yet: <code>kb run {esc(name)}</code> records one.</p>"))
    else:
        out.append(block(_runs_table(urls, here, runs)))
        out.append(block(*(_run_detail(info, r) for r in reversed(runs)), cls="kb-runs"))
    return "".join(out)


def _scales(info: ExperimentInfo) -> str:
    """The scales side by side: where each was measured, then each config value."""
    names = sorted(info.scales, key=lambda n: (n != "smoke", n))
    head, rows = config_rows({n: info.scales[n] for n in names})
    where = [["<strong>measured at</strong>", *(esc(regime_text(info, n)) for n in names)]]
    multiverse = [
        [f"<code>{esc(key)}</code> (free)",
         *(esc("tried: " + value_text(info.multiverse.get(n, {}).get(key))) if key in info.multiverse.get(n, {})
           else "" for n in names)]
        for key in sorted({k for n in names for k in info.multiverse.get(n, {})})
    ]
    table_html = table(["", *(f"<code>{esc(n)}</code>" for n in head)], where + rows + multiverse)
    note = ("<p>Rows marked free are design constants the experiment declares open to choice: "
            "runs at those values draw the specification curve.</p>") if multiverse else ""
    return table_html + note


def _metrics(info: ExperimentInfo) -> str:
    rows = [
        [metric_html(info, m), esc(metric_unit(info, m) or "—"), esc(meaning),
         f'<code class="kb-slug">{esc(m)}</code>']
        for m, meaning in sorted(info.metrics.items())
    ]
    return table(["metric", "unit", "meaning", "name in claims"], rows)


def _validity(info: ExperimentInfo) -> str:
    if not info.validity:
        return ""
    rows = [[esc(v.name), metric_html(info, v.metric) + f" <code>{esc(v.expect)}</code>", esc(v.why)]
            for v in sorted(info.validity.values(), key=lambda v: v.name)]
    return ("<p>Validity checks: a run that fails one makes its verdicts <em>invalid</em>.</p>"
            + table(["check", "requires", "why"], rows))


def _runs_table(urls: Urls, here: str, runs: list[RunRecord]) -> str:
    rows = []
    for r in reversed(runs[-MAX_RUNS:]):
        ok = len(r.ok_results())
        rows.append([
            f'<a href="#run-{esc(r.id)}"><code>{esc(r.id)}</code></a>',
            esc(f"{r.started:%Y-%m-%d}"),
            esc(r.scale),
            esc(f"{ok}/{len(r.results)}"),
            f'<span class="kb-outcome kb-o-{esc(r.outcome.value)}">{esc(r.outcome.value)}</span>',
            f"<code>{esc((r.git.commit or 'unknown')[:10])}</code>" + (" (dirty)" if r.git.dirty else ""),
            esc(r.hardware.device),
            esc(r.packages.get("torch", "—")),
        ])
    shown = (f"<p>Showing the latest {MAX_RUNS} of {len(runs):,} runs; each is detailed below.</p>"
             if len(runs) > MAX_RUNS else "")
    return shown + table(["run", "date", "scale", "seeds ok", "outcome", "commit", "device", "torch"], rows)


def _run_detail(info: ExperimentInfo | None, r: RunRecord) -> str:
    metrics = sorted({m for s in r.results for m in s.metrics})
    seed_rows = [
        [esc(str(s.seed)), esc(s.outcome.value), *(esc(fmt(s.metrics.get(m))) for m in metrics),
         esc(f"{fmt(s.wall_s)} s"), esc(s.device or ""),
         esc(s.reason or "") + (" (reused)" if s.reused else "")]
        for s in sorted(r.results, key=lambda s: s.seed)
    ]
    head = ["seed", "outcome", *(metric_html(info, m) for m in metrics), "time", "device", "note"]
    packages = ", ".join(f"{esc(k)} {esc(v)}" for k, v in sorted(r.packages.items()))
    diff = ""
    if r.git.dirty and r.git.diff:
        shown = r.git.diff[:MAX_DIFF_CHARS]
        more = len(r.git.diff) > MAX_DIFF_CHARS or r.git.diff_truncated
        diff = (f"<details><summary>uncommitted diff{' (truncated)' if more else ''}</summary>"
                f"<pre><code>{esc(shown)}</code></pre></details>")
    hw = r.hardware
    facts = [
        ("started", f"{r.started:%Y-%m-%d %H:%M:%S %Z}".strip()),
        ("wall time", f"{fmt(r.wall_s)} s"),
        ("scale", r.scale),
        ("seeds", ", ".join(str(s) for s in r.seeds)),
        ("outcome", r.outcome.value),
        ("commit", (r.git.commit or "unknown") + (" with uncommitted changes" if r.git.dirty else "")),
        ("script", f"{r.script} (sha256 {r.script_sha256[:12]}…)"),
        ("hardware", f"{hw.device} · {hw.cpu} · {hw.cores} cores" + (f" · {hw.gpu}" if hw.gpu else "") + f" · {hw.platform}"),
        ("command", r.command),
    ]
    fact_rows = [[esc(k), f"<code>{esc(v)}</code>" if k in ("commit", "script", "command") else esc(v)] for k, v in facts]
    fact_rows.append(["packages", packages])
    predictions = ", ".join(f"{esc(p.claim)}/{esc(p.prediction)}" for p in r.predictions)
    if predictions:
        fact_rows.append(["predictions", predictions])
    return (
        f'<div class="kb-run" id="run-{esc(r.id)}"><h3>Run <code>{esc(r.id)}</code></h3>'
        + table(["", ""], fact_rows) + _run_config(info, r) + diff + table(head, seed_rows) + "</div>"
    )


def _run_config(info: ExperimentInfo | None, r: RunRecord) -> str:
    """The run's configuration as a table, with what differs from the registered scale marked."""
    registered = info.scales.get(r.scale, {}) if info is not None else {}
    rows = []
    for key in sorted(r.config):
        value = esc(value_text(r.config[key]))
        if registered and registered.get(key) != r.config[key]:
            value = (f'<strong>{value}</strong> <span class="kb-changed">(registered: '
                     f"{esc(value_text(registered.get(key)))})</span>")
        rows.append([f"<code>{esc(key)}</code>", value])
    if not rows:
        return ""
    differs = registered and r.config != registered
    title = "Configuration" + (" — a variant of the registered one" if differs else "")
    return f"<details><summary>{esc(title)}</summary>{table(['key', 'value'], rows)}</details>"


def experiments_index(site: Site, urls: Urls) -> str:
    here = "experiments"
    out = [front_matter("Experiments"), "# Experiments\n\n"]
    out.append(
        "Each experiment is one readable script in `repro/`; `kb run` executes it over several "
        "seeds and records every run with its provenance.\n\n"
    )
    rows = []
    for name in site.experiments:
        info = site.info(name)
        runs = site.runs_by_experiment.get(name, [])
        last = f"{runs[-1].started:%Y-%m-%d}" if runs else "—"
        rows.append([
            link(urls.page(here, experiment_key(name)), name),
            esc(info.title if info else "(script removed)"),
            esc(", ".join(sorted(info.scales)) if info else ""),
            esc(str(len(site.predictions_using(name)))),
            esc(str(len(runs))),
            esc(last),
        ])
    out.append(block(
        table(["experiment", "what it is", "scales", "predictions", "runs", "last run"], rows)
        if rows else "<p>No experiment yet.</p>"
    ))
    return "".join(out)
