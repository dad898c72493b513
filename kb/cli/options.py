"""Option types, filters and the loader shared by the `kb` commands."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional

import typer


class Format(StrEnum):
    text = "text"
    json = "json"


class KindFilter(StrEnum):
    phenomenon = "phenomenon"
    explanation = "explanation"


class StatusFilter(StrEnum):
    supported = "supported"
    refuted = "refuted"
    contested = "contested"
    untested = "untested"


RootOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional[...] on Python 3.11 annotations
    typer.Option(
        "--root",
        help="Knowledge-base folder (default: $KB_ROOT or the nearest with claims/).",
        show_default=False,
    ),
]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]


def kb_root(root: Path | None) -> Path:
    """The --root given, else $KB_ROOT or the nearest folder holding claims/."""
    from kb.checking.load import find_root, given_root

    return given_root(root) if root is not None else find_root()


def load_kb(root: Path | None, *, use_cache: bool = True):  # type: ignore[no-untyped-def]
    from kb.checking import cache
    from kb.checking.load import load

    return load(kb_root(root), use_cache=use_cache and cache.enabled())
