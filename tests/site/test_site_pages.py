"""The page functions: golden pages for a small knowledge base, escaping, cruxes, the feed.

KB_UPDATE_GOLDEN=1 rewrites the golden files under tests/site/golden (review the diff).
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sitekb import EVIL_TEXT, GOLDEN, RUN_A

from kb.checking.load import load
from kb.formats.expectation import Expectation
from kb.formats.records import read_records
from kb.site.generate import generate_site
from kb.site.html import Urls, json_ld, paragraphs, safe_href, safe_title
from kb.site.model import Site, SiteOptions, disjoint

GOLDEN_PAGES = {
    "index.md": "home.md",
    "phenomena/fast-training/index.md": "phenomenon.md",
    "claims/steady-gradients/index.md": "claim-explanation.md",
    "claims/small-ratio/index.md": "claim-refuted.md",
    "experiments/demo_experiment/index.md": "experiment.md",
    "coverage/index.md": "coverage.md",
    "bibliography/index.md": "bibliography.md",
    "timeline/index.md": "timeline.md",
    "feed.xml": "feed.xml",
}


def _generate(root: Path, **options: object) -> dict[str, str]:
    kb = load(root)
    kb.require_valid()
    records, problems = read_records(root)
    assert not problems
    return generate_site(kb, records, SiteOptions(**options))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pages(shared_site_kb: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return _generate(shared_site_kb, cache_dir=tmp_path_factory.mktemp("plots"))


def _golden(actual: str, name: str) -> None:
    golden = GOLDEN / name
    if os.environ.get("KB_UPDATE_GOLDEN") == "1" or not golden.exists():
        golden.write_text(actual, encoding="utf-8")
        if os.environ.get("KB_UPDATE_GOLDEN") != "1":
            pytest.fail(f"golden file {name} was missing and has been written; review it")
    assert actual == golden.read_text(encoding="utf-8"), f"{name} differs (KB_UPDATE_GOLDEN=1 to accept)"


@pytest.mark.parametrize("path", sorted(GOLDEN_PAGES))
def test_golden_page(pages: dict[str, str], path: str) -> None:
    _golden(pages[path], GOLDEN_PAGES[path])


def test_every_page_is_listed_sorted_and_deterministic(
    pages: dict[str, str], shared_site_kb: Path, tmp_path: Path
) -> None:
    assert list(pages) == sorted(pages)
    expected = {
        "index.md", "phenomena/index.md", "claims/index.md", "coverage/index.md",
        "experiments/index.md", "bibliography/index.md", "timeline/index.md", "tags/index.md",
        "methodology/index.md", "feed.xml", "phenomena/fast-training/index.md",
        "experiments/demo_experiment/index.md",
    } | {f"claims/{c}/index.md" for c in ("fast-training", "steady-gradients", "small-ratio", "mid-ratio")}
    assert expected <= set(pages)
    plots = [p for p in pages if p.startswith("plots/")]
    assert len(plots) == 2 and all(pages[p].lstrip().startswith("<?xml") for p in plots)
    again = _generate(shared_site_kb, cache_dir=tmp_path / "other-cache")
    assert again == pages  # the same SVG whether drawn now or read from the cache


def test_plot_cache_is_used(shared_site_kb: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _generate(shared_site_kb, cache_dir=cache)
    cached = sorted(cache.glob("*.svg"))
    assert [f"plots/{p.name}" for p in cached] == [p for p in first if p.startswith("plots/")]
    for path in cached:
        path.write_text("<svg>cached</svg>", encoding="utf-8")
    second = _generate(shared_site_kb, cache_dir=cache)
    assert all(second[f"plots/{p.name}"] == "<svg>cached</svg>" for p in cached)


def test_phenomenon_page_compares_explanations(pages: dict[str, str]) -> None:
    page = pages["phenomena/fast-training/index.md"]
    header = re.search(r"<thead>(.*?)</thead>", page.split("kb-matrix", 1)[1]).group(1)  # type: ignore[union-attr]
    assert [t for t in ("moderate effect", "small ratio", "gradients are steady") if t in header] == [
        "moderate effect", "small ratio", "gradients are steady"]
    row = re.search(r'<tr class="kb-cruxrow">(.*?)</tr>', page).group(1)  # type: ignore[union-attr]
    assert "<code>ratio</code>" in row
    assert 'kb-v-fails' in row and 'kb-v-holds' in row and 'kb-v-pending' in row
    assert "2.01 [1.93, 2.09] · n = 5" in row
    assert "Last reproduced on 2026-03-01 with torch 2.13.0 on cpu, 2 runs." in page
    assert '<pre class="mermaid">' in page and "explains" in page
    assert "gap-small" in page.split("## Open predictions", 1)[1]


def test_claim_page_has_prediction_anchors_and_claimreview(pages: dict[str, str]) -> None:
    page = pages["claims/steady-gradients/index.md"]
    assert 'id="prediction-ratio-high"' in page
    assert f'href="../../experiments/demo_experiment/#run-{RUN_A}"' in page
    script = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert script is not None
    review = json.loads(script.group(1))
    assert review["@type"] == "ClaimReview"
    assert review["reviewRating"]["ratingValue"] == 3 and review["reviewRating"]["alternateName"] == "supported"


def test_untrusted_text_is_escaped_everywhere(shared_evil_kb: Path, tmp_path: Path) -> None:
    pages = _generate(shared_evil_kb, cache_dir=tmp_path)
    for path, text in pages.items():
        if not path.endswith(".md"):
            continue
        body = text.split("---\n", 2)[-1]
        for bad in ("<script>window", "<img src=x", "<svg onload", "<iframe", "<b onmouseover",
                    'href="javascript:', "</q><script>"):
            assert bad not in body, f"{path} contains {bad!r}"
        title = text.split("\n", 2)[1]
        assert not set(title.removeprefix("title: ").strip('"')) & set("<>&'`{}"), title
    claim = pages["claims/evil-claim/index.md"]
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in claim
    assert "[x](javascript:window.__pwned=1)" in claim  # shown, inside an HTML block: never a link
    assert "&amp;lt;script&amp;gt;" in claim  # entities written in a claim stay literal text
    ld = re.search(r'<script type="application/ld\+json">(.*?)</script>', claim, re.S).group(1)  # type: ignore[union-attr]
    assert "<" not in ld and ">" not in ld and "\\u003cscript\\u003e" in ld
    assert json.loads(ld)["name"].startswith("Harmless title <script>")
    bib = pages["bibliography/index.md"]
    assert "javascript:" not in bib.replace("&lt;script&gt;window.__pwned=1&lt;/script&gt;", "")


def test_markdown_never_sees_claim_text(pages: dict[str, str]) -> None:
    """Every line holding claim text is inside an HTML block: it starts with '<'."""
    for path, text in pages.items():
        if not path.endswith(".md") or path == "methodology/index.md":
            continue
        body = text.split("---\n", 2)[2]
        for line in body.splitlines():
            if "It happens" in line or "The ratio" in line:
                assert line.startswith("<"), f"{path}: {line[:80]}"


def test_feed_is_valid_atom(pages: dict[str, str]) -> None:
    root = ET.fromstring(pages["feed.xml"].encode())
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entries = root.findall("a:entry", ns)
    assert len(entries) == 4
    assert entries[0].find("a:updated", ns).text == "2026-03-01T00:00:00Z"  # type: ignore[union-attr]
    titles = [e.find("a:title", ns).text for e in entries]  # type: ignore[union-attr]
    assert "It happens because the gradients are steady: supported · moderate (was untested · low)" in titles


def test_directory_urls_off(shared_site_kb: Path, tmp_path: Path) -> None:
    pages = _generate(shared_site_kb, directory_urls=False, cache_dir=tmp_path)
    assert 'href="../../claims/steady-gradients/index.html#prediction-ratio-high"' in pages["phenomena/fast-training/index.md"]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [("> 1.5", "< 1.25", True), ("> 1.5", "< 1.5", True), (">= 1.5", "<= 1.5", False),
     ("> 1", "between 1.9 2.2", False), ("< 1.25", "between 1.9 2.2", True),
     ("≈ 0 ± 0.1", "> 0.1", True), ("≈ 0 ± 0.1", ">= 0.1", False), ("< 2", "< 1", False)],
)
def test_disjoint(a: str, b: str, expected: bool) -> None:
    ea, eb = Expectation.parse(a), Expectation.parse(b)
    assert disjoint(ea, eb) is expected and disjoint(eb, ea) is expected


def test_matrix_rows_and_cruxes(shared_site_kb: Path) -> None:
    kb = load(shared_site_kb)
    site = Site(kb, read_records(shared_site_kb)[0])
    rows = site.matrix(site.by_id["fast-training"])
    assert [(r.key, r.crux) for r in rows] == [("ratio", True), ("gap", False)]
    assert sorted(rows[0].cells) == ["mid-ratio", "small-ratio", "steady-gradients"]


def test_html_helpers() -> None:
    assert safe_href("javascript:alert(1)") is None
    assert safe_href("JaVaScRiPt:alert(1)") is None
    assert safe_href("data:text/html,x") is None
    assert safe_href("//evil.example/x") is None
    assert safe_href("https://arxiv.org/abs/1502.03167") == "https://arxiv.org/abs/1502.03167"
    assert json_ld({"a": "</script><b>&"}).count("</script>") == 1
    assert safe_title('<b>"x" & y\'s</b>') == "‹b›”x” ＆ y’s‹/b›"
    assert paragraphs("a\n\nb <i>") == "<p>a</p><p>b &lt;i&gt;</p>"
    assert paragraphs(EVIL_TEXT).count("<") == 2  # only the <p> and </p> we wrote
    urls = Urls()
    assert urls.page("", "claims/x", "p") == "claims/x/#p"
    assert urls.page("claims/y", "claims/x") == "../../claims/x/"
    assert urls.page("claims/y", "") == "../../"
    assert Urls(directory_urls=False).page("", "") == "index.html"
    assert urls.doc("claims/y", "how-to-read") == "../../how-to-read/"
