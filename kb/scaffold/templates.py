"""`kb new`: start a claim or an experiment from a file that is valid the moment it exists.

A new claim is validated as a whole before anything is written, emitted with a YAML emitter
(user text is never formatted into YAML by hand) and read back to prove it says what was
asked; its derived status block is written at once, like `kb status --write` would. A
citekey missing from `claims/references.bib` gets an empty BibTeX entry that `kb check`
reports as errors (missing title, author, year and locator) until someone fills it in from
the paper: a stub must never pass for a verified reference.

A new experiment is `repro/<name>.py`, a small working reproduction (an MLP on a synthetic
Gaussian mixture, trained with the shared `kb.lab` loop) that satisfies the contract of
`kb.formats.experiment`, with placeholders for the paper, section and measurement it stands for.
Nothing is overwritten: an existing file or id stops the command before any write.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kb.checking.load import (
    CLAIMS_DIR,
    REFERENCES_FILE,
    REPRO_DIR,
    KnowledgeBase,
    LoadedClaim,
    load,
)
from kb.evidence.writeback import ClaimDumper
from kb.formats import yamlfile
from kb.formats.diagnose import field_path, problems_from_validation, suggest
from kb.formats.errors import KbError, Problem
from kb.formats.schema import (
    CITEKEY_PATTERN,
    EXPERIMENT_PATTERN,
    SLUG_PATTERN,
    Claim,
    Kind,
    Prediction,
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


@dataclass
class NewExperiment:
    file: str
    path: Path
    linked: str | None = None  # the claim file whose prediction now names the experiment


# --- claims ----------------------------------------------------------------------------


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
    from kb.evidence.writeback import append_history, write_status

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
    write_status(path, append_history(None, derived, None, today))
    return NewClaim(file, path, stubs)


# --- experiments -----------------------------------------------------------------------


EXPERIMENT_TEMPLATE = '''\
"""{title}

Reproduces: AUTHOR YEAR, "TITLE", Sec. N / Fig. N (the citekey in claims/references.bib).
What the paper reports there, in one or two sentences, and what this script measures to test it.

Tests:  {tests}

Procedure: which arms are compared, on what data and model, and how the metric is computed.
As scaffolded by `kb new experiment`, it trains one kb.lab MLP on a synthetic Gaussian
mixture and reports its test accuracy: a starting point, not yet a measurement of anything claimed.

