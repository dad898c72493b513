"""What keeps one seed's process from reaching past its run: a fence, not a jail.

An experiment script arrives by pull request and kb runs it. Without root there is no real
jail, so kb does what an unprivileged process can, and reports what it cannot prevent:

- the seed runs in a fresh scratch folder, not in the repository, so a relative path it
  writes lands there (and is removed with it); relative paths in its config that name
  something in the knowledge base are handed over as absolute paths;
- every process the seed starts carries a token in its environment; when the seed ends,
  its process group is killed and so is any process still carrying the token (a detached
  grandchild that called setsid() has left the group, but not its environment);
- the repository's tracked files are compared before and after (`git status`, plus a hash
  of the files already modified before), and a seed during which they changed fails with
  the list of files. Edits made by hand, or by another `kb run`, while the seed ran are
  reported the same way: the message says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOKEN_ENV = "KB_SEED_TOKEN"
GIT_TIMEOUT_S = 30


@contextlib.contextmanager
def scratch_folder(seed: int) -> Iterator[Path]:
    """A fresh, empty working folder for one seed, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=f"kb-seed-{seed}-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def new_token() -> str:
    return secrets.token_hex(16)


def absolute_paths(value: Any, root: Path) -> Any:
    """`value` (a config) with every string naming an existing path under `root` made
    absolute: "data/cifar-10-batches-py" keeps meaning the knowledge base's copy."""
    if isinstance(value, dict):
        return {k: absolute_paths(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [absolute_paths(v, root) for v in value]
    if (
        isinstance(value, str)
        and value
        and not os.path.isabs(value)
        and ("/" in value or "." in value)  # path-like: "sgd" or "mlp" is never a path
        and "\n" not in value
        and len(value) < 4096
    ):
        with contextlib.suppress(OSError, ValueError):
            if (root / value).exists():
                return str(root / value)
    return value


def kill_tagged(token: str) -> int:
    """SIGKILL every process whose environment holds `TOKEN_ENV=token`; the number killed.

    Linux only (it reads /proc); elsewhere the process group kill is all there is.
    """
    if not sys.platform.startswith("linux"):
        return 0
    needle = f"{TOKEN_ENV}={token}".encode()
    killed = 0
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:  # gone, or another user's
            continue
        if needle in environ.split(b"\0"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
    return killed


@dataclass(frozen=True)
class TrackedState:
    """The repository's tracked files that differ from HEAD, with a hash of each."""

    top: Path
    dirty: dict[str, str]  # path relative to the repository's top -> sha256 (or "" if gone)


def _git(cwd: Path, *args: str) -> bytes | None:
    try:
        result = subprocess.run(
            ["git", "--no-optional-locks", *args],  # no index refresh: seeds run git at once
            cwd=cwd,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def _hash(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return ""


def tracked_state(root: Path) -> TrackedState | None:
    """The tracked files that differ from HEAD, hashed; None outside a git repository.

    Cheap: `git status` compares stat data, and only the few modified files are hashed.
    """
    top = _git(root, "rev-parse", "--show-toplevel")
    status = _git(root, "status", "--porcelain", "-z", "--untracked-files=no")
    if top is None or status is None:
        return None
    top_path = Path(top.decode().strip())
    dirty: dict[str, str] = {}
    entries = status.split(b"\0")
    i = 0
    while i < len(entries):
        entry = entries[i].decode("utf-8", "surrogateescape")
        i += 1
        if len(entry) < 4:
            continue
        if entry[0] in "RC":  # a rename or copy: the original path follows
            i += 1
        path = entry[3:]
        dirty[path] = _hash(top_path / path)
    return TrackedState(top_path, dirty)


def changed_files(before: TrackedState, root: Path) -> list[str]:
    """Tracked files (relative to the repository) that changed since `before`, sorted."""
    after = tracked_state(root)
    if after is None:
        return []
    was, now = before.dirty, after.dirty
    # Newly modified, newly restored (a checkout), or modified again since.
    changed = (was.keys() ^ now.keys()) | {p for p in was.keys() & now.keys() if was[p] != now[p]}
    return sorted(changed)
