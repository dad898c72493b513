"""The knowledge base as linked data: schema.org JSON-LD, built in one place.

The site embeds one `ClaimReview` per claim page and `kb export --format jsonld` writes a
graph of all of them; both come from `claim_review`, so a claim reads the same to a search
engine and to a linked-data tool. A claim is a schema.org `Claim` whose `appearance` lists
the works proposing it and whose `citation` lists every work it cites (as
`ScholarlyArticle`s carrying their DOI or arXiv identifier); its predictions are `Claim`s
too (`hasPart`), each with the expected outcome and a `Review` holding its verdict; the
claim's derived status and its reason are the review's `reviewRating`.

Reference and claim text comes from pull requests: only absolute http(s) links become
`@id`s or `url`s, so a `javascript:` URL in a BibTeX entry stays out of the graph.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from kb.checking.knowledge import KnowledgeBase
from kb.formats.bib import Reference
from kb.formats.schema import Certainty, Claim, Prediction, Stance, VerdictRecord, interval_text

CONTEXT = "https://schema.org"
# schema.org Rating of a claim: worst 1 .. best 3. Untested claims carry no value.
RATING = {"refuted": 1, "contested": 2, "supported": 3}
NOT_DERIVED = "not derived yet"

Node = dict[str, Any]


def document(node: Node) -> Node:
    """A node as a JSON-LD document of its own (the site embeds one per page)."""
    return {"@context": CONTEXT, **node}


def knowledge_base(kb: KnowledgeBase, publisher: str = "kb") -> Node:
    """Every claim's review in one graph, ordered by claim id."""
    graph = [
        claim_review(kb.claims[cid].claim, kb.references, publisher) for cid in sorted(kb.claims)
    ]
    return {"@context": CONTEXT, "@graph": graph}


def claim_review(
    claim: Claim, references: dict[str, Reference], publisher: str, url: str | None = None
) -> Node:
    """schema.org ClaimReview of a claim, with its stored status as the rating."""
    review: Node = {
        "@type": "ClaimReview",
        "claimReviewed": _squash(claim.statement),
        "name": claim.title,
        "datePublished": claim.updated.isoformat(),
        "author": {"@type": "Organization", "name": publisher},
        "itemReviewed": claim_node(claim, references),
        "reviewRating": _status_rating(claim),
    }
    if url:
        review["url"] = url
    return review


def claim_node(claim: Claim, references: dict[str, Reference]) -> Node:
    cited = {s.citekey: references[s.citekey] for s in claim.sources if s.citekey in references}
    proposing = [s.citekey for s in claim.sources if s.stance is Stance.proposes]
    node: Node = {
        "@type": "Claim",
        "identifier": claim.id,
        "name": claim.title,
        "text": _squash(claim.statement),
        "abstract": _squash(claim.summary),
        "genre": claim.kind.value,
        "dateCreated": claim.created.isoformat(),
        "dateModified": claim.updated.isoformat(),
        "appearance": [article(cited[key]) for key in dict.fromkeys(proposing) if key in cited],
    }
    # Works already embedded under `appearance` are cited by reference, not embedded twice.
    shown = {a["@id"] for a in node["appearance"] if "@id" in a}
    node["citation"] = [
        {"@id": a["@id"]} if a.get("@id") in shown else a for a in map(article, cited.values())
    ]
    if claim.tags:
        node["keywords"] = list(claim.tags)
    if claim.explains:
        node["about"] = {"@type": "Claim", "identifier": claim.explains}
    verdicts = {v.prediction: v for v in (claim.status.verdicts if claim.status else [])}
    if claim.predictions:
        node["hasPart"] = [
            prediction_node(p, verdicts.get(p.id), derived=claim.status is not None)
            for p in claim.predictions
        ]
    return node


def prediction_node(prediction: Prediction, verdict: VerdictRecord | None, derived: bool) -> Node:
    """A prediction as a Claim: what it expects of which metric, and its verdict so far."""
    node: Node = {
        "@type": "Claim",
        "identifier": prediction.id,
        "text": _squash(prediction.statement),
    }
    if prediction.registered:
        node["dateCreated"] = prediction.registered.isoformat()
    if prediction.open:
        node["creativeWorkStatus"] = "open: needs an experiment"
    elif prediction.metric and prediction.expect:
        test: Node = {
            "@type": "PropertyValue",
            "propertyID": prediction.metric,
            "description": f"expected: {prediction.expect}",
        }
        if prediction.experiment:
            test["measurementTechnique"] = prediction.experiment
        node["about"] = test
    state = (verdict.verdict.value if verdict else "untested") if derived else NOT_DERIVED
    rating: Node = {"@type": "Rating", "alternateName": state}
    if verdict is not None and verdict.estimate is not None:
        rating["ratingExplanation"] = _estimate(verdict)
    node["review"] = {"@type": "Review", "reviewRating": rating}
    return node


def article(ref: Reference) -> Node:
    """A cited work: its web address (when safe) is its @id, so claims citing it share it."""
    node: Node = {"@type": "ScholarlyArticle", "name": ref.title, "datePublished": ref.year}
    if href := web_url(ref.link):
        node["@id"] = href
        node["url"] = href
    if ref.authors:
        node["author"] = [{"@type": "Person", "name": _person(a)} for a in ref.authors]
    identifiers = []
    if ref.doi:
        identifiers.append({"@type": "PropertyValue", "propertyID": "DOI", "value": ref.doi})
    if ref.arxiv_id:
        identifiers.append({"@type": "PropertyValue", "propertyID": "arXiv", "value": ref.arxiv_id})
    if identifiers:
        node["identifier"] = identifiers
    return node


def web_url(url: str | None) -> str | None:
    """An absolute http(s) URL, else None: the only links trusted into the graph."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(ord(ch) < 0x20 or ch.isspace() for ch in url):
        return None
    return url


def _status_rating(claim: Claim) -> Node:
    status = claim.status
    value = status.value.value if status else NOT_DERIVED
    rating: Node = {"@type": "Rating", "alternateName": value}
    # A rating on evidence graded below low certainty would read as a verdict it is not.
    rated = status is not None and status.certainty is not Certainty.very_low
    if value in RATING and rated:
        rating.update(ratingValue=RATING[value], worstRating=1, bestRating=3)
    if status:
        rating["ratingExplanation"] = (
            f"{status.reason} Certainty: {status.certainty.value}; evidence: {status.tier}."
        )
    return rating


def _estimate(v: VerdictRecord) -> str:
    text = f"estimate {v.estimate:.4g}"
    if v.interval is not None and v.level is not None:
        ends = interval_text(v.interval, "{:.4g}".format, "open")
        text += f", {v.level:.2%} interval {ends}"
    return text + f", n = {v.n}"


def _person(name: str) -> str:
    """'Ioffe, Sergey' as 'Sergey Ioffe' (BibTeX keeps the family name first)."""
    if "," not in name:
        return name
    family, given = (part.strip() for part in name.split(",", 1))
    return f"{given} {family}".strip()


def _squash(text: str) -> str:
    return " ".join(text.split())
