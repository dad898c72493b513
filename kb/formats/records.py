"""Run records: one JSON file per run under `repro/runs/<experiment>/<run-id>.json`.

A run is one experiment at one scale over several seeds. Records are append-only (a new
run never rewrites an old one), written atomically (temp file, fsync, rename), and carry
their provenance: the commit and any uncommitted diff, hashes of the script and of every
prediction the run serves, package versions and hardware. Nothing in a record names the
user or an absolute home path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
import stat
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kb.formats.errors import KbError, Problem
from kb.formats.files import FileRefused, SafeReader, new_file_mode
from kb.formats.schema import Prediction

RUNS_DIR = "repro/runs"
RECORD_VERSION = 1
# A smoke run's record is a few kB, a full run's with long curves a few MB; 32 MB bounds the
# memory one hostile or damaged file can take (pydantic holds several times its size).
MAX_RECORD_BYTES = 32_000_000
_JSON_POSITION = re.compile(r"at line (\d+) column (\d+)")


class Outcome(StrEnum):
    ok = "ok"
    failed = "failed"


class RunOutcome(StrEnum):
    ok = "ok"  # every seed succeeded
    partial = "partial"  # some seeds failed
    failed = "failed"  # no seed succeeded
    interrupted = "interrupted"  # stopped by the user; finished seeds are kept


# A measurement: a JSON number, never text or a bool, never NaN or infinity.
FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SeedResult(Record):
    seed: int
    key: str = Field(
        description="sha256 of (script hash, config, seed): equal keys are the same computation."
    )
    outcome: Outcome
    metrics: dict[str, FiniteFloat] = Field(default_factory=dict)
    curves: dict[str, dict[str, list[FiniteFloat]]] = Field(default_factory=dict)
    bounds: dict[str, Literal["lower", "upper"]] = Field(
        default_factory=dict,
        description=(
            "Metrics whose value is only a bound: 'lower' = the true value is at least this "
            "(e.g. the target was not reached within the step budget), 'upper' = at most."
        ),
    )
    wall_s: float = 0.0
    device: str | None = Field(None, description="Device the seed ran on, e.g. cpu or cuda:0.")
    gpu: str | None = Field(None, description="GPU model, when it ran on one.")
    reason: str | None = Field(
        None,
        description="Why the seed failed: crash, timeout, out of memory, NaN, malformed result.",
    )
    log_tail: str | None = Field(
        None, description="Last lines of the child's output, for failures."
    )
    reused: bool = Field(
        False, description="Taken from an earlier run or the local seed cache, not recomputed."
    )
    reused_from: str | None = Field(
        None, description="Run record the reused result was first recorded in."
    )


class PredictionRef(Record):
    claim: str
    prediction: str
    sha256: str


class GitInfo(Record):
    commit: str | None = None
    dirty: bool
    diff: str | None = Field(None, description="Uncommitted changes (tracked files), truncated.")
    diff_truncated: bool = False


class Hardware(Record):
    device: str
    cpu: str
    cores: int
    gpu: str | None = None
    platform: str


class ExecutorInfo(Record):
    name: str = Field(description="submitit-local or slurm (records of local runs have no executor).")
    submission: str = Field(description="Id of the submission under .kb/jobs/ (`kb jobs`).")
    job_ids: dict[int, str] = Field(
        default_factory=dict, description="Scheduler job id of each seed computed by this run."
    )


class RunRecord(Record):
    record_version: int = RECORD_VERSION
    id: str
    experiment: str
    scale: str
    config: dict[str, Any]
    seeds: list[int]
    outcome: RunOutcome
    results: list[SeedResult]
    script: str = Field(description="Path of the script relative to the repository.")
    script_sha256: str
    predictions: list[PredictionRef] = Field(default_factory=list)
    git: GitInfo
    packages: dict[str, str]
    hardware: Hardware
    started: dt.datetime
    finished: dt.datetime
    wall_s: float = Field(
        description="Seconds of wall time of this run's newly computed seeds, summed (reused seeds count nothing)."
    )
    command: str
    threads: int | None = Field(
        None,
        description=(
            "Intra-op threads per seed (torch and OpenMP). Metrics can depend on it, so "
            "`kb verify` re-executes with the recorded count. None: recorded before kb kept it."
        ),
    )
    executor: ExecutorInfo | None = Field(
        None, description="Where the seeds ran, when not in local processes (optional, added later)."
    )

    def ok_results(self) -> list[SeedResult]:
        return [r for r in self.results if r.outcome is Outcome.ok]


def new_run_id(now: dt.datetime | None = None) -> str:
    """Sortable by time, unique across concurrent runs: 20261122T043012Z-3f9a2c."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_hash(data: Any) -> str:
    """sha256 of JSON with sorted keys: equal data, equal hash, on every machine."""
    return sha256_bytes(
        json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    )


