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


def _load(root: Path | None, *, use_cache: bool = True):  # type: ignore[no-untyped-def]
    from kb import cache
    from kb.load import find_root, load

    return load(root if root is not None else find_root(), use_cache=use_cache and cache.enabled())


@app.command()
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
    kb = _load(root, use_cache=not no_cache)
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


class Executor(StrEnum):
    local = "local"
    submitit_local = "submitit-local"
    slurm = "slurm"


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
    changed_since: Annotated[
        str | None,
        typer.Option(
            "--changed-since",
            metavar="REV",
            help="Also run the experiments a change since git revision REV touches (see `kb changed`).",
        ),
    ] = None,
    executor: Annotated[
        Executor,
        typer.Option(help="Where seeds run: local processes, submitit's local executor, or Slurm."),
    ] = Executor.local,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait", help="With submitit/Slurm: wait and record, or submit and return."
        ),
    ] = True,
    partition: Annotated[Optional[str], typer.Option(help="Slurm partition.")] = None,  # noqa: UP045
    account: Annotated[Optional[str], typer.Option(help="Slurm account.")] = None,  # noqa: UP045
    gpus_per_task: Annotated[
        Optional[int], typer.Option(min=0, help="Slurm GPUs per seed.")  # noqa: UP045
    ] = None,
    cpus_per_task: Annotated[
        Optional[int], typer.Option(min=1, help="Slurm CPUs per seed.")  # noqa: UP045
    ] = None,
    mem: Annotated[
        Optional[str], typer.Option(help="Slurm memory per seed: MiB or a size like 16G.")  # noqa: UP045
    ] = None,
    time_limit: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--time", help="Slurm time limit per seed, in minutes (then requeued)."),
    ] = None,
    array_parallelism: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--slurm-array-parallelism", min=1, help="Seeds running at once on Slurm."),
    ] = None,
    slurm_setup: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--slurm-setup", metavar="LINE", help="Shell line run before each job (repeatable)."),
    ] = None,
    root: RootOption = None,
) -> None:
    """Run the experiments that test a claim's predictions; record the runs; update statuses.

    With --executor slurm the seeds are one Slurm array job (settings from [tool.kb.slurm]
    in pyproject.toml or [slurm] in kb.toml, overridden by the flags); see `kb jobs`.
    """
    from kb import render, runner

    kb = _load(root)
    kb.require_valid()
    if changed_since is not None:
        from kb.changes import changed_experiments

        touched = changed_experiments(kb, changed_since)
        if not (touched or targets or run_all):
            render.touched_experiments(touched, changed_since)
            return
        targets = [*(targets or []), *(t.name for t in touched)]
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
        executor=executor.value,
        wait=wait,
    )
    if executor is not Executor.local:
        from kb.config import load_settings

        options.slurm = load_settings(kb.root).merged(
            partition=partition,
            account=account,
            gpus_per_task=gpus_per_task,
            cpus_per_task=cpus_per_task,
            mem=mem,
            time=time_limit,
            array_parallelism=array_parallelism,
            setup=slurm_setup or [],
        )
    with render.RunProgress() as progress:
        report = runner.execute(plans, kb.root, options, progress)
    render.run_report(report)
    if report.submission is not None:  # left running: recorded later by `kb jobs`
        if report.interrupted:
            raise typer.Exit(130)
        return
    from kb import statuses

    last_run = report.records[-1].id if report.records else None
    assessment, changes = statuses.refresh(kb.root, run_id=last_run)
    served = {(r.claim, r.prediction) for p in plans for r in p.predictions}
    render.verdicts(assessment, served)
    render.status_changes(changes)
    if report.interrupted:
        raise typer.Exit(130)


class StatusFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


@app.command()
def status(
    write: Annotated[
        bool,
        typer.Option("--write", help="Write every out-of-date status block into its claim file."),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="REV",
            help="Compare with the statuses stored at git revision REV (its merge base with HEAD) instead of the last commit.",
        ),
    ] = None,
    root: RootOption = None,
    format: Annotated[
        StatusFormat,
        typer.Option(
            "--format",
            "-f",
            help="Output format; markdown: only the claims whose status moved, escaped for a pull-request comment.",
        ),
    ] = StatusFormat.text,
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
    if since is not None or format is StatusFormat.markdown:
        from kb.changes import status_changes

        summary = status_changes(kb, assessment, since or "HEAD")
        if format is StatusFormat.markdown:
            sys.stdout.write(render.status_summary_markdown(summary))
            return
        committed = summary.base_statuses
    else:
        committed = statuses.committed_statuses(kb)
    if format is StatusFormat.json:
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
def changed(
    rev: Annotated[
        str, typer.Argument(metavar="REV", help="Git revision to compare with, e.g. origin/main.")
    ],
    root: RootOption = None,
    format: FormatOption = Format.text,
) -> None:
    """List the experiments a change since REV touches, and why (what `kb run --changed-since` runs).

    An experiment is touched when its script changed, when a prediction it serves was added
    or changed, or when the shared building blocks under kb/lab/ changed. The change is
    compared from the merge base of REV and HEAD to the working tree.
    """
    from kb import render
    from kb.changes import changed_experiments

    kb = _load(root)
    kb.require_valid()
    touched = changed_experiments(kb, rev)
    if format is Format.json:
        render.print_json([t.to_dict() for t in touched])
    else:
        render.touched_experiments(touched, rev)


