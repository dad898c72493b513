"""A hostile contributor's files and experiments: every case a one-line error or a failed seed.

Each case that could hang or exhaust memory if its defence regressed runs `kb` in a child
process with an address-space cap and a timeout, so a regression fails the test instead
of taking the machine with it.
"""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import pytest
from support import kb_executable

from kb.checking.load import load
from kb.formats import files
from kb.formats.files import FileRefused, SafeReader

MEMORY_CAP = 1 << 30  # bytes of address space for a child `kb`: a few times what it needs
TIMEOUT_S = 60


def _limits() -> None:  # runs in the child between fork and exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def bounded_kb(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`kb ARGS` in a child capped in memory and time; a hang or a runaway read fails."""
    env = {k: v for k, v in os.environ.items() if k != "KB_ROOT"}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [kb_executable(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        preexec_fn=_limits,
    )


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return [
        line
        for line in result.stdout.splitlines()
        if ": " in line and not line.startswith("checked ") and ": warning: " not in line
    ]


# --- only regular files inside the knowledge base are read ------------------------------------


SPECIALS = ["/dev/zero", "/dev/urandom"]


@pytest.mark.parametrize("target", SPECIALS)
@pytest.mark.parametrize(
    "file",
    ["claims/demo/evil.yaml", "claims/references.bib", "repro/evil.py", "repro/runs/demo_experiment/x.json"],
)
def test_a_link_to_a_device_is_a_located_error(base_kb: Path, file: str, target: str) -> None:
    path = base_kb / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.symlink_to(target)
    result = bounded_kb("check", cwd=base_kb)
    assert result.returncode == 1
    if file.startswith("repro/runs/"):  # run records are checked too, one line each
        assert f"{file}:1:1: " in result.stdout
        return
    (line,) = [x for x in error_lines(result) if x.startswith(file)]
    assert line == f"{file}:1:1: is a symbolic link to a file outside the knowledge base: kb reads only files inside it"


@pytest.mark.parametrize(("device", "kind"), [("/dev/zero", "character device"), ("/dev/urandom", "character device")])
def test_a_device_inside_the_root_is_refused_by_its_type(device: str, kind: str) -> None:
    # A knowledge base whose root holds a device (here: the whole file system) must still
    # never read it: the type is checked before a byte is read.
    with pytest.raises(FileRefused, match=f"is a {kind}, not a regular file"):
        SafeReader("/").read(device, 1_000)


@pytest.mark.parametrize(
    "file", ["claims/demo/pipe.yaml", "claims/references.bib", "repro/pipe.py"]
)
def test_a_fifo_is_a_located_error_not_a_hang(base_kb: Path, file: str) -> None:
    path = base_kb / file
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    result = bounded_kb("check", cwd=base_kb)
    (line,) = [x for x in error_lines(result) if x.startswith(file)]
    assert line == f"{file}:1:1: is a FIFO (named pipe), not a regular file"


def test_a_link_out_of_the_repository_is_never_read_or_echoed(
    base_kb: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "outside" / "secret.yaml"
    secret.parent.mkdir()
    secret.write_text("id: TOP-SECRET-VALUE\ntopic: [TOP-SECRET-VALUE]\n")
    (base_kb / "claims" / "demo" / "leak.yaml").symlink_to(secret)
    (base_kb / "claims" / "elsewhere").symlink_to(secret.parent, target_is_directory=True)
    result = bounded_kb("check", cwd=base_kb)
    assert "TOP-SECRET" not in result.stdout + result.stderr
    assert str(secret.parent) not in result.stdout + result.stderr
    (line,) = [x for x in error_lines(result) if "leak" in x]
    assert line.startswith("claims/demo/leak.yaml:1:1: is a symbolic link to a file outside")
    kb = load(base_kb)
    assert "leak" not in kb.claims and all("SECRET" not in p.message for p in kb.problems)


def test_a_link_that_stays_inside_the_repository_is_read(base_kb: Path) -> None:
    original = (base_kb / "claims" / "demo" / "fast-training.yaml").read_text()
    shared = base_kb / "shared" / "fast-training.yaml"
    shared.parent.mkdir()
    shared.write_text(original)
    claim = base_kb / "claims" / "demo" / "fast-training.yaml"
    claim.unlink()
    claim.symlink_to(Path("..", "..", "shared", "fast-training.yaml"))
    kb = load(base_kb)
    assert kb.errors == [] and "fast-training" in kb.claims


def test_the_cap_counts_bytes_read_not_st_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"x" * 5_000_000)
    read_total = 0
    real_read = os.read

    def counting_read(fd: int, n: int) -> bytes:
        nonlocal read_total
        data = real_read(fd, n)
        read_total += len(data)
        return data

    monkeypatch.setattr(files.os, "read", counting_read)
    with pytest.raises(FileRefused, match="5,000,000 bytes; the limit is 1,000"):
        SafeReader(tmp_path).read(big, 1_000)
    assert read_total == 1_001


def test_a_huge_claim_file_error_is_located(base_kb: Path) -> None:
    path = base_kb / "claims" / "demo" / "huge.yaml"
    path.write_bytes(b"id: huge\nsummary: " + b"x" * 12_000_000 + b"\n")
    result = bounded_kb("check", cwd=base_kb)
    (line,) = [x for x in error_lines(result) if "huge" in x]
    assert line == "claims/demo/huge.yaml:1:1: file is 12,000,019 bytes; the limit is 1,000,000"


def test_references_have_a_size_cap(base_kb: Path) -> None:
    bib = base_kb / "claims" / "references.bib"
    entry = "@misc{k%d, title={T}, author={A, B}, year={2020}, url={https://example.org}}\n"
    with bib.open("a") as handle:
        for i in range(30_000):  # ~2.3 MB
            handle.write(entry % i)
    result = bounded_kb("check", cwd=base_kb)
    (line,) = [x for x in error_lines(result) if x.startswith("claims/references.bib")]
    assert line.startswith("claims/references.bib:1:1: file is ") and "the limit is 2,000,000" in line


# --- kb index --sql only reads -------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE predictions",
        "DELETE FROM claims",
        "INSERT INTO claims (id) VALUES ('x')",
        "PRAGMA query_only = OFF",
        "CREATE TEMP TABLE t (x)",
        "ATTACH DATABASE '{outside}' AS evil",
        "ATTACH DATABASE 'file:{outside}?mode=rwc' AS evil",
        "SELECT * FROM no_such_table",
        "SELEC 1",
    ],
)
def test_index_sql_is_read_only_and_errors_are_one_line(
    base_kb: Path, tmp_path: Path, sql: str
) -> None:
    outside = tmp_path / "created-by-attach.sqlite"
    count = "select count(*) as n from claims"
    assert '"n": 1' in bounded_kb("index", "--sql", count, cwd=base_kb).stdout
    result = bounded_kb("index", "--sql", sql.format(outside=outside), cwd=base_kb)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "SQL error" in line
    assert not outside.exists()
    assert '"n": 1' in bounded_kb("index", "--sql", count, cwd=base_kb).stdout


