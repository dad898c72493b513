"""Fixtures for the site tests: the site knowledge base, generated and built once per module."""

from __future__ import annotations

from pathlib import Path

import pytest
from sitekb import make_evil_kb, make_site_kb


@pytest.fixture
def site_kb(tmp_path: Path) -> Path:
    """A fresh copy of the site test knowledge base (safe to modify)."""
    return make_site_kb(tmp_path / "kb")


@pytest.fixture(scope="module")
def shared_site_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One site test knowledge base per module (do not modify)."""
    return make_site_kb(tmp_path_factory.mktemp("site") / "kb")


@pytest.fixture(scope="module")
def shared_evil_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_evil_kb(tmp_path_factory.mktemp("evil") / "kb")
