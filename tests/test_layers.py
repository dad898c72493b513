"""The package layout is the architecture: its layers and the absence of import circles.

The layer contracts live in pyproject.toml ([tool.importlinter]); `lint-imports` checks them
over every import, lazy ones inside functions included.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run(
        [lint, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_import_circles_between_modules() -> None:
    graph = grimp.build_graph("kb", cache_dir=None)
    circles = sorted(
        {
            " <-> ".join(sorted((importer, imported)))
            for importer in graph.modules
            for imported in graph.find_modules_directly_imported_by(importer)
            if graph.chain_exists(importer=imported, imported=importer, as_packages=False)
        }
    )
    assert circles == []


def test_every_subpackage_says_what_it_owns_and_may_import() -> None:
    for init in sorted((REPO / "kb").glob("*/__init__.py")):
        doc = init.read_text(encoding="utf-8")
        assert doc.startswith('"""'), f"{init.relative_to(REPO)} has no docstring"
        if init.parent.name not in {"cli", "render", "site", "lab"}:
            assert "May import" in doc, f"{init.relative_to(REPO)} does not say what it may import"