def test_index_sql_still_reads(base_kb: Path) -> None:
    result = bounded_kb(
        "index", "--sql", "with recursive n(i) as (select 1 union all select i + 1 from n where i < 3) "
        "select count(*) as c, max(length(id)) as m from claims, n", cwd=base_kb
    )
    assert result.returncode == 0, result.stderr
    assert '"c": 3' in result.stdout


# --- strict numbers: metrics, curves, bounds -------------------------------------------------


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({"metrics": {"ratio": "1.5"}}, "metric 'ratio' is not a number: '1.5' (str)"),
        ({"metrics": {"ratio": True}}, "metric 'ratio' is not a number: True (bool)"),
        ({"metrics": {"ratio": None}}, "metric 'ratio' is not a number"),
        ({"metrics": {"ratio": 1.0}, "curves": {"c": {"x": [0, 1], "y": [0.5, float("nan")]}}}, "curve 'c' y[1] is not finite"),
        ({"metrics": {"ratio": 1.0}, "curves": {"c": {"x": [0, float("inf")], "y": [0, 1]}}}, "curve 'c' x[1] is not finite"),
        ({"metrics": {"ratio": 1.0}, "curves": {"c": {"x": [0, 1], "y": ["0", "1"]}}}, "curve 'c' y[0] is not a number"),
        ({"metrics": {"ratio": 1.0}, "curves": {"c": {"x": "ab", "y": "cd"}}}, "curve 'c' must be"),
        ({"metrics": {"ratio": 1.0}, "curves": [1, 2]}, "'curves' must be a mapping"),
    ],
)
def test_metrics_and_curves_are_finite_numbers(result: dict[str, object], message: str) -> None:
    from kb.formats.experiment import ExperimentError, check_result

    with pytest.raises(ExperimentError) as caught:
        check_result(result, {"ratio": "a number"})
    assert message in caught.value.message