@app.command()
def jobs(
    follow: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--follow", metavar="ID", help="Show the state until done, then record it."),
    ] = None,
    cancel: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--cancel", metavar="ID", help="Cancel a submission's jobs."),
    ] = None,
    collect: Annotated[
        bool, typer.Option("--collect", help="Record every submission whose jobs have all ended.")
    ] = False,
    root: RootOption = None,
    format: FormatOption = Format.text,
) -> None:
    """Seeds submitted with `kb run --executor submitit-local|slurm`: list, follow, cancel, record."""
    from kb import jobs as jobs_module
    from kb import render
    from kb.load import find_root

    kb_root = root if root is not None else find_root()
    if cancel is not None:
        render.job_cancelled(jobs_module.cancel(kb_root, cancel))
        return
    if follow is not None:
        with render.JobFollower() as follower:
            records = jobs_module.follow(kb_root, follow, follower.update)
    elif collect:
        records = jobs_module.collect_all(kb_root)
    else:
        views = [jobs_module.view(kb_root, s) for s in jobs_module.submissions(kb_root)]
        if format is Format.json:
            render.print_json([v.to_dict() for v in views])
        else:
            render.job_table(views)
        return
    render.collected(records)
    if records:
        from kb import statuses

        _, changes = statuses.refresh(kb_root, run_id=records[-1].id)
        render.status_changes(changes)


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
    bibtex = "bibtex"
    jsonld = "jsonld"


@app.command()
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
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write into.")] = Path(
        "export"
    ),
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
    from kb.export import export as export_kb

    kb = _load(root)
    kb.require_valid()
    report = export_kb(kb, output, format.value, all_references=all_references)
    render.export_report(report)


@app.command("export-run")
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
            "--output", "-o", help="Crate folder [default: export/rocrate-RUN_ID].", show_default=False
        ),
    ] = None,
    root: RootOption = None,
) -> None:
    """Write one run as a Workflow Run RO-Crate: script, config, run record, per-seed results,
    software versions and the predictions it tests."""
    from kb import render
    from kb.rocrate_export import export_run as write_crate

    kb = _load(root)
    kb.require_valid()
    report = write_crate(kb, run_id, output)
    render.crate_report(report)


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


# --- kb new ------------------------------------------------------------------------------

