"""A new user's day with the command line: narrow terminals and pipes, dry runs, progress
without a terminal, machine-readable output, hints for mistyped filters, where exports go."""

from __future__ import annotations

import os
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
