"""End to end in real headless Chromium (Debian's /usr/bin/chromium through Playwright):
the built site renders its verdict table and plots, search finds a claim, and a claim
written to attack readers runs nothing."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sitekb import REPO, mkdocs_build

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]

pytestmark = pytest.mark.slow


def _skip(reason: str) -> None:
    print(f"\nSKIPPED browser tests: {reason}", file=sys.stderr)
    pytest.skip(reason)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not CHROMIUM.exists():
        _skip(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip("the playwright package is not installed: pip install playwright")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        yield context
        context.close()


def _serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def site_url(shared_site_kb: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    out = tmp_path_factory.mktemp("browser-site") / "site"
    result = mkdocs_build(shared_site_kb, out)
    assert result.returncode == 0, result.stdout + result.stderr
    server, url = _serve(out)
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def evil_url(shared_evil_kb: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    out = tmp_path_factory.mktemp("browser-evil") / "site"
    result = mkdocs_build(shared_evil_kb, out)
    assert result.returncode == 0, result.stdout + result.stderr
    server, url = _serve(out)
    yield url
    server.shutdown()
    server.server_close()


def _keep(shot: Path) -> None:
    """Copy a screenshot to test-output/ (git-ignored) for people to look at."""
    target = REPO / "test-output"
    target.mkdir(exist_ok=True)
    shutil.copy(shot, target / shot.name)


def _search(page: Any, word: str) -> None:
    """Type into Material's search box key by key, as a reader does (its index loads in a
    web worker, and a value set in one go before it is ready is not searched)."""
    box = page.locator("input.md-search__input")
    box.click()
    box.press_sequentially(word, delay=30)


def test_home_and_phenomenon_pages_render(chromium: Any, site_url: str, tmp_path: Path) -> None:
    page = chromium.new_page()
    page.goto(f"{site_url}/", wait_until="domcontentloaded")
    assert page.locator("h1").first.inner_text().strip() != ""
    assert page.locator("a", has_text="A phenomenon").first.is_visible()
    page.screenshot(path=str(tmp_path / "site-home.png"), full_page=True)

    page.goto(f"{site_url}/phenomena/fast-training/", wait_until="domcontentloaded")
    table = page.locator("table.kb-matrix")
    table.wait_for(state="visible")
    holds = table.locator("td.kb-v-holds").first
    assert holds.inner_text().startswith("HOLDS")
    colour = holds.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(215, 240, 220)", colour  # site/assets/kb.css was applied
    assert table.locator("td.kb-v-fails").count() == 1
    assert table.locator("tr.kb-cruxrow").count() == 1
    plots = page.locator("figure.kb-plot img")
    assert plots.count() == 3
    for i in range(plots.count()):
        plots.nth(i).scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=plots.nth(i).element_handle())
    shot = tmp_path / "site-phenomenon.png"
    page.screenshot(path=str(shot), full_page=True)
    _keep(shot)
    page.close()


def test_search_finds_a_claim_by_a_title_word(chromium: Any, site_url: str, tmp_path: Path) -> None:
    page = chromium.new_page()
    page.goto(f"{site_url}/", wait_until="domcontentloaded")
    _search(page, "steady")
    result = page.locator(".md-search-result__item", has_text="gradients are steady")
    result.first.wait_for(state="visible", timeout=15_000)
    page.screenshot(path=str(tmp_path / "site-search.png"))
    page.close()


def test_malicious_claim_runs_nothing(chromium: Any, evil_url: str, tmp_path: Path) -> None:
    page = chromium.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    for path in ("claims/evil-claim/", "phenomena/fast-training/", "bibliography/", "", "claims/",
                 "tags/", "coverage/"):
        page.goto(f"{evil_url}/{path}", wait_until="load")
        assert page.evaluate("typeof window.__pwned") == "undefined", path
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        assert not [h for h in hrefs if h.strip().lower().startswith("javascript:")], path
    page.goto(f"{evil_url}/claims/evil-claim/", wait_until="load")
    body = page.locator("article").inner_text()
    assert "<script>window.__pwned=1</script>" in body  # shown as text
    assert "[x](javascript:window.__pwned=1)" in body
    # Click where the links would be if Markdown or HTML in the claim had been honoured.
    page.get_by_text("[x](javascript:window.__pwned=1)", exact=False).first.click()
    page.get_by_text("here</a>", exact=False).first.click()
    page.get_by_text("[click me]", exact=False).first.click()
    page.locator("h1").first.hover()
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    # Search renders the claim's title from the index: still text.
    _search(page, "zebraword")
    page.locator(".md-search-result__item").first.wait_for(state="visible", timeout=15_000)
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []
    page.screenshot(path=str(tmp_path / "site-malicious.png"), full_page=True)
    page.close()


# -- read as a reader would: desktop and phone, offline, every verdict placed --------------

READER_PAGES = {
    "home": "",
    "phenomenon": "phenomena/fast-training/",
    "claim": "claims/small-ratio/",
    "experiment": "experiments/demo_experiment/",
}
WIDTHS = {1280: 900, 390: 844}  # desktop, and a phone (iPhone 12-15 CSS pixels)
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
DETAIL = {"phenomenon": "table.kb-matrix", "claim": "#two-lines-of-evidence", "experiment": "svg.kb-spec"}
UPDATE_SCREENSHOTS = "KB_UPDATE_SCREENSHOTS"  # =1: rewrite tests/site/screenshots/ (review the images)

# Elements wider than the viewport are fine only inside something that scrolls or clips them.
_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const contained = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const x = getComputedStyle(p).overflowX;
      if (x === 'auto' || x === 'scroll' || x === 'hidden') return true;
    }
    return false;
  };
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if ((r.right > width + 1 || r.left < -1) && !contained(el)) {
      bad.push(`${el.tagName.toLowerCase()}.${el.className} [${Math.round(r.left)}, ${Math.round(r.right)}]`);
    }
  }
  return {bad: bad.slice(0, 10), scroll: document.documentElement.scrollWidth, width};
}"""


