"""Small knowledge bases for the site tests, and a helper that builds them with MkDocs.

`make_site_kb` is tests/golden/base plus three competing explanations of its phenomenon
(with stored statuses, verdicts and history) and two run records of the demo experiment;
`make_evil_kb` adds a claim and a reference whose text tries to run script in a browser.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from kb.checking.load import load
from kb.formats.records import (
    GitInfo,
    Hardware,
    PredictionRef,
    RunOutcome,
    RunRecord,
    SeedResult,
    prediction_sha256,
    write_record,
)

SITE_TESTS = Path(__file__).resolve().parent
REPO = SITE_TESTS.parent.parent
BASE_KB = REPO / "tests" / "golden" / "base"
GOLDEN = SITE_TESTS / "golden"
CONFIG = REPO / "mkdocs.yml"
RUN_A = "20260301T120000Z-aaaaaa"
RUN_B = "20260215T090000Z-bbbbbb"
RUN_C = "20260302T120000Z-cccccc"

PHENOMENON = """\
schema_version: 1
id: fast-training
kind: phenomenon
title: A phenomenon
statement: Something happens.
summary: It happens reliably.
topic: demo
tags: [demo]
scope:
  architectures: [mlp]
  data_scale: [toy, small]
sources:
  - citekey: ioffe2015
    stance: proposes
    locator: Abstract
predictions:
  - id: ratio-above-one
    statement: The ratio is above one.
    experiment: demo_experiment
    metric: ratio
    expect: "> 1"
  - id: ratio-valid
    statement: The ratio stays above one half when the model learns.
    experiment: demo_experiment
    metric: ratio
    expect: "> 0.5"
status:
  value: supported
  certainty: moderate
  reason: No independent work supports or refutes it; our reproductions point for it (ratio-above-one holds).
  basis: experiments
  literature:
    direction: none
    summary: No independent work supports or refutes it
  reproduction:
    direction: for
    in_scope: true
    summary: 1 prediction holds (ratio-above-one); measured at toy data · mlp · smoke scale
  certainty_steps:
    - change: -1
      reason: only smoke-scale evidence (toy data)
  verdicts:
    - prediction: ratio-above-one
      verdict: holds
      scale: smoke
      estimate: 2.01
      interval: [1.93, 2.09]
      level: 0.983333
      p_adjusted: 0.0003
      n: 5
      runs: [%(run_a)s]
      confirmatory: true
      robustness: robust
    - prediction: ratio-valid
      verdict: invalid
      scale: smoke
      n: 5
      runs: [%(run_a)s]
      reason: 'Invalid: learned (mean of steps <= 3900) failed: the model must learn for the ratio to mean anything.'
  history:
    - date: 2026-03-01
      status: supported
      certainty: moderate
      run: %(run_a)s
created: 2026-01-01
updated: 2026-03-01
"""

EXPLANATION_A = """\
schema_version: 1
id: steady-gradients
kind: explanation
explains: fast-training
title: It happens because the gradients are steady
statement: The gradients barely change direction, so large steps are safe.
summary: >-
  If the gradient stays predictive along the trajectory, a larger step lands where the
  gradient is still informative.
topic: demo
tags: [demo, gradients]
scope:
  architectures: [mlp]
  data_scale: [toy]
sources:
  - citekey: santurkar2018
    stance: proposes
    locator: Sec. 3.1
    note: Measures how predictive the gradient stays.
  - citekey: ioffe2015
    stance: supports
    locator: Sec. 4
    quote: training is faster
predictions:
  - id: ratio-high
    statement: The ratio is well above one and a half.
    experiment: demo_experiment
    metric: ratio
    expect: "> 1.5"
    registered: 2026-01-15
status:
  value: supported
  certainty: moderate
  reason: 1 independent work supports it; our reproductions point for it (ratio-high holds).
  basis: both
  literature:
    direction: for
    summary: 1 independent work supports
  reproduction:
    direction: for
    in_scope: true
    summary: 1 prediction holds (ratio-high); measured at toy data · mlp · smoke scale
  certainty_steps:
    - change: -1
      reason: only smoke-scale evidence (toy data)
  verdicts:
    - prediction: ratio-high
      verdict: holds
      scale: smoke
      estimate: 2.01
      interval: [1.93, 2.09]
      level: 0.983333
      p_adjusted: 0.0004
      n: 5
      runs: [%(run_a)s]
      stale_runs: [%(run_b)s]
      confirmatory: true
      robustness: fragile
      fragile_on: [noise]
  history:
    - date: 2026-02-01
      status: untested
      certainty: low
    - date: 2026-03-01
      status: supported
      certainty: moderate
      run: %(run_a)s