def prediction_sha256(claim_id: str, prediction: Prediction) -> str:
    """What a verdict depends on: which experiment, which metric, which expectation.

    Rewording the statement keeps the hash; changing the test makes earlier runs stale.
    """
    return canonical_hash(
        {
            "claim": claim_id,
            "id": prediction.id,
            "experiment": prediction.experiment,
            "metric": prediction.metric,
            "expect": prediction.expect,
        }
    )


def seed_key(script_sha256: str, config: dict[str, Any], seed: int) -> str:
    return canonical_hash({"script": script_sha256, "config": config, "seed": seed})


def atomic_write(path: Path, content: str | bytes, *, durable: bool = True) -> None:
    """Write `content` to `path` so that a reader (or a crash) sees the old or the new file,
    never half. `durable=False` skips the fsyncs, for caches that can be rebuilt."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file 0600: give it the mode of the file it replaces, or the
        # one the umask gives a new file, as a plain write would.
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            mode = new_file_mode()
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if not durable:
        return
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def record_path(root: Path, record: RunRecord) -> Path:
    return root / RUNS_DIR / record.experiment / f"{record.id}.json"


def write_record(root: Path, record: RunRecord) -> Path:
    path = record_path(root, record)
    if path.exists():  # append-only: a run id is never reused
        raise KbError(f"run record {path.relative_to(root)} already exists")
    atomic_write(path, dumps(record))
    return path


_NUMBER_LIST = re.compile(r"\[\s*([-\d.eE+,\s]+?)\s*\]")


def dumps(record: RunRecord) -> str:
    """Indented JSON that diffs well, with lists of numbers (seeds, curves) kept on one line."""
    text = json.dumps(
        record.model_dump(mode="json", exclude_none=True), indent=2, ensure_ascii=False
    )
    return (
        _NUMBER_LIST.sub(
            lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text
        )
        + "\n"
    )


def record_files(root: Path) -> list[str]:
    """Paths of every run record (`repro/runs/*/*.json`) relative to `root`, sorted.

    os.scandir rather than Path.glob: at 100,000 records, pathlib's per-path objects cost
    more than reading the files.
    """
    found: list[tuple[str, str]] = []
    try:
        folders = [e for e in os.scandir(root / RUNS_DIR) if e.is_dir()]
    except OSError:
        return []
    for folder in folders:
        with os.scandir(folder.path) as entries:
            found += [(folder.name, e.name) for e in entries if e.name.endswith(".json")]
    return [f"{RUNS_DIR}/{folder}/{name}" for folder, name in sorted(found)]


def read_record(
    root: Path, file: str, reader: SafeReader | None = None
) -> tuple[RunRecord | None, Problem | None]:
    """One run record (`file` relative to `root`), or the problem that makes it unreadable.

    Only a regular file of at most MAX_RECORD_BYTES inside `root` is read (kb/formats/files.py).
    """
    try:
        # no Path: 100,000 of them add up
        raw = (reader or SafeReader(root)).read(os.path.join(root, file), MAX_RECORD_BYTES)
        record = RunRecord.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        found = _JSON_POSITION.search(first["msg"])
        line, column = (int(found[1]), int(found[2])) if found else (1, 1)
        return None, Problem(file, line, column, where, f"invalid run record: {first['msg']}")
    except FileRefused as exc:
        return None, Problem(file, 1, 1, "", exc.message)
    except OSError as exc:
        return None, Problem(file, 1, 1, "", f"cannot read run record: {exc.strerror}")
    folder, name = file.rsplit("/", 2)[-2:]
    if record.experiment != folder or f"{record.id}.json" != name:
        return None, Problem(file, 0, 0, "id", "record id and experiment must match its path")
    return record, None


def read_records(root: Path) -> tuple[list[RunRecord], list[Problem]]:
    """Every run record, oldest first, and a problem for each unreadable one."""
    records, problems = [], []
    reader = SafeReader(root)
    for file in record_files(root):
        record, problem = read_record(root, file, reader)
        if record is not None:
            records.append(record)
        elif problem is not None:
            problems.append(problem)
    records.sort(key=lambda r: (r.started, r.id))
    return records, problems
