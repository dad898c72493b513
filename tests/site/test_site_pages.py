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
    assert len(plots) == 3 and all(pages[p].lstrip().startswith("<?xml") for p in plots)
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
    assert 'title="ratio">Speed-up ratio</span>' in row  # the declared label, the slug as tooltip
    assert 'kb-v-fails' in row and 'kb-v-holds' in row and 'kb-v-pending' in row
    assert "2.01 [1.93, 2.09] · n = 5" in row
    assert "Last reproduced on 2026-03-02 with torch 2.13.0 on cpu, 3 runs." in page
    assert "mermaid" not in page and '<svg class="kb-mapsvg"' in page and ">explains</text>" in page
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
    assert len(entries) == 5
    assert entries[0].find("a:updated", ns).text == "2026-03-05T00:00:00Z"  # type: ignore[union-attr]
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
    assert [(r.key, r.crux) for r in rows] == [("ratio", True), ("gap", False), ("steps", False)]
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


# -- the site v2: where understanding stands, and honestly -----------------------------------

REGIME = "MNIST-1D · MLP 8×128 · smoke · CPU"


def _verdict_cells(page: str) -> list[str]:
    """Every verdict cell with a measurement (a <td> or stacked <div> holding an estimate)."""
    cells = re.findall(r'<td class="kb-cell kb-v-(?:holds|fails|inconclusive|invalid)".*?</td>', page)
    return [c for c in cells if "n = " in c or "kb-est" in c]


@pytest.mark.parametrize("path", ["index.md", "phenomena/fast-training/index.md", "claims/small-ratio/index.md",
                                  "experiments/demo_experiment/index.md"])
def test_every_verdict_cell_names_its_regime(pages: dict[str, str], path: str) -> None:
    cells = _verdict_cells(pages[path])
    if path != "index.md":
        assert cells, path
    for cell in cells:
        assert f'<span class="kb-regime" title="where it was measured">{REGIME}</span>' in cell, cell[:300]


def test_home_is_the_state_of_understanding(pages: dict[str, str]) -> None:
    home = pages["index.md"]
    card = home.split('<div class="kb-card">', 1)[1]
    # each competing explanation is named, with status, certainty and the tier of its evidence
    for title in ("It happens because the gradients are steady", "It happens for a reason that predicts a small ratio",
                  "It happens because of a moderate effect nobody has derived yet"):
        assert title in card
    assert "supported · moderate" in card and "contested · low" in card
    assert "literature and in-scope reproduction · smoke scale · CPU" in card
    assert 'kb-tier-toy">literature and toy reproduction · smoke scale · CPU' in card
    # the crux, named in words, and whether it has been run
    assert ">Speed-up ratio</span> — run: small-ratio fails; steady-gradients holds" in card
    # said plainly: every verdict is toy scale on a CPU
    assert "come from smoke-scale runs (toy data, small models) on CPU" in home
    assert "At a glance" not in home


def test_only_looks_settled(shared_site_kb: Path) -> None:
    from kb.site.overview import _only_looks_settled

    site = Site(load(shared_site_kb), read_records(shared_site_kb)[0])
    assert not _only_looks_settled(site, site.by_id["fast-training"])  # its crux has been run


def test_censored_invalid_robust_and_fragile_are_marked(pages: dict[str, str]) -> None:
    claim = pages["claims/small-ratio/index.md"]
    assert "≥ 3,950 (≥ 3,610) · n = 5, 2 censored" in claim  # a bound, not a measurement
    assert "2 of 5 seeds censored: they only bound the value" in claim
    assert "about 12 seeds would decide it" in claim
    assert 'kb-fragile" title="the verdict changes with noise">fragile: noise</span>' in claim
    phenomenon = pages["phenomena/fast-training/index.md"]
    assert 'class="kb-cell kb-v-invalid"' in phenomenon and "validity check failed" in phenomenon
    assert '<span class="kb-mark kb-robust"' in phenomenon


def test_specification_curve_on_experiment_phenomenon_and_claim_pages(pages: dict[str, str]) -> None:
    for path in ("experiments/demo_experiment/index.md", "phenomena/fast-training/index.md",
                 "claims/steady-gradients/index.md"):
        page = pages[path]
        assert '<svg class="kb-spec"' in page, path
        svg = page.split('<svg class="kb-spec"', 1)[1].split("</svg>", 1)[0]
        assert "registered configuration" in svg and "noise = 0.2" in svg
        assert "Speed-up ratio (×)</text>" in svg  # the axis names the metric and its unit
        assert "holds where &gt; 1.5" in svg or "holds where" in svg