def test_numbers_of_every_numeric_type_are_accepted() -> None:
    from fractions import Fraction

    import numpy as np

    from kb.formats.experiment import check_result

    metrics, curves = check_result(
        {"metrics": {"a": 1, "b": np.float32(0.5), "c": Fraction(1, 4)}, "curves": {"k": {"x": (0, 1), "y": [np.int64(2), 3.0]}}},
        {"a": "", "b": "", "c": ""},
    )
    assert metrics == {"a": 1.0, "b": 0.5, "c": 0.25} and curves == {"k": {"x": [0.0, 1.0], "y": [2.0, 3.0]}}


@pytest.mark.parametrize("text", ['"1.5"', "true", "NaN", "Infinity", "1e999"])
def test_a_run_record_with_a_non_number_metric_is_invalid(text: str) -> None:
    from pydantic import ValidationError

    from kb.formats.records import SeedResult

    with pytest.raises(ValidationError):
        SeedResult.model_validate_json(f'{{"seed": 0, "key": "k", "outcome": "ok", "metrics": {{"m": {text}}}}}')
    with pytest.raises(ValidationError):
        SeedResult.model_validate_json(
            f'{{"seed": 0, "key": "k", "outcome": "ok", "curves": {{"c": {{"x": [0], "y": [{text}]}}}}}}'
        )


@pytest.mark.parametrize("text", ["> 1e999", "< -1e999", "between 0 1e400", "≈ 1 ± 1e999", ">= 1e-999"])
def test_expectations_need_finite_bounds(text: str) -> None:
    from kb.formats.expectation import Expectation

    with pytest.raises(ValueError, match="out of range"):
        Expectation.parse(text)


