"""What a change since a git revision touches: `kb changed`, `kb run --changed-since` and
`kb status --since REV --format markdown`, through the CLI on temporary git repositories."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from support import GOLDEN, assert_golden, explanation_yaml, run_kb

MALICIOUS = (
    "<script>alert(1)</script> see [x](javascript:alert(1)) | or `rm -rf` at https://evil.example"
    " ![p](https://evil.example/p.png) <img src=x onerror=alert(1)> **loud**"
)
# Fixed dates make commit ids, and so the golden summary, the same on every run.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
    "GIT_AUTHOR_DATE": "2026-01-02T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-02T00:00:00Z",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    out = subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


@pytest.fixture
def repo(base_kb: Path) -> Path:
    """The base knowledge base committed to a fresh git repository on branch main."""
    git(base_kb, "init", "-q", "-b", "main")
    commit(base_kb, "base")
    return base_kb


def changed(repo: Path, rev: str = "HEAD") -> list[dict[str, object]]:
    result = run_kb("changed", rev, "--format", "json", cwd=repo)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def add_explanation(repo: Path, statement: str = "The ratio exceeds 1.5.") -> Path:
    path = repo / "claims/demo/because-big.yaml"
    path.write_text(explanation_yaml(json.dumps(statement)), encoding="utf-8")
    return path


def add_experiment(repo: Path, name: str) -> None:
    script = (repo / "repro/demo_experiment.py").read_text()
    (repo / f"repro/{name}.py").write_text(script, encoding="utf-8")


# --- kb changed --------------------------------------------------------------------------


def test_nothing_changed(repo: Path) -> None:
    assert changed(repo) == []
    result = run_kb("changed", "HEAD", cwd=repo)
    assert result.returncode == 0 and "no experiment touched since HEAD" in result.stdout


def test_changed_script_is_listed(repo: Path) -> None:
    script = repo / "repro/demo_experiment.py"
    script.write_text(script.read_text() + "\n# tuned\n")
    assert changed(repo) == [
        {"experiment": "demo_experiment", "reasons": ["script added or changed"]}
    ]
    commit(repo, "tune")  # committed or not, the change since HEAD~1 is the same
    assert changed(repo, "HEAD~1")[0]["experiment"] == "demo_experiment"
    assert changed(repo, "HEAD") == []


def test_untracked_script_is_listed(repo: Path) -> None:
    add_experiment(repo, "another")
    assert [t["experiment"] for t in changed(repo)] == ["another"]


def test_added_or_changed_prediction_lists_its_experiment(repo: Path) -> None:
    path = add_explanation(repo)
    assert changed(repo) == [
        {
            "experiment": "demo_experiment",
            "reasons": ["prediction because-big/ratio-is-big added or changed"],
        }
    ]
    commit(repo, "explanation")
    # Rewording keeps the prediction's hash: its runs stay valid, nothing to re-run.
    path.write_text(path.read_text().replace("The ratio is above 1.5.", "Above one and a half."))
    assert changed(repo) == []
    path.write_text(path.read_text().replace('expect: "> 1.5"', 'expect: "> 1.8"'))
    assert [t["experiment"] for t in changed(repo)] == ["demo_experiment"]


def test_moving_a_claim_to_another_topic_keeps_its_predictions(repo: Path) -> None:
    add_explanation(repo)
    commit(repo, "explanation")
    old = repo / "claims/demo/because-big.yaml"
    new = repo / "claims/other/because-big.yaml"
    new.parent.mkdir()
    new.write_text(old.read_text().replace("topic: demo", "topic: other"))
    old.unlink()
    assert changed(repo) == []


def test_shared_building_blocks_touch_every_experiment(repo: Path) -> None:
    add_experiment(repo, "another")
    (repo / "kb/lab").mkdir(parents=True)
    (repo / "kb/lab/train.py").write_text("STEPS = 10\n")
    commit(repo, "lab")
    (repo / "kb/lab/train.py").write_text("STEPS = 20\n")
    touched = changed(repo)
    assert [t["experiment"] for t in touched] == ["another", "demo_experiment"]
    assert touched[0]["reasons"] == ["shared building blocks changed: kb/lab/train.py"]


def test_base_branch_moving_on_is_not_this_change(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    git(repo, "checkout", "-q", "main")
    script = repo / "repro/demo_experiment.py"
    script.write_text(script.read_text() + "\n# landed on main meanwhile\n")
    commit(repo, "main moves on")
    git(repo, "checkout", "-q", "feature")
    # Compared from the merge base, as a pull request is: main's own commit is not ours.
    assert changed(repo, "main") == []


def test_knowledge_base_in_a_subfolder(base_kb: Path) -> None:
    top = base_kb.parent / "project"
    top.mkdir()
    root = base_kb.rename(top / "kb-data")
    (top / "README.md").write_text("outside the knowledge base\n")
    git(top, "init", "-q", "-b", "main")
    commit(top, "base")
    script = root / "repro/demo_experiment.py"
    script.write_text(script.read_text() + "\n# tuned\n")
    (top / "README.md").write_text("changed, but not part of the knowledge base\n")
    assert [t["experiment"] for t in changed(root)] == ["demo_experiment"]
    add_explanation(root)
    assert "| because\\-big | new |" in summary(root)


@pytest.mark.parametrize("rev", ["no-such-branch", "--output=/tmp/x", "HEAD~5"])
def test_not_a_revision(repo: Path, rev: str) -> None:
    result = run_kb("changed", "--", rev, cwd=repo)  # "--": a rev like an option reaches git
    assert result.returncode == 1
    assert f"'{rev}' is not a git revision" in result.stderr
    assert "Traceback" not in result.stderr


def test_outside_a_git_repository(base_kb: Path) -> None:
    result = run_kb(
        "changed", "main", cwd=base_kb, env={"GIT_CEILING_DIRECTORIES": str(base_kb.parent)}
    )
    assert result.returncode == 1
    assert "is not in a git repository" in result.stderr
    assert "Traceback" not in result.stderr


# --- kb run --changed-since --------------------------------------------------------------


def test_run_changed_since_with_nothing_touched_runs_nothing(repo: Path) -> None:
    result = run_kb("run", "--changed-since", "HEAD", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "no experiment touched since HEAD" in result.stdout
    assert not (repo / "repro/runs").exists()


def test_run_changed_since_plans_the_touched_experiments(repo: Path) -> None:
    add_explanation(repo)
    result = run_kb("run", "--changed-since", "HEAD", "--dry-run", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "demo_experiment" in result.stdout and "because-big/ratio-is-big" in result.stdout


def test_run_changed_since_bad_revision(repo: Path) -> None:
    result = run_kb("run", "--changed-since", "nope", "--dry-run", cwd=repo)
    assert result.returncode == 1 and "'nope' is not a git revision" in result.stderr


# --- kb status --since REV --format markdown ---------------------------------------------


def summary(repo: Path, rev: str = "HEAD") -> str:
    result = run_kb("status", "--since", rev, "--format", "markdown", cwd=repo)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_summary_when_nothing_moved(repo: Path) -> None:
    text = summary(repo)
    assert text.startswith("### Status changes since HEAD (")
    assert "No claim's status or certainty changed" in text


def test_summary_lists_changed_new_and_removed_claims(repo: Path) -> None:
    fast = repo / "claims/demo/fast-training.yaml"
    stored = fast.read_text()
    # At the base the stored block was stale (refuted); the derived one is untested.
    fast.write_text(stored.replace("value: untested", "value: refuted"))
    (repo / "claims/demo/gone.yaml").write_text(
        stored.replace("id: fast-training", "id: gone").replace("Something happens.", "It went.")
    )
    commit(repo, "base with a stale status and a claim to remove")
    fast.write_text(stored)
    (repo / "claims/demo/gone.yaml").unlink()
    add_explanation(repo)
    assert_golden(summary(repo), GOLDEN / "status-summary.md")


def test_summary_escapes_untrusted_claim_text(repo: Path) -> None:
    add_explanation(repo, MALICIOUS)
    text = summary(repo)
    row = next(line for line in text.splitlines() if line.startswith("| because"))
    for raw in ("<script", "<img", "](", "https://", "**"):
        assert raw not in row
    assert not re.search(r"(?<!\\)`", row)
    assert len(re.findall(r"(?<!\\)\|", row)) == 7  # six cells: the statement's | split none
    html = MarkdownIt("gfm-like").render(text)  # GFM tables and bare-URL autolinks, like GitHub
    assert "<script" not in html and "<img" not in html and "<a " not in html
    assert "<strong>" not in html and "<code>" not in html
    assert html.count("<td>") == 6
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt; see [x](javascript:alert(1)) | or `rm -rf`" in html
    )


def test_status_since_compares_text_and_json_with_that_revision(repo: Path) -> None:
    fast = repo / "claims/demo/fast-training.yaml"
    stored = fast.read_text()
    fast.write_text(stored.replace("value: untested", "value: refuted"))
    commit(repo, "stale")
    fast.write_text(stored)
    commit(repo, "fixed")
    result = run_kb("status", "--since", "HEAD~1", "--format", "json", cwd=repo)
    assert json.loads(result.stdout)["fast-training"]["committed"] == "refuted"
    plain = json.loads(run_kb("status", "--format", "json", cwd=repo).stdout)
    assert plain["fast-training"]["committed"] == "untested"
    text = run_kb("status", "--since", "HEAD~1", cwd=repo).stdout
    assert "was refuted · low" in text


def test_status_since_bad_revision(repo: Path) -> None:
    result = run_kb("status", "--since", "nope", "--format", "markdown", cwd=repo)
    assert result.returncode == 1 and "'nope' is not a git revision" in result.stderr
    assert result.stdout == ""
