"""Generate synthetic knowledge bases of a given size for the benchmarks (not committed output)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CLAIM = """\
# yaml-language-server: $schema=../../schemas/claim.schema.json
schema_version: 1
id: {id}
kind: {kind}
{explains}title: Generated claim number {n} about a training phenomenon
statement: >-
{statement}summary: >-
  A summary of a few sentences written for a reader who knows basic deep learning.
  It explains what is claimed, by whom, and why it matters for practice. Claim {n}.
topic: {topic}
tags: [generated, topic-{t}]
scope:
  architectures: [mlp, cnn]
  width: {{min: 64, max: 4096}}
  optimizers: [sgd]
  data_scale: [toy, small]
would_change_our_mind: >-
  A well-controlled experiment at full scale contradicting the predictions below.
sources:
  - citekey: ioffe2015
    stance: proposes
    locator: Sec. 1
    note: The original paper.
  - citekey: santurkar2018
    stance: refutes
    locator: Sec. 2.1, Fig. 2
    note: A later paper that disagrees.
predictions:
  - id: first
    statement: The measured ratio exceeds one and a half.
    open: true
    metric: ratio
    expect: "> 1.5"
  - id: second
    statement: The measured gap is small.
    open: true
    metric: gap
    expect: "between 0 0.1"
created: 2026-01-01
updated: 2026-01-02
"""

WORDS = (
    "batch layer weight noise width depth rate step loss margin curvature sharpness "
    "gradient signal feature kernel spectrum rank norm scale label data model optimizer "
    "momentum decay warmup plateau basin flatness overfit memorize generalize transfer "
    "residual attention token head dropout pruning ticket lottery grok descent ascent"
).split()


def distinct_statement(n: int) -> str:
    """Twenty words drawn for claim `n`: statements that differ only by a number would all be
    flagged by the duplicate-statement check (kb/checking/similar.py), which real claims are not."""
    rng = random.Random(n)
    return "  " + " ".join(rng.choice(WORDS) for _ in range(20)) + f", number {n}.\n"


def generate(root: Path, n_claims: int, per_topic: int = 100) -> Path:
    """A knowledge base of `n_claims` files: one phenomenon and its explanations per 10."""
    if root.exists():
        shutil.rmtree(root)
    (root / "claims").mkdir(parents=True)
    shutil.copy(REPO / "tests/golden/base/claims/references.bib", root / "claims/references.bib")
    for n in range(n_claims):
        t = n // per_topic
        topic = f"topic-{t}"
        is_phenomenon = n % 10 == 0
        claim_id = f"claim-{n}"
        explains = "" if is_phenomenon else f"explains: claim-{n - n % 10}\n"
        folder = root / "claims" / topic
        folder.mkdir(exist_ok=True)
        (folder / f"{claim_id}.yaml").write_text(
            CLAIM.format(
                id=claim_id,
                kind="phenomenon" if is_phenomenon else "explanation",
                explains=explains,
                n=n,
                statement=distinct_statement(n),
                topic=topic,
                t=t,
            )
        )
    return root