def _load_everything(page: Any) -> None:
    """Bring lazy images into view and wait until each has loaded (plots are <img>)."""
    images = page.locator("img")
    for i in range(images.count()):
        images.nth(i).scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=images.nth(i).element_handle())
    page.evaluate("window.scrollTo(0, 0)")


def _small_png(shot: bytes, target: Path) -> None:
    """Keep committed screenshots small: a 256-colour palette PNG."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(shot)).convert("RGB").quantize(colors=256)
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, optimize=True)


@pytest.mark.parametrize("width", sorted(WIDTHS, reverse=True))
@pytest.mark.parametrize("name", list(READER_PAGES))
def test_read_as_a_reader_would(chromium: Any, site_url: str, name: str, width: int, tmp_path: Path) -> None:
    host = site_url.split("//", 1)[1]
    elsewhere: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.split("//", 1)[-1].startswith(host + "/"):
            r.continue_()
        else:
            elsewhere.append(r.request.url)
            r.abort()

    page = chromium.new_page()
    page.set_viewport_size({"width": width, "height": WIDTHS[width]})
    page.route("**/*", route)
    page.goto(f"{site_url}/{READER_PAGES[name]}", wait_until="load")
    _load_everything(page)
    page.wait_for_load_state("networkidle")
    assert elsewhere == [], f"{name} at {width} px asked another host for {elsewhere}"

    overflow = page.evaluate(_OVERFLOW)
    assert overflow["bad"] == [] and overflow["scroll"] <= overflow["width"], overflow

    cells = page.locator("td.kb-cell:has(.kb-est), .kb-stack > div:has(.kb-est)")
    if name != "home":
        assert cells.count() > 0, name
    for i in range(cells.count()):
        regime = cells.nth(i).locator(".kb-regime")
        assert regime.count() == 1, cells.nth(i).inner_text()
        assert regime.inner_text().strip() == "MNIST-1D · MLP 8×128 · smoke · CPU"

    shot = page.screenshot()  # the viewport: what a reader sees first
    (tmp_path / f"{name}-{width}.png").write_bytes(shot)
    _keep(tmp_path / f"{name}-{width}.png")
    if os.environ.get(UPDATE_SCREENSHOTS) == "1":
        _small_png(shot, SCREENSHOTS / f"{name}-{width}.png")
        if name in DETAIL:  # and the part a reviewer most needs to see
            page.locator(DETAIL[name]).first.evaluate("e => e.scrollIntoView({block: 'start'})")
            page.evaluate("window.scrollBy(0, -70)")  # below the sticky header
            page.wait_for_timeout(500)  # the header's title transition
            _small_png(page.screenshot(), SCREENSHOTS / f"{name}-detail-{width}.png")
    page.close()
