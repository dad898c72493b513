"""Whole builds with MkDocs (`mkdocs build --strict`, `kb site build`), for the real
knowledge base and for the small one of the site tests."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from sitekb import CONFIG, REPO, mkdocs_build
from typer.testing import CliRunner

from kb.checking.load import load
from kb.cli.site import app


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"] or "")
        for name in ("href", "src"):
            if tag in ("a", "img") and values.get(name):
                self.hrefs.append(values[name] or "")


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _target(page: Path, href: str, out: Path) -> tuple[Path, str]:
    parts = urlsplit(href)
    target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
    if target.is_dir():
        target = target / "index.html"
    return target, unquote(parts.fragment)


@pytest.fixture(scope="module")
def built(shared_site_kb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("built") / "site"
    result = mkdocs_build(shared_site_kb, out)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_real_knowledge_base_builds_strict(tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = mkdocs_build(REPO, out)
    assert result.returncode == 0, result.stdout + result.stderr
    kb = load(REPO)
    for claim_id, loaded in kb.claims.items():
        assert (out / "claims" / claim_id / "index.html").is_file()
        if loaded.claim.kind.value == "phenomenon":
            page = (out / "phenomena" / claim_id / "index.html").read_text(encoding="utf-8")
            assert '<table class="kb-matrix">' in page or "No explanation of this phenomenon" in page
    for name in ("index.html", "coverage/index.html", "methodology/index.html", "feed.xml",
                 "how-to-read/index.html", "contributing/index.html", "search/search_index.json"):
        assert (out / name).is_file(), name
    # The nav is short: a claim page does not list every other claim.
    page = (out / "claims" / next(iter(kb.claims)) / "index.html").read_text(encoding="utf-8")
    assert page.count('class="md-nav__link') < 40
    assert not list((REPO / "site").rglob("index.md")), "nothing generated may land in site/"


def test_small_knowledge_base_pages(built: Path) -> None:
    page = (built / "phenomena/fast-training/index.html").read_text(encoding="utf-8")
    assert '<table class="kb-matrix">' in page
    assert re.search(r'<td class="kb-cell kb-v-holds"[^>]*><a class="kb-verdict"[^>]*>HOLDS</a>', page)
    assert re.search(r'<td class="kb-cell kb-v-fails"', page)
    svgs = re.findall(r'<img src="(\.\./\.\./plots/[0-9a-f]+\.svg)"', page)
    assert len(svgs) == 3 and all((built / "phenomena/fast-training" / s).resolve().is_file() for s in svgs)
    assert "<title>A phenomenon - " in page
    claim = (built / "claims/steady-gradients/index.html").read_text(encoding="utf-8")
    assert 'id="prediction-ratio-high"' in claim and "application/ld+json" in claim
    ET.fromstring((built / "feed.xml").read_bytes())
    methodology = (built / "methodology/index.html").read_text(encoding="utf-8")
    assert "Methodology" in methodology


class _Resources(HTMLParser):
    """What a page makes the browser fetch by itself: scripts, styles, images, frames."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "img", "iframe", "source") and values.get("src"):
            self.urls.append(values["src"] or "")
        if tag == "link" and values.get("href") and values.get("rel") in ("stylesheet", "preload", "icon"):
            self.urls.append(values["href"] or "")


def test_no_third_party_request_and_no_source_maps(built: Path) -> None:
    """Offline and private: nothing is fetched from another host, no diagram script, no .map."""
    assert not list(built.rglob("*.map"))
    for path in list(built.rglob("*.js")) + list(built.rglob("*.css")):
        assert "sourceMappingURL" not in path.read_text(encoding="utf-8"), path
    for page in built.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        parser = _Resources()
        parser.feed(text)
        remote = [u for u in parser.urls if urlsplit(u).scheme or u.startswith("//")]
        assert not remote, f"{page.relative_to(built)} loads {remote}"
        assert "mermaid" not in text, page


def test_every_internal_link_resolves(built: Path) -> None:
    pages = sorted(p for p in built.rglob("*.html") if p.name != "404.html")  # 404 links from /
    parsed = {p: _parse(p) for p in pages}
    broken = []
    for page, links in parsed.items():
        for href in links.hrefs:
            if urlsplit(href).scheme or href.startswith(("//", "mailto:")):
                continue
            target, fragment = _target(page, href, built)
            if not target.exists():
                broken.append(f"{page.relative_to(built)} -> {href}")
            elif fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if fragment not in ids:
                    broken.append(f"{page.relative_to(built)} -> {href} (no #{fragment})")
    assert not broken, "\n".join(broken[:20])


def test_kb_site_build_command(shared_site_kb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_MKDOCS_2_WARNING", "1")
    out = tmp_path / "out"
    args = ["build", "--root", str(shared_site_kb), "--config", str(CONFIG), "-o", str(out), "--strict"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"built \d+ pages into .* in [\d.]+ s\n", result.output)
    assert (out / "phenomena/fast-training/index.html").is_file()
    missing = CliRunner().invoke(app, ["build", "--root", str(shared_site_kb), "-o", str(out)])
    assert missing.exit_code == 1 and "no MkDocs configuration" in str(missing.exception)


def test_invalid_knowledge_base_stops_the_build(site_kb: Path, tmp_path: Path) -> None:
    (site_kb / "claims/demo/broken.yaml").write_text("id: broken\nkind: explanation\n", encoding="utf-8")
    result = mkdocs_build(site_kb, tmp_path / "out")
    assert result.returncode != 0
    assert "kb: the knowledge base has" in result.stdout + result.stderr
    assert "claims/demo/broken.yaml" in result.stdout + result.stderr


def test_unreadable_run_record_fails_strict(site_kb: Path, tmp_path: Path) -> None:
    bad = site_kb / "repro/runs/demo_experiment/20260101T000000Z-cccccc.json"
    bad.write_text("{}", encoding="utf-8")
    strict = mkdocs_build(site_kb, tmp_path / "strict")
    assert strict.returncode != 0 and "invalid run record" in strict.stdout + strict.stderr
    assert mkdocs_build(site_kb, tmp_path / "lenient", strict=False).returncode == 0


def test_cli_module_stays_light() -> None:
    """`kb --help` imports kb.cli.site: MkDocs and matplotlib must load only in commands."""
    code = (
        "import sys, kb.cli.site; "
        "heavy = [m for m in ('mkdocs', 'matplotlib', 'material', 'kb.site.generate') if m in sys.modules]; "
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


def test_malicious_claim_html(shared_evil_kb: Path, tmp_path: Path) -> None:
    """After MkDocs and Markdown: no tag, handler or javascript: link from claim text."""
    out = tmp_path / "site"
    result = mkdocs_build(shared_evil_kb, out)
    assert result.returncode == 0, result.stdout + result.stderr
    for page in out.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        for bad in ("<script>window", "<img src=x", "<svg onload", "<iframe", 'href="javascript:',
                    "<b onmouseover", "<h1>heading"):
            assert bad not in html, f"{page.relative_to(out)} contains {bad!r}"
        links = _parse(page).hrefs
        assert not [h for h in links if h.strip().lower().startswith("javascript:")], page
