"""The map of a phenomenon: its explanations and the works that take a stance on each,
drawn at build time as inline SVG (no script, no request at page load).

Layout, chosen to be followed by eye: the cited works in a left column (author, year), the
phenomenon and its explanations in a right column (their titles, coloured by status), one
line per stance coloured by the stance. Works are ordered by the mean position of the claims
they cite, which keeps most lines from crossing. Every string is escaped; claim boxes link
to claim pages, works to the bibliography.
"""

from __future__ import annotations

import textwrap

from kb.formats.schema import Claim
from kb.site.html import Urls, anchor_id, esc
from kb.site.model import Site
from kb.site.parts import claim_key

WIDTH = 680
SRC_X, SRC_W = 8, 190  # works column
CLAIM_X, CLAIM_W = 330, 310  # claims column
LINE_H, PAD, GAP, SRC_H = 16, 8, 14, 24
WRAP = 40  # characters per line of a claim title
MAX_LINES = 3
STATUS_FILL = {"supported": ("#d7f0dc", "#2e7d32"), "refuted": ("#f8d7da", "#c62828"),
               "contested": ("#fff1c2", "#b7791f")}
STANCE_STROKE = {"proposes": ("#37474f", ""), "supports": ("#2e7d32", ""), "refutes": ("#c62828", ""),
                 "qualifies": ("#b7791f", "6 3"), "discusses": ("#90a4ae", "2 3")}


def _lines(title: str) -> list[str]:
    lines = textwrap.wrap(title, WRAP) or [title]
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES]
        lines[-1] = lines[-1][: WRAP - 1].rstrip() + "…"
    return lines


def map_svg(site: Site, urls: Urls, here: str, phenomenon: Claim, explanations: list[Claim]) -> str:
    claims = [phenomenon, *explanations]
    boxes: list[tuple[float, float, list[str]]] = []  # y, height, lines
    y = 30.0
    for c in claims:
        lines = _lines(c.title)
        h = PAD * 2 + LINE_H * (len(lines) + 1)
        boxes.append((y, h, lines))
        y += h + GAP
    claims_bottom = y
    stances: dict[str, list[tuple[int, str]]] = {}
    for i, c in enumerate(claims):
        for stance, key in sorted({(s.stance.value, s.citekey) for s in c.sources}):
            stances.setdefault(key, []).append((i, stance))
    centre = {i: boxes[i][0] + boxes[i][1] / 2 for i in range(len(claims))}
    works = sorted(stances, key=lambda k: (sum(centre[i] for i, _ in stances[k]) / len(stances[k]), k))
    src_gap = max(6.0, (claims_bottom - 30 - SRC_H * len(works)) / max(len(works), 1))
    src_y = {k: 30 + n * (SRC_H + src_gap) for n, k in enumerate(works)}
    height = int(max(claims_bottom, 30 + len(works) * (SRC_H + src_gap)) + 44)
    out = [f'<svg class="kb-mapsvg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
           f'role="img" aria-label="map of {esc(phenomenon.title)}: explanations and the works citing them" '
           'font-family="system-ui, sans-serif" font-size="13">']
    out.append(f'<text x="{SRC_X}" y="18" fill="#555" font-size="12">cited works</text>'
               f'<text x="{CLAIM_X}" y="18" fill="#555" font-size="12">phenomenon, then its explanations</text>')
    for key in works:
        sy = src_y[key] + SRC_H / 2
        for i, stance in stances[key]:
            colour, dash = STANCE_STROKE.get(stance, ("#999", ""))
            ty = centre[i]
            mid = (SRC_X + SRC_W + CLAIM_X) / 2
            dashed = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<path d="M{SRC_X + SRC_W},{sy:.1f} C{mid:.1f},{sy:.1f} {mid:.1f},{ty:.1f} {CLAIM_X},{ty:.1f}" '
                       f'fill="none" stroke="{colour}" stroke-width="1.6"{dashed}><title>{esc(key)} {esc(stance)} '
                       f"{esc(claims[i].title)}</title></path>")
    # the explains bracket: every explanation joins the phenomenon on the right
    if explanations:
        bx = CLAIM_X + CLAIM_W + 14
        out.append(f'<path d="M{CLAIM_X + CLAIM_W},{centre[0]:.1f} H{bx}'
                   + "".join(f" M{CLAIM_X + CLAIM_W},{centre[i]:.1f} H{bx}" for i in range(1, len(claims)))
                   + f' M{bx},{centre[0]:.1f} V{centre[len(claims) - 1]:.1f}" fill="none" stroke="#607d8b" '
                   'stroke-width="1.5"/>')
        out.append(f'<text x="{bx + 4}" y="{(centre[0] + centre[1]) / 2:.1f}" fill="#607d8b" font-size="11" '
                   f'transform="rotate(90 {bx + 4} {(centre[0] + centre[1]) / 2:.1f})" text-anchor="middle">explains</text>')
    for key in works:
        ref = site.references.get(key)
        label = f"{ref.short_authors} {ref.year}" if ref else key
        label = label if len(label) <= 26 else label[:25] + "…"
        href = urls.page(here, "bibliography", anchor_id("ref", key))
        sy = src_y[key]
        out.append(f'<a href="{esc(href)}"><rect x="{SRC_X}" y="{sy:.1f}" width="{SRC_W}" height="{SRC_H}" rx="4" '
                   f'fill="#fff" stroke="#b0bec5"/><text x="{SRC_X + 8}" y="{sy + 16:.1f}" fill="#263238">'
                   f"<title>{esc(ref.title if ref else key)}</title>{esc(label)}</text></a>")
    for i, c in enumerate(claims):
        by, bh, lines = boxes[i]
        status = site.status_value(c)
        fill, stroke = STATUS_FILL.get(status, ("#eceff1", "#78909c"))
        width = 2.5 if i == 0 else 1.2
        href = urls.page(here, claim_key(c))
        text = "".join(f'<tspan x="{CLAIM_X + 10}" dy="{LINE_H if n else 0}">{esc(line)}</tspan>'
                       for n, line in enumerate(lines))
        state = f"{status} · {site.certainty(c)}" if c.status else "status not derived yet"
        bold = ' font-weight="700"' if i == 0 else ""
        out.append(f'<a href="{esc(href)}"><rect x="{CLAIM_X}" y="{by:.1f}" width="{CLAIM_W}" height="{bh:.1f}" rx="6" '
                   f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"/>'
                   f'<text y="{by + PAD + 12:.1f}" fill="#1a1a1a"{bold}>{text}</text>'
                   f'<text x="{CLAIM_X + 10}" y="{by + PAD + 12 + LINE_H * len(lines):.1f}" fill="{stroke}" '
                   f'font-size="12">{esc(state)}</text></a>')
    legend_y = height - 14
    x = SRC_X
    for stance, (colour, dash) in STANCE_STROKE.items():
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<line x1="{x}" y1="{legend_y - 4}" x2="{x + 22}" y2="{legend_y - 4}" stroke="{colour}" '
                   f'stroke-width="2"{dashed}/><text x="{x + 26}" y="{legend_y}" fill="#444" font-size="12">{stance}</text>')
        x += 30 + 8 * len(stance) + 12
    out.append("</svg>")
    return f'<div class="kb-scroll kb-map">{"".join(out)}</div>'