def test_both_evidence_lines_and_their_disagreement(pages: dict[str, str]) -> None:
    claim = pages["claims/small-ratio/index.md"]
    lines = claim.split('<div class="kb-lines">', 1)[1]
    assert '<div class="kb-line kb-dir-for"><p class="kb-line-head"><strong>The literature</strong> points for it' in lines
    assert "<strong>Our reproductions</strong> points against it (toy scale, outside the claim&#x27;s scope)" in lines
    assert ("The two lines disagree: the literature points for it, our reproductions (toy scale, outside "
            "the claim&#x27;s scope) point against it. The status is contested.") in claim
    phenomenon = pages["phenomena/fast-training/index.md"]
    assert ">the literature</th>" in phenomenon and ">our reproductions</th>" in phenomenon
    assert "The two lines disagree" in phenomenon


def test_numbers_and_labels_are_for_people(pages: dict[str, str]) -> None:
    from kb.site.html import fmt

    assert [fmt(x) for x in (4000.0, 4013.0, 11.14, -0.883, 0.000123, 12345.6, 0.0)] == [
        "4,000", "4,013", "11.1", "−0.883", "1.23 × 10⁻⁴", "12,346", "0"]
    experiment = pages["experiments/demo_experiment/index.md"]
    assert "e+0" not in experiment and '{"' not in experiment  # no 4e+03, no raw JSON config
    assert "<td><code>noise</code></td><td><strong>0.2</strong>" in experiment  # the variant's change, in a table
    assert "<code>noise</code> (free)" in experiment and "tried: 0.1, 0.2" in experiment
    assert "<td>MNIST-1D · MLP 8×128 · smoke</td>" in experiment
    assert "3,950" in experiment
    bib = pages["bibliography/index.md"]
    for name in ("Jastrzębski, Stanisław", "Ben Arous, Gérard", "Müller, Klaus", "A Über-Study"):
        assert name in bib
    assert "\\k" not in bib and "\\'" not in bib and '\\"' not in bib
    assert "2 qualify" in pages["phenomena/fast-training/index.md"]
    assert "qualifie<" not in pages["phenomena/fast-training/index.md"]
    history = pages["claims/small-ratio/index.md"].split("## History", 1)[1]
    assert "its sources, predictions or the rules changed (no new run)" in history


def test_labels_and_regimes() -> None:
    from kb.site.labels import regime_text, words

    assert words("steps_ratio_noisy_vs_bn") == "Steps ratio noisy vs BN"
    assert words("final_train_acc_noisy_bn") == "Final train accuracy noisy BN"
    assert words("mup_lr") == "μP LR"
    assert regime_text(None, "smoke", ["cpu"]) == "smoke · CPU"


def test_caps_are_stated() -> None:
    import datetime as dt

    from kb.formats.records import GitInfo, Hardware, RunOutcome, RunRecord, SeedResult
    from kb.site.plots import MAX_CURVES, curve_axes, curve_plot

    curves = {f"loss_{i:02d}": {"x": [0.0, 1.0], "y": [1.0, 0.5]} for i in range(MAX_CURVES + 2)}
    curves["error_vs_width"] = {"x": [1.0, 2.0], "y": [0.2, 0.1]}
    record = RunRecord(
        id="20260101T000000Z-abcdef", experiment="e", scale="smoke", config={}, seeds=[0],
        outcome=RunOutcome.ok, results=[SeedResult(seed=0, key="k", outcome="ok", metrics={}, curves=curves,
                                                    wall_s=1.0)],
        script="repro/e.py", script_sha256="0" * 64, predictions=[], git=GitInfo(commit="a", dirty=False), packages={},
        hardware=Hardware(device="cpu", cpu="x", cores=1, platform="p"),
        started=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), finished=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        wall_s=1.0, command="kb run e",
    )
    plot = curve_plot("e", record)
    assert plot is not None and f"showing {MAX_CURVES} of {MAX_CURVES + 3} curves" in plot.caption
    assert curve_axes("error_vs_width") == ("Width", "Error")
    assert curve_axes("train_loss") == ("step", "Train loss")
