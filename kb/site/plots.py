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

STYLE_VERSION = 2  # bump when the drawing code changes, so cached plots are redrawn
MAX_RUNS = 12  # runs shown per plot (the most recent)
MAX_CURVES = 6  # curve panels per plot
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")


@dataclass(frozen=True)
class Plot:
    path: str  # site path, "plots/<hash>.svg"
    alt: str
    spec: dict[str, Any]


def _plot(kind: str, alt: str, spec: dict[str, Any]) -> Plot:
    spec = {"kind": kind, "style": STYLE_VERSION, **spec}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]
    return Plot(f"plots/{digest}.svg", alt, spec)


def _label(record: RunRecord) -> str:
    return f"{record.started:%Y-%m-%d}\n{record.scale} · {record.id[-6:]}"


def metric_plot(
    experiment: str,
    metric: str,
    runs: list[RunRecord],
    expectations: list[tuple[str, Prediction]],
) -> Plot | None:
    """Per-seed values of one metric, one column of dots per run, with each expected
    region shaded and labelled by the claim that expects it. None without data."""
    columns = []
    for record in runs[-MAX_RUNS:]:
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
    alt = f"{metric} per seed for each run of {experiment}"
    return _plot("metric", alt, {"experiment": experiment, "metric": metric, "runs": columns, "bands": bands})


def curve_plot(experiment: str, record: RunRecord) -> Plot | None:
    """The curves one run recorded (one panel per curve, one line per seed)."""
    names = sorted({name for r in record.ok_results() for name in r.curves})[:MAX_CURVES]
    if not names:
        return None
    panels = []
    for name in names:
        lines = [
            {"seed": r.seed, "x": r.curves[name]["x"], "y": r.curves[name]["y"]}
            for r in sorted(record.ok_results(), key=lambda r: r.seed)
            if name in r.curves
        ]
        panels.append({"name": name, "lines": lines})
    alt = f"curves recorded by run {record.id} of {experiment}"
    return _plot("curves", alt, {"experiment": experiment, "run": record.id, "panels": panels})


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
                "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}
    with matplotlib.rc_context(settings):  # type: ignore[arg-type]
        if spec["kind"] == "metric":
            fig = _draw_metric(Figure(figsize=(7.2, 3.2), layout="constrained"), spec)
        else:
            n = len(spec["panels"])
            size = (max(4.8, 3.2 * min(n, 3)), 2.6 * math.ceil(n / 3))
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
    ax.set_xticks(ticks, labels, fontsize=7)
    ax.set_xlim(-0.6, len(runs) + 0.5 * len(bands) - 0.1 if bands else len(runs) - 0.4)
    ax.set_ylabel(spec["metric"])
    ax.set_title(
        f"{spec['metric']} — {spec['experiment']}: one dot per seed; bars: where each claim expects it",
        fontsize=9,
    )
    return fig


def _draw_curves(fig: Any, spec: dict[str, Any]) -> Any:
    n = len(spec["panels"])
    axes = fig.subplots(math.ceil(n / 3), min(n, 3), squeeze=False).flatten()
    for ax, panel in zip(axes, spec["panels"], strict=False):
        for k, line in enumerate(panel["lines"]):
            ax.plot(line["x"], line["y"], color=PALETTE[k % len(PALETTE)], linewidth=1,
                    label=f"seed {line['seed']}")
        ax.set_title(panel["name"], fontsize=9)
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle(f"{spec['experiment']} · run {spec['run']}", fontsize=9)
    return fig
