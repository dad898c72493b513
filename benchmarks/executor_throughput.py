"""Many short seeds through the local executor vs submitit's local executor.

    python benchmarks/executor_throughput.py [--seeds 24] [--seconds 0.2]

Issue 8 asks for the throughput of many short jobs through `kb run --executor local`
(a pool of `--jobs 2` child processes) against `--executor submitit-local` (one submitit
controller per seed, all started at once, as an array job would be on a cluster). Both
run the same pure-Python experiment of a fixed amount of work per seed, from a clean
state (no cached seeds), so the difference is what each executor costs per job: process
starts, pickling, submitit's polling. Reported as seeds per second and as a ratio measured
in this one run; the machine is shared and noisy, so each figure is the best of
`--repeat`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from run_overhead import KB, REPO, SCRIPT, calibrate, timed


def fresh(root: Path) -> None:
    shutil.rmtree(root / "repro/runs", ignore_errors=True)
    shutil.rmtree(root / ".kb", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=0.2, help="work per seed")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    iterations = calibrate(args.seconds)
    executors = {
        "local --jobs 2": ["--executor", "local", "--jobs", "2"],
        "submitit-local": ["--executor", "submitit-local"],
    }
    walls: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "kb"
        shutil.copytree(REPO / "tests/golden/base", root)
        (root / "repro/work.py").write_text(SCRIPT.format(iterations=iterations))
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        for _ in range(args.repeat):
            for name, flags in executors.items():  # interleaved, so load drifts hit both
                fresh(root)
                argv = [KB, "run", "work", "--seeds", str(args.seeds), "--device", "cpu", *flags]
                wall = timed(argv, root)
                walls[name] = min(walls.get(name, wall), wall)
    work = args.seeds * args.seconds
    print(f"{args.seeds} seeds of ~{args.seconds:g} s of work each ({work:.1f} s of work in all):")
    for name, wall in walls.items():
        print(f"  {name:<16} {wall:6.2f} s  {args.seeds / wall:5.2f} seeds/s")
    ratio = walls["submitit-local"] / walls["local --jobs 2"]
    print(f"submitit-local takes {ratio:.2f}x the wall time of the local pool")


if __name__ == "__main__":
    main()
