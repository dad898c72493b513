"""One page per experiment: what it tests, its scales and metrics, every run's provenance."""

from __future__ import annotations

import json

from kb.formats.records import RunRecord
from kb.site.html import Urls, block, esc, fmt, front_matter, link, paragraphs, table
from kb.site.model import Site
from kb.site.parts import claim_link, experiment_key, prediction_anchor

MAX_DIFF_CHARS = 4000  # a record may carry a 200 kB diff; the page shows its start


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
    items = "".join(
        f"<li>{claim_link(urls, here, c, prediction_anchor(p.id))} · <code>{esc(p.id)}</code>: "
        f"<code>{esc(p.metric or '')}</code> expected <code>{esc(p.expect or '')}</code></li>"
        for c, p in uses
    )
    out.append(block(f"<ul>{items}</ul>" if items else "<p>No prediction names this experiment.</p>"))
    if info is not None:
        out.append("## Scales, regimes and metrics\n\n")
        scale_rows = [
            [f"<code>{esc(scale)}</code>", f"<code>{esc(json.dumps(config, sort_keys=True))}</code>",
             f"<code>{esc(json.dumps(info.regime.get(scale, {}), sort_keys=True))}</code>"]
            for scale, config in sorted(info.scales.items())
        ]
        metric_rows = [[f"<code>{esc(m)}</code>", esc(meaning)] for m, meaning in sorted(info.metrics.items())]
        out.append(block(
            table(["scale", "configuration", "regime"], scale_rows),
            table(["metric", "meaning"], metric_rows),
        ))
    out.append("## Runs\n\n")
    if not runs:
        out.append(block(f"<p>No run recorded yet: <code>kb run {esc(name)}</code> records one.</p>"))
    else:
        out.append(block(_runs_table(urls, here, runs)))
        out.append(block(*(_run_detail(r) for r in reversed(runs)), cls="kb-runs"))
    return "".join(out)


def _runs_table(urls: Urls, here: str, runs: list[RunRecord]) -> str:
    rows = []
    for r in reversed(runs):
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
    return table(["run", "date", "scale", "seeds ok", "outcome", "commit", "device", "torch"], rows)


def _run_detail(r: RunRecord) -> str:
    metrics = sorted({m for s in r.results for m in s.metrics})
    seed_rows = [
        [esc(str(s.seed)), esc(s.outcome.value), *(esc(fmt(s.metrics.get(m))) for m in metrics),
         esc(f"{s.wall_s:.1f} s"), esc(s.device or ""),
         esc(s.reason or "") + (" (reused)" if s.reused else "")]
        for s in sorted(r.results, key=lambda s: s.seed)
    ]
    head = ["seed", "outcome", *(f"<code>{esc(m)}</code>" for m in metrics), "time", "device", "note"]
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
        ("wall time", f"{r.wall_s:.1f} s"),
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
    config = f"<code>{esc(json.dumps(r.config, sort_keys=True))}</code>"
    fact_rows.append(["configuration", config])
    return (
        f'<div class="kb-run" id="run-{esc(r.id)}"><h3>Run <code>{esc(r.id)}</code></h3>'
        + table(["", ""], fact_rows) + diff + table(head, seed_rows) + "</div>"
    )


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
