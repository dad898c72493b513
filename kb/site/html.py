"""Safe HTML for untrusted text, links between generated pages, and page scaffolding.

Every string that comes from a claim, a reference or a run record passes through `esc`
(or `paragraphs`, `link`, `json_ld`) before it reaches a page. Generated pages are
Markdown files whose untrusted parts sit in raw HTML blocks that start at the beginning of
a line: Python-Markdown copies such blocks verbatim, so Markdown syntax in claim text
(`[x](javascript:...)`, `*emphasis*`) stays literal text and escaped text cannot open or
close a tag.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from kb.data.jsonld import web_url

# C0/C1 control characters (tab and newline kept): invalid in XML, invisible in HTML.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Look-alikes for the characters a page title must not carry into the theme's templates.
_TITLE_SAFE = str.maketrans({"<": "‹", ">": "›", "&": "＆", '"': "”", "'": "’", "`": "’",
                             "{": "(", "}": ")", "\\": "/"})


def clean(text: object) -> str:
    """Text without control characters."""
    return _CONTROL.sub("", str(text))


def esc(text: object) -> str:
    """Text for HTML content or a quoted attribute value."""
    return html.escape(clean(text), quote=True)


def paragraphs(text: str, cls: str | None = None) -> str:
    """Plain text as escaped <p> elements, one per blank-line-separated paragraph.

    No blank line is emitted inside the result, so it stays one raw HTML block."""
    attr = f' class="{esc(cls)}"' if cls else ""
    parts = [p.strip() for p in re.split(r"\n\s*\n", clean(text)) if p.strip()]
    return "".join(f"<p{attr}>{esc(' '.join(p.split()))}</p>" for p in parts)


def safe_href(url: str | None) -> str | None:
    """An external URL usable as a link: absolute http(s) only, else None."""
    return web_url(clean(url)) if url else None


def link(href: str | None, text: str, cls: str | None = None) -> str:
    """An escaped <a>; plain escaped text when there is no usable href."""
    attr = f' class="{esc(cls)}"' if cls else ""
    if href is None:
        return f"<span{attr}>{esc(text)}</span>" if cls else esc(text)
    return f'<a href="{esc(href)}"{attr}>{esc(text)}</a>'


def external(url: str | None, text: str) -> str:
    """A link to an outside work (http/https only), opened without giving it our window."""
    href = safe_href(url)
    if href is None:
        return esc(text)
    return f'<a href="{esc(href)}" rel="noopener noreferrer nofollow">{esc(text)}</a>'


def json_ld(data: object) -> str:
    """A <script type="application/ld+json"> whose text can never close the script element."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)  # one line: one raw HTML block
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f'<script type="application/ld+json">{text}</script>'


def safe_title(text: str, limit: int = 120) -> str:
    """A page title for the theme, which inserts it into <title> and the header unescaped:
    markup characters become harmless look-alikes and the text is shortened."""
    title = " ".join(clean(text).translate(_TITLE_SAFE).split())
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def front_matter(title: str, hide: Sequence[str] = ()) -> str:
    """YAML front matter with a safe title (JSON strings are YAML strings)."""
    lines = ["---", f"title: {json.dumps(safe_title(title), ensure_ascii=False)}"]
    if hide:
        lines.append("hide:")
        lines += [f"  - {item}" for item in hide]
    return "\n".join([*lines, "---", "", ""])


def anchor_id(prefix: str, name: str) -> str:
    """An element id from a slug-like name (citekeys may hold ':', '.', '+')."""
    return prefix + "-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def table(head: Sequence[str], rows: Iterable[Sequence[str]], cls: str | None = None) -> str:
    """A table from cells that are already HTML, inside a container that scrolls sideways
    when the table is wider than the page (so nothing is clipped, on a phone or at 1280 px).
    Without a class Material styles it."""
    attr = f' class="{esc(cls)}"' if cls else ""
    out = [f'<div class="kb-scroll"><table{attr}><thead><tr>']
    out += [f"<th>{cell}</th>" for cell in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(_cell(cell) for cell in row) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _cell(cell: str) -> str:
    return cell if cell.startswith("<td") or cell.startswith("<th") else f"<td>{cell}</td>"


def block(*parts: str, cls: str = "kb-block") -> str:
    """Raw HTML as one <div> on one line, followed by a blank line.

    Line breaks inside become character references (same rendering, in <pre> too), so no
    Markdown preprocessor can find a line start in untrusted text: not a code fence, not
    a heading, not the blank line that would end the HTML block and let Markdown turn
    `[x](javascript:...)` into a link."""
    body = "".join(parts).replace("\r", "&#13;").replace("\n", "&#10;")
    return f'<div class="{esc(cls)}">{body}</div>\n\n'


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
MINUS = "\u2212"  # a real minus sign: as wide as a plus, never broken from its number


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for people: `digits` significant figures, thousands separated, never
    '4e+03'. Whole numbers are shown whole (4,000 steps), large ones without decimals
    (12,346), small ones as 1.2 × 10⁻⁴."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "not a number"
    if math.isinf(value):
        return "∞" if value > 0 else f"{MINUS}∞"
    size = abs(value)
    if size == 0:
        text = "0"
    elif size >= 1e12 or size < 1e-3:
        mantissa, exponent = f"{size:.{digits - 1}e}".split("e")
        text = f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"
    elif size >= 10 ** (digits - 1) or size == int(size):
        text = f"{round(size):,}"
    else:
        text = f"{size:.{digits}g}"
    return (MINUS if value < 0 and text != "0" else "") + text


def plural(count: int, one: str, many: str | None = None) -> str:
    """'1 run', '2 runs', '1,204 claims'."""
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


@dataclass(frozen=True)
class Urls:
    """Relative links between generated pages.

    Every generated page is `<key>/index.md` (the home page is `index.md`, key ""), so a
    page's URL is `<key>/` with directory URLs and `<key>/index.html` without; relative
    links therefore work on any static server and under any base path.
    """

    directory_urls: bool = True

    def page(self, here: str, key: str, fragment: str | None = None) -> str:
        target = f"{key}/" if key else ""
        if not self.directory_urls:
            target += "index.html"
        href = self._up(here) + target or "./"
        return href + (f"#{quote(fragment)}" if fragment else "")

    def asset(self, here: str, path: str) -> str:
        return self._up(here) + path

    def doc(self, here: str, name: str) -> str:
        """A hand-written page `site/<name>.md`."""
        target = f"{name}/" if self.directory_urls else f"{name}.html"
        return self._up(here) + target

    @staticmethod
    def _up(here: str) -> str:
        return "../" * (len(here.split("/")) if here else 0)
