"""Keep every claim's stored status equal to the one derived from runs and literature.

`assess` derives statuses for the whole knowledge base and names the claims whose stored
block differs. `refresh` puts the derived blocks into the claim files under a lock, so
concurrent `kb run`s cannot interleave, and reports each change with the run that caused
it (or its cause in words). A status's history is not stored: `kb.evidence.history`
derives it from git.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from kb.checking import cache
from kb.checking.knowledge import KnowledgeBase
from kb.checking.load import gc_paused, load
from kb.evidence.registration import RecordCommits, git_blobs, prediction_registrations
from kb.evidence.rules import Derivation, derive, stale_statuses
from kb.evidence.writeback import write_status
from kb.formats import yamlfile
from kb.formats.errors import InvalidKnowledgeBase, Problem
from kb.formats.records import RunRecord, read_records
from kb.formats.schema import Status

LOCK_FILE = ".kb/status.lock"


@dataclass(frozen=True)
class Assessment:
    derivation: Derivation
    records: list[RunRecord]
    record_problems: list[Problem]
    stale: list[str]  # claim ids whose stored status differs from the derived one
    history_complete: bool  # False in a shallow clone: pre-registration can't be judged


@dataclass(frozen=True)
class Change:
    claim: str
    before: Status | None
    after: Status
    run: str | None = None  # the new run the claim's verdicts now count, if any
    cause: str | None = None  # otherwise, what moved it


def _shallow(root: Path) -> bool:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--is-shallow-repository"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.stdout.strip() == "true"


def assess(kb: KnowledgeBase) -> Assessment:
    with gc_paused():
        return _assess(kb)


def _assess(kb: KnowledgeBase) -> Assessment:
    records, problems = read_records(kb.root)
    tested = {r.experiment for r in records}
    # Reading git history is the slow part: do it only for claims that have runs to judge.
    with_runs = {
        cid: loaded
        for cid, loaded in kb.claims.items()
        if any(p.experiment in tested for p in loaded.claim.predictions)
    }
    registered = (
        prediction_registrations(kb.root, replace(kb, claims=with_runs)) if with_runs else {}
    )
    commits = RecordCommits(kb.root) if registered else None
    derivation = derive(kb, records, kb.experiment_info, registered, commits=commits)
    complete = not _shallow(kb.root)
    stale = [cid for cid, _, _ in stale_statuses(kb, derivation, compare_confirmatory=complete)]
    return Assessment(derivation, records, problems, stale, complete)


def stale_problems(kb: KnowledgeBase, assessment: Assessment) -> list[Problem]:
    """One located error per claim whose stored status is out of date (for `kb check`).

    None while a run record is unreadable: its evidence is missing from the derivation, so
    the statuses it serves would differ for that reason alone (one broken record, one error).
    """
    if assessment.record_problems:
        return []
    out = []
    for cid in assessment.stale:
        loaded = kb.claims[cid]
        stored = loaded.claim.status
        derived = assessment.derivation.statuses[cid]
        now = f"{derived.value.value} · {derived.certainty.value}"
        if stored is None:
            message = f"no status block yet (derived: {now}); run `kb status --write`"
            out.append(loaded.problem(("id",), message))
        else:
            was = f"{stored.value.value} · {stored.certainty.value}"
            if was != now:
                detail = f"stored {was}, derived {now}"
            elif stored.history:
                detail = "it stores a history, which is derived from git and never stored"
            else:
                detail = "stored verdicts differ from the derived ones"
            out.append(
                loaded.problem(
                    ("status",),
                    f"out of date ({detail}); run `kb status --write` — never edit it by hand",
                    key=True,
                )
            )
    return out


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    path = root / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def refresh(
    root: Path, runs: Sequence[RunRecord] = (), today: dt.date | None = None
) -> tuple[Assessment, list[Change]]:
    """Re-derive every status and write the out-of-date ones, recording each change.

    `runs` are the run records just made: each change is credited to the one among them
    that the claim's own verdicts now count, or else given its cause in words (see
    `cause_of`). Done under a lock, re-reading the files inside it: two `kb run`s finishing
    together each see the other's records, and neither overwrites the other's history entry.
    """
    today = today or dt.date.today()
    with _locked(root):
        kb = load(root, use_cache=cache.enabled())
        kb.require_valid()
        assessment = assess(kb)
        if assessment.record_problems:
            # Statuses derived without an unreadable record would silently drop its evidence.
            raise InvalidKnowledgeBase(
                "a run record cannot be read; fix or remove it before writing statuses",
                assessment.record_problems,
            )
        changes = []
        for cid in assessment.stale:
            loaded = kb.claims[cid]
            before = loaded.claim.status
            after = assessment.derivation.statuses[cid]
            run_id, cause = cause_of(kb, cid, after, assessment.derivation, runs)
            if write_status(loaded.path, after):
                changes.append(Change(cid, before, after, run_id, cause))
    return assessment, changes


def cause_of(
    kb: KnowledgeBase, claim_id: str, derived: Status, derivation: Derivation,
    runs: Sequence[RunRecord],
) -> tuple[str | None, str | None]:
    """(run id, None) when a new run counts in this claim's verdicts, else (None, the cause)."""
    counted = {run for v in derived.verdicts for run in v.runs}
    mine = [r.id for r in runs if r.id in counted]
    if mine:
        return mine[-1], None
    own = {p.experiment for p in kb.claims[claim_id].claim.predictions if p.experiment}
    variants = [r.id for r in runs if r.experiment in own]
    if variants:
        return None, f"variant runs of its own experiment (robustness), e.g. {variants[-1]}"
    family = derivation.families.get(claim_id)
    experiments = {
        p.experiment
        for cid, fam in derivation.families.items()
        if fam == family and cid in kb.claims
        for p in kb.claims[cid].claim.predictions
        if p.experiment
    }
    related = [r.id for r in runs if r.experiment in experiments]
    if related:
        return None, (
            f"the multiple-testing correction within its family, after run {related[-1]} "
            "of another claim's experiment"
        )
    if runs:
        return None, "no run of this claim's family: its sources, predictions or rules changed"
    return None, "its sources, predictions or the rules changed (no new run)"


def committed_statuses(kb: KnowledgeBase) -> dict[str, Status | None]:
    """Each claim's status block as of the last commit (None: none then, or a new file)."""
    top = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=kb.root, capture_output=True, text=True
    )
    if top.returncode != 0:
        return {}
    prefix = kb.root.resolve().relative_to(Path(top.stdout.strip()).resolve())
    wanted = {cid: ("HEAD", (prefix / loaded.file).as_posix()) for cid, loaded in kb.claims.items()}
    blobs = git_blobs(kb.root, list(wanted.values()))
    out: dict[str, Status | None] = {}
    for cid, pair in wanted.items():
        blob = blobs.get(pair)
        out[cid] = None
        if blob is None:
            continue
        try:
            data = yamlfile.parse(blob).data
            out[cid] = (
                Status.model_validate(data["status"])
                if isinstance(data, dict) and "status" in data
                else None
            )
        except (yamlfile.YamlProblem, ValueError):
            continue
    return out
