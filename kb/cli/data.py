"""`kb index | export | export-run`: the SQL index and the exports of the knowledge base."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kb.cli.options import Format, FormatOption, RootOption, load_kb


def index(
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even if no file changed.")
    ] = False,
    sql: Annotated[
        str | None, typer.Option("--sql", help="Run a read-only SQL query on the fresh index.")
    ] = None,
    root: RootOption = None,
    format: FormatOption = Format.text,
) -> None:
    """Rebuild the SQL index (SQLite in .kb/, or $KB_DATABASE_URL) from the files.

    With --sql, the query's rows are printed as JSON whatever the format.
    """
    from kb import render
    from kb.data import index as index_module

    kb = load_kb(root)
    kb.require_valid()
    if sql:
        render.print_json(index_module.query(kb, sql))
        return
    report = index_module.refresh(kb, force=force)
    if format is Format.json:
        render.print_json(render.index_summary(report))
    else:
        render.index_report(report)


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    json = "json"
    bibtex = "bibtex"
    jsonld = "jsonld"


def export(
    format: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-f",
            help="csv, parquet, json: one file per table; bibtex: references.bib; "
            "jsonld: knowledge-base.jsonld (schema.org).",
        ),
    ] = ExportFormat.csv,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Folder to write into [default: export/ in the knowledge-base root].",
            show_default=False,
        ),
    ] = None,
    all_references: Annotated[
        bool,
        typer.Option(
            "--all-references", help="bibtex: every entry, not only those some claim cites."
        ),
    ] = False,
    root: RootOption = None,
) -> None:
    """Export the knowledge base: tables of claims, sources, predictions, runs and per-seed
    metrics; the cited works as BibTeX; or claims, predictions and verdicts as JSON-LD."""
    from kb import render
    from kb.data.export import export as export_kb

    kb = load_kb(root)
    kb.require_valid()
    report = export_kb(kb, output, format.value, all_references=all_references)
    render.export_report(report)


def export_run(
    run_id: Annotated[
        str,
        typer.Argument(
            metavar="RUN_ID", help="Id of a run record, or an experiment name for its latest run."
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Crate folder [default: export/rocrate-RUN_ID in the knowledge-base root].",
            show_default=False,
        ),
    ] = None,
    root: RootOption = None,
    format: FormatOption = Format.text,
) -> None:
    """Write one run as a Workflow Run RO-Crate: script, config, run record, per-seed results,
    software versions and the predictions it tests."""
    from kb import render
    from kb.data.rocrate import export_run as write_crate

    kb = load_kb(root)
    kb.require_valid()
    report = write_crate(kb, run_id, output)
    if format is Format.json:
        render.print_json(render.crate_summary(report))
    else:
        render.crate_report(report)