created: 2026-01-15
updated: 2026-03-01
"""

EXPLANATION_B = """\
schema_version: 1
id: small-ratio
kind: explanation
explains: fast-training
title: It happens for a reason that predicts a small ratio
statement: The effect is small; the ratio stays close to one.
summary: A competing account that expects only a small change.
topic: demo
tags: [demo]
scope:
  architectures: [mlp, cnn]
  data_scale: [toy, small]
sources:
  - citekey: ioffe2015
    stance: proposes
    locator: Sec. 2
  - citekey: santurkar2018
    stance: supports
    locator: Sec. 2.1, Fig. 2
    note: Finds a small ratio on its own task.
  - citekey: jastrzebski2020
    stance: qualifies
    locator: Sec. 4
  - citekey: gerard2021
    stance: qualifies
    locator: Sec. 2
predictions:
  - id: ratio-low
    statement: The ratio stays below one and a quarter.
    experiment: demo_experiment
    metric: ratio
    expect: "< 1.25"
  - id: steps-censored
    statement: The plain arm needs fewer than 3,000 steps.
    experiment: demo_experiment
    metric: steps
    expect: "< 3000"
  - id: gap-small
    statement: The gap between the arms stays small.
    open: true
    metric: gap
    expect: "between 0 0.1"
status:
  value: contested
  certainty: low
  reason: 'Our reproductions (toy data · mlp · smoke scale, outside the claim''s scope) point against it (ratio-low fails), but 1 independent work supports it: the two lines disagree.'
  basis: both
  literature:
    direction: for
    summary: 1 independent work supports, 2 independent works qualify
  reproduction:
    direction: against
    in_scope: false
    summary: 1 prediction fails (ratio-low); measured at toy data · mlp · smoke scale, outside the claim's scope
  certainty_steps:
    - change: -1
      reason: only smoke-scale evidence (toy data)
    - change: -1
      reason: a single device (cpu)
  verdicts:
    - prediction: ratio-low
      verdict: fails
      scale: smoke
      estimate: 2.01
      interval: [1.93, 2.09]
      level: 0.983333
      p_adjusted: 0.0001
      n: 5
      runs: [%(run_a)s]
      confirmatory: false
      robustness: fragile
      fragile_on: [noise]
    - prediction: steps-censored
      verdict: inconclusive
      scale: smoke
      estimate: 3950
      interval: [3610, null]
      censored: 2
      level: 0.983333
      n: 5
      runs: [%(run_a)s]
      reason: 'Inconclusive: 2 of 5 seeds only bound the value, so the interval is open on that side.'
      seeds_needed: 12
    - prediction: gap-small
      verdict: untested
  history:
    - date: 2026-03-01
      status: refuted
      certainty: low
      run: %(run_a)s
    - date: 2026-03-05
      status: contested
      certainty: low
      cause: its sources, predictions or the rules changed (no new run)
created: 2026-01-20
updated: 2026-03-01
"""

EXPLANATION_C = """\
schema_version: 1
id: mid-ratio
kind: explanation
explains: fast-training
title: It happens because of a moderate effect nobody has derived yet
statement: The ratio sits between 1.9 and 2.2.
summary: Proposed recently; its status has not been derived.
topic: demo
sources:
  - citekey: santurkar2018
    stance: discusses
    locator: Appendix
predictions:
  - id: ratio-mid
    statement: The ratio lies between 1.9 and 2.2.
    experiment: demo_experiment
    metric: ratio
    expect: "between 1.9 2.2"
created: 2026-03-02
updated: 2026-03-02
"""

EVIL_TEXT = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'
EVIL_CLAIM = r"""schema_version: 1
id: evil-claim
kind: explanation
explains: fast-training
title: 'Harmless title <script>window.__pwned=1</script><img src=x onerror="window.__pwned=1"> zebraword'
statement: 'Click [x](javascript:window.__pwned=1) or <a href="javascript:window.__pwned=1">here</a>.'
summary: |-
  <img src=x onerror="window.__pwned=1"> [x](javascript:window.__pwned=1)

  </div></table><script>window.__pwned=1</script> &lt;script&gt;window.__pwned=1&lt;/script&gt; {{ config }}
topic: demo
tags: [demo]
sources:
  - citekey: evil2020
    stance: proposes
    locator: "<b onmouseover=\"window.__pwned=1\">Sec. 1</b>\n\n[w](javascript:window.__pwned=1)\n\n```\n"
    note: '[click me](javascript:window.__pwned=1) <svg onload="window.__pwned=1">'
    quote: '</q><script>window.__pwned=1</script>'
would_change_our_mind: "x\n\n```\n[z](javascript:window.__pwned=1)\n\n# heading\n\n<img src=x onerror=\"window.__pwned=1\">"
predictions:
  - id: evil-prediction
    statement: '<iframe src="javascript:window.__pwned=1"></iframe> [y](javascript:window.__pwned=1)'
    open: true
    metric: gap
    expect: "> 1"