Smoke: 2,000 points of a 4-class Gaussian mixture in 16 dimensions, a 2x64 ReLU MLP, 200 SGD
steps; a few seconds per seed on a CPU, most of it importing torch. Full: the paper's
setting; state the hardware and the time per seed.
"""

from kb.lab.models import MLP
from kb.lab.synthetic import gaussian_mixture
from kb.lab.train import train

SCALES = {{
    "smoke": {{
        "n_train": 2000,  # examples (and as many test examples)
        "dim": 16,  # input dimensions
        "classes": 4,
        "separation": 2.0,  # distance between class means, in within-class standard deviations
        "width": 64,  # units per hidden layer
        "depth": 2,  # hidden layers
        "lr": 0.1,  # SGD learning rate
        "batch_size": 128,  # examples
        "steps": 200,  # optimizer steps
    }},
    "full": {{
        "n_train": 50000,
        "dim": 16,
        "classes": 4,
        "separation": 2.0,
        "width": 512,
        "depth": 4,
        "lr": 0.1,
        "batch_size": 128,
        "steps": 5000,
    }},
}}
REGIME = {{
    "smoke": {{"data_scale": "toy", "architectures": ["mlp"]}},
    "full": {{"data_scale": "toy", "architectures": ["mlp"]}},
}}
METRICS = {{
{metrics}}}


def run(config, seed, device):
    data = gaussian_mixture(n=config["n_train"], d=config["dim"], k=config["classes"],
                            separation=config["separation"], seed=seed,
                            n_test=config["n_train"], device=device)
    model = MLP(config["dim"], config["width"], config["depth"], config["classes"], seed=seed)
    result = train(model, data, steps=config["steps"], lr=config["lr"],
                   batch_size=config["batch_size"], seed=seed, device=device)
    metrics = {{
{returned}    }}
    curves = {{"test_acc": {{"x": result.steps, "y": result.test_acc}}}}
    return {{"metrics": metrics, "curves": curves}}


if __name__ == "__main__":
    from kb.experiment import standalone

    standalone(run, SCALES)
'''


def experiment_source(name: str, tested: tuple[str, Prediction] | None = None) -> str:
    """The template for `repro/<name>.py`; `tested` is the (claim id, prediction) it tests."""
    metrics = {
        "test_accuracy": (
            "test-set accuracy at the end of training (fraction)",
            "result.final_test_acc,",
        )
    }
    tests = "CLAIM-ID / PREDICTION-ID   (METRIC EXPECTATION)"
    if tested is not None:
        claim_id, prediction = tested
        tests = f"{claim_id} / {prediction.id}   ({prediction.metric} {prediction.expect})"
        if prediction.metric and prediction.metric not in metrics:
            metrics[prediction.metric] = (
                "TODO: what this measures, with units (for now: the test accuracy)",
                "result.final_test_acc,  # TODO: compute what the prediction is about",
            )
    declared = "".join(f'    "{metric}": "{text}",\n' for metric, (text, _) in metrics.items())
    returned = "".join(f'        "{metric}": {code}\n' for metric, (_, code) in metrics.items())
    title = f"TODO: what {name} shows, in one line."
    return EXPERIMENT_TEMPLATE.format(title=title, tests=tests, metrics=declared, returned=returned)


@dataclass(frozen=True)
class _Link:
    claim: LoadedClaim
    prediction: Prediction
    new_text: bytes  # the claim file with `open: true` replaced by `experiment: <name>`


def _link(kb: KnowledgeBase, claim_id: str, prediction_id: str, name: str) -> _Link:
    """How an open prediction will name the experiment (checked, nothing written yet)."""
    loaded = kb.get(claim_id)
    ids = [p.id for p in loaded.claim.predictions]
    if prediction_id not in ids:
        raise ScaffoldError(
            f"claim '{claim_id}' has no prediction '{prediction_id}' "
            f"(it has {', '.join(ids) or 'none'}){suggest(prediction_id, ids)}"
        )
    i = ids.index(prediction_id)
    prediction = loaded.claim.predictions[i]
    if prediction.experiment:
        raise ScaffoldError(
            f"prediction '{prediction_id}' already names experiment '{prediction.experiment}'"
        )
    if not (prediction.metric and prediction.expect):
        raise ScaffoldError(
            f"prediction '{prediction_id}' needs a metric and an expected outcome before an "
            f"experiment can test it: add 'metric:' and 'expect:' to it in {loaded.file}"
        )
    raw = loaded.path.read_bytes()
    mark = yamlfile.parse(raw).mark_of(("predictions", i, "open"), key=True)
    lines = raw.decode("utf-8").splitlines(keepends=True)
    # Only the one line changes, so the contributor's layout and comments stay as written.
    written = re.fullmatch(r"([ \t]*)open:[ \t]*true[ \t]*(#.*)?(\r?\n)?", lines[mark.line - 1])
    if written is None or len(written.group(1)) != mark.column - 1:
        raise ScaffoldError(
            f"cannot link {loaded.file}:{mark.line}: expected the line 'open: true' of "
            f"{field_path(('predictions', i))}; replace it with 'experiment: {name}' by hand"
        )
    lines[mark.line - 1] = f"{written.group(1)}experiment: {name}{written.group(3) or ''}"
    return _Link(loaded, prediction, "".join(lines).encode("utf-8"))


def new_experiment(
    root: Path, name: str, claim_id: str | None = None, prediction_id: str | None = None
) -> NewExperiment:
    """Write `repro/<name>.py`; with a claim and prediction, make that prediction name it."""
    if not re.fullmatch(EXPERIMENT_PATTERN, name):
        raise ScaffoldError(
            f"experiment name {name!r} must be a Python module name: lowercase letters, digits "
            "and underscores, starting with a letter"
        )
    if (claim_id is None) != (prediction_id is None):
        raise ScaffoldError("give both --claim and --prediction to link, or neither")
    file = f"{REPRO_DIR}/{name}.py"
    path = root / file
    if path.exists():
        raise ScaffoldError(f"{file} already exists")
    link = None
    if claim_id is not None and prediction_id is not None:
        link = _link(load(root), claim_id, prediction_id, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as out:
        out.write(experiment_source(name, (link.claim.claim.id, link.prediction) if link else None))
    if link is None:
        return NewExperiment(file, path)
    link.claim.path.write_bytes(link.new_text)
    return NewExperiment(file, path, linked=link.claim.file)
