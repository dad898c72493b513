"""The `kb` command line: parse arguments, call one core function, render the result.

Heavy libraries (torch, pandas, sqlmodel) are never imported here at module level, and
neither is rich: `kb --help` must stay fast. User mistakes arrive as `KbError` and are
rendered once, in `main`; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional

import typer

from kb import __version__
from kb.errors import KbError

app = typer.Typer(
    name="kb",
    help="A knowledge base of deep-learning explanations: claims, sources, predictions and the evidence for them.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


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


def _mount_site() -> None:
    from kb.site.cli import app as site_app  # imports only typer: `kb --help` stays fast

    app.add_typer(site_app, name="site", help="Build or serve the website.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kb {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """A knowledge base of deep-learning explanations: claims, sources, predictions and evidence."""


def _load(root: Path | None):  # type: ignore[no-untyped-def]
    from kb.load import find_root, load

    return load(root if root is not None else find_root())


@app.command()
def check(root: RootOption = None, format: FormatOption = Format.text) -> None:
    """Validate claims, references, experiments and run records; exit 1 on any error.

    Also fails when a claim's stored status differs from the one derived from the runs and
    the literature (fix with `kb status --write`).
    """
    kb = _load(root)
    if not kb.errors:
        from kb import statuses

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


@app.command("list")
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
    from kb import query, render

    kb = _load(root)
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


@app.command()
def show(
    claim_id: Annotated[
        str, typer.Argument(metavar="ID", help="Claim id (its file name without .yaml).")
    ],
    root: RootOption = None,
    format: FormatOption = Format.text,
) -> None:
    """Show one claim with its sources, predictions, verdicts and competitors."""
    from kb import query, render

    kb = _load(root)
    kb.require_valid()
    view = query.show_claim(kb, claim_id)
    if format is Format.json:
        render.print_json(view.to_dict())
    else:
        render.claim_view(view)


class Scale(StrEnum):
    smoke = "smoke"
    full = "full"


@app.command()
def run(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TARGET...", help="Claim ids, experiment names or topics.", show_default=False
        ),
    ] = None,
    run_all: Annotated[bool, typer.Option("--all", help="Run every experiment.")] = False,
    scale: Annotated[
        Scale, typer.Option(help="smoke: CPU, minutes; full: the paper's setting.")
    ] = Scale.smoke,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds 0..N-1 (finished ones are reused).")] = 5,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", min=1, help="Seeds run in parallel (processes; GPUs round-robin)."
        ),
    ] = 1,
    timeout: Annotated[
        float, typer.Option(help="Seconds before a seed is stopped and recorded as failed.")
    ] = 1800.0,
    memory: Annotated[int, typer.Option(help="Memory cap per seed, in MiB.")] = 8192,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Override a config value (repeatable)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would run, run nothing.")
    ] = False,
    root: RootOption = None,
) -> None:
    """Run the experiments that test a claim's predictions; record the runs; update statuses."""
    from kb import render, runner

    kb = _load(root)
    kb.require_valid()
    plans = runner.plan_runs(
        kb,
        kb.experiment_info,
        targets or [],
        run_all=run_all,
        scale=scale.value,
        seeds=seeds,
        overrides=overrides or [],
    )
    if dry_run:
        render.plans(plans)
        return
    options = runner.RunOptions(
        device=device,
        jobs=jobs,
        timeout_s=timeout,
        memory_mb=memory,
        command=runner.command_line(sys.argv[1:]),
    )
    with render.RunProgress() as progress:
        report = runner.execute(plans, kb.root, options, progress)
    render.run_report(report)
    from kb import statuses

    last_run = report.records[-1].id if report.records else None
    assessment, changes = statuses.refresh(kb.root, run_id=last_run)
    served = {(r.claim, r.prediction) for p in plans for r in p.predictions}
    render.verdicts(assessment, served)
    render.status_changes(changes)
    if report.interrupted:
        raise typer.Exit(130)


