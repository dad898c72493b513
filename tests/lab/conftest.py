"""Shared fixtures for the lab tests: a private data cache so tests never touch ~/.cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def lab_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache directory for the whole session (MNIST-1D arrays are generated once)."""
    return tmp_path_factory.mktemp("kb-cache")


@pytest.fixture(autouse=True)
def _isolated_cache(lab_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point $KB_CACHE_DIR at the session cache for every test."""
    monkeypatch.setenv("KB_CACHE_DIR", str(lab_cache_dir))
    yield
