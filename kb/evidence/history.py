"""Status history, derived from git: never stored in, nor trusted from, a claim file.

A claim's history is the sequence of its committed status blocks: an entry wherever the
status or certainty differs from the commit before, dated by the commit. Its cause is read
from the same commit: the run records it added that the claim's own verdicts count (the
first of them is credited), or else words for what moved it. A working-tree status that
differs from the last committed one is a last entry, dated today, marked uncommitted.

A hand-edited history therefore has nothing to edit, and a back-dated or reordered one
cannot be written: the history is what git shows happened to the file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kb.checking.knowledge import KnowledgeBase
from kb.evidence.registration import RecordCommits, file_history, git, git_blobs
from kb.formats import yamlfile
from kb.formats.schema import Certainty, StatusChange, StatusValue

_Block = tuple[str, str, frozenset[str]]  # (status, certainty, runs its verdicts count)


def _block(content: bytes | None) -> _Block | None:
    """The status block of one committed version of a claim file, read leniently."""
    if content is None:
        return None
    try:
        data = yamlfile.parse(content).data
    except yamlfile.YamlProblem:
        return None
    status = data.get("status") if isinstance(data, dict) else None
    if not isinstance(status, dict):
        return None
    value, certainty = status.get("value"), status.get("certainty")
    if value not in {s.value for s in StatusValue} or certainty not in {c.value for c in Certainty}:
        return None
    runs = frozenset(
        run
        for verdict in status.get("verdicts") or []
        if isinstance(verdict, dict)
        for run in verdict.get("runs") or []
        if isinstance(run, str)
    )
    return str(value), str(certainty), runs


def status_history(kb: KnowledgeBase, today: dt.date | None = None) -> dict[str, list[StatusChange]]:
    """Every claim's status changes, oldest first, from git (empty outside a repository)."""
    out: dict[str, list[StatusChange]] = {cid: [] for cid in kb.claims}
    top = git(kb.root, "rev-parse", "--show-toplevel")
    if top is None:
        return out
    top_path = Path(top.decode().strip())
    histories = {cid: file_history(kb.root, loaded.file) for cid, loaded in kb.claims.items()}
    blobs = git_blobs(
        top_path, sorted({(c, p) for history in histories.values() for c, _, p in history})
    )
    added = RecordCommits(kb.root).by_commit
    for cid, loaded in kb.claims.items():
        previous: tuple[str, str] | None = None
        for commit, when, path in reversed(histories[cid]):  # oldest first
            block = _block(blobs.get((commit, path)))
            if block is None or block[:2] == previous:
                continue
            first = previous is None
            previous = block[:2]
            new_runs = added.get(commit, [])
            mine = [r for r in new_runs if r in block[2]]
            if mine:
                run, cause = mine[0], None
            elif first:
                run, cause = None, "the claim was added"
            elif new_runs:
                run, cause = None, "no run of this claim in that change: the correction within its family, or its sources"
            else:
                run, cause = None, "its sources, predictions or the rules changed (no new run)"
            out[cid].append(
                StatusChange(
                    date=when.date(),
                    status=StatusValue(block[0]),
                    certainty=Certainty(block[1]),
                    run=run,
                    cause=cause,
                )
            )
        status = loaded.claim.status
        if status is not None and (status.value.value, status.certainty.value) != previous:
            out[cid].append(
                StatusChange(
                    date=today or dt.date.today(),
                    status=status.value,
                    certainty=status.certainty,
                    cause="not committed yet",
                )
            )
    return out