@app.command()
def status(
    write: Annotated[
        bool,
        typer.Option("--write", help="Write every out-of-date status block into its claim file."),
    ] = False,
    root: RootOption = None,
    format: FormatOption = Format.text,
) -> None:
    """The state table: each claim's derived status, and what changed since the last commit."""
    from kb import render, statuses

    kb = _load(root)
    kb.require_valid()
    if write:
        assessment, changes = statuses.refresh(kb.root)
        kb = _load(root)
    else:
        assessment, changes = statuses.assess(kb), []
    committed = statuses.committed_statuses(kb)
    if format is Format.json:
        render.print_json(
            {
                cid: {
                    "derived": st.model_dump(mode="json", exclude={"history"}),
                    "stored_is_current": cid not in assessment.stale,
                    "committed": _status_value(committed.get(cid)),
                }
                for cid, st in sorted(assessment.derivation.statuses.items())
            }
        )
        return
    render.status_table(kb, assessment, committed)
    render.status_changes(changes)
    if assessment.stale and not write:
        render.stderr.print(
            render.safe(
                f"{len(assessment.stale)} stored status(es) out of date: run `kb status --write`",
                "yellow",
            )
        )


def _status_value(status: object) -> str | None:
    from kb.schema import Status

    return status.value.value if isinstance(status, Status) else None


@app.command()
def verify(
    run_id: Annotated[
        str, typer.Argument(metavar="RUN_ID", help="Id of a run record (its file name).")
    ],
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1)] = 1,
    rtol: Annotated[float, typer.Option(help="Relative tolerance for a metric to match.")] = 1e-6,
    atol: Annotated[float, typer.Option(help="Absolute tolerance for a metric to match.")] = 1e-9,
    timeout: Annotated[float, typer.Option(help="Seconds per seed.")] = 1800.0,
    root: RootOption = None,
) -> None:
    """Re-execute a recorded run's config and seeds; report, metric by metric, whether they match."""
    from kb import render, runner
    from kb.verify import verify as verify_run

    kb = _load(root)
    kb.require_valid()
    options = runner.RunOptions(
        device=device, jobs=jobs, timeout_s=timeout, command=runner.command_line(sys.argv[1:])
    )
    with render.RunProgress() as progress:
        report = verify_run(kb, run_id, options, progress, rtol=rtol, atol=atol)
    render.verify_report(report)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def index(
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even if no file changed.")
    ] = False,
    sql: Annotated[
        str | None, typer.Option("--sql", help="Run a read-only SQL query on the fresh index.")
    ] = None,
    root: RootOption = None,
) -> None:
    """Rebuild the SQL index (SQLite in .kb/, or $KB_DATABASE_URL) from the files."""
    from kb import index as index_module
    from kb import render

    kb = _load(root)
    kb.require_valid()
    if sql:
        render.print_json(index_module.query(kb, sql))
        return
    report = index_module.refresh(kb, force=force)
    render.index_report(report)


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    json = "json"


@app.command()
def export(
    format: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="File format, one file per table.")
    ] = ExportFormat.csv,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write into.")] = Path(
        "export"
    ),
    root: RootOption = None,
) -> None:
    """Export claims, sources, predictions, runs and per-seed metrics as tables."""
    from kb import render
    from kb.export import export as export_tables

    kb = _load(root)
    kb.require_valid()
    report = export_tables(kb, output, format.value)
    render.export_report(report)


@app.command()
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of a claim file (for editors and other tools)."""
    import json

    from kb.schema import json_schema

    text = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


_mount_site()


def main() -> None:
    """Console-script entry point: run the app and render user errors in one place.

    Usage errors (exit 2) are typer's own; a `KbError` from the core is printed here as
    one message plus its located problems, without a traceback.
    """
    try:
        app(prog_name="kb")
    except KbError as exc:
        from kb.render import error

        error(exc)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
