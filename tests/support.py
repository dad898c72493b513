"""Helpers shared by the tests (imported as `support`; conftest.py holds only fixtures).

Kept out of conftest.py because tests/lab has its own conftest, and two modules both
named `conftest` cannot both be imported by name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
REPO = TESTS.parent
GOLDEN = TESTS / "golden"
BASE_KB = GOLDEN / "base"
UPDATE_GOLDEN = os.environ.get("KB_UPDATE_GOLDEN") == "1"


def kb_executable() -> str:
    """The installed `kb` console script next to this interpreter (tests run it for real)."""
    candidate = Path(sys.executable).parent / "kb"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("kb")
    if found is None:
        pytest.fail("the `kb` console script is not installed: pip install -e '.[dev]'")
    return found


def run_kb(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "KB_ROOT"}
    full_env.update(env or {})
    full_env.setdefault("COLUMNS", "200")
    return subprocess.run(
        [kb_executable(), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_golden(actual: str, golden: Path) -> None:
    """Compare with a golden file; KB_UPDATE_GOLDEN=1 rewrites it (review the diff!)."""
    if UPDATE_GOLDEN or not golden.exists():
        golden.write_text(actual, encoding="utf-8")
        if not UPDATE_GOLDEN:
            pytest.fail(f"golden file {golden.name} was missing and has been written; review it")
    assert actual == golden.read_text(encoding="utf-8")


def explanation_yaml(statement: str = "The ratio exceeds 1.5.") -> str:
    """A valid explanation of the base KB's `fast-training`, served by `demo_experiment`."""
    return BECAUSE_BIG.replace("statement: The ratio exceeds 1.5.", f"statement: {statement}", 1)


BECAUSE_BIG = """\
schema_version: 1
id: because-big
kind: explanation
explains: fast-training
title: Because the ratio is big
statement: The ratio exceeds 1.5.
summary: A mechanism that makes the ratio big.
topic: demo
sources:
  - citekey: ioffe2015
    stance: proposes
    locator: Sec. 1
  - citekey: santurkar2018
    stance: refutes
    locator: Sec. 2.1
predictions:
  - id: ratio-is-big
    statement: The ratio is above 1.5.
    experiment: demo_experiment
    metric: ratio
    expect: "> 1.5"
created: 2026-01-01
updated: 2026-01-01
"""
