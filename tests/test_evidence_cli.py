"""The evidence commands end to end: run → statuses written → check → status → verify → index → export."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from support import explanation_yaml, run_kb

EXPLANATION = explanation_yaml()


@pytest.fixture
def repo(base_kb: Path) -> Path:
    """The base knowledge base with one testable explanation, committed to a git repo."""
    (base_kb / "claims/demo/because-big.yaml").write_text(EXPLANATION)
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=base_kb, check=True)
    return base_kb


def test_check_demands_derived_statuses(repo: Path) -> None:
    result = run_kb("check", cwd=repo)
    assert result.returncode == 1
    assert "no status block yet" in result.stdout and "kb status --write" in result.stdout
    assert run_kb("status", "--write", cwd=repo).returncode == 0
    assert run_kb("check", cwd=repo).returncode == 0


def test_run_writes_verdicts_and_status(repo: Path) -> None:
    run_kb("status", "--write", cwd=repo)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "statuses"], cwd=repo, check=True)
    result = run_kb("run", "because-big", "--seeds", "4", "--device", "cpu", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "ratio-is-big" in result.stdout and "holds" in result.stdout and "confirmatory" in result.stdout
    # A toy-scale run that agrees with the claim against a refuting work: contested, not supported.
    assert "status of because-big: refuted · low → contested · very low" in result.stdout
    text = (repo / "claims/demo/because-big.yaml").read_text()
    assert text.startswith(EXPLANATION)  # everything outside the status block is untouched
    assert "verdict: holds" in text
    assert run_kb("check", cwd=repo).returncode == 0
    status = json.loads(run_kb("status", "--format", "json", cwd=repo).stdout)
    assert status["because-big"]["derived"]["value"] == "contested"
    assert status["because-big"]["committed"] == "refuted"


def test_hand_edited_verdict_fails_check(repo: Path) -> None:
    run_kb("run", "because-big", "--seeds", "3", "--device", "cpu", cwd=repo)
    path = repo / "claims/demo/because-big.yaml"
    path.write_text(path.read_text().replace("verdict: holds", "verdict: fails"))
    result = run_kb("check", cwd=repo)
    assert result.returncode == 1
    assert "claims/demo/because-big.yaml:" in result.stdout and "never edit it by hand" in result.stdout


def test_stale_run_is_not_counted(repo: Path) -> None:
    run_kb("run", "because-big", "--seeds", "3", "--device", "cpu", cwd=repo)
    script = repo / "repro/demo_experiment.py"
    script.write_text(script.read_text() + "\n# a change that makes earlier runs stale\n")
    run_kb("status", "--write", cwd=repo)
    text = (repo / "claims/demo/because-big.yaml").read_text()
    assert "verdict: untested" in text and "stale_runs:" in text


def test_verify_reproduces_a_run(repo: Path) -> None:
    run_kb("run", "demo_experiment", "--seeds", "3", "--device", "cpu", cwd=repo)
    (run_id,) = [p.stem for p in (repo / "repro/runs/demo_experiment").glob("*.json")]
    result = run_kb("verify", run_id, "--device", "cpu", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified: every metric matches" in result.stdout
    record = repo / "repro/runs/demo_experiment" / f"{run_id}.json"
    data = json.loads(record.read_text())
    data["results"][0]["metrics"]["ratio"] += 0.5  # a tampered record no longer verifies
    record.write_text(json.dumps(data))
    result = run_kb("verify", run_id, "--device", "cpu", cwd=repo)
    assert result.returncode == 1 and "NOT verified" in result.stdout
    assert run_kb("verify", "no-such-run", cwd=repo).returncode == 1


def test_index_and_export(repo: Path, tmp_path: Path) -> None:
    run_kb("run", "demo_experiment", "--seeds", "3", "--device", "cpu", cwd=repo)
    result = run_kb("index", cwd=repo)
    assert result.returncode == 0 and "index updated" in result.stdout and "3 metrics" in result.stdout
    assert "already up to date" in run_kb("index", cwd=repo).stdout
    rows = json.loads(run_kb("index", "--sql", "select id, kind from claims order by id", cwd=repo).stdout)
    assert rows == [{"id": "because-big", "kind": "explanation"}, {"id": "fast-training", "kind": "phenomenon"}]
    for fmt in ("csv", "parquet", "json"):
        out = tmp_path / fmt
        assert run_kb("export", "--format", fmt, "--output", str(out), cwd=repo).returncode == 0
        assert (out / f"metrics.{fmt}").exists()
    import pandas as pd

    metrics = pd.read_parquet(tmp_path / "parquet" / "metrics.parquet")
    assert list(metrics["seed"]) == [0, 1, 2] and set(metrics["metric"]) == {"ratio"}


def test_shallow_clone_still_checks(repo: Path, tmp_path: Path) -> None:
    """CI may clone one commit deep: confirmatory flags can't be recomputed, the rest can."""
    commit = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm"]
    subprocess.run([*commit, "statuses", "--allow-empty"], cwd=repo, check=True)
    run_kb("run", "because-big", "--seeds", "3", "--device", "cpu", cwd=repo)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run([*commit, "runs"], cwd=repo, check=True)
    assert "confirmatory: true" in (repo / "claims/demo/because-big.yaml").read_text()
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow)], check=True)
    result = run_kb("check", cwd=shallow)
    assert result.returncode == 0, result.stdout
