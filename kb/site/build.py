"""Run MkDocs on a knowledge base: `kb site build` and `kb site serve`.

The configuration is the knowledge base's `mkdocs.yml` (or one given explicitly); the
knowledge base itself reaches the hook as `extra.kb_root`, so any folder holding `claims/`
can be built with the project's theme and hand-written pages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.formats.errors import KbError

DEFAULT_OUTPUT = "site-build"  # git-ignored


class SiteError(KbError):
    """Raised when MkDocs cannot build the site (bad config, broken page, strict warnings)."""


@dataclass(frozen=True)
class BuildResult:
    output: Path
    pages: int
    seconds: float


def config_path(root: Path, config_file: Path | None) -> Path:
    path = config_file if config_file is not None else root / "mkdocs.yml"
    if not path.is_file():
        raise SiteError(
            f"no MkDocs configuration at {path}: pass --config, or copy mkdocs.yml and site/ "
            "from the kb repository into the knowledge base"
        )
    return path


def _load_config(root: Path, config_file: Path, **overrides: Any) -> Any:
    from mkdocs.config import load_config
    from mkdocs.exceptions import ConfigurationError

    try:
        config = load_config(config_file=str(config_file), **overrides)
    except ConfigurationError as exc:
        raise SiteError(f"{config_file}: {exc}") from None
    config.extra["kb_root"] = str(root.resolve())
    return config


def build_site(
    root: Path, output: Path | None = None, *, strict: bool = False, config_file: Path | None = None
) -> BuildResult:
    """Build the static site of the knowledge base at `root` into `output`."""
    from mkdocs.commands.build import build
    from mkdocs.exceptions import MkDocsException

    output = output if output is not None else root / DEFAULT_OUTPUT
    config = _load_config(root, config_path(root, config_file), site_dir=str(output), strict=strict)
    started = time.perf_counter()
    try:
        build(config)
    except MkDocsException as exc:
        raise SiteError(f"the site did not build: {exc}") from None
    pages = sum(1 for _ in output.rglob("*.html"))
    return BuildResult(output, pages, time.perf_counter() - started)


def serve_site(root: Path, port: int = 8000, *, config_file: Path | None = None) -> None:
    """Serve the site on 127.0.0.1:`port`, rebuilding when claims, scripts or runs change."""
    from mkdocs.commands.serve import serve

    path = config_path(root, config_file)
    extra = dict(_load_config(root, path).extra)
    serve(config_file=str(path), dev_addr=f"127.0.0.1:{port}", extra=extra)
