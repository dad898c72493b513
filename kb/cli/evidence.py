"""`kb run | status | changed | verify`: run the experiments, derive the statuses, re-check runs."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Optional

import typer

from kb.cli.options import Format, FormatOption, RootOption, load_kb


class Scale(StrEnum):
    smoke = "smoke"
    full = "full"


class Executor(StrEnum):
    local = "local"
    submitit_local = "submitit-local"
    slurm = "slurm"


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
    memory: Annotated[int, typer.Option(help="Memory cap per seed, in MiB of address space (importing the CPU build of torch needs about 1 GiB).")] = 8192,
    threads: Annotated[
        int,
        typer.Option(
            min=1,
            help="Intra-op threads per seed (recorded; metrics can depend on it). Use --jobs for parallelism.",
        ),
    ] = 1,
    multiverse: Annotated[
        bool,
        typer.Option(
            "--multiverse",
            help="Also run each declared MULTIVERSE value, one design constant at a time (variants: never pooled).",
        ),
    ] = False,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Override a config value (repeatable)."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Show the seeds a real run would compute and reuse, and how long it should "
            "take (from earlier records); run nothing.",
        ),
    ] = False,
    rerun: Annotated[
        bool,
        typer.Option(
            "--rerun", help="Compute every seed again, even those already recorded or cached."
        ),
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
    allow_failures: Annotated[
        bool,
        typer.Option("--allow-failures", help="Exit 0 even when seeds failed (they are recorded either way)."),
    ] = False,
    root: RootOption = None,
    format: FormatOption = Format.text,
) -> None:
    """Run the experiments that test a claim's predictions; record the runs; update statuses.

    With --executor slurm the seeds are one Slurm array job (settings from [tool.kb.slurm]
    in pyproject.toml or [slurm] in kb.toml, overridden by the flags); see `kb jobs`.
    """
    from kb import render
    from kb.running import plan, runner

    kb = load_kb(root)
    kb.require_valid()
    if changed_since is not None:
        from kb.running.changes import changed_experiments

        touched = changed_experiments(kb, changed_since)
        if not (touched or targets or run_all):
            if format is Format.json:
                render.print_json({"touched": [], "runs": []})
            else:
                render.touched_experiments(touched, changed_since)
            return
        targets = [*(targets or []), *(t.name for t in touched)]
    plans = plan.plan_runs(
        kb,
        kb.experiment_info,
        targets or [],
        run_all=run_all,
        scale=scale.value,
        seeds=seeds,
        overrides=overrides or [],
        multiverse=multiverse,
        rerun=rerun,
    )
    if dry_run:
        from kb.formats.records import read_records
        from kb.running.batch import prepare

        todo = prepare(plans, kb.root, plan.Silent()).todo  # what a real run decides
        previews = plan.preview(plans, todo, read_records(kb.root)[0], jobs)
        if format is Format.json:
            render.print_json({"dry_run": True, "jobs": jobs, "plans": [p.to_dict() for p in previews]})
        else:
            render.plans(previews, jobs)
        return
    options = plan.RunOptions(
        device=device,
        jobs=jobs,
        timeout_s=timeout,
        memory_mb=memory,
        threads=threads,
        command=plan.command_line(sys.argv[1:]),
        executor=executor.value,
        wait=wait,
    )
    if executor is not Executor.local:
        from kb.running.config import load_settings

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
    text = format is Format.text
    with render.RunProgress() as progress:
        report = runner.execute(plans, kb.root, options, progress)
    if report.submission is not None:  # left running: recorded later by `kb jobs`
        if text:
            render.run_report(report)
        else:
            render.print_json(render.run_summary(report))
        if report.interrupted:
            raise typer.Exit(130)
        return
    from kb.evidence import statuses

    assessment, changes = statuses.refresh(kb.root, runs=report.records)
    served = {(r.claim, r.prediction) for p in plans for r in p.predictions}
    if text:
        render.run_report(report)
        render.verdicts(assessment, served)
        render.status_changes(changes)
    else:
        render.print_json(render.run_summary(report, assessment, served, changes))
    if report.interrupted:
        raise typer.Exit(130)
    if report.failed_seeds and not allow_failures:
        typer.echo(f"{report.failed_seeds} seed(s) failed (see above; --allow-failures exits 0)", err=True)
        raise typer.Exit(1)


class StatusFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


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
    from kb import render
    from kb.evidence import statuses

    kb = load_kb(root)
    kb.require_valid()
    if write:
        assessment, changes = statuses.refresh(kb.root)
        kb = load_kb(root)
    else:
        assessment, changes = statuses.assess(kb), []
    if since is not None or format is StatusFormat.markdown:
        from kb.running.changes import status_changes

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
    from kb.formats.schema import Status

    return status.value.value if isinstance(status, Status) else None


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
    from kb.running.changes import changed_experiments

    kb = load_kb(root)
    kb.require_valid()
    touched = changed_experiments(kb, rev)
    if format is Format.json:
        render.print_json([t.to_dict() for t in touched])
    else:
        render.touched_experiments(touched, rev)


def verify(
    run_id: Annotated[
        str | None,
        typer.Argument(
            metavar="RUN_ID|EXPERIMENT",
            help="Id of a run record (its file name), or an experiment name for its latest run.",
            show_default=False,
        ),
    ] = None,
    changed_since: Annotated[
        str | None,
        typer.Option(
            "--changed-since",
            metavar="REV",
            help="Verify every run record added or changed since git revision REV (what a PR brings).",
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1)] = 1,
    rtol: Annotated[float, typer.Option(help="Relative tolerance for a metric to match.")] = 1e-6,
    atol: Annotated[float, typer.Option(help="Absolute tolerance for a metric to match.")] = 1e-9,
    timeout: Annotated[float, typer.Option(help="Seconds per seed.")] = 1800.0,
    root: RootOption = None,
    format: FormatOption = Format.text,
) -> None:
    """Re-execute a recorded run's config and seeds; report, metric by metric, whether they match.

    RUN_ID is a run record's id, or an experiment name for that experiment's latest run
    with a successful seed.
    """
    from kb import render
    from kb.running import plan
    from kb.running.verify import verify as verify_run

    kb = load_kb(root)
    kb.require_valid()
    options = plan.RunOptions(
        device=device, jobs=jobs, timeout_s=timeout, command=plan.command_line(sys.argv[1:])
    )
    if (run_id is None) == (changed_since is None):
        from kb.formats.errors import KbError

        raise KbError("give a RUN_ID (or experiment name), or --changed-since REV, not both")
    if changed_since is not None:
        from kb.running.changes import changed_records

        ids = changed_records(kb, changed_since)
        if not ids:
            typer.echo(f"no run record added or changed since {changed_since}")
            return
    else:
        ids = [run_id or ""]
    failed, summaries = 0, []
    for one in ids:
        with render.RunProgress() as progress:
            report = verify_run(kb, one, options, progress, rtol=rtol, atol=atol)
        if format is Format.json:
            summaries.append(render.verify_summary(report))
        else:
            render.verify_report(report)
        failed += not report.ok
    if format is Format.json:
        render.print_json(summaries[0] if run_id is not None else summaries)
    if failed:
        raise typer.Exit(1)
