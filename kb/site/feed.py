"""The Atom feed of status changes (`feed.xml`), built with the standard library."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from kb.site.html import Urls, clean
from kb.site.model import Site
from kb.site.parts import claim_key

ATOM = "http://www.w3.org/2005/Atom"
MAX_ENTRIES = 100
EPOCH = dt.date(2000, 1, 1)  # `updated` of an empty feed: fixed, so builds are reproducible


def _stamp(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def atom_feed(site: Site, urls: Urls) -> str:
    base = (site.options.site_url or "").rstrip("/")
    authority = urlsplit(base).hostname if base else None
    authority = authority or "kb.invalid"
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            element.text = clean(text)
        return element

    events = site.events[:MAX_ENTRIES]
    latest = max([e.date for e in events] + [c.updated for c in site.claims], default=EPOCH)
    sub(feed, "title", f"{site.options.site_name}: status changes")
    sub(feed, "id", f"{base}/feed.xml" if base else f"tag:{authority},2026:feed")
    sub(feed, "updated", _stamp(latest))
    sub(feed, "link", href=f"{base}/feed.xml" if base else "feed.xml", rel="self")
    sub(feed, "link", href=f"{base}/" if base else "./")
    author = sub(feed, "author")
    sub(author, "name", site.options.site_name)
    for e in events:
        entry = sub(feed, "entry")
        before = f" (was {e.previous})" if e.previous else ""
        sub(entry, "title", f"{e.claim.title}: {e.status} · {e.certainty}{before}")
        sub(entry, "id", f"tag:{authority},{e.date.isoformat()}:{e.claim.id}/{e.index}")
        sub(entry, "updated", _stamp(e.date))
        href = urls.page("", claim_key(e.claim), "history")
        sub(entry, "link", href=f"{base}/{href}" if base else href)
        summary = f"{e.claim.id} became {e.status} with {e.certainty} certainty{before}."
        if e.run:
            summary += f" Caused by run {e.run}."
        elif e.cause:
            summary += f" Cause: {e.cause}."
        status = e.claim.status
        if status is not None and e.index == len(site.history.get(e.claim.id, [])) - 1:
            summary += f" {status.reason}"
        sub(entry, "summary", summary)
    ET.indent(feed)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"
