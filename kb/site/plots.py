"""Plots of the runs as SVG, drawn with matplotlib and cached on disk by content hash.

A plot is described by a small JSON-able spec (the numbers and labels it shows). Its file
name is the hash of the spec, so a page links to a plot before it is drawn and an
unchanged plot is never redrawn: rebuilding the site only draws what changed. SVGs are
deterministic (fixed hash salt, no date) and shown through <img>, where an SVG cannot run
scripts. matplotlib is imported only when a plot is actually drawn.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.formats.records import RunRecord, atomic_write
from kb.formats.schema import Prediction

STYLE_VERSION = 3  # bump when the drawing code changes, so cached plots are redrawn
MAX_RUNS = 12  # runs shown per plot (the most recent); the caption says when more exist
MAX_CURVES = 9  # curve panels per plot; the caption says when more exist
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")


@dataclass(frozen=True)
class Plot:
    path: str  # site path, "plots/<hash>.svg"
    alt: str
    spec: dict[str, Any]
    caption: str = ""  # shown under the plot; says what is left out, if anything


def _plot(kind: str, alt: str, spec: dict[str, Any], caption: str = "") -> Plot:
    spec = {"kind": kind, "style": STYLE_VERSION, **spec}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]
    return Plot(f"plots/{digest}.svg", alt, spec, caption or alt)


def curve_axes(name: str) -> tuple[str, str]:
    """(x, y) axis labels of a recorded curve: 'test_error_vs_features_over_n' reads as test
    error against features over n; a curve without '_vs_' is taken to be over training steps."""
    from kb.site.labels import words

    if "_vs_" in name:
        y, x = name.split("_vs_", 1)
        return words(x), words(y)
    return "step", words(name)


def _label(record: RunRecord) -> str:
    return f"{record.started:%Y-%m-%d}\n{record.scale} · {record.id[-6:]}"


def metric_plot(
    experiment: str,
    metric: str,
    runs: list[RunRecord],
    expectations: list[tuple[str, Prediction]],
    label: str | None = None,
) -> Plot | None:
    """Per-seed values of one metric, one column of dots per run, with each expected
    region shaded and labelled by the claim that expects it. None without data.
    `label` is the metric's human label with its unit (the y axis)."""
    columns = []
    with_data = [r for r in runs if any(metric in s.metrics for s in r.ok_results())]
    for record in with_data[-MAX_RUNS:]:
        values = [r.metrics[metric] for r in record.ok_results() if metric in r.metrics]
        if values:
            columns.append({"label": _label(record), "values": values})
    if not columns:
        return None
    bands = []
    for claim_id, p in expectations:
        e = p.expectation
        if e is not None:
            bands.append({"label": f"{claim_id}: {p.expect}", "low": _num(e.low), "high": _num(e.high)})
    ylabel = label or metric
    alt = f"{ylabel} per seed for each run of {experiment}"
    caption = alt + (f"; showing the latest {MAX_RUNS} of {len(with_data)} runs" if len(with_data) > MAX_RUNS else "")
    spec = {"experiment": experiment, "metric": metric, "ylabel": ylabel, "runs": columns, "bands": bands}
    return _plot("metric", alt, spec, caption)


def curve_plot(experiment: str, record: RunRecord) -> Plot | None:
    """The curves one run recorded (one panel per curve, one line per seed)."""
    every = sorted({name for r in record.ok_results() for name in r.curves})
    names = every[:MAX_CURVES]
    if not names:
        return None
    panels = []
    for name in names:
        lines = [
            {"seed": r.seed, "x": r.curves[name]["x"], "y": r.curves[name]["y"]}
            for r in sorted(record.ok_results(), key=lambda r: r.seed)
            if name in r.curves
        ]
        x, y = curve_axes(name)
        panels.append({"name": name, "x_label": x, "y_label": y, "lines": lines})
    alt = f"curves recorded by run {record.id} of {experiment}, one line per seed"
    caption = alt + (f"; showing {len(names)} of {len(every)} curves ({', '.join(every[MAX_CURVES:])} not drawn)"
                     if len(every) > len(names) else "")
    return _plot("curves", alt, {"experiment": experiment, "run": record.id, "panels": panels}, caption)


def _num(value: float) -> float | None:
    return value if math.isfinite(value) else None


def render(plot: Plot, cache_dir: Path | None) -> str:
    """The SVG text of a plot, from the cache when it was drawn before."""
    cached = cache_dir / Path(plot.path).name if cache_dir else None
    if cached is not None and cached.exists():
        return cached.read_text(encoding="utf-8")
    svg = _draw(plot.spec)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(cached, svg, durable=False)  # a lost plot is only drawn again
    return svg


