"""The specification curve of one prediction, as inline SVG drawn at build time.

One row per configuration that has runs: the registered one first, then each variant
(a declared multiverse value, or an ad-hoc `--set`), its estimate as a dot and its
interval as a bar, coloured by the verdict it would get; the region where the prediction
holds is shaded. A reader sees at once whether the verdict survives the design choices.
Config values come from run records (untrusted), so every string is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kb.site.html import esc, fmt
from kb.site.labels import axis_label, value_text

if TYPE_CHECKING:
    from kb.evidence.verdicts import VariantVerdict
    from kb.site.model import Cell, Site

WIDTH, LABEL_W, RIGHT = 600, 230, 16  # px of the viewBox: label column, plot, margin
ROW_H, TOP, BOTTOM = 26, 30, 46
COLOURS = {"holds": "#2e7d32", "fails": "#c62828", "inconclusive": "#b7791f", "invalid": "#78909c",
           "untested": "#78909c"}
MAX_ROWS = 40


@dataclass(frozen=True)
class Point:
    label: str
    note: str
    verdict: str
    estimate: float | None
    lo: float | None
    hi: float | None
    n: int


def _points(cell: Cell, variants: Sequence[VariantVerdict]) -> list[Point]:
    r = cell.record
    assert r is not None
    lo, hi = r.interval if r.interval is not None else (None, None)
    out = [Point("registered configuration", "", r.verdict.value, r.estimate, lo, hi, r.n)]
    ordered = sorted(variants, key=lambda v: (v.estimate is None, v.estimate or 0.0))
    for v in ordered:
        changed = ", ".join(f"{k} = {value_text(x)}" for k, x in sorted(v.changed.items())) or "same config"
        vlo, vhi = v.interval if v.interval is not None else (None, None)
        note = "declared range" if v.multiverse else "ad hoc"
        out.append(Point(changed, note, v.verdict.value, v.estimate, vlo, vhi, v.n))
    return out


def _ticks(lo: float, hi: float) -> list[float]:
    span = hi - lo
    step = 10 ** math.floor(math.log10(span / 4)) if span > 0 else 1.0
    for m in (1, 2, 2.5, 5, 10):
        if span / (step * m) <= 6:
            step *= m
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


INTRO = (
    "<p>Each chart is a specification curve: one prediction's estimate (dot) and interval (bar) "
    "under the registered configuration and under each variant that has runs, coloured by the "
    "verdict it would get (green holds, red fails, amber inconclusive, grey invalid); the shaded "
    "band is where the prediction holds. A verdict that keeps its colour down the chart is robust "
    "to those design choices.</p>"
)


def spec_curve_svg(site: Site, cell: Cell, variants: Sequence[VariantVerdict]) -> str:
    """A <figure> holding the curve, with a caption that says what is shown (and how much)."""
    points = _points(cell, variants)
    shown = points[:MAX_ROWS]
    p = cell.prediction
    e = p.expectation
    finite = [x for pt in shown for x in (pt.estimate, pt.lo, pt.hi) if x is not None]
    if e is not None:
        finite += [x for x in (e.low, e.high) if math.isfinite(x)]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    plot_w = WIDTH - LABEL_W - RIGHT
    height = TOP + ROW_H * len(shown) + BOTTOM

    def x(value: float) -> float:
        return LABEL_W + (min(max(value, lo), hi) - lo) / (hi - lo) * plot_w

    out = [f'<svg class="kb-spec" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
           f'role="img" aria-label="specification curve of {esc(p.id)}" '
           'font-family="system-ui, sans-serif" font-size="13">']
    bottom = TOP + ROW_H * len(shown)
    if e is not None:
        a, b = x(e.low if math.isfinite(e.low) else lo), x(e.high if math.isfinite(e.high) else hi)
        out.append(f'<rect x="{a:.1f}" y="{TOP - 6}" width="{b - a:.1f}" height="{bottom - TOP + 6}" '
                   'fill="#d7f0dc" opacity="0.7"/>')
        out.append(f'<text x="{(a + b) / 2:.1f}" y="{TOP - 12}" text-anchor="middle" fill="#1b5e20" '
                   f'font-size="12">holds where {esc(p.expect or "")}</text>')
    for t in _ticks(lo, hi):
        out.append(f'<line x1="{x(t):.1f}" y1="{TOP - 6}" x2="{x(t):.1f}" y2="{bottom}" stroke="#e0e0e0"/>')
        out.append(f'<text x="{x(t):.1f}" y="{bottom + 16}" text-anchor="middle" fill="#444">{esc(fmt(t))}</text>')
    out.append(f'<line x1="{LABEL_W}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#888"/>')
    out.append(f'<text x="{LABEL_W + plot_w / 2:.1f}" y="{bottom + 36}" text-anchor="middle" fill="#222">'
               f"{esc(axis_label(site.info(p.experiment or ''), p.metric or ''))}</text>")
    for i, pt in enumerate(shown):
        y = TOP + ROW_H * i + ROW_H / 2
        colour = COLOURS.get(pt.verdict, "#555")
        weight = ' font-weight="700"' if i == 0 else ""
        label = pt.label if len(pt.label) <= 30 else pt.label[:29] + "…"
        out.append(f'<text x="{LABEL_W - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#222"{weight}>'
                   f"<title>{esc(pt.label)} ({esc(pt.note or 'registered')}, n = {pt.n})</title>{esc(label)}</text>")
        if pt.estimate is None:
            out.append(f'<text x="{LABEL_W + 4}" y="{y + 4:.1f}" fill="{colour}">{esc(pt.verdict)} '
                       f"(n = {pt.n}: no estimate)</text>")
            continue
        a = x(pt.lo) if pt.lo is not None else LABEL_W
        b = x(pt.hi) if pt.hi is not None else WIDTH - RIGHT
        out.append(f'<line x1="{a:.1f}" y1="{y:.1f}" x2="{b:.1f}" y2="{y:.1f}" stroke="{colour}" stroke-width="3"/>')
        for end, open_end in ((a, pt.lo is None), (b, pt.hi is None)):
            if open_end:  # censored: the interval runs on past the plot
                sign = -1 if end == a else 1
                out.append(f'<path d="M{end:.1f},{y:.1f} l{-6 * sign},-5 v10 z" fill="{colour}"/>')
        out.append(f'<circle cx="{x(pt.estimate):.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>')
    out.append("</svg>")
    more = f" Showing the first {len(shown)} of {len(points)} configurations." if len(shown) < len(points) else ""
    caption = (f"{esc(cell.claim.title)} · <code>{esc(p.id)}</code>: the estimate (dot) and interval "
               f"(bar) per configuration.{more}")
    return (f'<figure class="kb-specfig"><div class="kb-scroll">{"".join(out)}</div>'
            f"<figcaption>{caption}</figcaption></figure>")
