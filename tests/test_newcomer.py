"""The scripted newcomer path: scaffold a claim and its experiment, fill them in, check, run
the experiment, build the site, and find the new claim's page there."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest
from support import BASE_KB, REPO, run_kb

pytestmark = pytest.mark.slow

STATEMENT = "A wider network reaches a higher test accuracy on a Gaussian mixture than chance allows."


def _fill_experiment(path: Path) -> None:
    """What a newcomer does: describe the script and compute the metric the prediction names."""
    source = path.read_text(encoding="utf-8")
    source = re.sub(r'^"""TODO: .*$', '"""How far above chance a small MLP classifies a Gaussian mixture.', source, count=1, flags=re.M)
    source = source.replace(
        "Reproduces: AUTHOR YEAR",
        "Reproduces: Doe 2024",
    )
    source = source.replace(
        '"TODO: what this measures, with units (for now: the test accuracy)"',
        '"test accuracy over chance accuracy (1 / classes); > 1: better than guessing"',
    )
    source = source.replace(
        "result.final_test_acc,  # TODO: compute what the prediction is about",
        'result.final_test_acc * config["classes"],',
    )
    assert "TODO" not in source, source
    path.write_text(source, encoding="utf-8")


def _fill_reference(path: Path, key: str) -> None:
    text = path.read_text(encoding="utf-8")
    stub = text[text.index(f"@misc{{{key},") :]
    filled = (
        stub.replace("title  = {}", "title  = {A Made-Up Paper for the Newcomer Test}")
        .replace("author = {}", "author = {Doe, Jane}")
        .replace("year   = {}", "year   = {2024}")
        .replace("url    = {}", "url    = {https://example.org/doe2024}")
    )
    path.write_text(text.replace(stub, filled), encoding="utf-8")


def test_newcomer_adds_a_claim_and_an_experiment(tmp_path: Path) -> None:
    root = tmp_path / "kb"
    shutil.copytree(BASE_KB, root)

    created = run_kb(
        "new", "claim", "--no-input",
        "--id", "width-beats-chance", "--kind", "explanation", "--explains", "fast-training",
        "--topic", "demo", "--statement", STATEMENT,
        "--summary", "Wider hidden layers separate the mixture's classes better.",
        "--cite", "doe2024", "--locator", "Sec. 4, Fig. 3",
        "--prediction", "Test accuracy is more than twice chance.",
        "--metric", "accuracy_over_chance", "--expect", "> 2",
        cwd=root,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "complete @misc{doe2024}" in created.stdout
    assert run_kb("check", cwd=root).returncode == 1  # the reference stub is not filled in yet

    experiment = run_kb(
        "new", "experiment", "width_probe", "--claim", "width-beats-chance", "--prediction", "first",
        cwd=root,
    )  # fmt: skip
    assert experiment.returncode == 0, experiment.stderr

    _fill_experiment(root / "repro/width_probe.py")
    _fill_reference(root / "claims/references.bib", "doe2024")
    check = run_kb("check", cwd=root)
    assert check.returncode == 0, check.stdout + check.stderr

    run = run_kb(
        "run", "width_probe", "--scale", "smoke", "--seeds", "2", "--jobs", "1", "--device", "cpu",
        cwd=root, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(list((root / "repro/runs/width_probe").glob("*.json"))) == 1
    check = run_kb("check", cwd=root)
    assert check.returncode == 0, check.stdout + check.stderr

    out = tmp_path / "site"
    site = run_kb(
        "site", "build", "--root", str(root), "--config", str(REPO / "mkdocs.yml"), "--output", str(out),
        cwd=root, env={"KB_SITE_CACHE": str(tmp_path / "plot-cache"), "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )  # fmt: skip
    assert site.returncode == 0, site.stdout + site.stderr
    page = out / "claims/width-beats-chance/index.html"
    assert page.is_file()
    assert html.escape(STATEMENT, quote=False) in page.read_text(encoding="utf-8")