def _draw(spec: dict[str, Any]) -> str:
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    settings: dict[str, Any] = {"svg.hashsalt": "kb", "svg.fonttype": "none", "text.parse_math": False,
                "font.size": 10, "axes.spines.top": False, "axes.spines.right": False,
                "axes.formatter.useoffset": False, "axes.formatter.use_locale": False}
    with matplotlib.rc_context(settings):  # type: ignore[arg-type]
        if spec["kind"] == "metric":
            fig = _draw_metric(Figure(figsize=(6.4, 3.6), layout="constrained"), spec)
        else:
            n = len(spec["panels"])
            size = (6.4 if n > 1 else 4.2, 2.6 * math.ceil(n / 2) + 0.4)
            fig = _draw_curves(Figure(figsize=size, layout="constrained"), spec)
        FigureCanvasSVG(fig)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _draw_metric(fig: Any, spec: dict[str, Any]) -> Any:
    """Runs as columns of dots; to their right, one bar per expectation over the region
    where it holds (so overlapping expectations stay readable)."""
    ax = fig.add_subplot()
    runs, bands = spec["runs"], spec["bands"]
    values = [v for column in runs for v in column["values"]]
    for i, column in enumerate(runs):
        n = len(column["values"])
        xs = [i + (k - (n - 1) / 2) * min(0.08, 0.6 / max(n, 1)) for k in range(n)]
        ax.scatter(xs, column["values"], s=18, color="#222222", zorder=3)
        mean = sum(column["values"]) / n
        ax.hlines(mean, i - 0.3, i + 0.3, color="#222222", linewidth=1, zorder=3)
    finite = values + [b[k] for b in bands for k in ("low", "high") if b[k] is not None]
    lo, hi = min(finite), max(finite)
    pad = (hi - lo) * 0.15 or abs(hi) * 0.1 or 1.0
    ax.set_ylim(lo - pad, hi + pad)
    ticks: list[float] = list(range(len(runs)))
    labels: list[str] = [c["label"] for c in runs]
    for k, band in enumerate(bands):
        color = PALETTE[k % len(PALETTE)]
        low = band["low"] if band["low"] is not None else lo - pad
        high = band["high"] if band["high"] is not None else hi + pad
        x = len(runs) + 0.1 + 0.5 * k
        ax.bar(x, high - low, bottom=low, width=0.3, color=color, alpha=0.35, edgecolor=color)
        for edge in (band["low"], band["high"]):
            if edge is not None:
                ax.axhline(edge, color=color, linewidth=0.8, linestyle="--", alpha=0.6)
        ticks.append(x)
        labels.append(band["label"].replace(": ", "\n"))
    ax.set_xticks(ticks, labels, fontsize=8)
    ax.set_xlim(-0.6, len(runs) + 0.5 * len(bands) - 0.1 if bands else len(runs) - 0.4)
    ax.yaxis.set_major_formatter(_human_formatter())
    ax.set_ylabel(spec.get("ylabel", spec["metric"]))
    ax.set_xlabel("runs (date · scale · id): one dot per seed, line = mean; then each claim's expected region")
    ax.xaxis.label.set_size(8)
    ax.set_title(f"{spec.get('ylabel', spec['metric'])} — {spec['experiment']}", fontsize=10)
    return fig


def _human_formatter() -> Any:
    """Tick labels for people: 4,000 not 4e+03 (kb.site.html.fmt)."""
    from matplotlib.ticker import FuncFormatter

    from kb.site.html import fmt

    return FuncFormatter(lambda value, _: fmt(float(value), digits=4))


def _draw_curves(fig: Any, spec: dict[str, Any]) -> Any:
    n = len(spec["panels"])
    axes = fig.subplots(math.ceil(n / 2), min(n, 2), squeeze=False).flatten()
    for ax, panel in zip(axes, spec["panels"], strict=False):
        for k, line in enumerate(panel["lines"]):
            ax.plot(line["x"], line["y"], color=PALETTE[k % len(PALETTE)], linewidth=1,
                    label=f"seed {line['seed']}")
        ax.set_xlabel(panel.get("x_label", ""), fontsize=9)
        ax.set_ylabel(panel.get("y_label", ""), fontsize=9)
        ax.xaxis.set_major_formatter(_human_formatter())
        ax.yaxis.set_major_formatter(_human_formatter())
        ax.tick_params(labelsize=8)
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8, frameon=False)
    fig.suptitle(f"{spec['experiment']} · run {spec['run']} · one line per seed", fontsize=10)
    return fig
