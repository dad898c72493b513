"""MkDocs hook: add the pages generated from the knowledge base to the build.

Listed in mkdocs.yml as `hooks: [kb/site/hook.py]`, so `mkdocs build`, `mkdocs serve` and
`kb site build | serve` all generate the site at build time; nothing generated is written
into the docs folder (`site/`) or committed. The pages themselves come from
`kb.site.generate.generate_site`; this file only connects it to MkDocs.

The knowledge base is `extra.kb_root` when set (by `kb site build --root`), else $KB_ROOT,
else the nearest folder at or above mkdocs.yml that holds `claims/`. Plots are cached in
its `.kb/site-cache/plots/` (git-ignored), or in $KB_SITE_CACHE.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.kb")

CACHE = ".kb/site-cache/plots"  # under the knowledge-base root (git-ignored)
CACHE_ENV = "KB_SITE_CACHE"  # or this folder, e.g. for tests and CI caches
_SOURCE_MAP = re.compile(r"\n?/[/*][#@] sourceMappingURL=[^\n]*?(?:\*/)?[ \t]*$", re.M)


def kb_root(config: Any) -> Path:
    from kb.checking.load import find_root

    configured = (config.extra or {}).get("kb_root")
    if configured:
        return Path(configured).resolve()
    return find_root(Path(config.config_file_path).resolve().parent)


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.exceptions import PluginError
    from mkdocs.structure.files import File, InclusionLevel

    from kb.formats.errors import KbError
    from kb.site.generate import NAV_PAGES, site_from_disk
    from kb.site.model import SiteOptions

    try:
        root = kb_root(config)
        options = SiteOptions(
            site_name=config.site_name,
            site_url=config.site_url or None,
            directory_urls=config.use_directory_urls,
            cache_dir=Path(os.environ[CACHE_ENV]) if os.environ.get(CACHE_ENV) else root / CACHE,
        )
        generated, problems = site_from_disk(root, options)
    except KbError as exc:
        details = "".join(f"\n  {p}" for p in exc.problems)
        raise PluginError(f"kb: {exc.message}{details}") from None
    for problem in problems:
        log.warning("kb: %s", problem)
    clashes = sorted(path for path in generated if files.get_file_from_path(path) is not None)
    if clashes:
        raise PluginError(
            f"kb: {', '.join(clashes)} would be generated but also exist in "
            f"{config.docs_dir}; remove the hand-written copies"
        )
    for path, text in generated.items():
        inclusion = InclusionLevel.UNDEFINED if path in NAV_PAGES else InclusionLevel.NOT_IN_NAV
        files.append(File.generated(config, path, content=text, inclusion=inclusion))
    return files


def on_serve(server: Any, config: Any, builder: Any) -> Any:
    """Rebuild when a claim, the references, a script or a run record changes."""
    root = kb_root(config)
    for folder in ("claims", "repro"):
        if (root / folder).is_dir():
            server.watch(str(root / folder))
    return server


def on_post_build(config: Any) -> None:
    """Ship no source maps: they are for the theme's developers, not readers (about 1.3 MB),
    and a `sourceMappingURL` pointing at a missing file would only cause failed requests."""
    site = Path(config.site_dir)
    for path in sorted(site.rglob("*.map")):
        path.unlink()
    for path in sorted(site.rglob("*.js")) + sorted(site.rglob("*.css")):
        text = path.read_text(encoding="utf-8")
        stripped = _SOURCE_MAP.sub("", text)
        if stripped != text:
            path.write_text(stripped, encoding="utf-8")
