"""Checks across files: what no single claim file can know about itself.

`explains` names a phenomenon, `refines` chains have no cycle, predictions name existing
experiments, citekeys exist, no two claims share a statement (`kb.checking.similar` scores
the texts), and references that nothing cites are reported.
"""

from __future__ import annotations

from kb.checking.knowledge import REFERENCES_FILE, REPRO_DIR, KnowledgeBase
from kb.checking.rules import content_rules
from kb.checking.similar import near_duplicates
from kb.checking.stances import stance_problems
from kb.formats.bib import unused_warnings
from kb.formats.diagnose import suggest
from kb.formats.errors import Problem, Severity
from kb.formats.schema import Kind


def cross_checks(kb: KnowledgeBase) -> list[Problem]:
    out: list[Problem] = []
    cited: set[str] = set()
    # An unreadable bibliography is one error of its own, not one more per citation.
    bib_unreadable = not kb.references and any(
        p.file == REFERENCES_FILE and p.severity is Severity.error for p in kb.problems
    )
    for loaded in kb.claims.values():
        claim = loaded.claim
        if claim.explains is not None:
            target = kb.claims.get(claim.explains)
            if target is None:
                out.append(
                    loaded.problem(
                        ("explains",),
                        f"no claim with id '{claim.explains}'{suggest(claim.explains, kb.claims)}",
                    )
                )
            elif target.claim.kind is not Kind.phenomenon:
                out.append(
                    loaded.problem(
                        ("explains",),
                        f"'{claim.explains}' is an explanation; 'explains' must name a phenomenon",
                    )
                )
        if claim.refines is not None:
            target = kb.claims.get(claim.refines)
            if target is None:
                out.append(
                    loaded.problem(
                        ("refines",),
                        f"no claim with id '{claim.refines}'{suggest(claim.refines, kb.claims)}",
                    )
                )
            elif target.claim.kind is not claim.kind:
                out.append(
                    loaded.problem(
                        ("refines",),
                        f"'{claim.refines}' is a {target.claim.kind.value}; a claim refines one of its own kind",
                    )
                )
        for i, source in enumerate(claim.sources):
            cited.add(source.citekey)
            if source.citekey not in kb.references and not bib_unreadable:
                out.append(
                    loaded.problem(
                        ("sources", i, "citekey"),
                        f"'{source.citekey}' is not in {REFERENCES_FILE}{suggest(source.citekey, kb.references)}",
                    )
                )
        for i, prediction in enumerate(claim.predictions):
            info = kb.experiment_info.get(prediction.experiment or "")
            if (
                info is not None
                and prediction.metric
                and info.metrics
                and prediction.metric not in info.metrics
            ):
                out.append(
                    loaded.problem(
                        ("predictions", i, "metric"),
                        f"experiment '{info.name}' does not report '{prediction.metric}' "
                        f"(it reports {', '.join(sorted(info.metrics))}){suggest(prediction.metric, info.metrics)}",
                    )
                )
            if prediction.experiment and prediction.experiment not in kb.experiments:
                out.append(
                    loaded.problem(
                        ("predictions", i, "experiment"),
                        f"no script {REPRO_DIR}/{prediction.experiment}.py; write it or mark the "
                        f"prediction 'open: true'{suggest(prediction.experiment, kb.experiments)}",
                    )
                )
    out += _refinement_cycles(kb)
    out += duplicate_statements(kb)
    out += stance_problems(kb)
    out += content_rules(kb)  # the knowledge base's own, from its settings
    if kb.references:
        out += unused_warnings(kb.references, cited, REFERENCES_FILE)
    return out


def _refinement_cycles(kb: KnowledgeBase) -> list[Problem]:
    out, reported = [], set()
    for start in kb.claims:
        chain, current = [start], kb.claims[start].claim.refines
        while current is not None and current in kb.claims and current not in chain:
            chain.append(current)
            current = kb.claims[current].claim.refines
        if current == start and frozenset(chain) not in reported:
            reported.add(frozenset(chain))
            loaded = kb.claims[min(chain)]
            cycle = " -> ".join(
                [*chain[chain.index(min(chain)) :], *chain[: chain.index(min(chain))], min(chain)]
            )
            out.append(loaded.problem(("refines",), f"'refines' forms a cycle: {cycle}"))
    return out


def duplicate_statements(kb: KnowledgeBase) -> list[Problem]:
    """A warning at the statement of each claim that repeats an older claim's statement."""
    claims = sorted(kb.claims.values(), key=lambda c: (c.claim.created, c.file))
    out = []
    for match in near_duplicates([c.claim.statement for c in claims]):
        newer, older = claims[match.later], claims[match.earlier]
        if match.similarity == 1.0:
            how = "the same as"
        else:
            how = f"near-identical ({match.similarity:.0%} similar) to"
        message = (
            f"statement is {how} the statement of {older.file}, ignoring case, punctuation "
            "and spacing: merge the two claims, or reword one to make the difference explicit"
        )
        out.append(newer.problem_at_key("statement", message, Severity.warning))
    return out
