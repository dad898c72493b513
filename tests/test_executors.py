"""`kb run --executor submitit-local` and `kb jobs`: submitted seeds become the same records.

submitit's local executor runs each seed as a job (its own controller process, pickles and
logs under .kb/jobs/), which exercises everything the Slurm executor does except sbatch.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from support import run_kb

from kb.checking.load import load
from kb.formats.errors import KbError
from kb.formats.records import RunRecord, read_records
from kb.running.batch import seed_spec
from kb.running.config import SlurmSettings, load_settings
from kb.running.plan import RunOptions, plan_runs
from kb.running.runner import execute

HEADER = '''"""A test experiment."""
import json, os, random, time
SCALES = {"smoke": {"x": 1.0, "steps": 16, "pause": 0.5}, "full": {"x": 2.0, "steps": 1, "pause": 0.0}}
REGIME = {"smoke": {"data_scale": "toy"}, "full": {"data_scale": "small"}}
METRICS = {"ratio": "a number", "resumed_from": "step the seed resumed from"}
'''

BODIES = {
    # Depends on the seeded generator and on PYTHONHASHSEED: equal only if the seed's
    # process is set up the same way.
    "healthy": (
        "def run(config, seed, device):\n"
        "    value = config['x'] + random.random() + hash('kb') % 1000\n"
        "    return {'metrics': {'ratio': value, 'resumed_from': 0}}\n"
    ),
    "segfault_on_1": (
        "def run(config, seed, device):\n"
        "    if seed == 1:\n        import ctypes; ctypes.string_at(0)\n"
        "    return {'metrics': {'ratio': 1.0, 'resumed_from': 0}}\n"
    ),
    "hangs": "def run(config, seed, device):\n    time.sleep(600)\n",
    # Saves its step after each one and resumes from it: the contract of kb.formats.experiment.
    "resumable": (
        "from kb.experiment import checkpoint_dir\n"
        "def run(config, seed, device):\n"
        "    state = checkpoint_dir() / 'step.json'\n"
        "    start = json.loads(state.read_text())['step'] if state.exists() else 0\n"
        "    for step in range(start, config['steps']):\n"
        "        time.sleep(config['pause'])\n"
        "        (state.parent / 'tmp').write_text(json.dumps({'step': step + 1}))\n"
        "        os.replace(state.parent / 'tmp', state)\n"
        "    return {'metrics': {'ratio': config['steps'] + seed, 'resumed_from': start}}\n"
    ),
}


@pytest.fixture
def lab(base_kb: Path) -> Path:
    for name, body in BODIES.items():
        (base_kb / "repro" / f"{name}.py").write_text(HEADER + body)
    return base_kb


def _run(
    root: Path, name: str, seeds: int = 2, executor: str = "submitit-local", **options: object
) -> list[RunRecord]:
    kb = load(root)
    plans = plan_runs(kb, kb.experiment_info, [name], seeds=seeds)
    settings = options.pop("slurm", SlurmSettings(time=5))
    run_options = RunOptions(
        device="cpu",
        executor=executor,
        slurm=settings,
        poll_s=0.2,
        **options,  # type: ignore[arg-type]
    )
    return execute(plans, root, run_options).records


def test_an_ok_run_is_recorded_with_its_jobs(lab: Path) -> None:
    (record,) = _run(lab, "healthy")
    assert record.outcome.value == "ok" and record.seeds == [0, 1]
    assert record.executor is not None and record.executor.name == "submitit-local"
    assert sorted(record.executor.job_ids) == [0, 1]
    (submission,) = (lab / ".kb/jobs").glob("*.json")
    assert json.loads(submission.read_text())["records"] == [record.id]
    # The seed cache is shared with local runs: a local rerun reuses both seeds.
    again = execute(
        plan_runs(load(lab), load(lab).experiment_info, ["healthy"], seeds=2),
        lab,
        RunOptions(device="cpu"),
    )
    assert again.records == [] and len(again.reused_only) == 1


def test_metrics_are_identical_to_the_local_executor(lab: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    import shutil

    shutil.copytree(lab, other / "kb")
    (submitted,) = _run(lab, "healthy", seeds=3)
    (local,) = _run(other / "kb", "healthy", seeds=3, executor="local")
    assert local.executor is None  # local records keep their old shape
    local_json = (other / "kb/repro/runs/healthy" / f"{local.id}.json").read_text()
    assert '"executor"' not in local_json
    assert [r.metrics for r in submitted.results] == [r.metrics for r in local.results]
    assert [r.key for r in submitted.results] == [r.key for r in local.results]


def test_a_crashing_seed_is_a_failed_seed(lab: Path) -> None:
    (record,) = _run(lab, "segfault_on_1")
    outcomes = {r.seed: r.outcome.value for r in record.results}
    assert outcomes == {0: "ok", 1: "failed"} and record.outcome.value == "partial"
    failed = record.results[1]
    assert "SIGSEGV" in (failed.reason or "")


def test_a_timeout_is_a_failed_seed(lab: Path) -> None:
    (record,) = _run(lab, "hangs", seeds=1, timeout_s=2)
    (result,) = record.results
    assert result.outcome.value == "failed" and "timed out after 2 s" in (result.reason or "")


@pytest.mark.slow
def test_a_seed_reaching_its_time_limit_is_requeued_and_resumes(lab: Path) -> None:
    # 16 steps of 0.5 s; the controller signals the job 5 s after it starts (10 s limit,
    # 5 s delay), so the seed is checkpointed, requeued and resumed at least once.
    settings = SlurmSettings(time=10 / 60, signal_delay_s=5, max_requeues=5)
    (record,) = _run(lab, "resumable", seeds=1, slurm=settings)
    (result,) = record.results
    assert result.outcome.value == "ok", result.reason
    assert result.metrics["ratio"] == 16  # the same as an uninterrupted seed
    assert result.metrics["resumed_from"] > 0
    job_id = record.executor.job_ids[0] if record.executor else ""
    logs = "".join(p.read_text() for p in (lab / ".kb/jobs").glob(f"*/{job_id}/{job_id}_0_log.*"))
    assert "this job is timed-out" in logs and "Requeued job" in logs


def test_checkpoints_are_private_to_a_plan_seed_script_and_config(lab: Path) -> None:
    kb = load(lab)
    (plan,) = plan_runs(kb, kb.experiment_info, ["resumable"], seeds=2)
    (other_config,) = plan_runs(kb, kb.experiment_info, ["resumable"], seeds=2, overrides=["x=3"])
    options = RunOptions()

    def folder(p: object, seed: int = 0, submission: str = "a") -> str:
        return seed_spec(p, seed, lab, options, lab / submission / "checkpoints").checkpoint_dir  # type: ignore[arg-type]

    assert folder(plan) == folder(plan)  # a requeued job finds its own
    assert folder(plan) != folder(plan, seed=1)
    assert folder(plan) != folder(other_config)
    assert folder(plan) != folder(replace(plan, script_sha256="0" * 64))
    assert folder(plan) != folder(plan, submission="b")  # another run never does


@pytest.mark.slow
def test_a_stale_checkpoint_of_another_run_is_not_resumed(lab: Path) -> None:
    kb = load(lab)
    (plan,) = plan_runs(kb, kb.experiment_info, ["resumable"], seeds=1, overrides=["steps=2"])
    stale = Path(
        seed_spec(plan, 0, lab, RunOptions(), lab / ".kb/jobs/old/checkpoints").checkpoint_dir
    )
    stale.mkdir(parents=True)
    (stale / "step.json").write_text(json.dumps({"step": 999}))
    kb_run = run_kb(
        "run",
        "resumable",
        "--seeds",
        "1",
        "--set",
        "steps=2",
        "--executor",
        "submitit-local",
        "--device",
        "cpu",
        cwd=lab,
    )
    assert kb_run.returncode == 0, kb_run.stderr
    (record,), _ = read_records(lab)
    assert record.results[0].metrics == {"ratio": 2.0, "resumed_from": 0.0}


@pytest.mark.slow
def test_no_wait_then_follow_records_the_run(lab: Path) -> None:
    submitted = run_kb(
        "run",
        "healthy",
        "--seeds",
        "2",
        "--executor",
        "submitit-local",
        "--no-wait",
        "--device",
        "cpu",
        cwd=lab,
    )
    assert submitted.returncode == 0, submitted.stderr
    assert "kb jobs --follow" in submitted.stdout
    assert read_records(lab)[0] == []
    listed = json.loads(run_kb("jobs", "--format", "json", cwd=lab).stdout)
    (job,) = listed
    assert job["executor"] == "submitit-local" and job["experiments"] == ["healthy"]
    followed = run_kb("jobs", "--follow", job["id"], cwd=lab)
    assert followed.returncode == 0, followed.stderr
    (record,), _ = read_records(lab)
    assert record.outcome.value == "ok" and record.executor is not None
    assert record.executor.submission == job["id"]
    (job,) = json.loads(run_kb("jobs", "--format", "json", cwd=lab).stdout)
    assert job["state"] == "recorded" and job["records"] == [record.id]
    again = run_kb("jobs", "--collect", cwd=lab)
    assert again.returncode == 0 and "nothing to record" in again.stdout


@pytest.mark.slow
def test_cancel_then_collect_records_cancelled_seeds(lab: Path) -> None:
    submitted = run_kb(
        "run", "hangs", "--seeds", "1", "--executor", "submitit-local", "--no-wait", cwd=lab
    )
    assert submitted.returncode == 0, submitted.stderr
    (job,) = json.loads(run_kb("jobs", "--format", "json", cwd=lab).stdout)
    assert job["state"] == "running"
    cancelled = run_kb("jobs", "--cancel", job["id"], cwd=lab)
    assert cancelled.returncode == 0, cancelled.stderr
    deadline = time.time() + 30
    while time.time() < deadline:
        (job,) = json.loads(run_kb("jobs", "--format", "json", cwd=lab).stdout)
        if job["state"] != "running":
            break
        time.sleep(0.5)
    assert job["state"] == "cancelled"
    collected = run_kb("jobs", "--collect", cwd=lab)
    assert collected.returncode == 0, collected.stderr
    (record,), _ = read_records(lab)
    assert record.outcome.value == "failed"
    assert "cancelled" in (record.results[0].reason or "")


def test_unknown_submission_id(lab: Path) -> None:
    result = run_kb("jobs", "--follow", "nope", cwd=lab)
    assert result.returncode == 1 and "no submission 'nope'" in result.stderr


# --- configuration -------------------------------------------------------------------------


def test_settings_come_from_pyproject_and_flags_override_them(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.kb.slurm]\npartition = "gpu"\ntime = 120\n'
        'setup = ["module load cuda"]\n'
    )
    settings = load_settings(tmp_path)
    assert settings.partition == "gpu" and settings.time == 120
    merged = settings.merged(partition="debug", mem="4096", setup=["echo hi"], account=None)
    assert merged.partition == "debug" and merged.time == 120 and merged.account is None
    assert merged.slurm_mem == "4096M" and merged.setup == ["module load cuda", "echo hi"]


def test_kb_toml_takes_precedence(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.kb.slurm]\npartition = "gpu"\n')
    (tmp_path / "kb.toml").write_text('[slurm]\npartition = "cpu"\n')
    assert load_settings(tmp_path).partition == "cpu"


def test_an_unknown_key_is_located_with_a_suggestion(lab: Path) -> None:
    (lab / "kb.toml").write_text('# cluster\n[slurm]\ntime = 30\npartiton = "gpu"\n')
    result = run_kb("run", "healthy", "--executor", "slurm", cwd=lab)
    assert result.returncode == 1
    assert "kb.toml:4:1: slurm.partiton: unknown key" in result.stderr
    assert "did you mean 'partition'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_value_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "kb.toml").write_text('[slurm]\nmem = "lots"\n')
    with pytest.raises(KbError, match="mem must be MiB or a Slurm size"):
        load_settings(tmp_path)
