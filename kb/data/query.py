"""Read-only questions about a loaded knowledge base, answered as plain data.

The CLI renders these rows as tables or JSON; the site and exports reuse them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from kb.checking.knowledge import KnowledgeBase
from kb.formats.diagnose import suggest
from kb.formats.errors import KbError
from kb.formats.schema import Claim, Kind

NOT_DERIVED = "untested"  # what a claim shows before `kb run` has derived its status


@dataclass(frozen=True)
class ClaimRow:
    id: str
    kind: str
    topic: str
    title: str
    status: str
    certainty: str
    explains: str | None
    sources: int
    predictions: int
    tags: list[str]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class OpenPrediction:
    claim: str
    prediction: str
    statement: str
    metric: str | None
    expect: str | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class SourceView:
    citekey: str
    stance: str
    locator: str
    note: str | None
    quote: str | None
    title: str
    authors: str
    year: str
    link: str | None


@dataclass(frozen=True)
class ClaimView:
    claim: Claim
    file: str
    sources: list[SourceView]
    competitors: list[ClaimRow] = field(default_factory=list)
    explanations: list[ClaimRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "claim": self.claim.model_dump(mode="json", exclude_none=True),
            "sources": [asdict(s) for s in self.sources],
            "competitors": [c.to_dict() for c in self.competitors],
            "explanations": [c.to_dict() for c in self.explanations],
        }


def row(claim: Claim) -> ClaimRow:
    status = claim.status
    return ClaimRow(
        id=claim.id,
        kind=claim.kind.value,
        topic=claim.topic,
        title=claim.title,
        status=status.value.value if status else NOT_DERIVED,
        certainty=status.certainty.value if status else "",
        explains=claim.explains,
        sources=len(claim.sources),
        predictions=len(claim.predictions),
        tags=list(claim.tags),
    )


def list_claims(
    kb: KnowledgeBase,
    *,
    kind: str | None = None,
    topic: str | None = None,
    tag: str | None = None,
    status: str | None = None,
) -> list[ClaimRow]:
    """Claims matching every given filter, phenomena first within each topic.

    A topic or tag that no claim has is a mistake (a typo, British spelling), not an empty
    answer: it raises, naming the nearest one.
    """
    rows = [row(c.claim) for c in kb.claims.values()]
    for name, given, known in (
        ("topic", topic, {r.topic for r in rows}),
        ("tag", tag, {t for r in rows for t in r.tags}),
    ):
        if given is not None and given not in known:
            hint = suggest(given, sorted(known))
            if not hint and len(known) <= 12:
                hint = f" (there are: {', '.join(sorted(known)) or 'none'})"
            raise KbError(f"no claim has the {name} '{given}'{hint}")
    rows = [
        r
        for r in rows
        if (kind is None or r.kind == kind)
        and (topic is None or r.topic == topic)
        and (tag is None or tag in r.tags)
        and (status is None or r.status == status)
    ]
    return sorted(
        rows, key=lambda r: (r.topic, r.kind != Kind.phenomenon.value, r.explains or r.id, r.id)
    )


def open_predictions(kb: KnowledgeBase) -> list[OpenPrediction]:
    """Predictions that still need an experiment: the site's invitation to contribute."""
    return [
        OpenPrediction(c.claim.id, p.id, p.statement, p.metric, p.expect)
        for c in sorted(kb.claims.values(), key=lambda c: c.claim.id)
        for p in c.claim.predictions
        if p.open
    ]


def show_claim(kb: KnowledgeBase, claim_id: str) -> ClaimView:
    loaded = kb.get(claim_id)
    claim = loaded.claim
    sources = []
    for s in claim.sources:
        ref = kb.references.get(s.citekey)
        sources.append(
            SourceView(
                citekey=s.citekey,
                stance=s.stance.value,
                locator=s.locator,
                note=s.note,
                quote=s.quote,
                title=ref.title if ref else "(missing from references.bib)",
                authors=ref.short_authors if ref else "",
                year=ref.year if ref else "",
                link=ref.link if ref else None,
            )
        )
    explanations = (
        [row(c) for c in kb.explanations_of(claim.id)] if claim.kind is Kind.phenomenon else []
    )
    return ClaimView(
        claim=claim,
        file=loaded.file,
        sources=sources,
        competitors=[row(c) for c in kb.competitors(claim)],
        explanations=explanations,
    )
