"""Pre-registration from git history: since when has each prediction stood as it is now?

A verdict is confirmatory only when the records of its runs entered the repository after
the prediction they test did: the commit that added each record must descend from the
commit that registered the prediction (`RecordCommits`). Registration is read from git, not
from the `registered:` date a contributor types: for each prediction, the commit time of the oldest commit of the unbroken stretch of
commits, ending at HEAD, in which the claim file holds the prediction with its current
`prediction_sha256`. A stretch rather than the first commit ever: a prediction changed and
later changed back was registered again when it came back. Rewording its statement does not
move the moment (the hash covers experiment, metric and expectation only).
"""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from kb.checking.knowledge import KnowledgeBase
from kb.formats import yamlfile
from kb.formats.records import RUNS_DIR, prediction_sha256
from kb.formats.schema import Claim

Key = tuple[str, str]  # (claim id, prediction id)
_INVALID = object()  # a committed version that does not validate: skipped, not a break


def git(root: Path, *args: str, stdin: bytes | None = None) -> bytes | None:
    try:
        result = subprocess.run(["git", *args], cwd=root, input=stdin, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def file_history(root: Path, file: str) -> list[tuple[str, dt.datetime, str]]:
    """(commit, commit time in UTC, path at that commit) newest first, following renames."""
    out = git(root, "log", "--follow", "--format=%x00%H %cI", "--name-only", "--", file)
    commits = []
    for entry in (out or b"").decode("utf-8", "replace").split("\0")[1:]:
        header, *paths = [line for line in entry.splitlines() if line]
        commit, when = header.split(" ", 1)
        # --name-only names the file relative to the repository's top folder
        commits.append((commit, dt.datetime.fromisoformat(when).astimezone(dt.UTC),
                        paths[0] if paths else file))
    return commits


def git_blobs(root: Path, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], bytes | None]:
    """Contents of `commit:path` for every pair, read by one `git cat-file --batch`."""
    if not wanted:
        return {}
    request = "".join(f"{commit}:{path}\n" for commit, path in wanted).encode()
    out = git(root, "cat-file", "--batch", stdin=request) or b""
    blobs: dict[tuple[str, str], bytes | None] = {}
    offset = 0
    for pair in wanted:
        header_end = out.find(b"\n", offset)
        if header_end < 0:
            blobs[pair] = None
            continue
        header = out[offset:header_end].split()
        offset = header_end + 1
        if len(header) == 3 and header[1] == b"blob":
            size = int(header[2])
            blobs[pair] = out[offset : offset + size]
            offset += size + 1  # the content is followed by a newline
        else:  # "<object> missing": the file did not exist at that commit
            blobs[pair] = None
    return blobs


def _hashes(content: bytes | None) -> dict[str, str] | object | None:
    """Prediction id → hash in one committed version; None if absent, _INVALID if unreadable."""
    if content is None:
        return None
    try:
        claim = Claim.model_validate(yamlfile.parse(content).data)
    except (yamlfile.YamlProblem, ValidationError):
        return _INVALID
    return {p.id: prediction_sha256(claim.id, p) for p in claim.predictions}


@dataclass(frozen=True)
class Registration:
    """Since when a prediction has stood as it is now: a commit, and that commit's time."""

    commit: str
    when: dt.datetime


class RecordCommits:
    """Which commit added each run record, and which commits descend from a registration.

    Confirmatory is judged from this topology, not from dates a file or a commit carries: a
    back-dated commit or an edited `started` cannot make a run look pre-registered.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.added: dict[str, str] = {}  # run id -> the commit that added its record
        self.by_commit: dict[str, list[str]] = {}  # commit -> ids of the records it added
        out = git(root, "log", "--diff-filter=A", "--format=%x00%H", "--name-only", "--", RUNS_DIR)
        for entry in (out or b"").decode("utf-8", "replace").split("\0")[1:]:
            commit, *paths = [line for line in entry.splitlines() if line]
            ids = [Path(p).stem for p in paths if p.endswith(".json")]
            self.by_commit[commit] = ids
            for run_id in ids:
                self.added.setdefault(run_id, commit)
        self._after: dict[str, set[str]] = {}

    def after(self, registration: str) -> set[str]:
        """Commits on HEAD's history that strictly descend from `registration`."""
        if registration not in self._after:
            out = git(self.root, "rev-list", "--ancestry-path", f"{registration}..HEAD")
            self._after[registration] = set((out or b"").decode().split())
        return self._after[registration]

    def registered_before(self, run_id: str, registration: Registration) -> bool:
        """The record entered the repository after the prediction did (or will: uncommitted)."""
        commit = self.added.get(run_id)
        if commit is None:  # not committed yet: it can only land after HEAD, which holds R
            return True
        return commit in self.after(registration.commit)


def prediction_registrations(
    root: Path, kb: KnowledgeBase
) -> dict[Key, Registration | None]:
    """For each prediction, the commit since which it has stood as now; None when its
    current version is not committed (or `root` is not in a git repository)."""
    out: dict[Key, Registration | None] = {
        (cid, p.id): None for cid, loaded in kb.claims.items() for p in loaded.claim.predictions
    }
    top = git(root, "rev-parse", "--show-toplevel")
    if top is None or not out:
        return out
    top_path = Path(top.decode().strip())
    histories = {cid: file_history(root, loaded.file) for cid, loaded in kb.claims.items()}
    wanted = sorted({(commit, path) for history in histories.values() for commit, _, path in history})
    blobs = git_blobs(top_path, wanted)
    parsed: dict[tuple[str, str], dict[str, str] | object | None] = {}  # per (commit, file)
    for cid, loaded in kb.claims.items():
        current = {p.id: prediction_sha256(cid, p) for p in loaded.claim.predictions}
        standing = set(current)  # predictions whose stretch has not been broken yet
        for commit, when, path in histories[cid]:
            if (commit, path) not in parsed:
                parsed[(commit, path)] = _hashes(blobs.get((commit, path)))
            version = parsed[(commit, path)]
            if version is _INVALID:
                continue
            held = version if isinstance(version, dict) else {}
            for pid in list(standing):
                if held.get(pid) == current[pid]:
                    out[(cid, pid)] = Registration(commit, when)
                else:
                    standing.discard(pid)
            if not standing:
                break
    return out
