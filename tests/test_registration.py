"""Pre-registration moments read from a real (temporary) git history."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest

from kb.checking.load import load
from kb.evidence.registration import RecordCommits, prediction_registrations

CLAIM = "claims/demo/grows.yaml"


def claim_text(threshold: str = "1", statement: str = "Up.", topic: str = "demo") -> str:
    return (
        f"schema_version: 1\nid: grows\nkind: phenomenon\ntitle: It grows\nstatement: It grows.\n"
        f"summary: It grows.\ntopic: {topic}\nsources:\n  - citekey: ioffe2015\n    stance: proposes\n"
        f"    locator: Abstract\npredictions:\n"
        f"  - id: p\n    statement: {statement}\n    experiment: demo_experiment\n    metric: ratio\n"
        f"    expect: '> {threshold}'\n"
        f"  - id: q\n    statement: Steady.\n    experiment: demo_experiment\n    metric: ratio\n"
        f"    expect: '< 10'\n"
        f"created: 2026-01-01\nupdated: 2026-01-01\n"
    )


def git(root: Path, *args: str, when: str = "2026-01-01T00:00:00Z") -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org",
                    "-c", "commit.gpgsign=false", *args],
                   cwd=root, env=env, check=True, capture_output=True)


def commit(root: Path, when: str, message: str = "change") -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message, when=when)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def registrations(root: Path) -> dict[tuple[str, str], dt.datetime | None]:
    """When each prediction was registered (the commit behind it is tested below)."""
    return {k: (r.when if r else None) for k, r in prediction_registrations(root, load(root)).items()}


@pytest.fixture
def repo(base_kb: Path) -> Path:
    (base_kb / CLAIM).write_text(claim_text())
    git(base_kb, "init", "-q")
    commit(base_kb, "2026-01-01T10:00:00+02:00")
    return base_kb


def test_not_a_git_repository(base_kb: Path) -> None:
    (base_kb / CLAIM).write_text(claim_text())
    assert registrations(base_kb) == {("grows", "p"): None, ("grows", "q"): None}


def test_the_commit_time_in_utc(repo: Path) -> None:
    assert registrations(repo) == {("grows", "p"): at("2026-01-01T08:00:00+00:00"),
                                   ("grows", "q"): at("2026-01-01T08:00:00+00:00")}


def test_changing_a_threshold_moves_its_moment_only(repo: Path) -> None:
    (repo / CLAIM).write_text(claim_text(threshold="1.5"))
    commit(repo, "2026-02-01T00:00:00Z")
    (repo / CLAIM).write_text(claim_text(threshold="1.5", statement="Up, reworded."))
    commit(repo, "2026-03-01T00:00:00Z")  # rewording does not re-register
    assert registrations(repo) == {("grows", "p"): at("2026-02-01T00:00:00+00:00"),
                                   ("grows", "q"): at("2026-01-01T08:00:00+00:00")}


def test_an_uncommitted_change_is_not_registered(repo: Path) -> None:
    (repo / CLAIM).write_text(claim_text(threshold="3"))
    assert registrations(repo) == {("grows", "p"): None, ("grows", "q"): at("2026-01-01T08:00:00+00:00")}


def test_changing_back_registers_again(repo: Path) -> None:
    (repo / CLAIM).write_text(claim_text(threshold="2"))
    commit(repo, "2026-02-01T00:00:00Z")
    (repo / CLAIM).write_text(claim_text())
    commit(repo, "2026-03-01T00:00:00Z")
    assert registrations(repo)[("grows", "p")] == at("2026-03-01T00:00:00+00:00")


def test_a_broken_version_in_between_is_skipped(repo: Path) -> None:
    (repo / CLAIM).write_text(claim_text().replace("kind: phenomenon", "kind: [oops"))
    commit(repo, "2026-02-01T00:00:00Z")
    (repo / CLAIM).write_text(claim_text())
    commit(repo, "2026-03-01T00:00:00Z")
    assert registrations(repo)[("grows", "p")] == at("2026-01-01T08:00:00+00:00")


def test_moving_the_file_keeps_the_moment(repo: Path) -> None:
    (repo / "claims" / "other").mkdir()
    (repo / CLAIM).unlink()
    (repo / "claims" / "other" / "grows.yaml").write_text(claim_text(topic="other"))
    commit(repo, "2026-02-01T00:00:00Z")
    assert registrations(repo)[("grows", "p")] == at("2026-01-01T08:00:00+00:00")


def test_a_knowledge_base_in_a_subfolder_of_the_repository(tmp_path: Path, repo: Path) -> None:
    outer = tmp_path / "outer"
    outer.mkdir()
    (repo / ".git").rename(outer / ".git")
    repo.rename(outer / "kb")
    git(outer, "add", "-A")  # the same files, one folder down: a rename
    git(outer, "commit", "-q", "-m", "move", when="2026-02-01T00:00:00Z")
    assert registrations(outer / "kb")[("grows", "q")] == at("2026-01-01T08:00:00+00:00")


def test_confirmatory_follows_ancestry_not_dates(repo: Path) -> None:
    """A back-dated commit cannot make an earlier record look pre-registered, nor the reverse."""
    runs = repo / "repro" / "runs" / "demo_experiment"
    runs.mkdir(parents=True)
    (runs / "r-before.json").write_text("{}")
    commit(repo, "2026-01-02T00:00:00Z")  # a record committed before the threshold changed
    (repo / CLAIM).write_text(claim_text(threshold="1.5"))
    commit(repo, "2026-02-01T00:00:00Z")  # the prediction as it stands now
    (runs / "r-after.json").write_text("{}")
    commit(repo, "2025-01-01T00:00:00Z")  # back-dated, yet it comes after the registration
    registered = prediction_registrations(repo, load(repo))[("grows", "p")]
    assert registered is not None
    commits = RecordCommits(repo)
    assert commits.registered_before("r-after", registered)
    assert not commits.registered_before("r-before", registered)
    assert commits.registered_before("not-committed-yet", registered)


def _with_status(value: str, certainty: str, runs: list[str]) -> str:
    listed = "".join(f"\n        - {r}" for r in runs) if runs else " []"
    return claim_text() + (
        f"status:\n  value: {value}\n  certainty: {certainty}\n  reason: R.\n  basis: none\n"
        f"  verdicts:\n    - prediction: p\n      verdict: holds\n      runs:{listed}\n"
    )


def test_status_history_is_read_from_git_with_its_cause(repo: Path) -> None:
    from kb.evidence.history import status_history

    (repo / CLAIM).write_text(_with_status("untested", "low", []))
    commit(repo, "2026-02-01T00:00:00Z")
    runs = repo / "repro" / "runs" / "demo_experiment"
    runs.mkdir(parents=True)
    (runs / "r1.json").write_text("{}")
    (repo / CLAIM).write_text(_with_status("supported", "low", ["r1"]))
    commit(repo, "2026-03-01T00:00:00Z")
    (repo / CLAIM).write_text(_with_status("contested", "very low", ["r1"]))
    commit(repo, "2026-04-01T00:00:00Z")  # no run: the sources changed
    (repo / CLAIM).write_text(_with_status("refuted", "very low", ["r1"]))  # not committed
    history = status_history(load(repo), today=dt.date(2026, 5, 1))["grows"]
    assert [(h.date.isoformat(), h.status.value, h.run, h.cause) for h in history] == [
        ("2026-02-01", "untested", None, "the claim was added"),
        ("2026-03-01", "supported", "r1", None),
        ("2026-04-01", "contested", None, "its sources, predictions or the rules changed (no new run)"),
        ("2026-05-01", "refuted", None, "not committed yet"),
    ]
