"""`kb new experiment`: `repro/<name>.py`, a small working reproduction to start from.

The script is an MLP on a synthetic Gaussian mixture, trained with the shared `kb.lab` loop,
that satisfies the contract of `kb.formats.experiment`, with placeholders for the paper,
section and measurement it stands for. With `--claim` and `--prediction` the prediction is
linked to it. Nothing is overwritten: an existing file stops the command before any write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kb.checking.knowledge import REPRO_DIR, KnowledgeBase, LoadedClaim
from kb.checking.load import load
from kb.formats import yamlfile
from kb.formats.diagnose import field_path, suggest
from kb.formats.schema import EXPERIMENT_PATTERN, Prediction
from kb.scaffold.claim import ScaffoldError


@dataclass
class NewExperiment:
    file: str
    path: Path
    linked: str | None = None  # the claim file whose prediction now names the experiment


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
{metrics}    "scaffold_unedited": "1 while this is kb new experiment's template, unedited",
}}
# Until this script measures what its prediction is about, no verdict may come from it:
# this check fails on the template's own output. Delete it (and the metric) once run()
# is real, and declare the checks that make your measurement meaningful instead.
VALIDITY = {{
    "template_replaced": {{
        "metric": "scaffold_unedited",
        "expect": "< 0.5",
        "why": "this is the unedited template of kb new experiment, not a measurement",
    }},
}}


def run(config, seed, device):
    data = gaussian_mixture(n=config["n_train"], d=config["dim"], k=config["classes"],
                            separation=config["separation"], seed=seed,
                            n_test=config["n_train"], device=device)
    model = MLP(config["dim"], config["width"], config["depth"], config["classes"], seed=seed)
    result = train(model, data, steps=config["steps"], lr=config["lr"],
                   batch_size=config["batch_size"], seed=seed, device=device)
    metrics = {{
{returned}        "scaffold_unedited": 1.0,
    }}
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
