"""A new user's day with the command line: narrow terminals and pipes, dry runs, progress
without a terminal, machine-readable output, hints for mistyped filters, where exports go."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support import REPO, explanation_yaml, kb_executable, run_kb

LONG_ID = "because-the-ratio-is-big-for-a-long-long-reason-told-at-length-here"


def piped(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`kb ARGS | cat`: no terminal and no COLUMNS, as in a pipe or a CI log."""
    env = {k: v for k, v in os.environ.items() if k not in ("KB_ROOT", "COLUMNS", "LINES")}
    return subprocess.run(
        [kb_executable(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def long_ids(base_kb: Path) -> Path:
    """The base knowledge base plus an explanation with a long id and a long title."""
    text = explanation_yaml().replace("id: because-big", f"id: {LONG_ID}")
    text = text.replace(
        "title: Because the ratio is big",
        "title: Because the ratio is big, for a reason that takes a good many words to say",
    )
    (base_kb / f"claims/demo/{LONG_ID}.yaml").write_text(text)
    return base_kb


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """This repository's knowledge base (claims, experiments, run records, settings)."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("claims", "repro"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root)
    return root


# --- the status column is always shown ---------------------------------------------------


@pytest.mark.parametrize("columns", ["80", "60", "40", None])
def test_list_always_shows_the_status(long_ids: Path, columns: str | None) -> None:
    if columns is None:
        result = piped("list", cwd=long_ids)
    else:
        result = run_kb("list", cwd=long_ids, env={"COLUMNS": columns})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "status" in lines[0]
    (line,) = [x for x in lines if LONG_ID in x]
    assert "untested" in line  # the status stays on the claim's line
    assert LONG_ID in line  # and the id is never cut
    assert any("Because the ratio" in x for x in lines)  # the title is shown, maybe cut
    width = int(columns or 80)
    assert all(len(x) <= width for x in lines if LONG_ID not in x)


@pytest.mark.parametrize("columns", ["140", "130", "120", "80", None])
def test_status_always_shows_the_status(repo_copy: Path, columns: str | None) -> None:
    if columns is None:
        result = piped("status", cwd=repo_copy)
    else:
        result = run_kb("status", cwd=repo_copy, env={"COLUMNS": columns})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["claim", "status"]
    ids = {p.stem for p in (repo_copy / "claims").glob("*/*.yaml")}
    rows = [x.split() for x in lines[1:] if x.split() and x.split()[0] in ids]
    assert len(rows) == len(ids)
    assert all(r[1] in ("supported", "refuted", "contested", "untested") for r in rows)


# --- kb run --dry-run tells what a real run does; --rerun; progress without a terminal ---


def runs_of(root: Path) -> list[Path]:
    return sorted((root / "repro/runs").glob("*/*.json"))


def test_dry_run_reports_what_a_real_run_computes_and_reuses(base_kb: Path) -> None:
    first = run_kb("run", "demo_experiment", "--seeds", "2", "--device", "cpu", cwd=base_kb)
    assert first.returncode == 0, first.stderr

    same = run_kb("run", "demo_experiment", "--seeds", "2", "--dry-run", cwd=base_kb)
    assert same.returncode == 0, same.stderr
    assert "compute 0 seeds, reuse 2 seeds (0, 1)" in same.stdout
    assert "nothing new to run" in same.stdout
    real = run_kb("run", "demo_experiment", "--seeds", "2", "--device", "cpu", cwd=base_kb)
    assert "nothing new to run" in real.stdout and len(runs_of(base_kb)) == 1

    more = run_kb("run", "demo_experiment", "--seeds", "4", "--dry-run", "-j", "2", cwd=base_kb)
    assert "compute 2 seeds (2, 3), reuse 2 seeds (0, 1)" in more.stdout
    # The expected time comes from the seeds' wall times in the earlier record.
    assert "per seed, median of earlier records" in more.stdout
    assert "would compute 2 seed(s); about" in more.stdout
    assert len(runs_of(base_kb)) == 1  # a dry run runs nothing


def test_dry_run_of_an_experiment_never_run(base_kb: Path) -> None:
    result = run_kb("run", "demo_experiment", "--seeds", "3", "--dry-run", cwd=base_kb)
    assert "compute 3 seeds (0-2), reuse 0 seeds" in result.stdout
    assert "time unknown: no earlier record" in result.stdout


def test_rerun_recomputes_known_seeds(base_kb: Path) -> None:
    assert (
        run_kb("run", "demo_experiment", "--seeds", "2", "--device", "cpu", cwd=base_kb).returncode
        == 0
    )
    dry = run_kb("run", "demo_experiment", "--seeds", "2", "--rerun", "--dry-run", cwd=base_kb)
    assert "compute 2 seeds (0, 1), reuse 0 seeds" in dry.stdout
    again = run_kb(
        "run", "demo_experiment", "--seeds", "2", "--rerun", "--device", "cpu", cwd=base_kb
    )
    assert again.returncode == 0, again.stderr
    records = runs_of(base_kb)
    assert len(records) == 2
    newest = json.loads(records[-1].read_text())
    assert [r["reused"] for r in newest["results"]] == [False, False]


def test_progress_is_one_line_per_seed_without_a_terminal(base_kb: Path) -> None:
    result = run_kb("run", "demo_experiment", "--seeds", "3", "--device", "cpu", cwd=base_kb)
    assert result.returncode == 0, result.stderr
    lines = [x for x in result.stderr.splitlines() if " seed " in x]
    assert len(lines) == 3, result.stderr
    for seed, line in enumerate(sorted(lines)):
        assert re.fullmatch(
            rf"demo_experiment \[smoke\] seed {seed}: ok, \d+\.\d s \[\d/3\]", line
        ), line
    assert "━" not in result.stderr  # no progress bar drawn into a log


# --- --format json on every command that prints results --------------------------------


def json_of(*args: str, cwd: Path) -> object:
    result = run_kb(*args, "--format", "json", cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)  # stdout holds the JSON and nothing else


def test_json_output_of_run_verify_index_and_export_run(base_kb: Path, tmp_path: Path) -> None:
    dry = json_of("run", "demo_experiment", "--seeds", "2", "--dry-run", cwd=base_kb)
    assert dry["plans"][0]["compute"] == [0, 1] and dry["plans"][0]["expected_s"] is None

    ran = json_of("run", "demo_experiment", "--seeds", "2", "--device", "cpu", cwd=base_kb)
    (run,) = ran["runs"]
    assert run["experiment"] == "demo_experiment" and run["seeds_ok"] == 2
    assert set(run["metrics"]["ratio"]) == {"mean", "min", "max"}
    again = json_of("run", "demo_experiment", "--seeds", "2", "--device", "cpu", cwd=base_kb)
    assert again["runs"] == [] and again["nothing_new"] == ["demo_experiment [smoke]"]

    verified = json_of("verify", "demo_experiment", "--device", "cpu", cwd=base_kb)
    assert verified["ok"] is True and verified["run"] == run["id"]
    assert {c["seed"] for c in verified["checks"]} == {0, 1}

    index = json_of("index", cwd=base_kb)
    assert index["counts"]["runs"] == 1 and index["rebuilt"] is True

    crate = json_of("export-run", run["id"], "-o", str(tmp_path / "crate"), cwd=base_kb)
    assert crate["run"] == run["id"] and "ro-crate-metadata.json" in crate["files"]


def test_verify_help_says_an_experiment_name_works(base_kb: Path) -> None:
    result = run_kb("verify", "--help", cwd=base_kb)
    assert "experiment name" in result.stdout and "latest run" in result.stdout


# --- "did you mean" for topics and tags ---------------------------------------------------


@pytest.mark.parametrize(
    ("option", "typo", "meant"), [("--topic", "dem", "demo"), ("--tag", "batchnrom", "batchnorm")]
)
def test_list_suggests_a_topic_or_tag(base_kb: Path, option: str, typo: str, meant: str) -> None:
    path = base_kb / "claims/demo/fast-training.yaml"
    path.write_text(path.read_text().replace("topic: demo\n", "topic: demo\ntags: [batchnorm]\n"))
    assert run_kb("list", option, meant, cwd=base_kb).returncode == 0
    result = run_kb("list", option, typo, cwd=base_kb)
    assert result.returncode == 1 and result.stdout == ""
    name = option.lstrip("-")
    assert (
        result.stderr.strip() == f"error: no claim has the {name} '{typo}'; did you mean '{meant}'?"
    )


def test_list_names_the_topics_when_nothing_is_close(base_kb: Path) -> None:
    result = run_kb("list", "--topic", "zzz", cwd=base_kb)
    assert result.returncode == 1 and "(there are: demo)" in result.stderr


# --- exports land in the knowledge-base root, and git ignores them -------------------------


def test_export_defaults_to_the_root_wherever_kb_runs(base_kb: Path) -> None:
    result = run_kb("export", "--format", "bibtex", cwd=base_kb / "claims/demo")
    assert result.returncode == 0, result.stderr
    assert (base_kb / "export/references.bib").is_file()
    assert not (base_kb / "claims/demo/export").exists()


def test_export_run_defaults_to_the_root(base_kb: Path) -> None:
    assert (
        run_kb("run", "demo_experiment", "--seeds", "1", "--device", "cpu", cwd=base_kb).returncode
        == 0
    )
    result = run_kb("export-run", "demo_experiment", cwd=base_kb / "claims")
    assert result.returncode == 0, result.stderr
    (crate,) = (base_kb / "export").glob("rocrate-*")
    assert (crate / "ro-crate-metadata.json").is_file()


def test_the_export_folder_is_git_ignored() -> None:
    result = subprocess.run(
        ["git", "check-ignore", "-q", "export/claims.csv"], cwd=REPO, capture_output=True
    )
    assert result.returncode == 0