created: 2026-03-03
updated: 2026-03-03
"""
EVIL_BIB = """
@misc{evil2020,
  title  = {A title with <script>window.__pwned=1</script> in it},
  author = {Mallory, Eve and Other, An},
  year   = {2020},
  url    = {javascript:window.__pwned=1},
}
"""


# The demo experiment as the site tests need it: a regime a reader can name (MNIST-1D, an
# 8x128 MLP), metrics with human labels and units, and a declared free design constant.
DEMO_SCRIPT = '''"""A tiny stand-in experiment (no torch) so predictions can name one and runs stay fast.

Reproduces: nothing; it follows the experiment contract in kb/formats/experiment.py.
"""

import random

SCALES = {
    "smoke": {"data": "mnist1d", "model": "mlp", "depth": 8, "width": 128, "mean": 2.0, "noise": 0.1},
    "full": {"data": "cifar10", "model": "vgg", "widths": [64, 512], "mean": 2.0, "noise": 0.05},
}
REGIME = {
    "smoke": {"data_scale": "toy", "architectures": ["mlp"]},
    "full": {"data_scale": "small", "architectures": ["vgg"]},
}
METRICS = {
    "ratio": {"description": "a noisy ratio around the configured mean", "label": "Speed-up ratio", "unit": "×"},
    "steps": {"description": "steps until the target, censored at the budget", "unit": "steps"},
}
MULTIVERSE = {"smoke": {"noise": [0.1, 0.2]}}


def run(config: dict, seed: int, device: str) -> dict:
    rng = random.Random(seed)
    value = config["mean"] + rng.gauss(0.0, config["noise"])
    return {"metrics": {"ratio": value, "steps": 3950.0}, "curves": {"trace": {"x": [0, 1], "y": [0.0, value]}}}


if __name__ == "__main__":
    from kb.experiment import standalone

    standalone(run, SCALES)
'''
SMOKE = {"data": "mnist1d", "model": "mlp", "depth": 8, "width": 128, "mean": 2.0, "noise": 0.1}

LATEX_BIB = """
@misc{jastrzebski2020,
  title  = {The Break-Even Point on Optimization Trajectories of Deep Neural Networks},
  author = {Jastrz{\\k{e}}bski, Stanis{\\l}aw and Szymczak, Maciej},
  year   = {2020},
  eprint = {2002.09572},
}

