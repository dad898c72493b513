"""`kb new claim`: a claim file that is valid the moment it exists.

A new claim is validated as a whole before anything is written, emitted with a YAML emitter
(user text is never formatted into YAML by hand) and read back to prove it says what was
asked; its derived status block is written at once, like `kb status --write` would. A
citekey missing from `claims/references.bib` gets an empty BibTeX entry that `kb check`
reports as errors (missing title, author, year and locator) until someone fills it in from
the paper: a stub must never pass for a verified reference. Nothing is overwritten: an
existing file or id stops the command before any write.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kb.checking.knowledge import CLAIMS_DIR, REFERENCES_FILE, REPRO_DIR, KnowledgeBase, LoadedClaim
from kb.checking.load import load
from kb.evidence.writeback import ClaimDumper
from kb.formats import yamlfile
from kb.formats.diagnose import problems_from_validation, suggest
from kb.formats.errors import KbError, Problem
from kb.formats.schema import (
    CITEKEY_PATTERN,
    SLUG_PATTERN,
    Claim,
    Kind,
)
from kb.formats.yamlfile import YamlDocument

MODELINE = "# yaml-language-server: $schema=../../schemas/claim.schema.json\n"


class ScaffoldError(KbError):
    """Raised by `kb new` for input that would not make a valid file, or a file that exists."""


@dataclass(frozen=True)
class PredictionDraft:
    id: str
    statement: str
    experiment: str | None = None  # None: an open prediction
    metric: str | None = None
    expect: str | None = None


@dataclass(frozen=True)
class Citation:
    citekey: str
    locator: str
    stance: str = "proposes"


@dataclass(frozen=True)
class ClaimDraft:
    id: str
    kind: Kind
    topic: str
    title: str
    statement: str
    summary: str
    sources: list[Citation]
    prediction: PredictionDraft
    explains: str | None = None


@dataclass(frozen=True)
class BibStub:
    citekey: str
    line: int  # 1-based line of its '@misc{' header in references.bib


@dataclass
class NewClaim:
    file: str  # relative to the root
    path: Path
    stubs: list[BibStub] = field(default_factory=list)


def check_slug(value: str, what: str) -> str:
    if not re.fullmatch(SLUG_PATTERN, value) or len(value) > 80:
        raise ScaffoldError(
            f"{what} {value!r} is not a lowercase slug: letters, digits and single hyphens, "
            "at most 80 characters, e.g. 'bn-reduces-ics'"
        )
    return value


def title_from(statement: str) -> str:
    """A default title: the statement's first sentence, cut at a word to fit 300 characters."""
    first = re.split(r"(?<=[.!?])\s", " ".join(statement.split()), maxsplit=1)[0].rstrip(".")
    if len(first) <= 300:
        return first
    return first[:299].rsplit(" ", 1)[0] + "…"


def phenomena(kb: KnowledgeBase) -> list[str]:
    return sorted(cid for cid, c in kb.claims.items() if c.claim.kind is Kind.phenomenon)


def check_explains(kb: KnowledgeBase, kind: Kind, explains: str | None) -> None:
    """An explanation names an existing phenomenon (with the closest id as a hint); a
    phenomenon names none."""
    if kind is Kind.phenomenon:
        if explains:
            raise ScaffoldError("a phenomenon explains nothing: leave out --explains")
        return
    if not explains:
        raise ScaffoldError("an explanation needs --explains, the id of the phenomenon it explains")
    options = phenomena(kb)
    if explains not in options:
        what = "an explanation" if explains in kb.claims else "not a claim"
        raise ScaffoldError(
            f"--explains {explains!r} is {what}; it must name a phenomenon"
            f"{suggest(explains, options)}"
        )


def _check_prediction(kb: KnowledgeBase, p: PredictionDraft) -> None:
    if p.experiment is None:
        return
    info = kb.experiment_info.get(p.experiment)
    if info is None:
        raise ScaffoldError(
            f"no script {REPRO_DIR}/{p.experiment}.py{suggest(p.experiment, kb.experiments)}: "
            f"create it first with `kb new experiment {p.experiment}`, or leave the prediction open"
        )
    if p.metric and info.metrics and p.metric not in info.metrics:
        raise ScaffoldError(
            f"experiment '{p.experiment}' does not report '{p.metric}' (it reports "
            f"{', '.join(sorted(info.metrics))}){suggest(p.metric, info.metrics)}"
        )


