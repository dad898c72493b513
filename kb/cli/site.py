"""`kb site build | serve`: mounted by kb.cli as `app.add_typer(site_app, name="site")`.

Only typer is imported here: MkDocs and matplotlib load inside the commands, so
`kb --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="site",
    help="Build or serve the published site, generated from the knowledge base.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

RootOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional[...] on Python 3.11 annotations
    typer.Option(
        "--root",
        help="Knowledge-base folder (default: $KB_ROOT or the nearest with claims/).",
        show_default=False,
    ),
]
ConfigOption = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--config", help="MkDocs configuration (default: mkdocs.yml in the root).", show_default=False),
]


def _root(root: Path | None) -> Path:
    from kb.checking.load import find_root, given_root

    return given_root(root) if root is not None else find_root()


def _show_mkdocs_log(level: str) -> None:
    """MkDocs reports through logging; show its warnings (and, for serve, the URL)."""
    import logging

    logger = logging.getLogger("mkdocs")
    logger.setLevel(level)
    if not any(getattr(h, "kb_site", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        handler.kb_site = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


@app.command()
def build(
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", "-o", help="Folder for the HTML (default: site-build/ in the root).", show_default=False),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on any warning.")] = False,
    root: RootOption = None,
    config: ConfigOption = None,
) -> None:
    """Build the static site into a folder."""
    from kb.site.build import build_site

    _show_mkdocs_log("WARNING")
    result = build_site(_root(root), output, strict=strict, config_file=config)
    typer.echo(f"built {result.pages} pages into {result.output} in {result.seconds:.1f} s")


@app.command()
def serve(
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port on 127.0.0.1.")] = 8000,
    root: RootOption = None,
    config: ConfigOption = None,
) -> None:
    """Serve the site locally, rebuilding when claims, scripts or runs change."""
    from kb.site.build import serve_site

    _show_mkdocs_log("INFO")
    serve_site(_root(root), port, config_file=config)
