"""`kb run` with real child processes: faults become failed seeds, nothing finished is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support import kb_executable, run_kb

from kb.checking.load import load
from kb.formats.records import read_records
from kb.running import pool
from kb.running.batch import prepare
from kb.running.plan import RunOptions, Silent, plan_runs
from kb.running.runner import execute

HEADER = '''"""A test experiment."""
import os, sys, time, math, random
SCALES = {"smoke": {"x": 1.0}, "full": {"x": 2.0}}
REGIME = {"smoke": {"data_scale": "toy"}, "full": {"data_scale": "small"}}
METRICS = {"ratio": "a number"}
'''

BODIES = {
    "healthy": "def run(config, seed, device):\n    return {'metrics': {'ratio': config['x'] + seed / 10}}\n",
    "slow": "def run(config, seed, device):\n    time.sleep(0.6)\n    return {'metrics': {'ratio': config['x'] + seed}}\n",
    "segfault_on_1": (
        "def run(config, seed, device):\n"
        "    if seed == 1:\n        import ctypes; ctypes.string_at(0)\n"
        "    return {'metrics': {'ratio': 1.0}}\n"
    ),
    "hangs": "def run(config, seed, device):\n    time.sleep(600)\n",
    "allocates": (
        "def run(config, seed, device):\n"
        "    hog = []\n    while True:\n        hog.append(bytearray(50_000_000))\n"
    ),
    "nan": "def run(config, seed, device):\n    return {'metrics': {'ratio': float('nan')}}\n",
    "garbage": "def run(config, seed, device):\n    print('garbage on stdout')\n    return 'not a dict'\n",
    "undeclared": "def run(config, seed, device):\n    return {'metrics': {'ratio': 1.0, 'other': 2.0}}\n",
    "raises": "def run(config, seed, device):\n    raise ValueError('boom in the experiment')\n",
}


@pytest.fixture
def lab(base_kb: Path) -> Path:
    for name, body in BODIES.items():
        (base_kb / "repro" / f"{name}.py").write_text(HEADER + body)
    return base_kb


def _run(root: Path, name: str, seeds: int = 3, **options: object) -> list:
    kb = load(root)
    plans = plan_runs(kb, kb.experiment_info, [name], seeds=seeds)
    return execute(plans, root, RunOptions(device="cpu", **options)).records  # type: ignore[arg-type]


def test_healthy_run_records_provenance(lab: Path) -> None:
    (record,) = _run(lab, "healthy")
    assert record.outcome.value == "ok" and record.seeds == [0, 1, 2]
    assert [r.metrics["ratio"] for r in record.results] == [1.0, 1.1, 1.2]
    assert record.script == "repro/healthy.py" and len(record.script_sha256) == 64
    assert record.hardware.device == "cpu" and record.packages["python"]
    text = (lab / "repro/runs/healthy" / f"{record.id}.json").read_text()
    assert str(Path.home()) not in text and str(lab) not in text


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("hangs", "timed out after 3 s"),
        ("allocates", "out of memory"),
        ("nan", "not finite"),
        ("garbage", "malformed result"),
        ("undeclared", "not declared in METRICS"),
        ("raises", "crashed: ValueError: boom in the experiment"),
    ],
)
def test_faults_become_failed_seeds(lab: Path, name: str, reason: str) -> None:
    started = time.perf_counter()
    # Only the hang needs the short timeout; the others get room for a loaded machine.
    (record,) = _run(lab, name, seeds=1, timeout_s=3 if name == "hangs" else 60, memory_mb=1024)
    assert time.perf_counter() - started < 90
    (result,) = record.results
    assert record.outcome.value == "failed" and result.outcome.value == "failed"
    assert reason in (result.reason or "")


def test_a_crashing_seed_does_not_stop_the_others(lab: Path) -> None:
    (record,) = _run(lab, "segfault_on_1", seeds=3, jobs=2)
    outcomes = {r.seed: r.outcome.value for r in record.results}
    assert outcomes == {0: "ok", 1: "failed", 2: "ok"}
    failed = next(r for r in record.results if r.seed == 1)
    assert "SIGSEGV" in (failed.reason or "")
    assert record.outcome.value == "partial"


def test_traceback_tail_is_kept_for_a_crash(lab: Path) -> None:
    (record,) = _run(lab, "raises", seeds=1)
    assert "ValueError: boom in the experiment" in (record.results[0].log_tail or "")


def test_rerun_reuses_finished_seeds(lab: Path) -> None:
    _run(lab, "healthy", seeds=2)
    kb = load(lab)
    report = execute(
        plan_runs(kb, kb.experiment_info, ["healthy"], seeds=2), lab, RunOptions(device="cpu")
    )
    assert report.records == [] and len(report.reused_only) == 1
    (record,) = _run(lab, "healthy", seeds=3)
    assert [r.reused for r in record.results] == [True, True, False]
    assert record.results[0].reused_from is not None


def test_changing_the_script_recomputes(lab: Path) -> None:
    _run(lab, "healthy", seeds=2)
    path = lab / "repro/healthy.py"
    path.write_text(path.read_text() + "\n# changed\n")
    (record,) = _run(lab, "healthy", seeds=2)
    assert not any(r.reused for r in record.results)


def _start_kb_run(root: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "KB_ROOT"}
    return subprocess.Popen(
        [kb_executable(), "run", *args, "--device", "cpu"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _cached_seeds(root: Path, experiment: str) -> int:
    return len(list((root / ".kb/seeds" / experiment).glob("*.json")))


def test_sigkill_loses_no_finished_seed(lab: Path) -> None:
    proc = _start_kb_run(lab, "slow", "--seeds", "8")
    deadline = time.time() + 60
    while _cached_seeds(lab, "slow") < 2 and time.time() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.communicate()
    finished = _cached_seeds(lab, "slow")
    assert finished >= 2
    for path in (lab / ".kb/seeds/slow").glob("*"):
        json.loads(path.read_text())  # every file written is whole
    result = run_kb("run", "slow", "--seeds", "8", "--device", "cpu", cwd=lab)
    assert result.returncode == 0, result.stderr
    (record,) = read_records(lab)[0]
    assert len(record.ok_results()) == 8
    reused = [r for r in record.results if r.reused]
    assert len(reused) >= finished - 1  # the seed finishing at the kill may not be cached


def test_ctrl_c_keeps_finished_seeds(lab: Path) -> None:
    proc = _start_kb_run(lab, "slow", "--seeds", "8")
    deadline = time.time() + 60
    while _cached_seeds(lab, "slow") < 2 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    (record,) = read_records(lab)[0]
    assert record.outcome.value == "interrupted"
    assert len(record.ok_results()) >= 2


def test_two_concurrent_runs_lose_nothing(lab: Path) -> None:
    first = _start_kb_run(lab, "slow", "--seeds", "3")
    second = _start_kb_run(lab, "slow", "--seeds", "3")
    first.communicate(timeout=120)
    second.communicate(timeout=120)
    assert first.returncode == 0 and second.returncode == 0
    records, problems = read_records(lab)
    assert problems == [] and len(records) == 2
    assert all(len(r.ok_results()) == 3 for r in records)


def test_dry_run_runs_nothing(lab: Path) -> None:
    result = run_kb("run", "healthy", "--dry-run", cwd=lab)
    assert result.returncode == 0 and "healthy" in result.stdout
    assert not (lab / "repro/runs").exists()


def test_unknown_target(lab: Path) -> None:
    result = run_kb("run", "healthx", cwd=lab)
    assert result.returncode == 1 and "did you mean 'healthy'" in result.stderr


def test_each_record_carries_its_own_wall_time(lab: Path) -> None:
    kb = load(lab)
    plans = plan_runs(kb, kb.experiment_info, ["healthy", "slow"], seeds=2)
    records = execute(plans, lab, RunOptions(device="cpu")).records
    by_name = {r.experiment: r for r in records}
    for record in records:
        assert record.wall_s == round(sum(r.wall_s for r in record.results), 3)
    # The slow one sleeps 0.6 s per seed; the command's total would be the same for both.
    assert by_name["slow"].wall_s > by_name["healthy"].wall_s + 1.0


def test_the_report_counts_failed_seeds_and_kb_run_exits_non_zero(lab: Path) -> None:
    kb = load(lab)
    report = execute(
        plan_runs(kb, kb.experiment_info, ["segfault_on_1"], seeds=2), lab, RunOptions(device="cpu")
    )
    assert report.failed_seeds == 1
    failing = run_kb("run", "raises", "--seeds", "1", "--device", "cpu", cwd=lab)
    assert failing.returncode == 1 and "1 seed(s) failed" in failing.stderr
    allowed = run_kb("run", "raises", "--seeds", "2", "--device", "cpu", "--allow-failures", cwd=lab)
    assert allowed.returncode == 0, allowed.stderr
    healthy = run_kb("run", "healthy", "--seeds", "1", "--device", "cpu", cwd=lab)
    assert healthy.returncode == 0, healthy.stderr


def test_seeds_are_computed_longest_first(lab: Path) -> None:
    # Once both have records, the slow experiment's seeds are queued before the healthy
    # one's although it is named second, so a parallel run does not end on one long seed.
    kb = load(lab)
    _run(lab, "healthy", seeds=1)
    _run(lab, "slow", seeds=1)
    plans = plan_runs(kb, kb.experiment_info, ["healthy", "slow"], seeds=3, rerun=True)
    todo = prepare(plans, lab, Silent()).todo
    assert [(plans[i].experiment.name, seed) for i, seed in todo] == [
        ("slow", 0), ("slow", 1), ("slow", 2), ("healthy", 0), ("healthy", 1), ("healthy", 2)]


def test_a_forked_seed_computes_what_a_fresh_python_does(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A seed forked from the server must see the same string hashing (PYTHONHASHSEED is the
    # seed) and compute the same floats as one started in a new Python.
    (lab / "repro" / "forked.py").write_text(HEADER + (
        "import torch\n"
        "def run(config, seed, device):\n"
        "    x = torch.randn(64, 64)\n"
        "    return {'metrics': {'ratio': float((x @ x).sum()) + hash('kb') % 1000}}\n"
    ))
    kb = load(lab)
    metrics = {}
    for fork in (True, False):
        monkeypatch.setattr(pool, "FORK_SEEDS", fork)
        plans = plan_runs(kb, kb.experiment_info, ["forked"], seeds=2, rerun=True)
        record = execute(plans, lab, RunOptions(device="cpu")).records[0]
        metrics[fork] = [r.metrics["ratio"] for r in record.results]
    assert metrics[True] == metrics[False]
    assert metrics[True][0] != metrics[True][1]  # the seeds differ: each got its own hash seed
