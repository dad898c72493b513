"""`kb check | list | show | schema`: validate, list and show the claims; their JSON Schema."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from kb.cli.options import (
    Format,
    FormatOption,
    KindFilter,
    RootOption,
    StatusFilter,
    load_kb,
)


def check(
    root: RootOption = None,
    format: FormatOption = Format.text,
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache",
            help="Re-read every claim file instead of reusing unchanged ones from .kb/cache/ "
            "(also: KB_NO_CACHE=1).",
        ),
    ] = False,
) -> None:
    """Validate claims, references, experiments and run records; exit 1 on any error.

    Also fails when a claim's stored status differs from the one derived from the runs and
    the literature (fix with `kb status --write`).
    """
    kb = load_kb(root, use_cache=not no_cache)
    if not kb.errors:
        from kb.evidence import statuses

        assessment = statuses.assess(kb)
        kb.problems = sorted(
            [*kb.problems, *assessment.record_problems, *statuses.stale_problems(kb, assessment)]
        )
    if format is Format.json:
        from kb.render import print_json

        print_json(
            {
                "ok": not kb.errors,
                "files": kb.files_checked,
                "errors": len(kb.errors),
                "warnings": len(kb.warnings),
                "problems": [p.to_dict() for p in kb.problems],
            }
        )
    else:
        from kb.render import problems

        problems(kb.problems, kb.files_checked)
    if kb.errors:
        raise typer.Exit(1)


def list_(
    root: RootOption = None,
    kind: Annotated[Optional[KindFilter], typer.Option(help="Only this kind.")] = None,  # noqa: UP045
    topic: Annotated[
        str | None, typer.Option(help="Only this topic (folder under claims/).")
    ] = None,
    tag: Annotated[Optional[str], typer.Option(help="Only claims with this tag.")] = None,  # noqa: UP045
    status: Annotated[
        StatusFilter | None, typer.Option(help="Only claims with this status.")
    ] = None,
    open_: Annotated[
        bool,
        typer.Option("--open", help="List open predictions (those needing an experiment) instead."),
    ] = False,
    format: FormatOption = Format.text,
) -> None:
    """List claims as a table, filtered by kind, topic, tag or status."""
    from kb import render
    from kb.data import query

    kb = load_kb(root)
    kb.require_valid()
    if open_:
        rows = query.open_predictions(kb)
        if format is Format.json:
            render.print_json([r.to_dict() for r in rows])
        else:
            render.open_table(rows)
        return
    claims = query.list_claims(
        kb,
        kind=kind.value if kind else None,
        topic=topic,
        tag=tag,
        status=status.value if status else None,
    )
    if format is Format.json:
        render.print_json([r.to_dict() for r in claims])
    else:
        render.claim_table(claims)


def show(
    claim_id: Annotated[
        str, typer.Argument(metavar="ID", help="Claim id (its file name without .yaml).")
    ],
    root: RootOption = None,
    format: FormatOption = Format.text,
) -> None:
    """Show one claim with its sources, predictions, verdicts and competitors."""
    from kb import render
    from kb.data import query

    kb = load_kb(root)
    kb.require_valid()
    view = query.show_claim(kb, claim_id)
    if format is Format.json:
        render.print_json(view.to_dict())
    else:
        render.claim_view(view)


def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of a claim file (for editors and other tools)."""
    import json

    from kb.formats.schema import json_schema

    text = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
