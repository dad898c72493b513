"""Stances that cannot be right, found from the claim and its references alone.

- A work published before the claim's proposing work is tagged `supports` or `refutes`:
  it cannot be independent evidence about a claim that did not exist yet (it may well be
  the source of an idea: `discusses`), unless it really tested the same statement.
- A claim that says this project originates it (`origin: this-project`) cites a work as
  `proposes`: then a paper proposes it, and the origin is wrong (an error).
- A claim whose only cited works propose it: nothing independent speaks to it; under the
  status rule a proposing work never counts, so such a claim can be supported only by a
  reproduction of ours (not a warning: that is what `untested` says).

Warnings point at the source's `stance` so the fix is one edit away.
"""

from __future__ import annotations

from kb.checking.knowledge import KnowledgeBase
from kb.formats.errors import Problem, Severity
from kb.formats.schema import Origin, Stance

_SIDES = (Stance.supports, Stance.refutes)


def stance_problems(kb: KnowledgeBase) -> list[Problem]:
    out: list[Problem] = []
    for loaded in kb.claims.values():
        claim = loaded.claim
        proposers = [s.citekey for s in claim.sources if s.stance is Stance.proposes]
        if claim.origin is Origin.this_project:
            for i, source in enumerate(claim.sources):
                if source.stance is Stance.proposes:
                    out.append(
                        loaded.problem(
                            ("sources", i, "stance"),
                            f"'{source.citekey}' proposes this claim, yet its origin is "
                            "'this-project': tag the work differently, or set origin: literature",
                        )
                    )
        years = [
            int(kb.references[key].year)
            for key in proposers
            if key in kb.references and kb.references[key].year.isdigit()
        ]
        if not years:
            continue
        first = min(years)
        for i, source in enumerate(claim.sources):
            ref = kb.references.get(source.citekey)
            if (
                source.stance in _SIDES
                and ref is not None
                and ref.year.isdigit()
                and int(ref.year) < first
                and source.citekey not in proposers
            ):
                out.append(
                    loaded.problem(
                        ("sources", i, "stance"),
                        f"'{source.citekey}' ({ref.year}) predates the work that proposes this "
                        f"claim ({first}), so it cannot {source.stance.value[:-1]} it as "
                        "independent evidence: tag it 'discusses' (or 'qualifies' if it tested "
                        "the same statement in part of its scope)",
                        severity=Severity.warning,
                    )
                )
    return out
