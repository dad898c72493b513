"""Fixtures: temporary knowledge bases built from tests/golden/base (helpers are in support.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from support import BASE_KB


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
