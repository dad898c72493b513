"""The `kb` command line: parse arguments, call one core function, render the result.

Heavy libraries (torch, pandas, sqlmodel) are never imported here at module level, and
neither is rich: `kb --help` must stay fast. User mistakes arrive as `KbError` and are
rendered once, in `main`; anything else is a bug and keeps its traceback.

The commands live in modules by noun (claims, evidence, jobs, data, new) and are
registered here, in the order `kb --help` lists them; shared options are in `options`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kb import __version__
from kb.cli import claims, data, evidence, jobs, new
from kb.formats.errors import KbError

app = typer.Typer(
    name="kb",
    help="A knowledge base of deep-learning explanations: claims, sources, predictions and the evidence for them.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _mount_site() -> None:
    from kb.cli.site import app as site_app  # imports only typer: `kb --help` stays fast

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


# Registration order is the order of the commands in `kb --help`.
app.command()(claims.check)
app.command("list")(claims.list_)
app.command()(claims.show)
app.command()(evidence.run)
app.command()(evidence.status)
app.command()(evidence.changed)
app.command()(jobs.jobs)
app.command()(evidence.verify)
app.command()(data.index)
app.command()(data.export)
app.command("export-run")(data.export_run)
app.command()(claims.schema)
app.add_typer(new.app, name="new")
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