new_app = typer.Typer(
    name="new",
    help="Start a claim or an experiment from a template that `kb check` accepts.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(new_app, name="new")

NoInputOption = Annotated[
    bool,
    typer.Option(
        "--no-input",
        help="Never prompt: a missing required value is an error (as without a terminal).",
    ),
]


def _ask(
    value: str | None, flag: str, question: str, interactive: bool, default: str | None = None
) -> str:
    """A flag's value, else the answer to a prompt when a person is at the terminal."""
    if value is not None:
        return value
    if interactive:
        answer: str = typer.prompt(question, default=default)
        return answer
    if default is not None:
        return default
    from kb.scaffold import ScaffoldError

    raise ScaffoldError(f"missing {flag} (prompted for only when stdin is a terminal)")


@new_app.command("claim")
def new_claim(
    claim_id: Annotated[
        str | None,
        typer.Option(
            "--id", help="Lowercase slug, e.g. bn-reduces-ics; the file name.", show_default=False
        ),
    ] = None,
    kind: Annotated[
        KindFilter | None, typer.Option(help="phenomenon or explanation.", show_default=False)
    ] = None,
    explains: Annotated[
        str | None,
        typer.Option(
            help="For an explanation: id of the phenomenon it explains.", show_default=False
        ),
    ] = None,
    topic: Annotated[
        str | None,
        typer.Option(help="Folder under claims/, e.g. normalization.", show_default=False),
    ] = None,
    statement: Annotated[
        str | None,
        typer.Option(help="The claim, precise enough to be wrong.", show_default=False),
    ] = None,
    title: Annotated[
        str | None,
        typer.Option(
            help="One-line page heading (default: the statement's first sentence).",
            show_default=False,
        ),
    ] = None,
    summary: Annotated[
        str | None,
        typer.Option(
            help="A few sentences for a reader who knows basic deep learning.", show_default=False
        ),
    ] = None,
    cite: Annotated[
        list[str] | None,
        typer.Option(
            "--cite",
            metavar="CITEKEY",
            help="A source (repeatable); the first proposes the claim, later ones are added as 'discusses'. A key missing from references.bib gets an empty entry to complete.",
            show_default=False,
        ),
    ] = None,
    locator: Annotated[
        list[str] | None,
        typer.Option(
            "--locator",
            metavar="LOCATOR",
            help="Where in each --cite, in the same order: 'Sec. 2.1, Fig. 2'.",
            show_default=False,
        ),
    ] = None,
    prediction: Annotated[
        str | None,
        typer.Option(
            "--prediction",
            help="The first prediction's statement: what could be observed.",
            show_default=False,
        ),
    ] = None,
    prediction_id: Annotated[
        str, typer.Option("--prediction-id", help="Its id (a slug).")
    ] = "first",
    experiment: Annotated[
        str | None,
        typer.Option(
            help="repro/ script that tests it (default: the prediction is open).",
            show_default=False,
        ),
    ] = None,
    metric: Annotated[
        str | None, typer.Option(help="Metric the prediction is about.", show_default=False)
    ] = None,
    expect: Annotated[
        str | None,
        typer.Option(help="Expected outcome, e.g. '> 1.5', 'between 0 0.1'.", show_default=False),
    ] = None,
    no_input: NoInputOption = False,
    root: RootOption = None,
) -> None:
    """Write claims/<topic>/<id>.yaml, valid as written, with one source and a first prediction.

    Values not given as flags are asked for when stdin is a terminal; with --no-input or
    without a terminal, a missing required value is an error and nothing is written.
    """
    from kb import render, scaffold
    from kb.load import find_root, load
    from kb.schema import Kind

    kb_root = root if root is not None else find_root()
    ask = sys.stdin.isatty() and not no_input
    kind_text = _ask(kind.value if kind else None, "--kind", "Kind (phenomenon or explanation)", ask)
    if kind_text not in {k.value for k in Kind}:
        raise scaffold.ScaffoldError(f"kind {kind_text!r} is not phenomenon or explanation")
    kind_value = Kind(kind_text)
    if kind_value is Kind.explanation:
        explains = _ask(explains, "--explains", "Id of the phenomenon it explains", ask)
    scaffold.check_explains(load(kb_root), kind_value, explains)  # before asking for more
    cid = scaffold.check_slug(_ask(claim_id, "--id", "Id (lowercase slug)", ask), "id")
    topic_value = scaffold.check_slug(
        _ask(topic, "--topic", "Topic (folder under claims/)", ask), "topic"
    )
    statement_value = _ask(statement, "--statement", "Statement", ask)
    title_value = _ask(title, "--title", "Title", ask, default=scaffold.title_from(statement_value))
    summary_value = _ask(summary, "--summary", "Summary", ask)
    keys = list(cite or []) or [_ask(None, "--cite", "Citekey of the source that proposes it", ask)]
    places = list(locator or [])
    if len(places) > len(keys):
        raise scaffold.ScaffoldError(f"{len(places)} --locator for {len(keys)} --cite")
    for key in keys[len(places) :]:
        places.append(_ask(None, "--locator", f"Where in {key} (e.g. 'Sec. 2.1, Fig. 2')", ask))
    sources = [
        scaffold.Citation(key, place, "proposes" if i == 0 else "discusses")
        for i, (key, place) in enumerate(zip(keys, places, strict=True))
    ]
    first = scaffold.PredictionDraft(
        id=scaffold.check_slug(prediction_id, "--prediction-id"),
        statement=_ask(
            prediction, "--prediction", "First prediction (what could be observed)", ask
        ),
        experiment=experiment,
        metric=metric,
        expect=expect,
    )
    draft = scaffold.ClaimDraft(
        id=cid,
        kind=kind_value,
        topic=topic_value,
        title=title_value,
        statement=statement_value,
        summary=summary_value,
        sources=sources,
        prediction=first,
        explains=explains,
    )
    render.new_claim_report(scaffold.new_claim(kb_root, draft))


@new_app.command("experiment")
def new_experiment(
    name: Annotated[
        str,
        typer.Argument(metavar="NAME", help="Script name: repro/NAME.py (lowercase, underscores)."),
    ],
    claim_id: Annotated[
        str | None,
        typer.Option(
            "--claim",
            metavar="ID",
            help="Link: the claim whose prediction this tests.",
            show_default=False,
        ),
    ] = None,
    prediction_id: Annotated[
        str | None,
        typer.Option(
            "--prediction",
            metavar="PID",
            help="Link: that prediction's id; it must have a metric and an expectation.",
            show_default=False,
        ),
    ] = None,
    root: RootOption = None,
) -> None:
    """Write repro/NAME.py: a small working reproduction that follows the experiment contract.

    With --claim and --prediction, the script declares the prediction's metric and the
    prediction, if open, names the script instead.
    """
    from kb import render, scaffold
    from kb.load import find_root

    kb_root = root if root is not None else find_root()
    render.new_experiment_report(scaffold.new_experiment(kb_root, name, claim_id, prediction_id))

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
