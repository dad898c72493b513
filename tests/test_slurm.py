"""`kb run --executor slurm` against a real single-node Slurm started for these tests.

The session fixture starts munged (with a generated key) and slurmctld + slurmd from a
slurm.conf in a temporary folder (SLURM_CONF points there, for the daemons and for the
sbatch/squeue/scancel that kb and submitit call), waits for the node to be idle, and stops
them at the end. It needs root and Debian's `slurm-wlm` and `munge`; without them the tests
are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import run_kb

from kb.formats.records import read_records

pytestmark = pytest.mark.slow

SLURM_CONF = """\
ClusterName=kbtest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/d
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
KillWait=5
MinJobAge=600
SchedulerParameters=nohold_on_prolog_fail
NodeName={host} CPUs=2 RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _available_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 1024


class Cluster:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {**os.environ, "SLURM_CONF": str(folder / "slurm.conf")}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.munged: subprocess.Popen[bytes] | None = None

    def run(self, *argv: str, check: bool = True) -> str:
        result = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
        return result.stdout

    def start(self) -> None:
        host = socket.gethostname().split(".")[0]
        state = self.folder / "state"
        for sub in ("ctld", "d"):
            (state / sub).mkdir(parents=True)
        memory = max(512, min(4096, _available_memory_mb() // 2))
        (self.folder / "slurm.conf").write_text(
            SLURM_CONF.format(
                host=host,
                state=state,
                memory=memory,
                ctld_port=_free_port(),
                d_port=_free_port(),
            )
        )
        self._start_munge()
        for daemon in ("slurmctld", "slurmd"):
            with (self.folder / f"{daemon}.out").open("wb") as log:
                self.procs.append(
                    subprocess.Popen(
                        [daemon, "-D", "-f", str(self.folder / "slurm.conf")],
                        env=self.env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        deadline = time.time() + 60
        while time.time() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[0]} exited: {self._logs()}")
            out = self.run("sinfo", "-h", "-N", "-o", "%T", check=False).strip()
            if out == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(f"the node did not become idle: {self._logs()}")

    def _start_munge(self) -> None:
        if subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
            return  # a munged is already running (e.g. started by CI)
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            subprocess.run(["mungekey", "--create", "--keyfile", str(key)], check=True)
            shutil.chown(key, "munge", "munge")
            key.chmod(0o400)
        for folder in ("/run/munge", "/var/log/munge", "/var/lib/munge"):
            Path(folder).mkdir(parents=True, exist_ok=True)
            shutil.chown(folder, "munge", "munge")
        self.munged = subprocess.Popen(
            ["runuser", "-u", "munge", "--", "munged", "--foreground"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 20
        while subprocess.run(["munge", "-n"], capture_output=True).returncode != 0:
            if time.time() > deadline or self.munged.poll() is not None:
                raise RuntimeError("munged did not start")
            time.sleep(0.2)

    def _logs(self) -> str:
        return " | ".join(
            p.read_text(errors="replace")[-800:] for p in sorted(self.folder.glob("*.out"))
        )

    def stop(self) -> None:
        self.run("scancel", "--full", "-u", "root", check=False) if self.procs else None
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.munged is not None:
            self.munged.terminate()
            self.munged.wait(timeout=20)


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if os.geteuid() != 0:
        pytest.skip("a test Slurm needs root (slurmd runs jobs as their user)")
    missing = [
        b for b in ("slurmctld", "slurmd", "sbatch", "munged", "mungekey") if not shutil.which(b)
    ]
    if missing:
        pytest.skip(
            f"Slurm or munge is not installed ({', '.join(missing)}): apt-get install slurm-wlm munge"
        )
    cluster = Cluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        cluster.stop()
        pytest.skip(f"could not start a test Slurm: {exc}")
    yield cluster
    cluster.stop()


HEADER = '''"""A test experiment."""
import json, os, time
SCALES = {"smoke": {"steps": 1, "pause": 0.0}, "full": {"steps": 1, "pause": 0.0}}
REGIME = {"smoke": {"data_scale": "toy"}, "full": {"data_scale": "small"}}
METRICS = {"ratio": "a number", "resumed_from": "step the seed resumed from"}
from kb.experiment import checkpoint_dir
def run(config, seed, device):
    state = checkpoint_dir() / "step.json"
    start = json.loads(state.read_text())["step"] if state.exists() else 0
    for step in range(start, config["steps"]):
        time.sleep(config["pause"])
        (state.parent / "tmp").write_text(json.dumps({"step": step + 1}))
        os.replace(state.parent / "tmp", state)
    return {"metrics": {"ratio": config["steps"] + seed / 10, "resumed_from": start}}
'''


@pytest.fixture
def lab(base_kb: Path) -> Path:
    (base_kb / "repro" / "steps.py").write_text(HEADER)
    (base_kb / "kb.toml").write_text("[slurm]\ntime = 10\ncpus_per_task = 1\nmem = 256\n")
    return base_kb


def _kb(
    cluster: Cluster, lab: Path, *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return run_kb(*args, cwd=lab, env={"SLURM_CONF": cluster.env["SLURM_CONF"]}, timeout=timeout)


def _jobs(cluster: Cluster, lab: Path) -> list[dict[str, object]]:
    result = _kb(cluster, lab, "jobs", "--format", "json")
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def _wait_for(predicate: object, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError("timed out waiting")


def test_a_run_on_slurm_records_both_seeds(slurm: Cluster, lab: Path) -> None:
    result = _kb(
        slurm, lab, "run", "steps", "--executor", "slurm", "--seeds", "2", "--device", "cpu"
    )
    assert result.returncode == 0, result.stderr
    (record,), problems = read_records(lab)
    assert problems == [] and record.outcome.value == "ok"
    assert [r.metrics["ratio"] for r in record.results] == [1.0, 1.1]
    assert record.executor is not None and record.executor.name == "slurm"
    job_ids = list(record.executor.job_ids.values())
    assert len({j.split("_")[0] for j in job_ids}) == 1  # one array job
    (listed,) = _jobs(slurm, lab)
    assert listed["state"] == "recorded" and listed["records"] == [record.id]


def test_cancel_a_sleeping_job(slurm: Cluster, lab: Path) -> None:
    result = _kb(
        slurm,
        lab,
        "run",
        "steps",
        "--executor",
        "slurm",
        "--seeds",
        "1",
        "--no-wait",
        "--set",
        "steps=1",
        "--set",
        "pause=600",
    )
    assert result.returncode == 0, result.stderr
    (job,) = _jobs(slurm, lab)
    (job_id,) = job["jobs"]  # type: ignore[misc]
    _wait_for(
        lambda: "RUNNING" in slurm.run("squeue", "-h", "-o", "%T", "-j", job_id.split("_")[0])
    )
    cancelled = _kb(slurm, lab, "jobs", "--cancel", str(job["id"]))
    assert cancelled.returncode == 0, cancelled.stderr
    _wait_for(lambda: _jobs(slurm, lab)[0]["state"] == "cancelled")
    collected = _kb(slurm, lab, "jobs", "--collect")
    assert collected.returncode == 0, collected.stderr
    (record,), _ = read_records(lab)
    assert record.outcome.value == "failed" and "cancelled" in (record.results[0].reason or "")


def test_a_requeued_job_resumes_from_its_own_checkpoint(slurm: Cluster, lab: Path) -> None:
    result = _kb(
        slurm,
        lab,
        "run",
        "steps",
        "--executor",
        "slurm",
        "--seeds",
        "1",
        "--no-wait",
        "--set",
        "steps=12",
        "--set",
        "pause=1",
    )
    assert result.returncode == 0, result.stderr
    (job,) = _jobs(slurm, lab)
    (job_id,) = job["jobs"]  # type: ignore[misc]
    checkpoints = lab / ".kb/jobs" / str(job["id"]) / "checkpoints"

    def progressed() -> bool:
        return any(json.loads(p.read_text())["step"] >= 3 for p in checkpoints.glob("*/step.json"))

    _wait_for(progressed)
    slurm.run("scontrol", "requeue", job_id)
    # Slurm holds a requeued job back for a while (BeginTime); start it again at once.
    _wait_for(lambda: "PENDING" in slurm.run("squeue", "-h", "-o", "%T", "-j", job_id))
    slurm.run("scontrol", "update", f"JobId={job_id}", "StartTime=now", check=False)
    followed = _kb(slurm, lab, "jobs", "--follow", str(job["id"]), timeout=300)
    assert followed.returncode == 0, followed.stderr
    (record,), _ = read_records(lab)
    (seed,) = record.results
    assert seed.outcome.value == "ok", seed.reason
    assert seed.metrics["ratio"] == 12.0 and seed.metrics["resumed_from"] >= 3
    assert "Restarts=1" in slurm.run("scontrol", "show", "job", job_id)
