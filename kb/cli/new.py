"""`kb new claim | experiment`: start a claim or an experiment from a template."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kb.cli.options import KindFilter, RootOption, kb_root

app = typer.Typer(
    name="new",
    help="Start a claim or an experiment from a template that `kb check` accepts.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

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
    from kb.scaffold.claim import ScaffoldError

    raise ScaffoldError(f"missing {flag} (prompted for only when stdin is a terminal)")


@app.command("claim")
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
    from kb import render
    from kb.checking.load import load
    from kb.formats.schema import Kind
    from kb.scaffold import claim as scaffold

    folder = kb_root(root)
    ask = sys.stdin.isatty() and not no_input
    kind_text = _ask(kind.value if kind else None, "--kind", "Kind (phenomenon or explanation)", ask)
    if kind_text not in {k.value for k in Kind}:
        raise scaffold.ScaffoldError(f"kind {kind_text!r} is not phenomenon or explanation")
    kind_value = Kind(kind_text)
    if kind_value is Kind.explanation:
        explains = _ask(explains, "--explains", "Id of the phenomenon it explains", ask)
    scaffold.check_explains(load(folder), kind_value, explains)  # before asking for more
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
    render.new_claim_report(scaffold.new_claim(folder, draft))


@app.command("experiment")
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
    from kb import render
    from kb.scaffold import experiment as scaffold

    created = scaffold.new_experiment(kb_root(root), name, claim_id, prediction_id)
    render.new_experiment_report(created)
