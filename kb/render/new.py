"""New: the reports of `kb new claim` and `kb new experiment` (what was created, what next)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kb.render.base import safe, stdout

if TYPE_CHECKING:
    from kb.scaffold.claim import NewClaim
    from kb.scaffold.experiment import NewExperiment


def new_claim_report(result: NewClaim) -> None:
    stdout.print(safe(f"created {result.file}", "green"), soft_wrap=True)
    for stub in result.stubs:
        stdout.print(
            safe(
                f"claims/references.bib:{stub.line}: complete @misc{{{stub.citekey}}}: title, "
                "author, year, and one of doi, eprint or url (`kb check` fails until you do)",
                "yellow",
            ),
            soft_wrap=True,
        )
    stdout.print(
        safe(
            "next: add tags, scope and would_change_our_mind if they help, then `kb check`",
            "dim",
        )
    )


def new_experiment_report(result: NewExperiment) -> None:
    stdout.print(safe(f"created {result.file}", "green"), soft_wrap=True)
    if result.linked:
        stdout.print(safe(f"linked: its prediction in {result.linked} now names it"), soft_wrap=True)
    stdout.print(
        safe(
            f"next: replace the TODOs and placeholders in {result.file}; it runs as "
            f"`python {result.file} --scale smoke --seed 0`",
            "dim",
        ),
        soft_wrap=True,
    )