@misc{gerard2021,
  title  = {A {\\"U}ber-Study of Normalization},
  author = {Ben Arous, G{\\'e}rard and M{\\"u}ller, Klaus},
  year   = {2021},
  url    = {https://example.org/normalization},
}
"""


def _record(
    run_id: str, started: dt.datetime, scale: str, values: list[float], *,
    config: dict[str, object] | None = None, script_sha: str = "0" * 64,
    predictions: list[PredictionRef] | None = None,
) -> RunRecord:
    results = [
        SeedResult(
            seed=i, key=f"key-{run_id}-{i}", outcome="ok", metrics={"ratio": v, "steps": 3950.0 + 10 * i},
            curves={"trace": {"x": [0.0, 1.0, 2.0], "y": [0.0, v / 2, v]}}, wall_s=0.5, device="cpu",
        )
        for i, v in enumerate(values)
    ]
    return RunRecord(
        id=run_id, experiment="demo_experiment", scale=scale, config=config or {"mean": 2.0, "noise": 0.1},
        seeds=list(range(len(values))), outcome=RunOutcome.ok, results=results,
        script="repro/demo_experiment.py", script_sha256=script_sha,
        predictions=predictions if predictions is not None else
        [PredictionRef(claim="steady-gradients", prediction="ratio-high", sha256="1" * 64)],
        git=GitInfo(commit="abcdef0123456789", dirty=scale == "full", diff="--- a/x\n+++ b/x\n" if scale == "full" else None),
        packages={"torch": "2.13.0", "numpy": "2.4.6"},
        hardware=Hardware(device="cpu", cpu="x86_64", cores=2, platform="Linux-x86_64"),
        started=started, finished=started + dt.timedelta(seconds=30), wall_s=30.0,
        command="kb run demo_experiment --seeds 5",
    )


def make_site_kb(root: Path) -> Path:
    """The site test knowledge base at `root` (replaced if it exists)."""
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(BASE_KB, root)
    names = {"run_a": RUN_A, "run_b": RUN_B}
    for name, text in (("fast-training", PHENOMENON), ("steady-gradients", EXPLANATION_A),
                       ("small-ratio", EXPLANATION_B), ("mid-ratio", EXPLANATION_C)):
        (root / "claims" / "demo" / f"{name}.yaml").write_text(text % names, encoding="utf-8")
    script = root / "repro" / "demo_experiment.py"
    script.write_text(DEMO_SCRIPT, encoding="utf-8")
    with (root / "claims" / "references.bib").open("a", encoding="utf-8") as bib:
        bib.write(LATEX_BIB)
    sha = hashlib.sha256(script.read_bytes()).hexdigest()
    kb = load(root)
    ratio_high = next(p for p in kb.claims["steady-gradients"].claim.predictions if p.id == "ratio-high")
    ref = [PredictionRef(claim="steady-gradients", prediction="ratio-high",
                         sha256=prediction_sha256("steady-gradients", ratio_high))]
    utc = dt.UTC
    write_record(root, _record(RUN_B, dt.datetime(2026, 2, 15, 9, tzinfo=utc), "full", [1.7, 1.9, 2.2]))
    write_record(root, _record(RUN_A, dt.datetime(2026, 3, 1, 12, tzinfo=utc), "smoke", [1.95, 2.03, 2.08, 1.98, 2.01],
                               config=SMOKE, script_sha=sha, predictions=ref))
    # A multiverse variant (noise 0.2): a second point on each prediction's specification curve.
    write_record(root, _record(RUN_C, dt.datetime(2026, 3, 2, 12, tzinfo=utc), "smoke", [1.2, 1.35, 1.3, 1.25, 1.4],
                               config={**SMOKE, "noise": 0.2}, script_sha=sha, predictions=[]))
    _commit_history(root)
    return root


def _git(root: Path, *args: str, when: str = "2026-01-01T00:00:00Z") -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false",
                    *args], cwd=root, env=env, check=True, capture_output=True)


def _commit_history(root: Path) -> None:
    """Turn the claims' written `history:` lists into git history, as kb derives it.

    A status's history is read from git, never from the file: each entry becomes a commit on
    its date that sets the claim's status (and adds the run record it names), and the final
    files keep no `history:` block.
    """
    import yaml

    claims = sorted((root / "claims" / "demo").glob("*.yaml"))
    final = {path: path.read_text(encoding="utf-8") for path in claims}
    entries: list[tuple[dt.date, Path, dict[str, object]]] = []
    for path, text in final.items():
        status = (yaml.safe_load(text) or {}).get("status") or {}
        entries += [(h["date"], path, h) for h in status.get("history") or []]
    stripped = {path: re.sub(r"\n  history:\n(?:    .*\n)+", "\n", text) for path, text in final.items()}
    runs = sorted((root / "repro" / "runs").rglob("*.json"))
    held = {run.stem: run.read_bytes() for run in runs}
    for run in runs:
        run.unlink()
    for path in {path for _, path, _ in entries}:  # each appears with its first history entry
        path.unlink()
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "base", when="2025-12-31T00:00:00Z")
    for when, path, entry in sorted(entries, key=lambda e: (e[0], str(e[1]))):
        value, certainty = entry["status"], entry["certainty"]
        text = re.sub(r"(\nstatus:\n  value: )\S+(\n  certainty: )[^\n]+",
                      lambda m, v=value, c=certainty: f"{m.group(1)}{v}{m.group(2)}{c}",
                      stripped[path])
        path.write_text(text, encoding="utf-8")
        if entry.get("run") in held:
            record = next(r for r in runs if r.stem == entry["run"])
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_bytes(held.pop(str(entry["run"])))
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "--allow-empty", "-m", f"status of {path.stem}", when=f"{when}T12:00:00Z")
    for path, text in stripped.items():
        path.write_text(text, encoding="utf-8")
    for run in runs:
        if run.stem in held:
            run.parent.mkdir(parents=True, exist_ok=True)
            run.write_bytes(held[run.stem])
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "--allow-empty", "-m", "now", when="2026-03-05T00:00:00Z")


def make_evil_kb(root: Path) -> Path:
    make_site_kb(root)
    (root / "claims" / "demo" / "evil-claim.yaml").write_text(EVIL_CLAIM, encoding="utf-8")
    with (root / "claims" / "references.bib").open("a", encoding="utf-8") as bib:
        bib.write(EVIL_BIB)
    return root


def mkdocs_build(root: Path, output: Path, *, strict: bool = True) -> subprocess.CompletedProcess[str]:
    """`mkdocs build` of the knowledge base at `root` with the project's mkdocs.yml
    (plots cached next to the output, so tests never write into the repository)."""
    cache = output.parent / f"{output.name}-plot-cache"
    env = {**os.environ, "KB_ROOT": str(root), "NO_MKDOCS_2_WARNING": "1", "KB_SITE_CACHE": str(cache)}
    args = [sys.executable, "-m", "mkdocs", "build", "-f", str(CONFIG), "-d", str(output)]
    return subprocess.run(
        [*args, "--strict"] if strict else args, env=env, capture_output=True, text=True, timeout=120
    )