def claim_data(draft: ClaimDraft, today: dt.date) -> dict[str, Any]:
    """The claim file's fields in the order the existing claims use."""
    prediction: dict[str, Any] = {
        "id": draft.prediction.id,
        "statement": draft.prediction.statement,
    }
    if draft.prediction.experiment is None:
        prediction["open"] = True
    else:
        prediction["experiment"] = draft.prediction.experiment
    for name in ("metric", "expect"):
        value = getattr(draft.prediction, name)
        if value is not None:
            prediction[name] = value
    prediction["registered"] = today
    data: dict[str, Any] = {"schema_version": 1, "id": draft.id, "kind": draft.kind.value}
    if draft.explains:
        data["explains"] = draft.explains
    data |= {
        "title": draft.title,
        "statement": draft.statement,
        "summary": draft.summary,
        "topic": draft.topic,
        "sources": [
            {"citekey": s.citekey, "stance": s.stance, "locator": s.locator} for s in draft.sources
        ],
        "predictions": [prediction],
        "created": today,
        "updated": today,
    }
    return data


class _Dumper(ClaimDumper):
    """The status block's emitter (list indentation, NEL-safe strings), for a whole file."""

    def ignore_aliases(self, data: Any) -> bool:
        return True  # the same date object as created and updated: write it twice, no &anchor


def claim_yaml(data: dict[str, Any]) -> str:
    """The claim file's text: the editor modeline, then the fields, emitted by PyYAML."""
    body = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=88,
    )
    text = MODELINE + body
    if yamlfile.parse(text.encode("utf-8")).data != data:  # a bug in the emitter, not the user
        raise AssertionError(f"the emitted YAML does not read back as written:\n{text}")
    return text


def _validate(data: dict[str, Any], file: str) -> Claim:
    try:
        return Claim.model_validate(data)
    except ValidationError as exc:
        found = problems_from_validation(exc, Claim, YamlDocument(data), file)
        raise ScaffoldError(
            "the claim would not be valid; nothing was written",
            [Problem(file, 0, 0, p.field, p.message) for p in found],
        ) from None


def _claim_file(root: Path, kb: KnowledgeBase, draft: ClaimDraft) -> tuple[str, Path]:
    check_slug(draft.id, "id")
    check_slug(draft.topic, "topic")
    file = f"{CLAIMS_DIR}/{draft.topic}/{draft.id}.yaml"
    path = root / file
    if draft.id in kb.claims:
        raise ScaffoldError(f"id '{draft.id}' is already used by {kb.claims[draft.id].file}")
    for existing in (path, path.with_suffix(".yml")):
        if existing.exists():
            raise ScaffoldError(f"{existing.relative_to(root).as_posix()} already exists")
    return file, path


def bib_stub(citekey: str) -> str:
    """An empty entry: `kb check` reports each missing field until it is filled in."""
    return (
        f"\n% Added by `kb new claim`: fill in title, author, year and one of doi, eprint or\n"
        f"% url from the paper itself; change @misc to @article or @inproceedings if it fits.\n"
        f"@misc{{{citekey},\n"
        f"  title  = {{}},\n"
        f"  author = {{}},\n"
        f"  year   = {{}},\n"
        f"  url    = {{}},\n"
        f"}}\n"
    )


def _append_stubs(root: Path, citekeys: list[str]) -> list[BibStub]:
    path = root / REFERENCES_FILE
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if text and not text.endswith("\n"):
        text += "\n"
    stubs = []
    for key in citekeys:
        line = text.count("\n") + 4  # after the blank line and the two comment lines
        text += bib_stub(key)
        stubs.append(BibStub(key, line))
    path.write_text(text, encoding="utf-8")
    return stubs


def new_claim(root: Path, draft: ClaimDraft, today: dt.date | None = None) -> NewClaim:
    """Write `claims/<topic>/<id>.yaml` (with its derived status) and any BibTeX stubs."""
    from kb.evidence import statuses
    from kb.evidence.writeback import write_status

    today = today or dt.date.today()
    kb = load(root)
    file, path = _claim_file(root, kb, draft)
    check_explains(kb, draft.kind, draft.explains)
    _check_prediction(kb, draft.prediction)
    for source in draft.sources:
        if not re.fullmatch(CITEKEY_PATTERN, source.citekey):
            raise ScaffoldError(
                f"--cite {source.citekey!r} is not a BibTeX key such as 'ioffe2015'"
            )
    data = claim_data(draft, today)
    claim = _validate(data, file)
    text = claim_yaml(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as out:  # "x": never overwrite, even in a race
        out.write(text)
    missing = list(
        dict.fromkeys(s.citekey for s in draft.sources if s.citekey not in kb.references)
    )
    stubs = _append_stubs(root, missing) if missing else []
    # The file reads back as `data` (claim_yaml checks), and statuses do not depend on the
    # references the stubs add: no need to load the whole knowledge base again.
    kb.claims[draft.id] = LoadedClaim(claim, file, path)
    derived = statuses.assess(kb).derivation.statuses[draft.id]
    write_status(path, derived)
    return NewClaim(file, path, stubs)
