"""The site as data: knowledge base + run records -> {relative path: text}.

`generate_site` is the one entry point. It is a pure function of its inputs (plots are
read from or written to the cache folder, which only saves time), deterministic, and its
result is sorted by path. Every page is `<key>/index.md` so relative links between
generated pages work with and without directory URLs (see `kb.site.html.Urls`).
"""

from __future__ import annotations

from pathlib import Path

from kb.checking.knowledge import KnowledgeBase
from kb.formats.records import RunRecord, read_records
from kb.site import claim, feed, overview, phenomenon, runs
from kb.site.html import Urls
from kb.site.model import Site, SiteOptions
from kb.site.parts import claim_key, experiment_key, phenomenon_key
from kb.site.plots import render

# Pages listed in mkdocs.yml's short `nav`; every other generated page is linked from them.
NAV_PAGES = (
    "index.md",
    "phenomena/index.md",
    "claims/index.md",
    "coverage/index.md",
    "experiments/index.md",
    "bibliography/index.md",
    "timeline/index.md",
    "tags/index.md",
    "methodology/index.md",
)


def _md(key: str) -> str:
    return f"{key}/index.md" if key else "index.md"


def generate_site(
    kb: KnowledgeBase, records: list[RunRecord], options: SiteOptions | None = None
) -> dict[str, str]:
    """Every generated file of the site, by path relative to the docs folder."""
    site = Site(kb, records, options)
    urls = Urls(site.options.directory_urls)
    pages: dict[str, str] = {
        _md(""): overview.home(site, urls),
        _md("phenomena"): phenomenon.phenomena_index(site, urls),
        _md("claims"): claim.claims_index(site, urls),
        _md("coverage"): overview.coverage(site, urls),
        _md("experiments"): runs.experiments_index(site, urls),
        _md("bibliography"): overview.bibliography(site, urls),
        _md("timeline"): overview.timeline(site, urls),
        _md("tags"): overview.tags(site, urls),
        _md("methodology"): overview.methodology(),
        "feed.xml": feed.atom_feed(site, urls),
    }
    for c in site.claims:
        pages[_md(claim_key(c))] = claim.claim_page(site, urls, c)
    for p in site.phenomena:
        plots = phenomenon.phenomenon_plots(site, p) if site.options.plots else []
        pages[_md(phenomenon_key(p))] = phenomenon.phenomenon_page(site, urls, p, plots)
        for plot in plots:
            if plot.path not in pages:
                pages[plot.path] = render(plot, site.options.cache_dir)
    for name in site.experiments:
        pages[_md(experiment_key(name))] = runs.experiment_page(site, urls, name)
    return dict(sorted(pages.items()))


def site_from_disk(root: Path, options: SiteOptions | None = None) -> tuple[dict[str, str], list[str]]:
    """Load the knowledge base and run records under `root` and generate the site.

    Returns the files and the problems that should stop a strict build (unreadable run
    records). An invalid knowledge base raises `InvalidKnowledgeBase`.
    """
    from kb.checking.load import load

    kb = load(root)
    kb.require_valid()
    records, problems = read_records(root)
    return generate_site(kb, records, options), [str(p) for p in problems]
