"""What a change since a git revision touches: experiments to re-run, statuses that moved.

A pull request is compared with its base the way GitHub compares it: from the merge base of
the base revision and HEAD to the working tree (committed, staged, unstaged and untracked
files alike), so commits that landed on the base branch meanwhile are not counted as this
change's. Files at the base are read from git objects, never checked out.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from kb.checking.knowledge import CLAIMS_DIR, REPRO_DIR, KnowledgeBase
from kb.evidence.registration import git_blobs
from kb.formats import yamlfile
from kb.formats.errors import KbError
from kb.formats.records import RUNS_DIR, prediction_sha256
from kb.formats.schema import Claim, Status, VerdictRecord, VerdictValue

if TYPE_CHECKING:
    from kb.evidence.statuses import Assessment

LAB_DIR = "kb/lab"  # shared building blocks every experiment may import


class NotARevision(KbError):
    """Raised when the base given to `--changed-since`/`--since` is not a git revision."""


@dataclass(frozen=True)
class Base:
    rev: str  # as the user wrote it
    commit: str  # merge base of `rev` and HEAD: what the change is compared with
    top: Path  # the repository's top folder
    prefix: str  # the knowledge-base root relative to `top`: "" or "sub/dir/"


def _git(root: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KbError(f"cannot run git: {exc}") from exc
    if out.returncode != 0:
        raise KbError(f"git {args[0]} failed: {out.stderr.strip()}")
    return out.stdout


def resolve_base(root: Path, rev: str) -> Base:
    """The commit to compare with; `NotARevision` when `rev` names none in this repository."""
    try:
        top = Path(_git(root, "rev-parse", "--show-toplevel").strip())
    except KbError as exc:
        raise NotARevision(
            f"{root} is not in a git repository: cannot compare with '{rev}'"
        ) from exc
    try:
        commit = _git(
            root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"
        ).strip()
    except KbError:
        raise NotARevision(
            f"'{rev}' is not a git revision here (in CI, fetch the base branch: fetch-depth 0)"
        ) from None
    try:
        commit = _git(root, "merge-base", commit, "HEAD").strip() or commit
    except KbError:
        pass  # unrelated histories: compare with the revision itself
    prefix = _git(root, "rev-parse", "--show-prefix").strip()
    return Base(rev, commit, top, prefix)


def changed_files(base: Base) -> list[str]:
    """Files that differ between the base and the working tree, relative to the knowledge-base
    root, both sides of a rename included (an untracked file counts as added)."""
    scope = base.prefix or "."
    tracked = _git(base.top, "diff", "--name-only", "--no-renames", "-z", base.commit, "--", scope)
    untracked = _git(base.top, "ls-files", "--others", "--exclude-standard", "-z", "--", scope)
    paths = {p for p in (tracked + untracked).split("\0") if p}
    return sorted(p[len(base.prefix) :] for p in paths if p.startswith(base.prefix))


def _claim_data_at_base(base: Base, files: list[str]) -> dict[str, Any]:
    """Claim id → parsed YAML of the given claim files as they were at the base; files
    absent there or not YAML are left out."""
    # `git cat-file --batch` reads one name a line; no claim file has a newline in its name.
    files = [f for f in files if "\n" not in f]
    wanted = [(base.commit, base.prefix + f) for f in files]
    blobs = git_blobs(base.top, wanted)
    out: dict[str, Any] = {}
    for file, pair in zip(files, wanted, strict=True):
        blob = blobs.get(pair)
        if blob is None:
            continue
        try:
            data = yamlfile.parse(blob).data
        except yamlfile.YamlProblem:
            continue
        if isinstance(data, dict):
            cid = data.get("id")
            out[cid if isinstance(cid, str) else Path(file).stem] = data
    return out


def _claim_files_at_base(base: Base) -> list[str]:
    listing = _git(
        base.top,
        "ls-tree",
        "-r",
        "-z",
        "--name-only",
        base.commit,
        "--",
        f"{base.prefix}{CLAIMS_DIR}/",
    )
    return [p[len(base.prefix) :] for p in listing.split("\0") if p.endswith(".yaml")]


# --- experiments to smoke-run ----------------------------------------------------------


@dataclass(frozen=True)
class TouchedExperiment:
    name: str
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"experiment": self.name, "reasons": list(self.reasons)}


def _prediction_hashes(data: Any) -> dict[tuple[str, str], str]:
    try:
        claim = Claim.model_validate(data)
    except ValidationError:
        return {}  # an invalid base version held no usable prediction: all count as new
    return {(claim.id, p.id): prediction_sha256(claim.id, p) for p in claim.predictions}


def changed_records(kb: KnowledgeBase, rev: str) -> list[str]:
    """Ids of the run records added or changed since `rev` (a removed one is not evidence)."""
    files = changed_files(resolve_base(kb.root, rev))
    return sorted(
        Path(f).stem
        for f in files
        if f.startswith(f"{RUNS_DIR}/") and f.endswith(".json") and (kb.root / f).is_file()
    )


def changed_experiments(kb: KnowledgeBase, rev: str) -> list[TouchedExperiment]:
    """Experiments a change since `rev` may affect, each with why: its script changed, it
    serves a prediction added or changed (by `prediction_sha256`), or the shared building
    blocks under kb/lab/ changed (then every experiment)."""
    base = resolve_base(kb.root, rev)
    files = changed_files(base)
    reasons: dict[str, list[str]] = {name: [] for name in kb.experiments}
    for name in kb.experiments:
        if f"{REPRO_DIR}/{name}.py" in files:
            reasons[name].append("script added or changed")
    lab = [f for f in files if f.startswith(f"{LAB_DIR}/")]
    if lab:
        shown = ", ".join(lab[:3]) + (f" and {len(lab) - 3} more" if len(lab) > 3 else "")
        for name in kb.experiments:
            reasons[name].append(f"shared building blocks changed: {shown}")
    claim_files = [f for f in files if f.startswith(f"{CLAIMS_DIR}/") and f.endswith(".yaml")]
    before: dict[tuple[str, str], str] = {}
    for data in _claim_data_at_base(base, claim_files).values():
        before.update(_prediction_hashes(data))
    changed = set(claim_files)
    for cid, loaded in sorted(kb.claims.items()):
        if loaded.file not in changed:
            continue
        for p in loaded.claim.predictions:
            if p.experiment in reasons and before.get((cid, p.id)) != prediction_sha256(cid, p):
                reasons[p.experiment].append(f"prediction {cid}/{p.id} added or changed")
    return [TouchedExperiment(name, tuple(r)) for name, r in sorted(reasons.items()) if r]


# --- status changes --------------------------------------------------------------------


@dataclass(frozen=True)
class StatusMove:
    claim: str
    change: Literal["changed", "new", "removed"]
    statement: str
    before: Status | None
    after: Status | None


_MOVE_ORDER = ("changed", "new", "removed")  # what a reviewer should look at first


@dataclass(frozen=True)
class VerdictMove:
    """A prediction whose verdict, estimate, interval or seed count moved since the base."""

    claim: str
    prediction: str
    before: VerdictRecord | None
    after: VerdictRecord | None


@dataclass(frozen=True)
class StatusSummary:
    base: Base
    moves: list[StatusMove]
    base_statuses: dict[str, Status | None]  # stored at the base, for claims that existed
    verdict_moves: list[VerdictMove] = field(default_factory=list)


def _stored_status(data: Any) -> Status | None:
    try:
        return Status.model_validate(data["status"]) if "status" in data else None
    except ValidationError:
        return None


def status_changes(kb: KnowledgeBase, assessment: Assessment, rev: str) -> StatusSummary:
    """Claims whose derived status or certainty differs from the one stored at `rev`, plus
    the claims added and removed since."""
    base = resolve_base(kb.root, rev)
    at_base = _claim_data_at_base(base, _claim_files_at_base(base))
    derived = assessment.derivation.statuses
    base_statuses = {cid: _stored_status(data) for cid, data in at_base.items()}
    moves = []
    for cid in set(derived) | set(at_base):
        if cid not in at_base:
            claim = kb.claims[cid].claim
            moves.append(StatusMove(cid, "new", claim.statement, None, derived[cid]))
        elif cid not in derived:
            statement = at_base[cid].get("statement")
            moves.append(StatusMove(cid, "removed", str(statement or ""), base_statuses[cid], None))
        else:
            was, now = base_statuses[cid], derived[cid]
            if was is None or (was.value, was.certainty) != (now.value, now.certainty):
                moves.append(StatusMove(cid, "changed", kb.claims[cid].claim.statement, was, now))
    moves.sort(key=lambda m: (_MOVE_ORDER.index(m.change), m.claim))
    return StatusSummary(base, moves, base_statuses, _verdict_moves(base_statuses, derived))


def _verdict_key(v: VerdictRecord | None) -> tuple[Any, ...] | None:
    """What a reader of a verdict sees: a change in any of it is a change to report."""
    if v is None or (v.verdict is VerdictValue.untested and not v.runs):
        return None
    return (v.verdict, v.estimate, v.interval, v.n, v.censored, v.robustness)


def _verdict_moves(
    before: dict[str, Status | None], after: dict[str, Status]
) -> list[VerdictMove]:
    """Every verdict that moved, in claims present on both sides or added (every one of them)."""
    out = []
    for cid in sorted(set(before) | set(after)):
        was = {v.prediction: v for v in (before.get(cid).verdicts if before.get(cid) else [])}  # type: ignore[union-attr]
        now = {v.prediction: v for v in (after[cid].verdicts if cid in after else [])}
        for pid in sorted(set(was) | set(now)):
            if _verdict_key(was.get(pid)) != _verdict_key(now.get(pid)):
                out.append(VerdictMove(cid, pid, was.get(pid), now.get(pid)))
    return out
