"""Where a result came from: commit, uncommitted diff, packages and hardware.

A clean-looking commit hash on a modified tree is how provenance gets lost, so the diff
of uncommitted changes travels with every run. Paths are made relative and the home
folder is masked, so records never name the user who made them.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

from kb.formats.records import GitInfo, Hardware

MAX_DIFF_BYTES = 200_000  # a record is committed to git; a huge diff belongs in a commit instead
PACKAGES = ("kb", "torch", "numpy", "scipy", "scikit-learn", "mnist1d", "pydantic")


def _git(root: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def git_info(root: Path) -> GitInfo:
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return GitInfo(commit=None, dirty=False)
    status = _git(root, "status", "--porcelain", "--untracked-files=no") or ""
    diff = _git(root, "diff", "HEAD", "--no-color", "--no-ext-diff") or ""
    truncated = len(diff.encode()) > MAX_DIFF_BYTES
    if truncated:
        diff = diff.encode()[:MAX_DIFF_BYTES].decode("utf-8", "ignore")
    return GitInfo(
        commit=commit.strip(),
        dirty=bool(status.strip()),
        diff=diff or None,
        diff_truncated=truncated,
    )


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: str, gpu: str | None = None) -> Hardware:
    return Hardware(
        device=device,
        cpu=cpu_model(),
        cores=os.cpu_count() or 1,
        gpu=gpu,
        platform=f"{platform.system()} {platform.machine()}",
    )


def scrub(text: str, root: Path) -> str:
    """Mask the repository and home paths in logs that go into a record."""
    text = text.replace(str(root.resolve()), ".")
    home = str(Path.home())
    if home not in ("/", ""):
        text = text.replace(home, "~")
    return text
