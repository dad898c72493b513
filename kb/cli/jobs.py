"""`kb jobs`: the seeds submitted to submitit or Slurm, followed, cancelled and recorded."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from kb.cli.options import Format, FormatOption, RootOption, kb_root


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
    from kb import render
    from kb.running import jobs as jobs_module

    folder = kb_root(root)
    if cancel is not None:
        render.job_cancelled(jobs_module.cancel(folder, cancel))
        return
    if follow is not None:
        with render.JobFollower() as follower:
            records = jobs_module.follow(folder, follow, follower.update)
    elif collect:
        records = jobs_module.collect_all(folder)
    else:
        views = [jobs_module.view(folder, s) for s in jobs_module.submissions(folder)]
        if format is Format.json:
            render.print_json([v.to_dict() for v in views])
        else:
            render.job_table(views)
        return
    render.collected(records)
    if records:
        from kb.evidence import statuses

        _, changes = statuses.refresh(folder, runs=records)
        render.status_changes(changes)
