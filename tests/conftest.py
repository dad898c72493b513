"""Shared fixtures: temporary knowledge bases built from folders or dicts, and the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
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


@pytest.fixture
def base_kb(tmp_path: Path) -> Path:
    """A copy of the small valid knowledge base under tests/golden/base."""
    root = tmp_path / "kb"
    shutil.copytree(BASE_KB, root)
    return root


@pytest.fixture
def write(base_kb: Path) -> Callable[[str, str | bytes], Path]:
    """Write one file into the temporary knowledge base; returns its path."""

    def _write(relative: str, content: str | bytes) -> Path:
        path = base_kb / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write


def assert_golden(actual: str, golden: Path) -> None:
    """Compare with a golden file; KB_UPDATE_GOLDEN=1 rewrites it (review the diff!)."""
    if UPDATE_GOLDEN or not golden.exists():
        golden.write_text(actual, encoding="utf-8")
        if not UPDATE_GOLDEN:
            pytest.fail(f"golden file {golden.name} was missing and has been written; review it")
    assert actual == golden.read_text(encoding="utf-8")