def test_a_seed_returning_nan_in_a_curve_fails_and_the_record_is_valid_json(base_kb: Path) -> None:
    import json

    script = (base_kb / "repro" / "demo_experiment.py").read_text()
    (base_kb / "repro" / "demo_experiment.py").write_text(
        script.replace('"y": [0.0, value]', '"y": [float("nan"), value]')
    )
    result = bounded_kb("run", "demo_experiment", "--seeds", "1", "--device", "cpu", cwd=base_kb)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    (record,) = (base_kb / "repro" / "runs" / "demo_experiment").glob("*.json")
    data = json.loads(record.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in a record"))
    (seed,) = data["results"]
    assert seed["outcome"] == "failed" and "curve 'trace' y[0] is not finite" in seed["reason"]


# --- files kb writes respect the umask ----------------------------------------------------------


def test_written_files_respect_the_umask(base_kb: Path) -> None:
    import stat

    claim = base_kb / "claims" / "demo" / "fast-training.yaml"
    claim.chmod(0o640)  # a rewritten file keeps its own mode
    env = {k: v for k, v in os.environ.items() if k != "KB_ROOT"}

    def umask_002() -> None:
        _limits()
        os.umask(0o002)

    result = subprocess.run(
        [kb_executable(), "run", "demo_experiment", "--seeds", "2", "--device", "cpu"],
        cwd=base_kb, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, preexec_fn=umask_002,
    )
    assert result.returncode == 0, result.stderr

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    (record,) = (base_kb / "repro" / "runs" / "demo_experiment").glob("*.json")
    seeds = list((base_kb / ".kb" / "seeds").rglob("*.json"))
    assert mode(record) == 0o664 and seeds and {mode(p) for p in seeds} == {0o664}
    assert "status:" in claim.read_text() and mode(claim) == 0o640


def test_atomic_write_uses_the_umask_and_keeps_an_existing_mode(tmp_path: Path) -> None:
    import stat

    from kb.formats.files import umask
    from kb.formats.records import atomic_write

    fresh, kept = tmp_path / "fresh.json", tmp_path / "kept.json"
    kept.write_text("old")
    kept.chmod(0o604)
    atomic_write(fresh, "{}")
    atomic_write(kept, "new")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o604 and kept.read_text() == "new"


def test_an_export_folder_gets_the_umask_mode(tmp_path: Path) -> None:
    import stat

    from kb.data.export import staged
    from kb.formats.files import umask

    output = tmp_path / "export"
    with staged(output) as stage:
        (stage / "claims.csv").write_text("id\n")
    assert stat.S_IMODE(output.stat().st_mode) == 0o777 & ~umask()


# --- seeds run fenced: scratch folder, whole process tree killed, tracked files checked --------


SANDBOX_HEADER = '''"""A test experiment."""
import os, subprocess, sys, time
from pathlib import Path
SCALES = {"smoke": {"x": 1.0, "corpus": "repro/corpus.txt"}, "full": {"x": 2.0, "corpus": "repro/corpus.txt"}}
REGIME = {"smoke": {"data_scale": "toy"}, "full": {"data_scale": "small"}}
METRICS = {"ratio": "a number"}
ROOT = Path(__file__).resolve().parents[1]
'''

SANDBOX_BODIES = {
    "writes_cwd": (
        "def run(config, seed, device):\n"
        "    Path('scribble.txt').write_text(os.getcwd())\n"
        "    assert Path(config['corpus']).read_text() == 'words'\n"
        "    return {'metrics': {'ratio': float(os.getcwd() != str(ROOT))}}\n"
    ),
    "edits_claim": (
        "def run(config, seed, device):\n"
        "    with open(ROOT / 'claims' / 'demo' / 'fast-training.yaml', 'a') as f:\n"
        "        f.write('# edited by an experiment\\n')\n"
        "    return {'metrics': {'ratio': 1.0}}\n"
    ),
    "detaches": (
        "def run(config, seed, device):\n"
        "    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'],\n"
        "                             start_new_session=True)\n"
        "    (ROOT / '.kb').mkdir(exist_ok=True)\n"
        "    (ROOT / '.kb' / f'detached-{seed}.pid').write_text(str(child.pid))\n"
        "    return {'metrics': {'ratio': 1.0}}\n"
    ),
    "imports_torch": (
        "def run(config, seed, device):\n"
        "    import torch\n"
        "    return {'metrics': {'ratio': float(torch.ones(1).sum())}}\n"
    ),
    "allocates": (
        "def run(config, seed, device):\n"
        "    hog = []\n    while True:\n        hog.append(bytearray(50_000_000))\n"
    ),
}


@pytest.fixture
def git_lab(base_kb: Path) -> Path:
    for name, body in SANDBOX_BODIES.items():
        (base_kb / "repro" / f"{name}.py").write_text(SANDBOX_HEADER + body)
    (base_kb / "repro" / "corpus.txt").write_text("words")
    (base_kb / ".gitignore").write_text("/.kb/\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=base_kb, check=True)
    subprocess.run([*git, "add", "-A"], cwd=base_kb, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=base_kb, check=True)
    return base_kb


def _seed_results(root: Path, name: str) -> list[dict[str, object]]:
    import json

    (record,) = (root / "repro" / "runs" / name).glob("*.json")
    return list(json.loads(record.read_text())["results"])


def test_a_seed_runs_in_a_scratch_folder(git_lab: Path) -> None:
    result = bounded_kb("run", "writes_cwd", "--seeds", "1", "--device", "cpu", cwd=git_lab)
    assert result.returncode == 0, result.stdout + result.stderr
    (seed,) = _seed_results(git_lab, "writes_cwd")
    assert seed["outcome"] == "ok" and seed["metrics"] == {"ratio": 1.0}, seed
    assert not list(git_lab.rglob("scribble.txt"))


def test_a_seed_that_edits_tracked_files_fails_naming_them(git_lab: Path) -> None:
    result = bounded_kb("run", "edits_claim", "--seeds", "1", "--device", "cpu", cwd=git_lab)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (seed,) = _seed_results(git_lab, "edits_claim")
    assert seed["outcome"] == "failed"
    assert "tracked files in the repository changed while the seed ran: claims/demo/fast-training.yaml" in str(seed["reason"])


def test_a_detached_grandchild_does_not_outlive_the_run(git_lab: Path) -> None:
    result = bounded_kb("run", "detaches", "--seeds", "2", "--device", "cpu", cwd=git_lab)
    assert result.returncode == 0, result.stdout + result.stderr
    pids = [int(p.read_text()) for p in (git_lab / ".kb").glob("detached-*.pid")]
    assert len(pids) == 2
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        assert state == "Z", f"process {pid} outlived the run"  # a zombie is already dead


def test_out_of_memory_names_the_limit(git_lab: Path) -> None:
    result = bounded_kb("run", "allocates", "--seeds", "1", "--device", "cpu", "--memory", "300", cwd=git_lab)
    assert result.returncode == 1
    (seed,) = _seed_results(git_lab, "allocates")
    assert str(seed["reason"]).startswith("out of memory (limit 300 MiB)")


def test_importing_torch_under_a_low_cap_is_out_of_memory_not_a_crash(git_lab: Path) -> None:
    pytest.importorskip("torch")
    result = bounded_kb("run", "imports_torch", "--seeds", "1", "--device", "cpu", "--memory", "256", cwd=git_lab)
    assert result.returncode == 1
    (seed,) = _seed_results(git_lab, "imports_torch")
    assert str(seed["reason"]).startswith("out of memory (limit 256 MiB)"), seed["reason"]


# --- --root is validated -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["check"], ["list"], ["run", "demo_experiment", "--dry-run"], ["jobs"], ["site", "build"]]
)
def test_root_must_be_a_knowledge_base(tmp_path: Path, command: list[str]) -> None:
    missing = bounded_kb(*command, "--root", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.strip() == f"error: --root {tmp_path / 'nowhere'}: no such folder"
    (tmp_path / "empty").mkdir()
    empty = bounded_kb(*command, "--root", str(tmp_path / "empty"), cwd=tmp_path)
    assert empty.returncode == 1 and "references file is missing" not in empty.stdout
    assert "not a knowledge base (it has no 'claims/' folder)" in empty.stderr


# --- one broken file, one error ------------------------------------------------------------------


def test_one_broken_run_record_is_one_error(tmp_path: Path) -> None:
    from support import REPO

    clone = tmp_path / "clone"  # the real knowledge base, with its history (registrations)
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=TIMEOUT_S)
    runs = sorted((clone / "repro" / "runs").glob("*/*.json"))
    if not runs:
        pytest.skip("the knowledge base has no run records")
    assert bounded_kb("check", cwd=clone).returncode == 0
    runs[0].write_text("{broken")
    result = bounded_kb("check", cwd=clone)
    shown = runs[0].relative_to(clone).as_posix()
    assert error_lines(result) == [
        f"{shown}:1:2: invalid run record: Invalid JSON: key must be a string at line 1 column 2"
    ]
